/* extract.c: safe extraction of chosen components of a SAR archive.
 *
 * Every member is checked as sar_verify() checks it, whether its component
 * was chosen or not, so a hostile archive is refused the same way however
 * it is restored; only members of chosen components are written (and
 * their data hashed).  Directories are reached by walking one component at
 * a time with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), holding an
 * fd per level, never by a path string.
 */
#include "autofd.h"
#include "extract.h"

#include "errors.h"
#include "names.h"
#include "sha256.h"
#include "tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE_DEFAULT 0755

/* --- the extraction state --- */

/* A directory created in a staging tree; its mode is applied at the end,
 * after its contents are written, so a 0555 directory blocks nothing. */
typedef struct {
  const ExtractTarget *target;
  char *rel; /* below the staging directory, without "<id>/" */
  guint depth;
  mode_t mode;
} CreatedDir;

static void
created_dir_free (CreatedDir *dir)
{
  g_free (dir->rel);
  g_free (dir);
}

typedef struct {
  const ExtractTarget *target; /* NULL: read and skipped */
} ComponentState;

typedef struct {
  SarReader *reader;
  struct archive *archive; /* the reader's tar reader */

  const SarHeader *header;
  const SarLimits *limits;
  GCancellable *cancellable;
  ComponentState *components; /* in manifest order */
  GPtrArray *dirs;            /* CreatedDir* */
  GHashTable *dir_by_path;    /* member path -> CreatedDir* (borrowed) */
  SarTally tally;

  /* The directories leading to the last member written, one open fd per
   * level below the staging directory of stack_target.  Members come in
   * tree order, so most members reuse all of it. */
  const ExtractTarget *stack_target;
  guint stack_len;
  char *stack_names[SAR_PATH_DEPTH_MAX];
  int stack_fds[SAR_PATH_DEPTH_MAX];
} Extractor;

static void
stack_pop_to (Extractor *ex, guint len)
{
  while (ex->stack_len > len) {
    ex->stack_len--;
    close (ex->stack_fds[ex->stack_len]);
    g_free (ex->stack_names[ex->stack_len]);
  }
}

static void
extractor_free (Extractor *ex)
{
  stack_pop_to (ex, 0);
  sar_reader_free (ex->reader);
  g_free (ex->components);
  sar_tally_clear (&ex->tally);
  g_clear_pointer (&ex->dir_by_path, g_hash_table_unref);
  g_clear_pointer (&ex->dirs, g_ptr_array_unref);
  g_free (ex);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Extractor, extractor_free)

/* --- reading --- */

static gboolean
reader_failed (Extractor *ex, const char *what, GError **error)
{
  return sar_reader_failed (ex->reader, what, error);
}

/* The reader of sar.c: tar formats only, in-process filters only. */
static gboolean
extractor_open (Extractor *ex, int fd, SarProgressFunc progress, gpointer progress_data,
                GError **error)
{
  ex->reader = sar_reader_open_fd (fd, TRUE, progress, progress_data, error);
  if (ex->reader == NULL)
    return FALSE;
  ex->archive = sar_reader_archive (ex->reader);
  return TRUE;
}

static void
extractor_report (Extractor *ex, gboolean force)
{
  sar_reader_report (ex->reader, force);
}

/* The first two members were parsed into the header by the caller; here
 * they only have to be where they belong. */
static gboolean
skip_metadata_member (Extractor *ex, const char *expected, guint position, gint64 max,
                      GError **error)
{
  struct archive_entry *entry;
  g_autofree char *path = NULL;
  g_autofree char *quoted = NULL;

  if (!sar_reader_next (ex->reader, &entry, "not a SAR file", error))
    return FALSE;
  if (entry == NULL)
    return backup_error_invalid (error, "not a SAR file: the archive ends before member \"%s\"",
                                 expected);
  path = sar_member_path (entry);
  quoted = sar_quote (path);
  if (strcmp (path, expected) != 0)
    return backup_error_invalid (error, "not a SAR file: member %u is %s, expected \"%s\"",
                                 position, quoted, expected);
  if (!sar_check_member_type (entry, quoted, error))
    return FALSE;
  if (archive_entry_filetype (entry) != AE_IFREG)
    return backup_error_invalid (error, "member %s is not a regular file", quoted);
  if (!archive_entry_size_is_set (entry) || archive_entry_size (entry) < 0
      || archive_entry_size (entry) > max)
    return backup_error_invalid (error, "member %s is larger than %" G_GINT64_FORMAT " bytes",
                                 quoted, max);
  if (archive_read_data_skip (ex->archive) != ARCHIVE_OK)
    return reader_failed (ex, "reading the archive", error);
  return TRUE;
}

