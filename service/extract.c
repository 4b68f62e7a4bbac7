/* extract.c: safe extraction of chosen components of a SAR archive.
 *
 * Every member is checked as sar_verify() checks it, whether its component
 * was chosen or not, so a hostile archive is refused the same way however
 * it is restored; only members of chosen components are written (and
 * their data hashed).  Directories are reached by walking one component at
 * a time with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), holding an
 * fd per level, never by a path string.
 *
 * Two threads share the work.  The calling thread (the reader) reads and
 * decompresses the archive, checks every member and hashes the data of
 * the chosen ones; it hands what is to be written to a writer thread as a
 * stream of operations (make this directory, create this file, these
 * bytes, close it) in a few large buffers.  The writer makes the system
 * calls.  The bytes hashed are the bytes in those buffers, the ones the
 * writer writes.  A checksum mismatch is found by the reader after the
 * file's data went out, as before: the extraction fails, and the caller
 * removes the staging trees (nothing in them is used before the whole
 * extraction succeeded).  Whichever side fails first stops the other.
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

/* The buffers between reader and writer: BATCHES of BATCH_SIZE bytes, so
 * the reader is never more than that ahead (about 2 MiB), and small files
 * travel many to a buffer.  Half as large saved 1 MiB of the daemon's
 * memory and made extracting 2 GB into tmpfs (where the disk does not
 * hide the difference) about a tenth slower. */
#define BATCH_SIZE (512 * 1024)
#define BATCHES 4

/* Writeback of a file's data is started (sync_file_range(), not waited
 * for) every WRITEBACK_STEP bytes, and at its close when WRITEBACK_MIN or
 * more are not yet on their way: the disk writes while the archive is
 * still being read, instead of all of it in the syncfs() at the end (a
 * machine with a lot of memory starts writing back on its own only when
 * gigabytes are dirty).  Small files are left to that syncfs(): a call
 * each would cost more than it saves. */
#define WRITEBACK_STEP (8 * 1024 * 1024)
#define WRITEBACK_MIN (256 * 1024)

/* --- the writer's state --- */

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

/* One buffer of operations.  Each operation is an OpHeader followed by
 * its payload: the member's path (NUL-terminated) for OP_DIRECTORY and
 * OP_FILE, the bytes for OP_DATA, nothing for OP_CLOSE. */
typedef struct {
  gsize used;
  gboolean last;  /* the reader's final buffer */
  gboolean abort; /* with last: the reader failed; nothing more is written */
  guint8 data[BATCH_SIZE];
} Batch;

typedef enum {
  OP_DIRECTORY = 1, /* create (if need be) and record the mode */
  OP_FILE,          /* create the file; OP_DATA and OP_CLOSE follow */
  OP_DATA,
  OP_CLOSE, /* owner, permission bits, close */
} OpKind;

typedef struct {
  guint32 kind;
  guint32 component; /* index in the manifest */
  guint32 mode;
  guint32 len; /* payload bytes */
} OpHeader;

typedef struct {
  const ExtractTarget *const *targets; /* per manifest component, NULL: not chosen */
  GAsyncQueue *full;                   /* Batch*, reader -> writer */
  GAsyncQueue *free;                   /* Batch*, writer -> reader */
  GThread *thread;
  gint failed;   /* atomic: the writer stopped on error */
  GError *error; /* why; the reader reads it after the join */

  /* the writer thread's own, until the join */
  GPtrArray *dirs;         /* CreatedDir* */
  GHashTable *dir_by_path; /* member path -> CreatedDir* (borrowed) */
  uid_t uid;               /* what files are created with: no fchown needed */
  gid_t gid;
  gboolean always_chown; /* a staging directory is setgid: files take its group */
  int fd;                /* the file being written */
  char *member;          /* its member path */
  guint64 fd_written;    /* bytes written to it */
  guint64 fd_started;    /* of them, those whose writeback was started */
  /* The directories leading to the last member written, one open fd per
   * level below the staging directory of stack_target.  Members come in
   * tree order, so most members reuse all of it. */
  const ExtractTarget *stack_target;
  guint stack_len;
  char *stack_names[SAR_PATH_DEPTH_MAX];
  int stack_fds[SAR_PATH_DEPTH_MAX];
} Writer;

/* --- the reader's state --- */

typedef struct {
  SarReader *reader;
  struct archive *archive; /* the reader's tar reader */

  const SarHeader *header;
  const SarLimits *limits;
  GCancellable *cancellable;
  const ExtractTarget **targets; /* per manifest component, NULL: read and skipped */
  SarTally tally;

  Writer writer;
  Batch *batch;            /* being filled, or NULL */
  gboolean writer_stopped; /* the reader stopped because the writer failed */
} Extractor;

