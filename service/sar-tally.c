/* sar-tally.c: the bookkeeping of one full read of a SAR archive
 * (SarTally), shared by verification (sar-verify.c) and extraction
 * (extract.c). */
#include "sar.h"

#include "errors.h"
#include "names.h"

#include <archive_entry.h>
#include <string.h>

/* --- the tally --- */

static gboolean
too_large (GError **error, const char *what, guint64 limit)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE,
               "the backup has more than %" G_GUINT64_FORMAT " %s, the configured limit", limit,
               what);
  return FALSE;
}

static gboolean
tally_check_limits (SarTally *tally, GError **error)
{
  guint64 max_bytes = tally->limits != NULL ? tally->limits->max_unpacked_bytes : 0;
  guint64 max_entries = tally->limits != NULL ? tally->limits->max_entries : 0;

  if (max_entries != 0 && tally->entries > max_entries)
    return too_large (error, "entries", max_entries);
  if (max_bytes != 0 && tally->unpacked > max_bytes)
    return too_large (error, "bytes of unpacked data", max_bytes);
  return TRUE;
}

gboolean
sar_tally_init (SarTally *tally, const SarHeader *header, const SarLimits *limits, GError **error)
{
  guint n = header->manifest->components->len;
  guint listed = sar_checksums_count (header->checksums);
  guint64 bytes = 0;

  tally->header = header;
  tally->limits = limits;
  tally->seen = g_new0 (guint8, listed / 8 + 1);
  tally->files = g_new0 (guint64, n);
  tally->bytes = g_new0 (guint64, n);
  for (guint i = 0; i < n; i++) {
    const SarComponent *c = g_ptr_array_index (header->manifest->components, i);
    bytes = c->bytes > G_MAXUINT64 - bytes ? G_MAXUINT64 : bytes + c->bytes;
  }
  for (guint i = 0; i < n; i++) {
    const SarComponent *c = g_ptr_array_index (header->manifest->components, i);
    bytes = c->database_bytes > G_MAXUINT64 - bytes ? G_MAXUINT64 : bytes + c->database_bytes;
  }
  /* what the metadata declares, before any tree member is read */
  tally->entries = 2 + (guint64) listed;
  tally->unpacked = bytes;
  if (!tally_check_limits (tally, error))
    return FALSE;
  tally->entries = 2;
  tally->unpacked = 0;
  return TRUE;
}

void
sar_tally_clear (SarTally *tally)
{
  g_clear_pointer (&tally->seen, g_free);
  g_clear_pointer (&tally->files, g_free);
  g_clear_pointer (&tally->bytes, g_free);
}

gboolean
sar_tally_entry (SarTally *tally, GError **error)
{
  tally->entries++;
  return tally_check_limits (tally, error);
}

/* Only the files listed in SHA256SUMS can be regular files (any other is
 * refused), and no listed file lies below another (the parser saw to
 * that): so nothing but the list itself is needed to know whether a path
 * lies below a regular file.  Directories are not recorded at all. */
static gboolean
check_not_below_file (const SarTally *tally, const char *path, const char *quoted, GError **error)
{
  const SarChecksums *sums = tally->header->checksums;

  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/')) {
    g_autofree char *parent = g_strndup (path, slash - path);

    if (sar_checksums_lookup (sums, parent) != NULL)
      return backup_error_invalid (error, "member %s lies below \"%s\", which is a regular file",
                                   quoted, parent);
  }
  return TRUE;
}

gboolean
sar_tally_directory (SarTally *tally, const char *path, const char *quoted, GError **error)
{
  if (sar_checksums_lookup (tally->header->checksums, path) != NULL)
    return backup_error_invalid (error, "member %s appears as a regular file and as a directory",
                                 quoted);
  return check_not_below_file (tally, path, quoted, error);
}

static gboolean
tally_seen (const SarTally *tally, guint i)
{
  return (tally->seen[i / 8] & (1u << (i % 8))) != 0;
}

/* Why a regular file that SHA256SUMS does not list is refused. */
static const SarChecksumEntry *
unlisted_file (SarTally *tally, const char *path, const char *quoted, GError **error)
{
  if (!check_not_below_file (tally, path, quoted, error))
    return NULL;
  if (sar_checksums_has_below (tally->header->checksums, path, strlen (path))) {
    backup_error_invalid (error, "member %s appears as a regular file and as a directory", quoted);
    return NULL;
  }
  backup_error_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted);
  return NULL;
}

/* A listed file not seen before, whose header gives its size: its line's
 * index in *index and its size in *member_size. */
