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
  SarChecksums *sums = tally->header->checksums;

  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/')) {
    g_autofree char *parent = g_strndup (path, slash - path);
    SarChecksumEntry listed;

    if (!sar_checksums_lookup (sums, parent, &listed, error))
      return FALSE;
    if (listed.index != SAR_CHECKSUMS_UNLISTED)
      return backup_error_invalid (error, "member %s lies below \"%s\", which is a regular file",
                                   quoted, parent);
  }
  return TRUE;
}

gboolean
sar_tally_directory (SarTally *tally, const char *path, const char *quoted, GError **error)
{
  SarChecksumEntry listed;

  if (!sar_checksums_lookup (tally->header->checksums, path, &listed, error))
    return FALSE;
  if (listed.index != SAR_CHECKSUMS_UNLISTED)
    return backup_error_invalid (error, "member %s appears as a regular file and as a directory",
                                 quoted);
  return check_not_below_file (tally, path, quoted, error);
}

static gboolean
tally_seen (const SarTally *tally, guint i)
{
  return (tally->seen[i / 8] & (1u << (i % 8))) != 0;
}

/* Why a regular file that SHA256SUMS does not list is refused.  FALSE. */
static gboolean
unlisted_file (SarTally *tally, const char *path, const char *quoted, GError **error)
{
  gboolean below;

  if (!check_not_below_file (tally, path, quoted, error)
      || !sar_checksums_has_below (tally->header->checksums, path, strlen (path), &below, error))
    return FALSE;
  if (below)
    return backup_error_invalid (error, "member %s appears as a regular file and as a directory",
                                 quoted);
  return backup_error_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted);
}

/* A listed file not seen before, whose header gives its size: its size
 * in *member_size. */
static gboolean
tally_check_listed (const SarTally *tally, struct archive_entry *entry,
                    const SarChecksumEntry *listed, const char *quoted, guint64 *member_size,
                    GError **error)
{
  la_int64_t size = archive_entry_size (entry);

  if (tally_seen (tally, listed->index))
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
static gboolean
tally_dump (SarTally *tally, struct archive_entry *entry, const char *quoted,
            const SarComponent *declared, const SarChecksumEntry *listed, guint64 *size,
            GError **error)
{
  guint64 member_size = 0; /* set by tally_check_listed() (GCC at -O2 cannot tell) */

  if (listed->index == SAR_CHECKSUMS_UNLISTED)
    return backup_error_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted);
  if (!tally_check_listed (tally, entry, listed, quoted, &member_size, error))
    return FALSE;
  if (member_size != declared->database_bytes)
    return backup_error_invalid (
        error,
        "member %s holds %" G_GINT64_FORMAT " bytes, but " SAR_MANIFEST_MEMBER
        " [Component %s] DatabaseBytes is %" G_GUINT64_FORMAT,
        quoted, (gint64) member_size, declared->id, declared->database_bytes);
  if (!tally_count (tally, listed->index, member_size, error))
    return FALSE;
  *size = member_size;
  return TRUE;
}

gboolean
sar_tally_file (SarTally *tally, struct archive_entry *entry, const char *path, const char *quoted,
                guint component, SarChecksumEntry *listed, guint64 *size, GError **error)
{
  const SarComponent *declared = g_ptr_array_index (tally->header->manifest->components, component);
  guint64 member_size = 0; /* set by tally_check_listed() (GCC at -O2 cannot tell) */

  gboolean dump = strchr (path, '/') == NULL
                  && sar_manifest_dump_component (tally->header->manifest, path) == component;

  if (!sar_checksums_lookup (tally->header->checksums, path, listed, error))
    return FALSE;
  if (dump)
    return tally_dump (tally, entry, quoted, declared, listed, size, error);
  if (strchr (path, '/') == NULL || g_str_has_suffix (path, "/"))
    return backup_error_invalid (
        error, "member %s is a regular file, but has the name of a directory", quoted);
  if (listed->index == SAR_CHECKSUMS_UNLISTED)
    return unlisted_file (tally, path, quoted, error);
  if (!tally_check_listed (tally, entry, listed, quoted, &member_size, error))
    return FALSE;
  /* Before any data is read: a member cannot make its component larger
   * than the manifest says, so a huge member costs nothing even without
   * limits. */
  if (member_size > declared->bytes - tally->bytes[component])
    return backup_error_invalid (error,
                                 "member %s makes component %s larger than the %" G_GUINT64_FORMAT
                                 " bytes " SAR_MANIFEST_MEMBER " says",
                                 quoted, declared->id, declared->bytes);
  if (!tally_count (tally, listed->index, member_size, error))
    return FALSE;
  tally->files[component]++;
  tally->bytes[component] += member_size;
  *size = member_size;
  return TRUE;
}

gboolean
sar_tally_complete (SarTally *tally, GError **error)
{
  const SarHeader *header = tally->header;

  for (guint i = 0; i < sar_checksums_count (header->checksums); i++) {
    g_autoptr (GString) path = NULL;
    g_autofree char *quoted = NULL;

    if (tally_seen (tally, i))
      continue;
    path = g_string_new (NULL);
    if (!sar_checksums_get (header->checksums, i, path, NULL, error))
      return FALSE;
    return backup_error_invalid (
        error, "%s is listed in " SAR_CHECKSUMS_MEMBER " but missing from the archive",
        quoted = sar_quote (path->str));
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