/* --- the writer thread --- */

static void
stack_pop_to (Writer *w, guint len)
{
  while (w->stack_len > len) {
    w->stack_len--;
    autofd_clear (&w->stack_fds[w->stack_len]);
    g_free (w->stack_names[w->stack_len]);
  }
}

static gboolean
writer_failed (Writer *w, int errsv, const char *what, const char *member, GError **error)
{
  g_autofree char *quoted = sar_quote (member);

  return backup_error_set_errno (error, errsv, "%s %s", what, quoted);
}

static gboolean
set_owner (Writer *w, int fd, const ExtractTarget *target, const char *what, GError **error)
{
  uid_t uid = target->uid == (uid_t) -1 ? w->uid : target->uid;
  gid_t gid = target->gid == (gid_t) -1 ? w->gid : target->gid;

  /* what we create is ours */
  if (uid == w->uid && gid == w->gid && !w->always_chown)
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
enter_directories (Writer *w, const ExtractTarget *target, char **dirs, guint n, const char *member,
                   GError **error)
{
  guint common = 0;

  if (w->stack_target != target) {
    stack_pop_to (w, 0);
    w->stack_target = target;
  }
  while (common < w->stack_len && common < n && strcmp (w->stack_names[common], dirs[common]) == 0)
    common++;
  stack_pop_to (w, common);

  for (guint i = common; i < n; i++) {
    int parent = i == 0 ? target->staging_fd : w->stack_fds[i - 1];
    g_auto (AutoFd) fd = -1;

    /* the staging tree is new: most directories are still to be made */
    if (mkdirat (parent, dirs[i], DIR_MODE_DEFAULT) == 0) {
      g_autofree char *rel = join_components (dirs, i + 1);
      CreatedDir *dir;

      fd = tree_open_beneath (parent, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
      if (fd >= 0 && !set_owner (w, fd, target, rel, error))
        return -1;
      dir = g_new0 (CreatedDir, 1);
      dir->target = target;
      dir->rel = g_steal_pointer (&rel);
      dir->depth = i + 1;
      dir->mode = DIR_MODE_DEFAULT;
      g_ptr_array_add (w->dirs, dir);
      g_hash_table_insert (w->dir_by_path, g_strconcat (target->id, "/", dir->rel, NULL), dir);
    } else if (errno == EEXIST) {
      fd = tree_open_beneath (parent, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    } else {
      g_autofree char *rel = join_components (dirs, i + 1);
      g_autofree char *what = g_strdup_printf ("creating directory %s for member", rel);

      writer_failed (w, errno, what, member, error);
      return -1;
    }
    if (fd < 0) {
      g_autofree char *what = g_strdup_printf ("opening directory \"%s\" for member", dirs[i]);

      writer_failed (w, errno, what, member, error);
      return -1;
    }
    w->stack_names[i] = g_strdup (dirs[i]);
    w->stack_fds[i] = g_steal_fd (&fd);
    w->stack_len = i + 1;
  }
  return n == 0 ? target->staging_fd : w->stack_fds[n - 1];
}

static gboolean
write_directory (Writer *w, const ExtractTarget *target, const char *member, mode_t mode,
                 GError **error)
{
  g_auto (GStrv) parts = g_strsplit (member, "/", -1);
  CreatedDir *dir;

  /* parts[0] is the component id, the staging directory itself */
  if (enter_directories (w, target, parts + 1, g_strv_length (parts) - 1, member, error) < 0)
    return FALSE;
  dir = g_hash_table_lookup (w->dir_by_path, member);
  if (dir == NULL) {
    g_autofree char *quoted = sar_quote (member);

    return backup_error_invalid (
        error, "member %s: the directory was not created by this extraction", quoted);
  }
  dir->mode = mode;
  return TRUE;
}

static gboolean
create_file (Writer *w, const ExtractTarget *target, const char *member, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (member, "/", -1);
  guint n_parts = g_strv_length (parts);
  /* parts[0] is the component id, the staging directory itself */
  int parent = enter_directories (w, target, parts + 1, n_parts - 2, member, error);

  if (parent < 0)
    return FALSE;
  g_free (w->member);
  w->member = g_strdup (member);
  w->fd = tree_open_beneath (parent, parts[n_parts - 1],
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  w->fd_written = 0;
  w->fd_started = 0;
  if (w->fd < 0)
    return writer_failed (w, errno, "creating member", member, error);
  return TRUE;
}

/* Starts the writeback of what was written to the file since the last
 * call.  Only a hint: an error shows in the syncfs() at the end. */
static void
start_writeback (Writer *w)
{
  sync_file_range (w->fd, (off64_t) w->fd_started, (off64_t) (w->fd_written - w->fd_started),
                   SYNC_FILE_RANGE_WRITE);
  w->fd_started = w->fd_written;
}

static gboolean
write_data (Writer *w, const guint8 *data, gsize len, GError **error)
{
  if (!fd_write_all (w->fd, data, len))
    return writer_failed (w, errno, "writing member", w->member, error);
  w->fd_written += len;
  if (w->fd_written - w->fd_started >= WRITEBACK_STEP)
    start_writeback (w);
  return TRUE;
}

/* The reader checked the data: the file gets its owner and its permission
 * bits (never setuid, setgid or sticky). */
static gboolean
close_file (Writer *w, const ExtractTarget *target, mode_t mode, GError **error)
{
  g_auto (AutoFd) fd = -1;

  if (w->fd_written - w->fd_started >= WRITEBACK_MIN)
    start_writeback (w);
  fd = w->fd;
  w->fd = -1;
  if (!set_owner (w, fd, target, w->member, error))
    return FALSE;
  if (fchmod (fd, mode & 0777) < 0)
    return writer_failed (w, errno, "setting the mode of member", w->member, error);
  /* closed here, not by the scope: a failing close is a failed write */
  if (close (g_steal_fd (&fd)) < 0)
    return writer_failed (w, errno, "writing member", w->member, error);
  return TRUE;
}

static gboolean
run_batch (Writer *w, const Batch *batch, GError **error)
{
  for (gsize at = 0; at < batch->used;) {
    const guint8 *payload = batch->data + at + sizeof (OpHeader);
    const ExtractTarget *target;
    OpHeader op;
    gboolean ok;

    memcpy (&op, batch->data + at, sizeof op);
    at += sizeof op + op.len;
    target = w->targets[op.component];
    switch (op.kind) {
    case OP_DIRECTORY:
      ok = write_directory (w, target, (const char *) payload, op.mode, error);
      break;
    case OP_FILE:
      ok = create_file (w, target, (const char *) payload, error);
      break;
    case OP_DATA:
      ok = write_data (w, payload, op.len, error);
      break;
    case OP_CLOSE:
      ok = close_file (w, target, op.mode, error);
      break;
    default:
      g_assert_not_reached ();
    }
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* Runs the reader's operations until its last buffer; after a failure it
 * only hands the buffers back, so the reader is never stuck. */
static gpointer
writer_thread (gpointer data)
{
  Writer *w = data;
  gboolean last;

  do {
    Batch *batch = g_async_queue_pop (w->full);

    last = batch->last;
    if (!batch->abort && w->error == NULL && !run_batch (w, batch, &w->error))
      g_atomic_int_set (&w->failed, TRUE);
    g_async_queue_push (w->free, batch);
  } while (!last);
  autofd_clear (&w->fd);
  stack_pop_to (w, 0);
  return NULL;
}

static gboolean
writer_start (Writer *w, const ExtractTarget *const *targets, guint n_targets, GError **error)
{
  g_autoptr (GError) local = NULL;

  w->targets = targets;
  w->fd = -1;
  w->uid = geteuid ();
  w->gid = getegid ();
  for (guint i = 0; i < n_targets; i++) {
    struct stat st;

    if (targets[i] != NULL
        && (fstat (targets[i]->staging_fd, &st) < 0 || (st.st_mode & S_ISGID) != 0))
      w->always_chown = TRUE;
  }
  w->dirs = g_ptr_array_new_with_free_func ((GDestroyNotify) created_dir_free);
  w->dir_by_path = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  w->full = g_async_queue_new ();
  w->free = g_async_queue_new_full (g_free);
  for (guint i = 0; i < BATCHES; i++)
    g_async_queue_push (w->free, g_new (Batch, 1));
  w->thread = g_thread_try_new ("extract-write", writer_thread, w, &local);
  if (w->thread == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot start writing: %s",
                 local->message);
    return FALSE;
  }
  return TRUE;
}

static void
writer_clear (Writer *w)
{
  g_clear_pointer (&w->full, g_async_queue_unref);
  g_clear_pointer (&w->free, g_async_queue_unref);
  g_clear_pointer (&w->dir_by_path, g_hash_table_unref);
  g_clear_pointer (&w->dirs, g_ptr_array_unref);
  g_clear_error (&w->error);
  g_clear_pointer (&w->member, g_free);
}

/* --- handing operations to the writer --- */

static void
extractor_free (Extractor *ex)
{
  g_assert (ex->writer.thread == NULL);
  g_free (ex->batch);
  writer_clear (&ex->writer);
  sar_reader_free (ex->reader);
  g_free (ex->targets);
  sar_tally_clear (&ex->tally);
  g_free (ex);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Extractor, extractor_free)

/* Hands the current buffer to the writer. */
static void
batch_push (Extractor *ex, gboolean last, gboolean abort)
{
  if (ex->batch == NULL) {
    ex->batch = g_async_queue_pop (ex->writer.free);
    ex->batch->used = 0;
  }
  ex->batch->last = last;
  ex->batch->abort = abort;
  g_async_queue_push (ex->writer.full, g_steal_pointer (&ex->batch));
}

/* Room for an operation with at least need bytes of payload in the
 * current buffer (a fresh one if need be); FALSE once the writer has
 * failed. */
static gboolean
batch_room (Extractor *ex, gsize need, GError **error)
{
  if (ex->batch != NULL && BATCH_SIZE - ex->batch->used >= sizeof (OpHeader) + need)
    return TRUE;
  if (ex->batch != NULL)
    batch_push (ex, FALSE, FALSE);
  if (g_atomic_int_get (&ex->writer.failed)) {
    ex->writer_stopped = TRUE;
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "writing failed");
    return FALSE;
  }
  ex->batch = g_async_queue_pop (ex->writer.free);
  ex->batch->used = 0;
  return TRUE;
}

/* Appends an operation; returns its payload (len bytes) to fill in. */
static guint8 *
emit (Extractor *ex, OpKind kind, guint component, mode_t mode, gsize len, GError **error)
{
  OpHeader op = { kind, component, mode, (guint32) len };
  guint8 *at;

  if (!batch_room (ex, len, error))
    return NULL;
  at = ex->batch->data + ex->batch->used;
  memcpy (at, &op, sizeof op);
  ex->batch->used += sizeof op + len;
  return at + sizeof op;
}

static gboolean
emit_path (Extractor *ex, OpKind kind, guint component, mode_t mode, const char *path,
           GError **error)
{
  gsize len = strlen (path) + 1;
  guint8 *payload = emit (ex, kind, component, mode, len, error);

  if (payload == NULL)
    return FALSE;
  memcpy (payload, path, len);
  return TRUE;
}

/* Copies a block of file data into the buffers, and hashes it there: the
 * bytes hashed are the bytes written. */
static gboolean
emit_data (Extractor *ex, guint component, const guint8 *block, gsize len, SarSha256 *sha,
           GError **error)
{
  while (len > 0) {
    gsize n;
    guint8 *payload;

    if (!batch_room (ex, 1, error))
      return FALSE;
    n = MIN (len, BATCH_SIZE - ex->batch->used - sizeof (OpHeader));
    payload = emit (ex, OP_DATA, component, 0, n, error);
    memcpy (payload, block, n);
    sar_sha256_update (sha, payload, n);
    block += n;
    len -= n;
  }
  return TRUE;
}

/* Ends the writer: its last buffer, the join.  abort: the reader failed,
 * so nothing more is written.  The writer's error, if any, is then the
 * extraction's (when the reader stopped because of it, or had none). */
static gboolean
writer_finish (Extractor *ex, gboolean abort, GError **error)
{
  Writer *w = &ex->writer;

  if (w->thread == NULL)
    return TRUE;
  batch_push (ex, TRUE, abort);
  g_thread_join (g_steal_pointer (&w->thread));
  if (w->error != NULL && (!abort || ex->writer_stopped)) {
    g_clear_error (error);
    g_propagate_error (error, g_steal_pointer (&w->error));
    return FALSE;
  }
  return !abort;
}

/* --- reading --- */

static gboolean
reader_failed (Extractor *ex, const char *what, GError **error)
{
  return sar_reader_failed (ex->reader, what, error);
}

/* The reader of sar-reader.c: tar formats only, in-process filters only. */
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
 * they only have to be where they belong (as sar_read_header() checks
 * them, with its messages). */
static gboolean
skip_metadata_member (Extractor *ex, const char *expected, guint position, gint64 max,
                      GError **error)
{
  if (sar_reader_next_metadata (ex->reader, expected, position, max, error) < 0)
    return FALSE;
  if (archive_read_data_skip (ex->archive) != ARCHIVE_OK)
    return reader_failed (ex, "reading the archive", error);
  return TRUE;
}

/* --- the members --- */

/* Streams the member's data to the writer (or, for a database dump, to
 * its target's consumer), hashing it on the way; never more than the size
 * its header gave (which the caller bounded by the manifest). */
static gboolean
copy_member_data (Extractor *ex, guint component, const ExtractTarget *dump, const char *quoted,
                  guint64 size, guint8 digest[SAR_SHA256_SIZE], GError **error)
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
    if (dump != NULL) {
      sar_sha256_update (&sha, block, len);
      if (!dump->dump (block, len, dump->dump_data, error))
        return FALSE;
    } else if (!emit_data (ex, component, block, len, &sha, error)) {
      return FALSE;
    }
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
  guint8 digest[SAR_SHA256_SIZE];
  guint64 size;
  const ExtractTarget *dump;
  SarChecksumEntry listed;

  if (!sar_tally_file (&ex->tally, entry, path, quoted, component, &listed, &size, error))
    return FALSE;
  /* a database dump (the only file at the root) goes to its consumer */
  dump = strchr (path, '/') == NULL ? ex->targets[component] : NULL;
  if (ex->targets[component] == NULL || (dump != NULL && dump->dump == NULL)) {
    if (archive_read_data_skip (ex->archive) != ARCHIVE_OK) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      return reader_failed (ex, what, error);
    }
    return TRUE;
  }
  if ((dump == NULL && !emit_path (ex, OP_FILE, component, 0, path, error))
      || !copy_member_data (ex, component, dump, quoted, size, digest, error))
    return FALSE;
  if (memcmp (digest, listed.digest, sizeof digest) != 0)
    return backup_error_invalid (
        error, "member %s does not match its SHA-256 checksum in " SAR_CHECKSUMS_MEMBER, quoted);
  if (dump != NULL)
    return TRUE;
  /* Permission bits only: never setuid, setgid or sticky. */
  return emit (ex, OP_CLOSE, component, archive_entry_perm (entry) & 0777, 0, error) != NULL;
}

/* A directory: created now (if chosen), its mode applied at the end. */
static gboolean
handle_directory (Extractor *ex, struct archive_entry *entry, const char *path, const char *quoted,
                  guint component, GError **error)
{
  if (!sar_tally_directory (&ex->tally, path, quoted, error))
    return FALSE;
  /* "<id>/" is the staging directory itself, which the caller owns. */
  if (ex->targets[component] == NULL || strchr (path, '/') == NULL)
    return TRUE;
  return emit_path (ex, OP_DIRECTORY, component, archive_entry_perm (entry) & 0777, path, error);
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
 * stop its own contents (or its mode change) from being written.  After
 * the writer's join. */
static gboolean
apply_directory_modes (Extractor *ex, GError **error)
{
  GPtrArray *dirs = ex->writer.dirs;

  g_ptr_array_sort (dirs, deeper_first);
  for (guint i = 0; i < dirs->len; i++) {
    const CreatedDir *dir = g_ptr_array_index (dirs, i);
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
gboolean
extract_sync (GPtrArray *targets, GError **error)
{
  g_autoptr (GArray) synced = g_array_new (FALSE, FALSE, sizeof (dev_t));
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < targets->len; i++) {
    const ExtractTarget *target = g_ptr_array_index (targets, i);
    struct stat st;
    gboolean done = FALSE;

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
  g_debug ("synced in %.3f s", (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
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
    if (ex->targets[c] != NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   "component \"%s\" is chosen twice", target->id);
      return FALSE;
    }
    ex->targets[c] = target;
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
  gint64 start = g_get_monotonic_time ();
  gboolean ok;

  g_return_val_if_fail (header != NULL && targets != NULL, FALSE);

  ex->header = header;
  ex->limits = limits;
  ex->cancellable = cancellable;
  ex->targets = g_new0 (const ExtractTarget *, header->manifest->components->len);

  if (!assign_targets (ex, targets, error) || !sar_tally_init (&ex->tally, header, limits, error)
      || !extractor_open (ex, archive_fd, progress, progress_data, error)
      || !writer_start (&ex->writer, ex->targets, header->manifest->components->len, error))
    return FALSE;
  ok = extract_members (ex, error);
  /* the writer is done with everything once it has joined */
  if (!writer_finish (ex, !ok, error) || !apply_directory_modes (ex, error))
    return FALSE;
  g_debug ("extracted in %.3f s", (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
  extractor_report (ex, TRUE);
  return TRUE;
}