/* --- limits and bookkeeping --- */

/* --- writing into the staging trees --- */

static gboolean
set_owner (int fd, const ExtractTarget *target, const char *what, GError **error)
{
  if (target->uid == (uid_t) -1 && target->gid == (gid_t) -1)
    return TRUE;
  if (fchown (fd, target->uid, target->gid) < 0)
    return backup_error_set_errno (error, errno, "setting the owner of %s", what);
  return TRUE;
}

static char *
join_components (char **parts, guint n)
{
  GString *joined = g_string_new (NULL);

  for (guint i = 0; i < n; i++) {
    if (i > 0)
      g_string_append_c (joined, '/');
    g_string_append (joined, parts[i]);
  }
  return g_string_free (joined, FALSE);
}

/* Opens (creating as needed) the directories dirs[0..n) below the staging
 * directory of target, reusing the levels already open.  Returns a
 * borrowed fd: the staging fd itself when n is 0. */
static int
enter_directories (Extractor *ex, const ExtractTarget *target, char **dirs, guint n,
                   const char *quoted, GError **error)
{
  guint common = 0;

  if (ex->stack_target != target) {
    stack_pop_to (ex, 0);
    ex->stack_target = target;
  }
  while (common < ex->stack_len && common < n
         && strcmp (ex->stack_names[common], dirs[common]) == 0)
    common++;
  stack_pop_to (ex, common);

  for (guint i = common; i < n; i++) {
    int parent = i == 0 ? target->staging_fd : ex->stack_fds[i - 1];
    int fd
        = tree_open_beneath (parent, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);

    if (fd < 0 && errno == ENOENT) {
      g_autofree char *rel = join_components (dirs, i + 1);
      g_autofree char *key = g_strconcat (target->id, "/", rel, NULL);
      CreatedDir *dir;

      if (mkdirat (parent, dirs[i], DIR_MODE_DEFAULT) < 0) {
        backup_error_set_errno (error, errno, "creating directory %s for member %s", rel, quoted);
        return -1;
      }
      fd = tree_open_beneath (parent, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
      if (fd >= 0 && !set_owner (fd, target, rel, error)) {
        close (fd);
        return -1;
      }
      dir = g_new0 (CreatedDir, 1);
      dir->target = target;
      dir->rel = g_steal_pointer (&rel);
      dir->depth = i + 1;
      dir->mode = DIR_MODE_DEFAULT;
      g_ptr_array_add (ex->dirs, dir);
      g_hash_table_insert (ex->dir_by_path, g_steal_pointer (&key), dir);
    }
    if (fd < 0) {
      backup_error_set_errno (error, errno, "opening directory \"%s\" for member %s", dirs[i],
                              quoted);
      return -1;
    }
    ex->stack_names[i] = g_strdup (dirs[i]);
    ex->stack_fds[i] = fd;
    ex->stack_len = i + 1;
  }
  return n == 0 ? target->staging_fd : ex->stack_fds[n - 1];
}

static gboolean
write_all (int fd, const guint8 *data, gsize len, const char *quoted, GError **error)
{
  while (len > 0) {
    ssize_t n = write (fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "writing member %s", quoted);
    data += n;
    len -= n;
  }
  return TRUE;
}

/* Streams the member's data into fd, hashing it on the way; never more
 * than the size its header gave (which the caller bounded by the
 * manifest). */
static gboolean
write_member_data (Extractor *ex, int fd, const char *quoted, guint64 size,
                   guint8 digest[SAR_SHA256_SIZE], GError **error)
{
  SarSha256 sha;
  guint64 got = 0;

  sar_sha256_init (&sha);
  for (;;) {
    const void *block;
    size_t len;
    la_int64_t offset;
    int ret = archive_read_data_block (ex->archive, &block, &len, &offset);

    if (ret == ARCHIVE_EOF)
      break;
    if (ret != ARCHIVE_OK) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      return reader_failed (ex, what, error);
    }
    if (g_cancellable_set_error_if_cancelled (ex->cancellable, error))
      return FALSE;
    if (offset < 0 || (guint64) offset != got)
      return backup_error_invalid (
          error, "member %s has holes (a sparse file): sparse files are not supported", quoted);
    if (len > size - got)
      return backup_error_invalid (error, "member %s holds more data than its header says", quoted);
    sar_sha256_update (&sha, block, len);
    if (!write_all (fd, block, len, quoted, error))
      return FALSE;
    got += len;
    extractor_report (ex, FALSE);
  }
  if (got != size)
    return backup_error_invalid (error, "member %s is truncated", quoted);
  sar_sha256_digest (&sha, digest);
  return TRUE;
}

