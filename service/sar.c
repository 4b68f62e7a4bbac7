/* sar.c: reading and verifying SAR archives with libarchive, and the
 * libarchive setup every reader shares. */
#include "sar.h"

#include "errors.h"
#include "names.h"
#include "sha256.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Raw input is read in chunks of this size, so memory does not grow with
 * the archive.  Small enough that the chunk, the decompressor's buffers
 * and the data being hashed stay in the CPU's L2 cache: verifying is
 * about a quarter faster than with 256 KiB chunks. */
#define IO_CHUNK (64 * 1024)
#define PROGRESS_STEP (1024 * 1024)

SarLocale
sar_locale_push (void)
{
  static gsize utf8 = 0;

  if (g_once_init_enter (&utf8)) {
    locale_t locale = newlocale (LC_ALL_MASK, "C.UTF-8", (locale_t) 0);

    g_once_init_leave (&utf8, locale != (locale_t) 0 ? (gsize) locale : 1);
  }
  if (utf8 == 1)
    return NULL;
  return uselocale ((locale_t) utf8);
}

void
sar_locale_pop (SarLocale previous)
{
  if (previous != NULL)
    uselocale (previous);
}

/* Compression filters libarchive may implement itself or by running an
 * external program (lzop without liblzo2, gzip without zlib, ...),
 * depending on how it was built; it says which when a filter is enabled
 * (ARCHIVE_WARN: "will use an external program").  A root daemon must not
 * run programs on uploaded data, so only the filters that are in-process
 * in this libarchive are enabled.  grzip and lrzip, always external, and
 * uu and rpm, which are not compressions, are never enabled. */
static const struct {
  const char *name;
  int (*enable) (struct archive *archive);
} compression_filters[] = {
  { "gzip", archive_read_support_filter_gzip },
  { "zstd", archive_read_support_filter_zstd },
  { "bzip2", archive_read_support_filter_bzip2 },
  { "xz", archive_read_support_filter_xz },
  { "lzma", archive_read_support_filter_lzma },
  { "lzip", archive_read_support_filter_lzip },
  { "lz4", archive_read_support_filter_lz4 },
  { "compress", archive_read_support_filter_compress },
  { "lzop", archive_read_support_filter_lzop },
};

/* Bit i set: compression_filters[i] runs in-process.  Asked once, of a
 * throw-away reader, since enabling a filter cannot be undone. */
static guint
in_process_filters (void)
{
  static gsize mask = 0;

  G_STATIC_ASSERT (G_N_ELEMENTS (compression_filters) < 8 * sizeof (gsize) - 1);
  if (g_once_init_enter (&mask)) {
    gsize found = 1u << G_N_ELEMENTS (compression_filters); /* never 0 */

    for (guint i = 0; i < G_N_ELEMENTS (compression_filters); i++) {
      struct archive *probe = archive_read_new ();

      if (compression_filters[i].enable (probe) == ARCHIVE_OK)
        found |= (gsize) 1 << i;
      else
        g_debug ("not reading %s-compressed archives: %s", compression_filters[i].name,
                 archive_error_string (probe));
      archive_read_free (probe);
    }
    g_once_init_leave (&mask, found);
  }
  return (guint) mask;
}

struct archive *
sar_archive_read_new (void)
{
  struct archive *archive = archive_read_new ();
  guint filters = in_process_filters ();

  /* Tar only (ustar, pax, GNU). */
  archive_read_support_format_tar (archive);
  for (guint i = 0; i < G_N_ELEMENTS (compression_filters); i++)
    if (filters & (1u << i))
      compression_filters[i].enable (archive);
  return archive;
}

void
sar_header_free (SarHeader *header)
{
  if (header == NULL)
    return;
  sar_manifest_free (header->manifest);
  sar_checksums_free (header->checksums);
  g_free (header);
}

/* --- reading --- */

typedef struct {
  struct archive *archive;
  SarReadFunc read;
  gpointer read_data;
  GError *read_error; /* why read failed */
  guint64 bytes_read;
  guint64 bytes_reported;
  SarProgressFunc progress;
  gpointer progress_data;
  guint8 *buffer;
} Reader;

