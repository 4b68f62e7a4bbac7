/* sar.c: reading, verifying and writing SAR archives with libarchive. */
#include "sar.h"

#include "errors.h"
#include "names.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Raw input is read, and member data hashed, in chunks of this size, so
 * memory does not grow with the archive. */
#define IO_CHUNK (256 * 1024)
#define PROGRESS_STEP (1024 * 1024)

typedef int AutoFd;
static void
close_fd (AutoFd fd)
{
  close (fd);
}
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (AutoFd, close_fd, -1)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DIR, closedir)

/* libarchive converts member names between the archive and the charset
 * of the current locale, and the pax writer fails on names it cannot
 * convert.  Member names are UTF-8 whatever the caller's locale: every
 * entry point switches its thread to C.UTF-8 while it uses libarchive. */
typedef locale_t PreviousLocale;
static void
restore_locale (PreviousLocale previous)
{
  uselocale (previous);
}
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (PreviousLocale, restore_locale, NULL)

static PreviousLocale
use_utf8_locale (void)
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

static gboolean set_invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
set_invalid (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP, message);
  return FALSE;
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
  int fd;
  int read_errno;
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
  ssize_t n;

  do
    n = read (reader->fd, reader->buffer, IO_CHUNK);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    reader->read_errno = errno;
    archive_set_error (archive, reader->read_errno, "%s", g_strerror (reader->read_errno));
    return -1;
  }
  reader->bytes_read += n;
  *buffer = reader->buffer;
  return n;
}

static void
reader_free (Reader *reader)
{
  if (reader->archive != NULL)
    archive_read_free (reader->archive);
  g_free (reader->buffer);
  g_free (reader);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reader, reader_free)

/* Turns a libarchive failure into a GError: a failing read() is an I/O
 * problem, anything else means the data is not a readable archive. */
static gboolean
reader_failed (Reader *reader, const char *what, GError **error)
{
  const char *why = archive_error_string (reader->archive);

  if (reader->read_errno != 0)
    return backup_error_set_errno (error, reader->read_errno, "reading the backup");
  return set_invalid (error, "%s: %s", what, why != NULL ? why : "unknown error");
}

static Reader *
reader_open (int fd, GError **error)
{
  g_autoptr (Reader) reader = g_new0 (Reader, 1);

  reader->fd = fd;
  reader->buffer = g_malloc (IO_CHUNK);
  reader->archive = archive_read_new ();
  /* Tar only (ustar, pax, GNU); any compression libarchive knows. */
  archive_read_support_format_tar (reader->archive);
  archive_read_support_filter_all (reader->archive);
  if (archive_read_open (reader->archive, reader, NULL, reader_read, NULL) != ARCHIVE_OK) {
    reader_failed (reader, "not a SAR file", error);
    return NULL;
  }
  return g_steal_pointer (&reader);
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

/* The member's path with one leading "./" (as "tar -C dir ." writes)
 * removed. */
static char *
member_path (struct archive_entry *entry)
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

/* Only directories and regular files may appear in an archive. */
static gboolean
check_member_type (struct archive_entry *entry, const char *quoted, GError **error)
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
  return set_invalid (error, "member %s is %s; only directories and regular files are allowed",
                      quoted, what);
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
    set_invalid (error, "not a SAR file: the archive ends before its %s member \"%s\"",
                 position == 1 ? "first" : "second", expected);
    return NULL;
  }
  /* ARCHIVE_RETRY (a damaged header) is a failure too. */
  if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN) {
    reader_failed (reader, position == 1 ? "not a SAR file" : "reading " SAR_CHECKSUMS_MEMBER,
                   error);
    return NULL;
  }
  path = member_path (entry);
  quoted = sar_quote (path);
  if (strcmp (path, expected) != 0) {
    set_invalid (error,
                 "not a SAR file: member %u is %s, expected \"%s\" (" SAR_MANIFEST_MEMBER
                 " and " SAR_CHECKSUMS_MEMBER " must be the first two members, in this order)",
                 position, quoted, expected);
    return NULL;
  }
  if (!check_member_type (entry, quoted, error))
    return NULL;
  if (archive_entry_filetype (entry) != AE_IFREG) {
    set_invalid (error, "member %s is not a regular file", quoted);
    return NULL;
  }
  size = archive_entry_size (entry);
  if (!archive_entry_size_is_set (entry) || size < 0 || size > SAR_METADATA_MAX) {
    set_invalid (error, "member %s is %" G_GINT64_FORMAT " bytes long; at most %d are allowed",
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
    set_invalid (error, "member %s is truncated", quoted);
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
  g_auto (PreviousLocale) previous = use_utf8_locale ();
  g_autoptr (Reader) reader = reader_open (fd, error);

  if (reader == NULL)
    return NULL;
  return read_header (reader, error);
}

/* --- verifying --- */

typedef enum { KIND_DIRECTORY = 1, KIND_FILE } PathKind;

typedef struct {
  Reader *reader;
  SarHeader *header;
  const SarLimits *limits;
  GCancellable *cancellable;
  GHashTable *kinds; /* path without trailing '/' -> PathKind */
  guint64 *files;    /* per component, in manifest order */
  guint64 *bytes;
  guint64 entries;
  guint64 unpacked;
  guint8 *buffer;
} Verify;

static gboolean
too_large (GError **error, const char *what, guint64 limit)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE,
               "the backup has more than %" G_GUINT64_FORMAT " %s, the configured limit", limit,
               what);
  return FALSE;
}