/* A regular file: checked whether chosen or not, written if chosen. */
static gboolean
handle_file (Extractor *ex, struct archive_entry *entry, const char *path, const char *quoted,
             guint component, GError **error)
{
  const ExtractTarget *target = ex->components[component].target;
  g_auto (GStrv) parts = NULL;
  guint n_parts;
  guint8 digest[SAR_SHA256_SIZE];
  g_auto (AutoFd) fd = -1;
  guint64 size;
  int parent;
  const SarChecksumEntry *listed
      = sar_tally_file (&ex->tally, entry, path, quoted, component, &size, error);

  if (listed == NULL)
    return FALSE;
  if (target == NULL) {
    if (archive_read_data_skip (ex->archive) != ARCHIVE_OK) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      return reader_failed (ex, what, error);
    }
    return TRUE;
  }

  parts = g_strsplit (path, "/", -1);
  n_parts = g_strv_length (parts);
  /* parts[0] is the component id, the staging directory itself. */
  parent = enter_directories (ex, target, parts + 1, n_parts - 2, quoted, error);
  if (parent < 0)
    return FALSE;
  fd = tree_open_beneath (parent, parts[n_parts - 1],
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "creating member %s", quoted);
  if (!write_member_data (ex, fd, quoted, size, digest, error))
    return FALSE;
  if (memcmp (digest, listed->digest, sizeof digest) != 0)
    return backup_error_invalid (
        error, "member %s does not match its SHA-256 checksum in " SAR_CHECKSUMS_MEMBER, quoted);
  if (!set_owner (fd, target, quoted, error))
    return FALSE;
  /* Permission bits only: never setuid, setgid or sticky. */
  if (fchmod (fd, archive_entry_perm (entry) & 0777) < 0)
    return backup_error_set_errno (error, errno, "setting the mode of member %s", quoted);
  if (close (g_steal_fd (&fd)) < 0)
    return backup_error_set_errno (error, errno, "writing member %s", quoted);
  return TRUE;
}

/* A directory: created now (if chosen), its mode applied at the end. */
static gboolean
handle_directory (Extractor *ex, struct archive_entry *entry, const char *path, const char *quoted,
                  guint component, GError **error)
{
  ComponentState *state = &ex->components[component];
  mode_t mode = archive_entry_perm (entry) & 0777;
  g_auto (GStrv) parts = NULL;
  CreatedDir *dir;

  if (!sar_tally_directory (&ex->tally, path, quoted, error))
    return FALSE;
  if (state->target == NULL)
    return TRUE;
  parts = g_strsplit (path, "/", -1);
  /* "<id>/" is the staging directory itself, which the caller owns. */
  if (parts[1] == NULL)
    return TRUE;
  if (enter_directories (ex, state->target, parts + 1, g_strv_length (parts) - 1, quoted, error)
      < 0)
    return FALSE;
  dir = g_hash_table_lookup (ex->dir_by_path, path);
  if (dir == NULL)
    return backup_error_invalid (
        error, "member %s: the directory was not created by this extraction", quoted);
  dir->mode = mode;
  return TRUE;
}

static gboolean
handle_member (Extractor *ex, struct archive_entry *entry, GError **error)
{
  g_autofree char *quoted = NULL;
  guint component;
  g_autofree char *path
      = sar_member_classify (entry, ex->tally.header->manifest, &quoted, &component, error);

  if (path == NULL)
    return FALSE;
  if (archive_entry_filetype (entry) == AE_IFDIR)
    return handle_directory (ex, entry, path, quoted, component, error);
  return handle_file (ex, entry, path, quoted, component, error);
}

/* --- the end --- */

static int
deeper_first (gconstpointer a, gconstpointer b)
{
  const CreatedDir *da = *(const CreatedDir *const *) a;
  const CreatedDir *db = *(const CreatedDir *const *) b;

  return (int) db->depth - (int) da->depth;
}

/* Directory modes last, deepest first: a read-only directory must not
 * stop its own contents (or its mode change) from being written. */