static la_ssize_t
reader_read (struct archive *archive, void *data, const void **buffer)
{
  Reader *reader = data;
  gssize n;

  g_clear_error (&reader->read_error);
  n = reader->read (reader->buffer, IO_CHUNK, reader->read_data, &reader->read_error);
  if (n < 0) {
    if (reader->read_error == NULL)
      g_set_error_literal (&reader->read_error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                           "reading the backup failed");
    archive_set_error (archive, EIO, "%s", reader->read_error->message);
    return -1;
  }
  reader->bytes_read += (guint64) n;
  *buffer = reader->buffer;
  return n;
}

static void
reader_free (Reader *reader)
{
  if (reader->archive != NULL)
    archive_read_free (reader->archive);
  g_clear_error (&reader->read_error);
  g_free (reader->buffer);
  g_free (reader);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reader, reader_free)

/* Turns a libarchive failure into a GError: a failing read is reported as
 * it failed, anything else means the data is not a readable archive. */
static gboolean
reader_failed (Reader *reader, const char *what, GError **error)
{
  const char *why = archive_error_string (reader->archive);

  if (reader->read_error != NULL) {
    g_propagate_error (error, g_steal_pointer (&reader->read_error));
    return FALSE;
  }
  return backup_error_invalid (error, "%s: %s", what, why != NULL ? why : "unknown error");
}

static Reader *
reader_open (SarReadFunc read, gpointer read_data, GError **error)
{
  g_autoptr (Reader) reader = g_new0 (Reader, 1);

  reader->read = read;
  reader->read_data = read_data;
  reader->buffer = g_malloc (IO_CHUNK);
  reader->archive = sar_archive_read_new ();
  if (archive_read_open (reader->archive, reader, NULL, reader_read, NULL) != ARCHIVE_OK) {
    reader_failed (reader, "not a SAR file", error);
    return NULL;
  }
  return g_steal_pointer (&reader);
}

static gssize
read_fd (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  int fd = GPOINTER_TO_INT (user_data);
  ssize_t n;

  do
    n = read (fd, buffer, size);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    backup_error_set_errno (error, errno, "reading the backup");
  return n;
}

static void
reader_report (Reader *reader, gboolean force)
{
  if (reader->progress == NULL)
    return;
  if (!force && reader->bytes_read - reader->bytes_reported < PROGRESS_STEP)
    return;
  reader->bytes_reported = reader->bytes_read;
  reader->progress (reader->bytes_read, reader->progress_data);
}

char *
sar_member_path (struct archive_entry *entry)
{
  const char *name = archive_entry_pathname_utf8 (entry);

  if (name == NULL)
    name = archive_entry_pathname (entry);
  if (name == NULL)
    return g_strdup ("");
  if (name[0] == '.' && name[1] == '/' && name[2] != '\0')
    name += 2;
  return g_strdup (name);
}

gboolean
sar_check_member_type (struct archive_entry *entry, const char *quoted, GError **error)
{
  const char *what = NULL;

  if (archive_entry_hardlink (entry) != NULL)
    what = "a hard link";
  else if (archive_entry_symlink (entry) != NULL)
    what = "a symbolic link";
  else {
    switch (archive_entry_filetype (entry)) {
    case AE_IFREG:
      if (archive_entry_sparse_count (entry) > 0)
        what = "a sparse file";
      break;
    case AE_IFDIR:
      break;
    case AE_IFLNK:
      what = "a symbolic link";
      break;
    case AE_IFCHR:
    case AE_IFBLK:
      what = "a device";
      break;
    case AE_IFIFO:
      what = "a FIFO";
      break;
    case AE_IFSOCK:
      what = "a socket";
      break;
    default:
      what = "of an unknown type";
    }
  }
  if (what == NULL)
    return TRUE;
  return backup_error_invalid (
      error, "member %s is %s; only directories and regular files are allowed", quoted, what);
}

/* Reads the next member, which must be the regular file `expected` of at
 * most SAR_METADATA_MAX bytes, into memory. */