static gboolean
check_limits (Verify *verify, guint64 more_bytes, GError **error)
{
  guint64 max_bytes = verify->limits != NULL ? verify->limits->max_unpacked_bytes : 0;
  guint64 max_entries = verify->limits != NULL ? verify->limits->max_entries : 0;

  verify->unpacked += more_bytes;
  if (max_entries != 0 && verify->entries > max_entries)
    return too_large (error, "entries", max_entries);
  if (max_bytes != 0 && verify->unpacked > max_bytes)
    return too_large (error, "bytes of unpacked data", max_bytes);
  return TRUE;
}

/* Records path (and implicitly its parents) so that no path is both a
 * file and a directory and no file appears twice. */
static gboolean
record_path (Verify *verify, const char *path, PathKind kind, const char *quoted, GError **error)
{
  PathKind existing;

  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/')) {
    g_autofree char *parent = g_strndup (path, slash - path);

    existing = GPOINTER_TO_INT (g_hash_table_lookup (verify->kinds, parent));
    if (existing == KIND_FILE)
      return set_invalid (error, "member %s lies below \"%s\", which is a regular file", quoted,
                          parent);
    if (existing == 0)
      g_hash_table_insert (verify->kinds, g_steal_pointer (&parent),
                           GINT_TO_POINTER (KIND_DIRECTORY));
  }
  existing = GPOINTER_TO_INT (g_hash_table_lookup (verify->kinds, path));
  if (existing == KIND_FILE)
    return set_invalid (error, "member %s appears %s", quoted,
                        kind == KIND_FILE ? "twice" : "as a regular file and as a directory");
  if (existing == KIND_DIRECTORY && kind == KIND_FILE)
    return set_invalid (error, "member %s appears as a regular file and as a directory", quoted);
  g_hash_table_insert (verify->kinds, g_strdup (path), GINT_TO_POINTER (kind));
  return TRUE;
}