static gboolean
apply_directory_modes (Extractor *ex, GError **error)
{
  g_ptr_array_sort (ex->dirs, deeper_first);
  for (guint i = 0; i < ex->dirs->len; i++) {
    const CreatedDir *dir = g_ptr_array_index (ex->dirs, i);
    g_auto (AutoFd) fd = tree_open_beneath (dir->target->staging_fd, dir->rel,
                                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);

    if (fd < 0 || fchmod (fd, dir->mode) < 0)
      return backup_error_set_errno (error, errno, "setting the mode of directory %s/%s",
                                     dir->target->id, dir->rel);
  }
  return TRUE;
}

/* One syncfs() per file system holding a staging tree instead of an
 * fsync() per file and directory: a restore writes many small files, and
 * each fsync() costs a journal commit, while syncfs() writes them all back
 * in one go (directory entries and inodes included) and, since Linux 5.8,
 * reports any writeback error on that file system. */
static gboolean
sync_staging (Extractor *ex, GError **error)
{
  g_autoptr (GArray) synced = g_array_new (FALSE, FALSE, sizeof (dev_t));

  for (guint i = 0; i < ex->header->manifest->components->len; i++) {
    const ExtractTarget *target = ex->components[i].target;
    struct stat st;
    gboolean done = FALSE;

    if (target == NULL)
      continue;
    if (fstat (target->staging_fd, &st) < 0)
      return backup_error_set_errno (error, errno, "syncing %s", target->id);
    for (guint j = 0; j < synced->len; j++)
      done = done || g_array_index (synced, dev_t, j) == st.st_dev;
    if (done)
      continue;
    if (syncfs (target->staging_fd) < 0)
      return backup_error_set_errno (error, errno, "syncing %s", target->id);
    g_array_append_val (synced, st.st_dev);
  }
  return TRUE;
}

static gboolean
assign_targets (Extractor *ex, GPtrArray *targets, GError **error)
{
  for (guint i = 0; i < targets->len; i++) {
    const ExtractTarget *target = g_ptr_array_index (targets, i);
    const GPtrArray *components = ex->header->manifest->components;
    guint c;

    for (c = 0; c < components->len; c++)
      if (strcmp (((const SarComponent *) g_ptr_array_index (components, c))->id, target->id) == 0)
        break;
    if (c == components->len) {
      g_autofree char *quoted = sar_quote (target->id);

      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT,
                   "the backup has no component %s", quoted);
      return FALSE;
    }
    if (ex->components[c].target != NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   "component \"%s\" is chosen twice", target->id);
      return FALSE;
    }
    ex->components[c].target = target;
  }
  return TRUE;
}

static gboolean
extract_members (Extractor *ex, GError **error)
{
  if (!skip_metadata_member (ex, SAR_MANIFEST_MEMBER, 1, SAR_MANIFEST_MAX, error)
      || !skip_metadata_member (ex, SAR_CHECKSUMS_MEMBER, 2, SAR_CHECKSUMS_MAX, error))
    return FALSE;
  for (;;) {
    struct archive_entry *entry;

    if (g_cancellable_set_error_if_cancelled (ex->cancellable, error)
        || !sar_reader_next (ex->reader, &entry, "reading the archive", error))
      return FALSE;
    if (entry == NULL)
      break;
    if (!sar_tally_entry (&ex->tally, error) || !handle_member (ex, entry, error))
      return FALSE;
    extractor_report (ex, FALSE);
  }
  stack_pop_to (ex, 0);
  return sar_tally_complete (&ex->tally, error) && sar_reader_finish (ex->reader, error);
}

gboolean
extract_components (int archive_fd, const SarHeader *header, GPtrArray *targets,
                    const SarLimits *limits, SarProgressFunc progress, gpointer progress_data,
                    GCancellable *cancellable, GError **error)
{
  /* Member names byte for byte (sar.h); dropped after the extractor. */
  g_auto (SarLocale) previous = sar_locale_push_reading ();
  g_autoptr (Extractor) ex = g_new0 (Extractor, 1);

  g_return_val_if_fail (header != NULL && targets != NULL, FALSE);

  ex->header = header;
  ex->limits = limits;
  ex->cancellable = cancellable;
  ex->components = g_new0 (ComponentState, header->manifest->components->len);
  ex->dirs = g_ptr_array_new_with_free_func ((GDestroyNotify) created_dir_free);
  ex->dir_by_path = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (!assign_targets (ex, targets, error) || !sar_tally_init (&ex->tally, header, limits, error)
      || !extractor_open (ex, archive_fd, progress, progress_data, error)
      || !extract_members (ex, error) || !apply_directory_modes (ex, error)
      || !sync_staging (ex, error))
    return FALSE;
  extractor_report (ex, TRUE);
  return TRUE;
}