static char *
read_metadata_member (Reader *reader, const char *expected, guint position, gsize *len,
                      GError **error)
{
  struct archive_entry *entry;
  g_autofree char *path = NULL;
  g_autofree char *quoted = NULL;
  g_autofree char *data = NULL;
  la_int64_t size;
  gsize got = 0;
  int ret;

  ret = archive_read_next_header (reader->archive, &entry);
  if (ret == ARCHIVE_EOF) {
    backup_error_invalid (error, "not a SAR file: the archive ends before its %s member \"%s\"",
                          position == 1 ? "first" : "second", expected);
    return NULL;
  }
  /* ARCHIVE_RETRY (a damaged header) is a failure too. */
  if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN) {
    reader_failed (reader, position == 1 ? "not a SAR file" : "reading " SAR_CHECKSUMS_MEMBER,
                   error);
    return NULL;
  }
  path = sar_member_path (entry);
  quoted = sar_quote (path);
  if (strcmp (path, expected) != 0) {
    backup_error_invalid (error,
                          "not a SAR file: member %u is %s, expected \"%s\" (" SAR_MANIFEST_MEMBER
                          " and " SAR_CHECKSUMS_MEMBER
                          " must be the first two members, in this order)",
                          position, quoted, expected);
    return NULL;
  }
  if (!sar_check_member_type (entry, quoted, error))
    return NULL;
  if (archive_entry_filetype (entry) != AE_IFREG) {
    backup_error_invalid (error, "member %s is not a regular file", quoted);
    return NULL;
  }
  size = archive_entry_size (entry);
  if (!archive_entry_size_is_set (entry) || size < 0 || size > SAR_METADATA_MAX) {
    backup_error_invalid (error,
                          "member %s is %" G_GINT64_FORMAT " bytes long; at most %d are allowed",
                          quoted, (gint64) size, SAR_METADATA_MAX);
    return NULL;
  }

  data = g_malloc ((gsize) size + 1);
  while (got < (gsize) size) {
    la_ssize_t n = archive_read_data (reader->archive, data + got, (gsize) size - got);

    if (n < 0) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      reader_failed (reader, what, error);
      return NULL;
    }
    if (n == 0)
      break;
    got += n;
  }
  if (got != (gsize) size) {
    backup_error_invalid (error, "member %s is truncated", quoted);
    return NULL;
  }
  data[got] = '\0';
  *len = got;
  return g_steal_pointer (&data);
}

static SarHeader *
read_header (Reader *reader, GError **error)
{
  g_autoptr (SarHeader) header = g_new0 (SarHeader, 1);
  g_autofree char *manifest_data = NULL;
  g_autofree char *checksums_data = NULL;
  gsize len;

  manifest_data = read_metadata_member (reader, SAR_MANIFEST_MEMBER, 1, &len, error);
  if (manifest_data == NULL)
    return NULL;
  header->manifest = sar_manifest_parse (manifest_data, len, error);
  if (header->manifest == NULL)
    return NULL;
  checksums_data = read_metadata_member (reader, SAR_CHECKSUMS_MEMBER, 2, &len, error);
  if (checksums_data == NULL)
    return NULL;
  header->checksums = sar_checksums_parse (checksums_data, len, error);
  if (header->checksums == NULL
      || !sar_checksums_match_manifest (header->checksums, header->manifest, error))
    return NULL;
  return g_steal_pointer (&header);
}

SarHeader *
sar_read_header (int fd, GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push ();
  g_autoptr (Reader) reader = reader_open (read_fd, GINT_TO_POINTER (fd), error);

  if (reader == NULL)
    return NULL;
  return read_header (reader, error);
}

char *
sar_member_classify (struct archive_entry *entry, const SarManifest *manifest, char **quoted,
                     guint *component, GError **error)
{
  g_autofree char *path = sar_member_path (entry);
  g_autofree char *q = sar_quote (path);
  g_autoptr (GError) local = NULL;
  gsize id_len = strcspn (path, "/");
  guint i;

  if (!sar_path_check (path, &local))
    return backup_error_invalid (error, "invalid member: %s", local->message), NULL;
  if (!sar_check_member_type (entry, q, error))
    return NULL;
  for (i = 0; i < manifest->components->len; i++) {
    const SarComponent *c = g_ptr_array_index (manifest->components, i);
    if (strlen (c->id) == id_len && strncmp (c->id, path, id_len) == 0)
      break;
  }
  if (i == manifest->components->len)
    return backup_error_invalid (
               error, "member %s is not below a component listed in " SAR_MANIFEST_MEMBER, q),
           NULL;
  if (g_str_has_suffix (path, "/"))
    path[strlen (path) - 1] = '\0';
  *component = i;
  *quoted = g_steal_pointer (&q);
  return g_steal_pointer (&path);
}

/* --- the tally --- */