static gboolean
hash_member_data (Verify *verify, const char *quoted, guint64 size, guint8 digest[32],
                  GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize digest_len = 32;
  guint64 got = 0;

  for (;;) {
    la_ssize_t n = archive_read_data (verify->reader->archive, verify->buffer, IO_CHUNK);

    if (n < 0) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      return reader_failed (verify->reader, what, error);
    }
    if (n == 0)
      break;
    if (g_cancellable_set_error_if_cancelled (verify->cancellable, error))
      return FALSE;
    g_checksum_update (checksum, verify->buffer, n);
    got += n;
    reader_report (verify->reader, FALSE);
  }
  if (got != size)
    return set_invalid (error, "member %s is truncated", quoted);
  g_checksum_get_digest (checksum, digest, &digest_len);
  return TRUE;
}

static gboolean
verify_file (Verify *verify, struct archive_entry *entry, const char *path, const char *quoted,
             guint component, GError **error)
{
  const SarChecksumEntry *listed = g_hash_table_lookup (verify->header->checksums->by_path, path);
  const SarComponent *declared
      = g_ptr_array_index (verify->header->manifest->components, component);
  la_int64_t size = archive_entry_size (entry);
  guint8 digest[32];

  if (strchr (path, '/') == NULL || g_str_has_suffix (path, "/"))
    return set_invalid (error, "member %s is a regular file, but has the name of a directory",
                        quoted);
  if (!record_path (verify, path, KIND_FILE, quoted, error))
    return FALSE;
  if (listed == NULL)
    return set_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted);
  if (!archive_entry_size_is_set (entry) || size < 0)
    return set_invalid (error, "member %s has no size", quoted);
  /* Caught before reading, so a huge member costs nothing even without
   * limits. */
  if ((guint64) size > declared->bytes - verify->bytes[component])
    return set_invalid (error,
                        "member %s makes component %s larger than the %" G_GUINT64_FORMAT
                        " bytes " SAR_MANIFEST_MEMBER " says",
                        quoted, declared->id, declared->bytes);
  if (!check_limits (verify, (guint64) size, error)
      || !hash_member_data (verify, quoted, (guint64) size, digest, error))
    return FALSE;
  if (memcmp (digest, listed->digest, sizeof digest) != 0)
    return set_invalid (
        error, "member %s does not match its SHA-256 checksum in " SAR_CHECKSUMS_MEMBER, quoted);
  verify->files[component]++;
  verify->bytes[component] += (guint64) size;
  return TRUE;
}

static gboolean
verify_member (Verify *verify, struct archive_entry *entry, GError **error)
{
  const GPtrArray *components = verify->header->manifest->components;
  g_autofree char *path = member_path (entry);
  g_autofree char *quoted = sar_quote (path);
  g_autoptr (GError) local = NULL;
  gsize id_len = strcspn (path, "/");
  guint component;

  if (!sar_path_check (path, &local))
    return set_invalid (error, "invalid member: %s", local->message);
  if (!check_member_type (entry, quoted, error))
    return FALSE;
  for (component = 0; component < components->len; component++) {
    const SarComponent *c = g_ptr_array_index (components, component);

    if (strlen (c->id) == id_len && strncmp (c->id, path, id_len) == 0)
      break;
  }
  if (component == components->len)
    return set_invalid (error, "member %s is not below a component listed in " SAR_MANIFEST_MEMBER,
                        quoted);

  if (archive_entry_filetype (entry) == AE_IFDIR) {
    if (g_str_has_suffix (path, "/"))
      path[strlen (path) - 1] = '\0';
    return check_limits (verify, 0, error)
           && record_path (verify, path, KIND_DIRECTORY, quoted, error);
  }
  return verify_file (verify, entry, path, quoted, component, error);
}