static gboolean
tally_check_listed (const SarTally *tally, struct archive_entry *entry,
                    const SarChecksumEntry *listed, const char *quoted, guint *index,
                    guint64 *member_size, GError **error)
{
  la_int64_t size = archive_entry_size (entry);

  *index = sar_checksums_index (tally->header->checksums, listed);
  if (tally_seen (tally, *index))
    return backup_error_invalid (error, "member %s appears twice", quoted);
  if (!archive_entry_size_is_set (entry) || size < 0)
    return backup_error_invalid (error, "member %s has no size", quoted);
  *member_size = (guint64) size;
  return TRUE;
}

/* Counts the file's size against the limits, and marks it seen. */
static gboolean
tally_count (SarTally *tally, guint index, guint64 member_size, GError **error)
{
  tally->unpacked += member_size;
  if (!tally_check_limits (tally, error))
    return FALSE;
  tally->seen[index / 8] |= (guint8) (1u << (index % 8));
  return TRUE;
}

/* A component's database dump: listed, once, exactly the size the
 * manifest gives (so it cannot grow past it); counted against the limits
 * but not in the tree's files and bytes. */
static const SarChecksumEntry *
tally_dump (SarTally *tally, struct archive_entry *entry, const char *path, const char *quoted,
            const SarComponent *declared, guint64 *size, GError **error)
{
  const SarChecksumEntry *listed = sar_checksums_lookup (tally->header->checksums, path);
  guint64 member_size = 0; /* set by tally_check_listed() (GCC at -O2 cannot tell) */
  guint index;

  if (listed == NULL) {
    backup_error_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted);
    return NULL;
  }
  if (!tally_check_listed (tally, entry, listed, quoted, &index, &member_size, error))
    return NULL;
  if (member_size != declared->database_bytes) {
    backup_error_invalid (error,
                          "member %s holds %" G_GINT64_FORMAT " bytes, but " SAR_MANIFEST_MEMBER
                          " [Component %s] DatabaseBytes is %" G_GUINT64_FORMAT,
                          quoted, (gint64) member_size, declared->id, declared->database_bytes);
    return NULL;
  }
  if (!tally_count (tally, index, member_size, error))
    return NULL;
  *size = member_size;
  return listed;
}

const SarChecksumEntry *
sar_tally_file (SarTally *tally, struct archive_entry *entry, const char *path, const char *quoted,
                guint component, guint64 *size, GError **error)
{
  const SarChecksumEntry *listed = sar_checksums_lookup (tally->header->checksums, path);
  const SarComponent *declared = g_ptr_array_index (tally->header->manifest->components, component);
  guint64 member_size = 0; /* set by tally_check_listed() (GCC at -O2 cannot tell) */
  guint index;

  gboolean dump = strchr (path, '/') == NULL
                  && sar_manifest_dump_component (tally->header->manifest, path) == component;

  if (dump)
    return tally_dump (tally, entry, path, quoted, declared, size, error);
  if (strchr (path, '/') == NULL || g_str_has_suffix (path, "/")) {
    backup_error_invalid (error, "member %s is a regular file, but has the name of a directory",
                          quoted);
    return NULL;
  }
  if (listed == NULL)
    return unlisted_file (tally, path, quoted, error);
  if (!tally_check_listed (tally, entry, listed, quoted, &index, &member_size, error))
    return NULL;
  /* Before any data is read: a member cannot make its component larger
   * than the manifest says, so a huge member costs nothing even without
   * limits. */
  if (member_size > declared->bytes - tally->bytes[component]) {
    backup_error_invalid (error,
                          "member %s makes component %s larger than the %" G_GUINT64_FORMAT
                          " bytes " SAR_MANIFEST_MEMBER " says",
                          quoted, declared->id, declared->bytes);
    return NULL;
  }
  if (!tally_count (tally, index, member_size, error))
    return NULL;
  tally->files[component]++;
  tally->bytes[component] += member_size;
  *size = member_size;
  return listed;
}

gboolean
sar_tally_complete (SarTally *tally, GError **error)
{
  const SarHeader *header = tally->header;

  for (guint i = 0; i < sar_checksums_count (header->checksums); i++) {
    g_autofree char *quoted = NULL;

    if (!tally_seen (tally, i))
      return backup_error_invalid (
          error, "%s is listed in " SAR_CHECKSUMS_MEMBER " but missing from the archive",
          quoted = sar_quote (sar_checksums_get (header->checksums, i)->path));
  }
  for (guint i = 0; i < header->manifest->components->len; i++) {
    const SarComponent *c = g_ptr_array_index (header->manifest->components, i);

    if (tally->files[i] != c->files || tally->bytes[i] != c->bytes)
      return backup_error_invalid (error,
                                   "component %s holds %" G_GUINT64_FORMAT
                                   " files with %" G_GUINT64_FORMAT
                                   " bytes, but " SAR_MANIFEST_MEMBER " says %" G_GUINT64_FORMAT
                                   " files with %" G_GUINT64_FORMAT " bytes",
                                   c->id, tally->files[i], tally->bytes[i], c->files, c->bytes);
  }
  return TRUE;
}