typedef enum { KIND_DIRECTORY = 1, KIND_FILE } PathKind;

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
  guint64 bytes = 0;

  tally->header = header;
  tally->limits = limits;
  tally->kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tally->files = g_new0 (guint64, n);
  tally->bytes = g_new0 (guint64, n);
  for (guint i = 0; i < n; i++) {
    const SarComponent *c = g_ptr_array_index (header->manifest->components, i);
    bytes = c->bytes > G_MAXUINT64 - bytes ? G_MAXUINT64 : bytes + c->bytes;
  }
  /* what the metadata declares, before any tree member is read */
  tally->entries = 2 + header->checksums->entries->len;
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
  g_clear_pointer (&tally->kinds, g_hash_table_unref);
  g_clear_pointer (&tally->files, g_free);
  g_clear_pointer (&tally->bytes, g_free);
}

gboolean
sar_tally_entry (SarTally *tally, GError **error)
{
  tally->entries++;
  return tally_check_limits (tally, error);
}

/* Records path (and implicitly its parents) so that no path is both a
 * file and a directory and no file appears twice. */
static gboolean
tally_record_path (SarTally *tally, const char *path, PathKind kind, const char *quoted,
                   GError **error)
{
  PathKind existing;

  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/')) {
    g_autofree char *parent = g_strndup (path, slash - path);

    existing = GPOINTER_TO_INT (g_hash_table_lookup (tally->kinds, parent));
    if (existing == KIND_FILE)
      return backup_error_invalid (error, "member %s lies below \"%s\", which is a regular file",
                                   quoted, parent);
    if (existing == 0)
      g_hash_table_insert (tally->kinds, g_steal_pointer (&parent),
                           GINT_TO_POINTER (KIND_DIRECTORY));
  }
  existing = GPOINTER_TO_INT (g_hash_table_lookup (tally->kinds, path));
  if (existing == KIND_FILE)
    return backup_error_invalid (error, "member %s appears %s", quoted,
                                 kind == KIND_FILE ? "twice"
                                                   : "as a regular file and as a directory");
  if (existing == KIND_DIRECTORY && kind == KIND_FILE)
    return backup_error_invalid (error, "member %s appears as a regular file and as a directory",
                                 quoted);
  g_hash_table_insert (tally->kinds, g_strdup (path), GINT_TO_POINTER (kind));
  return TRUE;
}

gboolean
sar_tally_directory (SarTally *tally, const char *path, const char *quoted, GError **error)
{
  return tally_record_path (tally, path, KIND_DIRECTORY, quoted, error);
}

const SarChecksumEntry *
sar_tally_file (SarTally *tally, struct archive_entry *entry, const char *path, const char *quoted,
                guint component, guint64 *size, GError **error)
{
  const SarChecksumEntry *listed = g_hash_table_lookup (tally->header->checksums->by_path, path);
  const SarComponent *declared = g_ptr_array_index (tally->header->manifest->components, component);
  la_int64_t member_size = archive_entry_size (entry);

  if (strchr (path, '/') == NULL || g_str_has_suffix (path, "/"))
    return backup_error_invalid (
               error, "member %s is a regular file, but has the name of a directory", quoted),
           NULL;
  if (!tally_record_path (tally, path, KIND_FILE, quoted, error))
    return NULL;
  if (listed == NULL)
    return backup_error_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted),
           NULL;
  if (!archive_entry_size_is_set (entry) || member_size < 0)
    return backup_error_invalid (error, "member %s has no size", quoted), NULL;
  /* Before any data is read: a member cannot make its component larger
   * than the manifest says, so a huge member costs nothing even without
   * limits. */
  if ((guint64) member_size > declared->bytes - tally->bytes[component])
    return backup_error_invalid (error,
                                 "member %s makes component %s larger than the %" G_GUINT64_FORMAT
                                 " bytes " SAR_MANIFEST_MEMBER " says",
                                 quoted, declared->id, declared->bytes),
           NULL;
  tally->unpacked += (guint64) member_size;
  if (!tally_check_limits (tally, error))
    return NULL;
  tally->files[component]++;
  tally->bytes[component] += (guint64) member_size;
  *size = (guint64) member_size;
  return listed;
}