/* After the last member: nothing listed is missing, totals match. */
static gboolean
verify_complete (Verify *verify, GError **error)
{
  const SarHeader *header = verify->header;

  for (guint i = 0; i < header->checksums->entries->len; i++) {
    const SarChecksumEntry *listed = g_ptr_array_index (header->checksums->entries, i);
    g_autofree char *quoted = NULL;

    if (GPOINTER_TO_INT (g_hash_table_lookup (verify->kinds, listed->path)) != KIND_FILE)
      return set_invalid (error,
                          "%s is listed in " SAR_CHECKSUMS_MEMBER " but missing from the archive",
                          quoted = sar_quote (listed->path));
  }
  for (guint i = 0; i < header->manifest->components->len; i++) {
    const SarComponent *c = g_ptr_array_index (header->manifest->components, i);

    if (verify->files[i] != c->files || verify->bytes[i] != c->bytes)
      return set_invalid (error,
                          "component %s holds %" G_GUINT64_FORMAT " files with %" G_GUINT64_FORMAT
                          " bytes, but " SAR_MANIFEST_MEMBER " says %" G_GUINT64_FORMAT
                          " files with %" G_GUINT64_FORMAT " bytes",
                          c->id, verify->files[i], verify->bytes[i], c->files, c->bytes);
  }
  return TRUE;
}

/* Limits that the metadata alone already shows to be exceeded. */
static gboolean
check_declared_limits (Verify *verify, GError **error)
{
  guint64 bytes = 0;

  for (guint i = 0; i < verify->header->manifest->components->len; i++) {
    const SarComponent *c = g_ptr_array_index (verify->header->manifest->components, i);

    bytes = c->bytes > G_MAXUINT64 - bytes ? G_MAXUINT64 : bytes + c->bytes;
  }
  verify->entries = 2 + verify->header->checksums->entries->len;
  return check_limits (verify, bytes, error);
}

SarHeader *
sar_verify (int fd, const SarLimits *limits, SarProgressFunc progress, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  g_auto (PreviousLocale) previous = use_utf8_locale ();
  g_autoptr (Reader) reader = reader_open (fd, error);
  g_autoptr (SarHeader) header = NULL;
  g_autoptr (GHashTable) kinds = NULL;
  g_autofree guint64 *files = NULL;
  g_autofree guint64 *bytes = NULL;
  g_autofree guint8 *buffer = NULL;
  Verify verify;

  if (reader == NULL)
    return NULL;
  reader->progress = progress;
  reader->progress_data = progress_data;
  header = read_header (reader, error);
  if (header == NULL)
    return NULL;

  kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  files = g_new0 (guint64, header->manifest->components->len);
  bytes = g_new0 (guint64, header->manifest->components->len);
  buffer = g_malloc (IO_CHUNK);
  verify = (Verify){ reader, header, limits, cancellable, kinds, files, bytes, 0, 0, buffer };
  if (!check_declared_limits (&verify, error))
    return NULL;
  verify.entries = 2;
  verify.unpacked = 0;

  for (;;) {
    struct archive_entry *entry;
    int ret;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return NULL;
    ret = archive_read_next_header (reader->archive, &entry);
    if (ret == ARCHIVE_EOF)
      break;
    if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN) {
      reader_failed (reader, "reading the archive", error);
      return NULL;
    }
    verify.entries++;
    if (!verify_member (&verify, entry, error))
      return NULL;
    reader_report (reader, FALSE);
  }
  if (!verify_complete (&verify, error))
    return NULL;
  reader_report (reader, TRUE);
  return g_steal_pointer (&header);
}

/* --- writing --- */