gboolean
sar_tally_complete (SarTally *tally, GError **error)
{
  const SarHeader *header = tally->header;

  for (guint i = 0; i < header->checksums->entries->len; i++) {
    const SarChecksumEntry *listed = g_ptr_array_index (header->checksums->entries, i);
    g_autofree char *quoted = NULL;

    if (GPOINTER_TO_INT (g_hash_table_lookup (tally->kinds, listed->path)) != KIND_FILE)
      return backup_error_invalid (
          error, "%s is listed in " SAR_CHECKSUMS_MEMBER " but missing from the archive",
          quoted = sar_quote (listed->path));
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

/* --- verifying --- */

typedef struct {
  Reader *reader;
  GCancellable *cancellable;
  SarTally tally;
} Verify;

/* Hashes the member's data straight from libarchive's buffers. */
static gboolean
hash_member_data (Verify *verify, const char *quoted, guint64 size, guint8 digest[SAR_SHA256_SIZE],
                  GError **error)
{
  SarSha256 sha;
  guint64 got = 0;

  sar_sha256_init (&sha);
  for (;;) {
    const void *block;
    size_t len;
    la_int64_t offset;
    int ret = archive_read_data_block (verify->reader->archive, &block, &len, &offset);

    if (ret == ARCHIVE_EOF)
      break;
    if (ret != ARCHIVE_OK) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      return reader_failed (verify->reader, what, error);
    }
    if (offset < 0 || (guint64) offset != got)
      return backup_error_invalid (
          error, "member %s has holes; only plain regular files are allowed", quoted);
    if (g_cancellable_set_error_if_cancelled (verify->cancellable, error))
      return FALSE;
    sar_sha256_update (&sha, block, len);
    got += len;
    reader_report (verify->reader, FALSE);
  }
  if (got != size)
    return backup_error_invalid (error, "member %s is truncated", quoted);
  sar_sha256_digest (&sha, digest);
  return TRUE;
}

static gboolean
verify_file (Verify *verify, struct archive_entry *entry, const char *path, const char *quoted,
             guint component, GError **error)
{
  guint64 size;
  guint8 digest[SAR_SHA256_SIZE];
  const SarChecksumEntry *listed
      = sar_tally_file (&verify->tally, entry, path, quoted, component, &size, error);

  if (listed == NULL || !hash_member_data (verify, quoted, size, digest, error))
    return FALSE;
  if (memcmp (digest, listed->digest, sizeof digest) != 0)
    return backup_error_invalid (
        error, "member %s does not match its SHA-256 checksum in " SAR_CHECKSUMS_MEMBER, quoted);
  return TRUE;
}

static gboolean
verify_member (Verify *verify, struct archive_entry *entry, GError **error)
{
  g_autofree char *quoted = NULL;
  guint component;
  g_autofree char *path
      = sar_member_classify (entry, verify->tally.header->manifest, &quoted, &component, error);

  if (path == NULL)
    return FALSE;
  if (archive_entry_filetype (entry) == AE_IFDIR)
    return sar_tally_directory (&verify->tally, path, quoted, error);
  return verify_file (verify, entry, path, quoted, component, error);
}

SarHeader *
sar_verify_stream (SarReadFunc read, gpointer read_data, const SarLimits *limits,
                   SarProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
                   GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push ();
  g_autoptr (Reader) reader = reader_open (read, read_data, error);
  g_autoptr (SarHeader) header = NULL;
  Verify verify = { reader, cancellable, { 0 } };
  gboolean ok;

  if (reader == NULL)
    return NULL;
  reader->progress = progress;
  reader->progress_data = progress_data;
  header = read_header (reader, error);
  if (header == NULL)
    return NULL;

  ok = sar_tally_init (&verify.tally, header, limits, error);
  while (ok) {
    struct archive_entry *entry;
    int ret;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      ok = FALSE;
    else if ((ret = archive_read_next_header (reader->archive, &entry)) == ARCHIVE_EOF)
      break;
    else if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN)
      ok = reader_failed (reader, "reading the archive", error);
    else
      ok = sar_tally_entry (&verify.tally, error) && verify_member (&verify, entry, error);
    reader_report (reader, FALSE);
  }
  ok = ok && sar_tally_complete (&verify.tally, error);
  sar_tally_clear (&verify.tally);
  if (!ok)
    return NULL;
  reader_report (reader, TRUE);
  return g_steal_pointer (&header);
}

SarHeader *
sar_verify (int fd, const SarLimits *limits, SarProgressFunc progress, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  return sar_verify_stream (read_fd, GINT_TO_POINTER (fd), limits, progress, progress_data,
                            cancellable, error);
}