const char *
sar_default_label (const char *id)
{
  static const struct {
    const char *id;
    const char *label;
  } labels[] = {
    { "core", "Core data" },
    { "cdr-voicemail", "CDR and voicemails" },
    { "announcements", "Voicemail announcements" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (strcmp (labels[i].id, id) == 0)
      return labels[i].label;
  return id;
}

static gboolean pack_failed (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
pack_failed (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, message);
  return FALSE;
}

/* One directory or regular file of a component tree, as found by the
 * first pass; the second pass writes it and checks it did not change. */
typedef struct {
  char *name;
  gboolean is_dir;
  mode_t mode;
  gint64 mtime;
  guint64 size;
  guint8 digest[32];
  GPtrArray *children; /* PackNode*, sorted by name; directories only */
} PackNode;

static void
pack_node_free (PackNode *node)
{
  g_free (node->name);
  g_clear_pointer (&node->children, g_ptr_array_unref);
  g_free (node);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PackNode, pack_node_free)

static PackNode *
pack_node_new (const char *name, const struct stat *st)
{
  PackNode *node = g_new0 (PackNode, 1);

  node->name = g_strdup (name);
  node->is_dir = S_ISDIR (st->st_mode);
  node->mode = st->st_mode & 0777; /* no setuid, setgid or sticky bits */
  node->mtime = st->st_mtim.tv_sec;
  if (node->is_dir)
    node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_node_free);
  return node;
}

typedef struct {
  GCancellable *cancellable;
  struct archive *archive; /* second pass only */
  int write_errno;
  int out_fd;
  guint8 *buffer;
} Packer;

static gboolean
write_failed (Packer *packer, GError **error)
{
  if (packer->write_errno != 0)
    return backup_error_set_errno (error, packer->write_errno, "writing the backup");
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "writing the backup: %s",
               archive_error_string (packer->archive));
  return FALSE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static const char *
file_type_name (mode_t mode)
{
  if (S_ISLNK (mode))
    return "a symbolic link";
  if (S_ISCHR (mode) || S_ISBLK (mode))
    return "a device";
  if (S_ISFIFO (mode))
    return "a FIFO";
  if (S_ISSOCK (mode))
    return "a socket";
  return "of an unknown type";
}

/* Opens a regular file below dir_fd without following symlinks and without
 * blocking on a FIFO swapped in since it was looked at. */
static int
open_regular (int dir_fd, const char *name, const char *source, struct stat *st, GError **error)
{
  AutoFd fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

  if (fd < 0) {
    backup_error_set_errno (error, errno, "opening %s", source);
    return -1;
  }
  if (fstat (fd, st) < 0) {
    backup_error_set_errno (error, errno, "reading %s", source);
    return -1;
  }
  if (!S_ISREG (st->st_mode)) {
    pack_failed (error, "%s changed while packing (it is no longer a regular file)", source);
    return -1;
  }
  return g_steal_fd (&fd);
}

/* Reads the whole file, hashing it and, in the second pass, writing it to
 * the archive. */
static gboolean
pack_file_data (Packer *packer, int fd, const char *source, guint64 *size, guint8 digest[32],
                GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize digest_len = 32;

  *size = 0;
  for (;;) {
    ssize_t n = read (fd, packer->buffer, IO_CHUNK);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "reading %s", source);
    if (n == 0)
      break;
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error))
      return FALSE;
    g_checksum_update (checksum, packer->buffer, n);
    *size += n;
    if (packer->archive != NULL && archive_write_data (packer->archive, packer->buffer, n) != n) {
      return write_failed (packer, error);
    }
  }
  g_checksum_get_digest (checksum, digest, &digest_len);
  return TRUE;
}

static gboolean scan_directory (Packer *packer, int dir_fd, const char *source, const char *path,
                                PackNode *node, SarComponent *component, GError **error);

/* First pass over one directory entry. */
static gboolean
scan_entry (Packer *packer, int dir_fd, const char *name, const char *source, const char *path,
            PackNode *parent, SarComponent *component, GError **error)
{
  g_autofree char *child_source = g_build_filename (source, name, NULL);
  g_autofree char *child_path = g_strconcat (path, "/", name, NULL);
  g_autoptr (GError) local = NULL;
  g_autoptr (PackNode) node = NULL;
  struct stat st;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return backup_error_set_errno (error, errno, "reading %s", child_source);
  if (!sar_path_check (child_path, &local))
    return pack_failed (error, "cannot pack %s: %s", child_source, local->message);
  if (!S_ISDIR (st.st_mode) && !S_ISREG (st.st_mode))
    return pack_failed (error,
                        "cannot pack %s: it is %s; only directories and regular files can be "
                        "packed",
                        child_source, file_type_name (st.st_mode));

  node = pack_node_new (name, &st);
  if (node->is_dir) {
    AutoFd fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening %s", child_source);
    if (!scan_directory (packer, fd, child_source, child_path, node, component, error))
      return FALSE;
  } else {
    AutoFd fd = open_regular (dir_fd, name, child_source, &st, error);

    if (fd < 0 || !pack_file_data (packer, fd, child_source, &node->size, node->digest, error))
      return FALSE;
    node->mtime = st.st_mtim.tv_sec;
    component->files++;
    component->bytes += node->size;
  }
  g_ptr_array_add (parent->children, g_steal_pointer (&node));
  return TRUE;
}

/* First pass: finds the directories and regular files below dir_fd, in
 * name order, and hashes the files.  Takes ownership of nothing. */
static gboolean
scan_directory (Packer *packer, int dir_fd, const char *source, const char *path, PackNode *node,
                SarComponent *component, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (DIR) dir = NULL;
  int fd = dup (dir_fd);
  struct dirent *dent;

  if (fd < 0 || (dir = fdopendir (fd)) == NULL) {
    int errsv = errno;

    if (fd >= 0)
      close (fd);
    return backup_error_set_errno (error, errsv, "reading directory %s", source);
  }
  errno = 0;
  while ((dent = readdir (dir)) != NULL) {
    if (strcmp (dent->d_name, ".") != 0 && strcmp (dent->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (dent->d_name));
    errno = 0;
  }
  if (errno != 0)
    return backup_error_set_errno (error, errno, "reading directory %s", source);
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++) {
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error)
        || !scan_entry (packer, dir_fd, g_ptr_array_index (names, i), source, path, node, component,
                        error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
write_header (Packer *packer, const char *path, mode_t type, mode_t mode, gint64 mtime,
              guint64 size, GError **error)
{
  struct archive_entry *entry = archive_entry_new ();
  int ret;

  archive_entry_set_pathname_utf8 (entry, path);
  archive_entry_set_filetype (entry, type);
  archive_entry_set_perm (entry, mode);
  archive_entry_set_uid (entry, 0);
  archive_entry_set_gid (entry, 0);
  archive_entry_set_uname (entry, "root");
  archive_entry_set_gname (entry, "root");
  archive_entry_set_mtime (entry, mtime, 0);
  archive_entry_set_size (entry, type == AE_IFREG ? (la_int64_t) size : 0);
  ret = archive_write_header (packer->archive, entry);
  archive_entry_free (entry);
  /* A warning means the header could not be written as given. */
  return ret == ARCHIVE_OK || write_failed (packer, error);
}

static gboolean
write_metadata (Packer *packer, const char *name, const char *data, gsize len, gint64 mtime,
                GError **error)
{
  if (!write_header (packer, name, AE_IFREG, 0644, mtime, len, error))
    return FALSE;
  if (len > 0 && archive_write_data (packer->archive, data, len) != (la_ssize_t) len)
    return write_failed (packer, error);
  return TRUE;
}

/* Second pass: writes node (found below dir_fd by the first pass) and its
 * tree, re-reading each file and refusing files that changed. */
static gboolean
write_node (Packer *packer, int dir_fd, const PackNode *node, const char *source, const char *path,
            GError **error)
{
  g_autofree char *child_source = g_build_filename (source, node->name, NULL);
  g_autofree char *child_path = g_strconcat (path, "/", node->name, NULL);
  struct stat st;
  guint8 digest[32];
  guint64 size;

  if (g_cancellable_set_error_if_cancelled (packer->cancellable, error))
    return FALSE;
  if (node->is_dir) {
    g_autofree char *dir_path = g_strconcat (child_path, "/", NULL);
    AutoFd fd = openat (dir_fd, node->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening %s", child_source);
    if (!write_header (packer, dir_path, AE_IFDIR, node->mode, node->mtime, 0, error))
      return FALSE;
    for (guint i = 0; i < node->children->len; i++)
      if (!write_node (packer, fd, g_ptr_array_index (node->children, i), child_source, child_path,
                       error))
        return FALSE;
    return TRUE;
  }

  AutoFd fd = open_regular (dir_fd, node->name, child_source, &st, error);
  if (fd < 0)
    return FALSE;
  if ((guint64) st.st_size != node->size)
    return pack_failed (error, "%s changed while packing (its size changed); try again",
                        child_source);
  if (!write_header (packer, child_path, AE_IFREG, node->mode, node->mtime, node->size, error)
      || !pack_file_data (packer, fd, child_source, &size, digest, error))
    return FALSE;
  if (size != node->size || memcmp (digest, node->digest, sizeof digest) != 0)
    return pack_failed (error, "%s changed while packing (its content changed); try again",
                        child_source);
  return TRUE;
}

static la_ssize_t
packer_write (struct archive *archive, void *data, const void *buffer, size_t len)
{
  Packer *packer = data;
  const char *p = buffer;
  size_t left = len;

  while (left > 0) {
    ssize_t n = write (packer->out_fd, p, left);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      packer->write_errno = errno;
      archive_set_error (archive, packer->write_errno, "%s", g_strerror (packer->write_errno));
      return -1;
    }
    p += n;
    left -= n;
  }
  return len;
}

static gboolean
open_writer (Packer *packer, SarCompression compression, GError **error)
{
  int ret = ARCHIVE_OK;

  packer->archive = archive_write_new ();
  archive_write_set_format_pax_restricted (packer->archive);
  switch (compression) {
  case SAR_COMPRESSION_ZSTD:
    ret = archive_write_add_filter_zstd (packer->archive);
    break;
  case SAR_COMPRESSION_GZIP:
    ret = archive_write_add_filter_gzip (packer->archive);
    /* No time in the gzip header, so the output is reproducible. */
    if (ret == ARCHIVE_OK)
      ret = archive_write_set_filter_option (packer->archive, "gzip", "timestamp", NULL);
    break;
  case SAR_COMPRESSION_NONE:
    break;
  }
  /* Padding belongs to the tar stream, not after the compressed data. */
  if (compression != SAR_COMPRESSION_NONE)
    archive_write_set_bytes_in_last_block (packer->archive, 1);
  if (ret != ARCHIVE_OK
      || archive_write_open (packer->archive, packer, NULL, packer_write, NULL) != ARCHIVE_OK)
    return write_failed (packer, error);
  return TRUE;
}

/* The manifest of the spec, checked by the reader's own rules so the
 * writer never writes what the reader refuses.  Counts are filled in by
 * the first pass. */
static SarManifest *
manifest_for_spec (const SarPackSpec *spec, GError **error)
{
  g_autoptr (SarManifest) manifest = g_new0 (SarManifest, 1);
  g_autoptr (SarManifest) check = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *data = NULL;
  gsize len;

  manifest->format = SAR_FORMAT_VERSION;
  manifest->version = g_strdup (spec->version != NULL ? spec->version : "");
  manifest->created = spec->created != 0 ? spec->created : g_get_real_time () / G_USEC_PER_SEC;
  manifest->process = g_strdup (spec->process != NULL ? spec->process : "manual");
  manifest->hostname = g_strdup (spec->hostname != NULL ? spec->hostname : g_get_host_name ());
  manifest->ip_address = g_strdup (spec->ip_address);
  manifest->components = g_ptr_array_new_with_free_func ((GDestroyNotify) sar_component_free);
  for (guint i = 0; spec->components != NULL && i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    SarComponent *component = g_new0 (SarComponent, 1);

    component->id = g_strdup (pack->id);
    component->label = g_strdup (pack->label != NULL ? pack->label : sar_default_label (pack->id));
    g_ptr_array_add (manifest->components, component);
  }

  data = sar_manifest_to_data (manifest, &len);
  check = sar_manifest_parse (data, len, &local);
  if (check == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot pack: %s", local->message);
    return NULL;
  }
  manifest->parsed_version = check->parsed_version;
  return g_steal_pointer (&manifest);
}

/* SHA256SUMS from the first pass, in the order the files are written. */
static void
collect_checksums (const PackNode *node, const char *path, SarChecksums *sums)
{
  for (guint i = 0; i < node->children->len; i++) {
    const PackNode *child = g_ptr_array_index (node->children, i);
    g_autofree char *child_path = g_strconcat (path, "/", child->name, NULL);

    if (child->is_dir)
      collect_checksums (child, child_path, sums);
    else
      sar_checksums_add (sums, child_path, child->digest);
  }
}

/* Writes the archive from the first pass's trees. */
static gboolean
write_archive (Packer *packer, const SarPackSpec *spec, const SarManifest *manifest,
               GPtrArray *roots, GError **error)
{
  g_autoptr (SarChecksums) sums = sar_checksums_new ();
  g_autofree char *manifest_data = NULL;
  g_autofree char *sums_data = NULL;
  gsize manifest_len, sums_len;

  for (guint i = 0; i < roots->len; i++) {
    const PackNode *root = g_ptr_array_index (roots, i);

    collect_checksums (root, root->name, sums);
  }
  manifest_data = sar_manifest_to_data (manifest, &manifest_len);
  sums_data = sar_checksums_to_data (sums, &sums_len);
  if (!open_writer (packer, spec->compression, error)
      || !write_metadata (packer, SAR_MANIFEST_MEMBER, manifest_data, manifest_len,
                          manifest->created, error)
      || !write_metadata (packer, SAR_CHECKSUMS_MEMBER, sums_data, sums_len, manifest->created,
                          error))
    return FALSE;

  for (guint i = 0; i < roots->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    const PackNode *root = g_ptr_array_index (roots, i);
    g_autofree char *root_path = g_strconcat (root->name, "/", NULL);
    AutoFd fd = open (pack->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening component directory %s", pack->path);
    if (!write_header (packer, root_path, AE_IFDIR, root->mode, root->mtime, 0, error))
      return FALSE;
    for (guint j = 0; j < root->children->len; j++)
      if (!write_node (packer, fd, g_ptr_array_index (root->children, j), pack->path, root->name,
                       error))
        return FALSE;
  }
  if (archive_write_close (packer->archive) != ARCHIVE_OK)
    return write_failed (packer, error);
  return TRUE;
}

gboolean
sar_pack (const SarPackSpec *spec, int out_fd, GCancellable *cancellable, GError **error)
{
  g_auto (PreviousLocale) previous = use_utf8_locale ();
  g_autoptr (SarManifest) manifest = manifest_for_spec (spec, error);
  g_autoptr (GPtrArray) roots = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_node_free);
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);
  Packer packer = { cancellable, NULL, 0, out_fd, buffer };
  gboolean ok;

  if (manifest == NULL)
    return FALSE;
  if (manifest->components->len == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot pack: no components");
    return FALSE;
  }

  /* First pass: what is there, and its checksums, which SHA256SUMS must
   * list before any file is written. */
  for (guint i = 0; i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    SarComponent *component = g_ptr_array_index (manifest->components, i);
    AutoFd fd = open (pack->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    PackNode *root;

    if (fd < 0 || fstat (fd, &st) < 0)
      return backup_error_set_errno (error, errno, "opening component directory %s", pack->path);
    root = pack_node_new (pack->id, &st);
    g_ptr_array_add (roots, root);
    if (!scan_directory (&packer, fd, pack->path, pack->id, root, component, error))
      return FALSE;
  }

  ok = write_archive (&packer, spec, manifest, roots, error);
  if (packer.archive != NULL)
    archive_write_free (packer.archive);
  return ok;
}
