/* sar-pack.c: writing SAR archives with libarchive.
 *
 * Two passes over the component trees: the first finds the directories and
 * regular files and hashes the files (SHA256SUMS must precede them in the
 * archive; two threads hash, a file each at a time), the second writes
 * them and refuses any file that changed in between: one whose size,
 * modification or change time differs, and, with sar_pack(), one whose
 * data hashes differently.  sar_pack_verified() does not hash a second
 * time: it reads the archive back while it is written, in a second
 * thread, and a file that changed no longer matches its checksum there.
 *
 * What the first pass finds, and the digests made ahead
 * (sar_pack_cache_start()), are records in spills (spill.h), read in
 * order, not structures in memory: the memory packing takes is the same
 * whatever the number of files.  Both walk the trees in the same order,
 * so the packer finds a file's digest made ahead by a merge.
 */
#include "autofd.h"
#include "sar.h"

#include "errors.h"
#include "names.h"
#include "sha256.h"
#include "spill.h"
#include "tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Files are read, hashed and written in chunks of this size. */
#define IO_CHUNK (256 * 1024)
/* ... and hashed ahead in chunks of this size: that thread runs while a
 * restore extracts, at the daemon's peak of memory, and only on a core
 * that would be idle, where fewer system calls save nothing. */
#define AHEAD_IO_CHUNK (64 * 1024)
/* tar's record: what an uncompressed archive is padded to */
#define RECORD (20 * 512)
/* The archive goes to the file in blocks of this size (250 KiB), a
 * whole number of records: the padding of the last block is counted from
 * the start of the block.  libarchive holds two buffers of it (the
 * block, and the compressor's output); larger blocks only made fewer
 * write() calls, which cost little next to compressing their data. */
#define OUT_BLOCK (25 * RECORD)
/* sar_pack_verified() hands the file's data to writeback in steps of this
 * size. */
#define WRITEBACK_STEP (32 * 1024 * 1024)
/* Threads hashing in the first pass, the calling one included. */
#define HASH_THREADS 2
/* Records of the first pass between reading and appending them: how far
 * one thread can hash ahead of another that hashes a large file. */
#define HASH_WINDOW 512
/* ioprio_set(2): the calling thread, idle class (glibc has no wrapper) */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_IDLE (3 << 13)
/* sar_pack_cache_start() keeps the digests of at most this many files
 * (in a scratch file: about 130 MB). */
#define CACHE_FILES_MAX 1000000
/* zstd's level for SarPackSpec.fast (libarchive's default is 3) */
#define FAST_ZSTD_LEVEL "1"

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

void
sar_pack_component_free (SarPackComponent *component)
{
  if (component == NULL)
    return;
  g_free (component->id);
  g_free (component->label);
  g_free (component->path);
  if (component->database != NULL)
    autofd_clear (&component->dump_fd);
  g_free (component->database);
  g_free (component);
}

static gboolean pack_failed (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
pack_failed (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *valid = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  /* it names files of the tree, whose names need not be UTF-8 */
  valid = sar_escape_invalid (message);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, valid);
  return FALSE;
}

/* One directory or regular file of a component tree, as found by the
 * first pass, in a spill (Packer.records) in the order the archive holds
 * them: the component's own directory, then its tree depth first,
 * siblings in byte order of their names.  The member path follows the
 * record (path_len bytes, no NUL).  SHA256SUMS is made from one read of
 * the records, the second pass writes them from another and checks each
 * file did not change; nothing of them is held in memory. */
typedef enum {
  RECORD_ROOT, /* a component's directory: path is its id */
  RECORD_DIR,
  RECORD_FILE,
} RecordKind;

typedef struct {
  struct timespec mtim, ctim; /* a file's as hashed; a directory's mtim as found */
  guint64 size;
  guint8 digest[SAR_SHA256_SIZE];
  guint32 component; /* index in the spec */
  guint32 path_len;
  guint16 mode; /* permissions */
  guint16 kind; /* RecordKind */
} PackRecord;

/* A member path read back from a spill; a directory's gets a '/'. */
typedef char RecordPath[SAR_PATH_MAX + 2];

static PackRecord
pack_record_new (RecordKind kind, guint component, const struct stat *st, gsize path_len)
{
  PackRecord record;

  /* no stray bytes (padding) in the spill */
  memset (&record, 0, sizeof record);
  record.kind = kind;
  record.component = component;
  record.path_len = (guint32) path_len;
  record.mode = st->st_mode & 0777; /* no setuid, setgid or sticky bits */
  record.mtim = st->st_mtim;
  return record;
}

static gboolean
record_append (Spill *spill, const PackRecord *record, const char *path, GError **error)
{
  return spill_append (spill, record, sizeof *record, NULL, error)
         && spill_append (spill, path, record->path_len, NULL, error);
}

/* The record at *offset, and its path (NUL-terminated); *offset moves to
 * the next. */
static gboolean
record_read (Spill *spill, guint64 *offset, PackRecord *record, RecordPath path, GError **error)
{
  if (!spill_read (spill, *offset, record, sizeof *record, error))
    return FALSE;
  if (record->path_len > SAR_PATH_MAX)
    return pack_failed (error, "cannot pack: damaged scratch data");
  if (!spill_read (spill, *offset + sizeof *record, path, record->path_len, error))
    return FALSE;
  path[record->path_len] = '\0';
  *offset += sizeof *record + record->path_len;
  return TRUE;
}

typedef struct _Readback Readback;
static gboolean readback_advance (Readback *rb, gsize n);

typedef struct {
  GCancellable *cancellable;
  struct archive *archive; /* second pass only */
  int write_errno;
  int out_fd;
  guint8 *buffer;
  const SarPackSpec *spec; /* for progress */
  guint64 done, total;     /* file bytes, second pass */
  gboolean rehash;         /* second pass: hash again, compare */
  Spill *records;          /* PackRecord and path: what the first pass found */
  guint files;             /* file records */
  guint64 sums_len;        /* their lines in SHA256SUMS, in bytes */
  Readback *readback;      /* sar_pack_verified(): told of what is written */
  guint64 out_bytes;       /* written to out_fd */
  guint64 out_synced;      /* of those, handed to writeback */
  gint from_cache;         /* atomic: files whose digest was made ahead */
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

/* The names in a directory in the order both the first pass and the
 * digests made ahead walk it; NULL with *errsv set if it cannot be read. */
static GPtrArray *
sorted_names (int dir_fd, int *errsv)
{
  GPtrArray *names = tree_list (dir_fd, errsv);

  if (names != NULL)
    g_ptr_array_sort (names, compare_names);
  return names;
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

/* Opens a regular file below dir_fd (rel: a name, or a relative path)
 * without following symlinks and without blocking on a FIFO swapped in
 * since it was looked at. */
static int
open_regular (int dir_fd, const char *rel, const char *source, struct stat *st, GError **error)
{
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  /* reading a file must not write its inode (atime), where we may */
  g_auto (AutoFd) fd = tree_open_beneath (dir_fd, rel, flags | O_NOATIME, 0);

  if (fd < 0 && errno == EPERM)
    fd = tree_open_beneath (dir_fd, rel, flags, 0);

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

/* Reads the whole file into buffer, hashing it (digest not NULL) and, in
 * the second pass, writing it to the archive. */
static gboolean
pack_file_data (Packer *packer, guint8 *buffer, int fd, const char *source, guint64 *size,
                guint8 digest[SAR_SHA256_SIZE], GError **error)
{
  SarSha256 sha;

  sar_sha256_init (&sha);
  *size = 0;
  for (;;) {
    ssize_t n = read (fd, buffer, IO_CHUNK);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "reading %s", source);
    if (n == 0)
      break;
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error))
      return FALSE;
    if (digest != NULL)
      sar_sha256_update (&sha, buffer, (gsize) n);
    *size += n;
    if (packer->archive != NULL && archive_write_data (packer->archive, buffer, n) != n)
      return write_failed (packer, error);
    if (packer->archive != NULL && packer->spec->progress != NULL) {
      packer->done += (guint64) n;
      packer->spec->progress (MIN (packer->done, packer->total), packer->total,
                              packer->spec->progress_data);
    }
  }
  if (digest != NULL)
    sar_sha256_digest (&sha, digest);
  return TRUE;
}

/* The writer's rules for one entry of a tree: its member path passes the
 * reader's path rules and it is a directory or a regular file.  The same
 * check serves packing and sar_pack_survey(), so a survey predicts every
 * refusal of the writer. */
static gboolean
check_packable (const char *source, const char *path, const struct stat *st, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!sar_path_check (path, &local))
    return pack_failed (error, "cannot pack %s: %s", source, local->message);
  if (!S_ISDIR (st->st_mode) && !S_ISREG (st->st_mode))
    return pack_failed (error,
                        "cannot pack %s: it is %s; only directories and regular files can be "
                        "packed",
                        source, file_type_name (st->st_mode));
  return TRUE;
}

/* Reads the names in a directory, sorted. */
static GPtrArray *
directory_names (int dir_fd, const char *source, GError **error)
{
  int errsv = 0;
  GPtrArray *names = sorted_names (dir_fd, &errsv);

  if (names == NULL)
    backup_error_set_errno (error, errsv, "reading directory %s", source);
  return names;
}

static gboolean scan_directory (Packer *packer, Spill *found, int dir_fd, const char *source,
                                const char *path, guint component, GError **error);

/* First pass over one directory entry: its record, without digest (files
 * are hashed by hash_files()). */
static gboolean
scan_entry (Packer *packer, Spill *found, int dir_fd, const char *name, const char *source,
            const char *path, guint component, GError **error)
{
  g_autofree char *child_source = g_build_filename (source, name, NULL);
  g_autofree char *child_path = g_strconcat (path, "/", name, NULL);
  PackRecord record;
  struct stat st;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return backup_error_set_errno (error, errno, "reading %s", child_source);
  if (!check_packable (child_source, child_path, &st, error))
    return FALSE;

  record = pack_record_new (S_ISDIR (st.st_mode) ? RECORD_DIR : RECORD_FILE, component, &st,
                            strlen (child_path));
  if (!record_append (found, &record, child_path, error))
    return FALSE;
  if (record.kind == RECORD_DIR) {
    g_auto (AutoFd) fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening %s", child_source);
    /* sar_path_check() bounds the depth long before the stack matters */
    if (!scan_directory (packer, found, fd, child_source, child_path, component, error))
      return FALSE;
  }
  return TRUE;
}

/* First pass: finds the directories and regular files below dir_fd, in
 * name order.  Only this directory's names are held, while it is read. */
static gboolean
scan_directory (Packer *packer, Spill *found, int dir_fd, const char *source, const char *path,
                guint component, GError **error)
{
  g_autoptr (GPtrArray) names = directory_names (dir_fd, source, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error)
        || !scan_entry (packer, found, dir_fd, g_ptr_array_index (names, i), source, path,
                        component, error))
      return FALSE;
  }
  return TRUE;
}

/* --- digests made ahead: what the packer reads ------------------------------ */

/* A file as it was hashed ahead: the same before and after reading it.
 * The records are in a spill, a component tree after the other in the
 * order the first pass lists them (sorted the same way), so the packer
 * finds a file's by a merge: no index, no memory per file.  The path
 * below the tree follows (path_len bytes, no NUL). */
typedef struct {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim, ctim;
  guint8 digest[SAR_SHA256_SIZE];
  guint32 path_len;
} CacheRecord;

/* A component's directory as sar_pack_cache_start() opened it, and its
 * records. */
typedef struct {
  int fd; /* -1 where there is none */
  dev_t dev;
  ino_t ino;
  guint64 start, end; /* of its records in SarPackCache.records */
} CacheRoot;

struct _SarPackCache {
  guint n_roots;
  CacheRoot *roots;
  GThread *thread;
  Spill *records;   /* CacheRecord and path; the thread's until it is joined */
  guint64 complete; /* bytes of records up to the last whole one */
  gboolean broken;  /* appending failed: nothing more is appended */
  guint files;      /* records */
  guint64 hashed;   /* bytes */
  GString *path;    /* the thread's: the directory being read, below its tree */

  GMutex lock;
  GCond cond;
  gboolean paused;
  gboolean stop;
};

/* The order of paths in which a tree is walked depth first, siblings in
 * byte order of their names (strcmp()): a name that ends sorts before
 * any longer one, whatever follows it ('/' and more names). */
static int
compare_tree_order (const char *a, const char *b)
{
  const guchar *x = (const guchar *) a, *y = (const guchar *) b;
  guint rank_x, rank_y;

  while (*x != '\0' && *x == *y) {
    x++;
    y++;
  }
  rank_x = *x == '\0' ? 0 : *x == '/' ? 1 : (guint) *x + 1;
  rank_y = *y == '\0' ? 0 : *y == '/' ? 1 : (guint) *y + 1;
  return rank_x < rank_y ? -1 : rank_x > rank_y;
}

/* The packer's place in the records of one tree. */
typedef struct {
  SarPackCache *cache;
  guint64 offset, end;
  gboolean have; /* record and path hold the next one */
  CacheRecord record;
  char path[SAR_PATH_MAX + 1];
} CacheCursor;

/* To the records of the tree whose directory is root_fd (known by its
 * inode, whatever it is called now), if any. */
static void
cache_cursor_start (CacheCursor *cursor, int root_fd)
{
  struct stat st;

  cursor->offset = cursor->end = 0;
  cursor->have = FALSE;
  if (cursor->cache == NULL || cursor->cache->records == NULL || fstat (root_fd, &st) < 0)
    return;
  for (guint i = 0; i < cursor->cache->n_roots; i++) {
    const CacheRoot *root = &cursor->cache->roots[i];

    if (root->fd >= 0 && root->dev == st.st_dev && root->ino == st.st_ino) {
      cursor->offset = root->start;
      cursor->end = root->end;
      break;
    }
  }
}

/* The record of rel (below the tree), if there is one: rel comes after
 * the paths asked for before, in tree order. */
static gboolean
cache_cursor_find (CacheCursor *cursor, const char *rel, CacheRecord *found)
{
  for (;;) {
    int order;

    if (!cursor->have) {
      g_autoptr (GError) local = NULL;
      Spill *spill = cursor->cache->records;

      if (cursor->offset >= cursor->end)
        return FALSE;
      if (!spill_read (spill, cursor->offset, &cursor->record, sizeof cursor->record, &local)
          || cursor->record.path_len > SAR_PATH_MAX
          || !spill_read (spill, cursor->offset + sizeof cursor->record, cursor->path,
                          cursor->record.path_len, &local)) {
        /* best effort: the rest is hashed */
        g_debug ("digests made ahead unusable: %s", local != NULL ? local->message : "damaged");
        cursor->offset = cursor->end;
        return FALSE;
      }
      cursor->path[cursor->record.path_len] = '\0';
      cursor->offset += sizeof cursor->record + cursor->record.path_len;
      cursor->have = TRUE;
    }
    order = compare_tree_order (cursor->path, rel);
    if (order > 0)
      return FALSE;
    cursor->have = FALSE;
    if (order == 0) {
      *found = cursor->record;
      return TRUE;
    }
  }
}

static gboolean
same_time (const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* A record made ahead (found at the file's path) is good for a file with
 * the same inode, size and times.  A change that kept all of them (two writes within one tick of
 * the clock that stamps files, around our reading) is not noticed here;
 * sar_pack_verified()'s read-back notices it. */
static gboolean
cache_record_matches (const CacheRecord *record, const struct stat *st)
{
  return record->dev == st->st_dev && record->ino == st->st_ino && record->size == st->st_size
         && same_time (&record->mtim, &st->st_mtim) && same_time (&record->ctim, &st->st_ctim);
}

static void cache_used_up (SarPackCache *cache);

/* The first pass's files are hashed by HASH_THREADS threads (the calling
 * one included), each taking the next file in turn.  Between the records
 * found and Packer.records there is a window of HASH_WINDOW records: a
 * thread appends the records at its start that are done (digest and
 * all, so they are in order and never rewritten), takes the next records
 * into it, looking each file up among the digests made ahead, and hashes
 * its next file.  A large file holds the appending, not the other thread,
 * until the window is full.  The lock guards the window, the spills and
 * the digests made ahead (none of which is thread-safe); it is not held
 * while a file is hashed. */
typedef struct {
  PackRecord record;
  char *path;      /* member path */
  gboolean cached; /* made_ahead holds the cache's record of the path */
  CacheRecord made_ahead;
  gboolean done; /* hashed, or nothing to hash */
} HashSlot;

typedef struct {
  Packer *packer;
  SarManifest *manifest; /* counts the files */
  Spill *found;          /* the records as the first pass found them */
  guint64 offset;        /* the next of them to take */
  const int *root_fds;
  CacheCursor cursor;
  HashSlot *slots; /* HASH_WINDOW; record i in slots[i % HASH_WINDOW] */

  GMutex lock;
  GCond cond;    /* a file was hashed, or the end */
  guint idle;    /* threads waiting on cond */
  guint64 head;  /* the next record to append */
  guint64 tail;  /* the next record to come into the window */
  guint64 next;  /* the next record to hash */
  gboolean done; /* every record appended, or a failure */
  GError *error; /* the first failure */
} HashWork;

static gboolean
hash_file (HashWork *work, HashSlot *slot, guint8 *buffer, GError **error)
{
  Packer *packer = work->packer;
  const SarPackComponent *pack
      = g_ptr_array_index (packer->spec->components, slot->record.component);
  const char *rel = slot->path + strlen (pack->id) + 1;
  g_autofree char *source = g_build_filename (pack->path, rel, NULL);
  struct stat st;
  g_auto (AutoFd) fd
      = open_regular (work->root_fds[slot->record.component], rel, source, &st, error);

  if (fd < 0)
    return FALSE;
  if (slot->cached && cache_record_matches (&slot->made_ahead, &st)) {
    memcpy (slot->record.digest, slot->made_ahead.digest, SAR_SHA256_SIZE);
    slot->record.size = (guint64) st.st_size;
    g_atomic_int_inc (&packer->from_cache);
  } else if (!pack_file_data (packer, buffer, fd, source, &slot->record.size, slot->record.digest,
                              error)) {
    return FALSE;
  }
  slot->record.mtim = st.st_mtim;
  slot->record.ctim = st.st_ctim;
  return TRUE;
}

/* With the lock held: the first failure is kept; every thread stops. */
static void
hash_fail (HashWork *work, GError *local)
{
  if (work->error == NULL)
    work->error = g_steal_pointer (&local);
  g_clear_error (&local);
  work->done = TRUE;
  g_cond_broadcast (&work->cond);
}

/* The window's first record, done, to Packer.records. */
static gboolean
hash_append (HashWork *work, GError **error)
{
  Packer *packer = work->packer;
  HashSlot *slot = &work->slots[work->head % HASH_WINDOW];
  g_autofree char *path = g_steal_pointer (&slot->path);

  if (slot->record.kind == RECORD_FILE) {
    SarComponent *component
        = g_ptr_array_index (work->manifest->components, slot->record.component);

    component->files++;
    component->bytes += slot->record.size;
    packer->files++;
    packer->sums_len += SAR_CHECKSUMS_LINE_LEN (slot->record.path_len);
  }
  return record_append (packer->records, &slot->record, path, error);
}

/* The next record found into the window: a file is looked up among the
 * digests made ahead, anything else needs no hashing. */
static gboolean
hash_take (HashWork *work, GError **error)
{
  HashSlot *slot = &work->slots[work->tail % HASH_WINDOW];
  RecordPath path;

  if (g_cancellable_set_error_if_cancelled (work->packer->cancellable, error)
      || !record_read (work->found, &work->offset, &slot->record, path, error))
    return FALSE;
  if (slot->record.kind == RECORD_ROOT)
    cache_cursor_start (&work->cursor, work->root_fds[slot->record.component]);
  slot->path = g_strdup (path);
  slot->done = slot->record.kind != RECORD_FILE;
  slot->cached = FALSE;
  if (!slot->done && work->cursor.cache != NULL) {
    const SarPackComponent *pack
        = g_ptr_array_index (work->packer->spec->components, slot->record.component);

    slot->cached
        = cache_cursor_find (&work->cursor, path + strlen (pack->id) + 1, &slot->made_ahead);
  }
  work->tail++;
  return TRUE;
}

/* With the lock held: appends what is done at the window's start and
 * fills it up. */
static gboolean
hash_advance (HashWork *work, GError **error)
{
  for (; work->head < work->tail && work->slots[work->head % HASH_WINDOW].done; work->head++)
    if (!hash_append (work, error))
      return FALSE;
  while (work->offset < spill_size (work->found) && work->tail - work->head < HASH_WINDOW)
    if (!hash_take (work, error))
      return FALSE;
  if (work->head == work->tail && work->offset == spill_size (work->found)) {
    work->done = TRUE;
    g_cond_broadcast (&work->cond);
  }
  return TRUE;
}

/* With the lock held, which it drops while hashing: hashes the next file
 * of the window, if there is one.  FALSE: none to hash. */
static gboolean
hash_next (HashWork *work, guint8 *buffer)
{
  HashSlot *slot;
  GError *local = NULL;
  gboolean ok;

  /* the records before head are appended, their slots taken again */
  work->next = MAX (work->next, work->head);
  while (work->next < work->tail && work->slots[work->next % HASH_WINDOW].done)
    work->next++;
  if (work->next == work->tail)
    return FALSE;
  slot = &work->slots[work->next++ % HASH_WINDOW];
  g_mutex_unlock (&work->lock);
  ok = hash_file (work, slot, buffer, &local);
  g_mutex_lock (&work->lock);
  if (!ok) {
    hash_fail (work, local);
    return TRUE;
  }
  slot->done = TRUE;
  /* a thread waits only for a file hashed by another */
  if (work->idle > 0)
    g_cond_signal (&work->cond);
  return TRUE;
}

static gpointer
hash_worker (gpointer data)
{
  HashWork *work = data;
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);

  g_mutex_lock (&work->lock);
  while (!work->done) {
    GError *local = NULL;

    if (!hash_advance (work, &local)) {
      hash_fail (work, local);
    } else if (work->done || hash_next (work, buffer)
               || (work->head < work->tail && work->slots[work->head % HASH_WINDOW].done)) {
      continue;
    } else {
      /* another thread hashes the window's first file */
      work->idle++;
      g_cond_wait (&work->cond, &work->lock);
      work->idle--;
    }
  }
  g_mutex_unlock (&work->lock);
  return NULL;
}

/* From the records found to Packer.records, with their digests. */
static gboolean
hash_files (Packer *packer, Spill *found, const int *root_fds, SarManifest *manifest,
            GError **error)
{
  HashWork work = { packer, manifest, found, 0, root_fds, { packer->spec->cache } };
  GThread *helpers[HASH_THREADS - 1] = { NULL };

  work.slots = g_new0 (HashSlot, HASH_WINDOW);
  g_mutex_init (&work.lock);
  g_cond_init (&work.cond);
  for (guint i = 0; i < G_N_ELEMENTS (helpers); i++)
    helpers[i] = g_thread_try_new ("pack-hash", hash_worker, &work, NULL);
  hash_worker (&work);
  for (guint i = 0; i < G_N_ELEMENTS (helpers); i++)
    if (helpers[i] != NULL)
      g_thread_join (helpers[i]);
  for (guint i = 0; i < HASH_WINDOW; i++)
    g_free (work.slots[i].path);
  g_free (work.slots);
  g_mutex_clear (&work.lock);
  g_cond_clear (&work.cond);
  if (work.error != NULL) {
    g_propagate_error (error, work.error);
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

  /* The bytes of the name as they are, into a pax header as UTF-8 (the
   * locale is UTF-8).  Given with archive_entry_set_pathname_utf8(),
   * libarchive would compose a decomposed name (NFD: "a" + U+0308 for
   * "ä", as macOS writes names) into another name (NFC). */
  archive_entry_set_pathname (entry, path);
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

/* Second pass: writes a file found by the first pass (name below dir_fd),
 * re-reading it and refusing it if it changed. */
static gboolean
write_file (Packer *packer, int dir_fd, const char *name, const PackRecord *record,
            const char *source, const char *path, GError **error)
{
  struct stat st;
  guint8 digest[SAR_SHA256_SIZE];
  guint64 size;
  g_auto (AutoFd) fd = open_regular (dir_fd, name, source, &st, error);

  if (fd < 0)
    return FALSE;
  if ((guint64) st.st_size != record->size)
    return pack_failed (error, "%s changed while packing (its size changed); try again", source);
  if (!same_time (&st.st_mtim, &record->mtim) || !same_time (&st.st_ctim, &record->ctim))
    return pack_failed (error, "%s changed while packing (it was modified); try again", source);
  if (!write_header (packer, path, AE_IFREG, record->mode, record->mtim.tv_sec, record->size, error)
      || !pack_file_data (packer, packer->buffer, fd, source, &size, packer->rehash ? digest : NULL,
                          error))
    return FALSE;
  if (size != record->size
      || (packer->rehash && memcmp (digest, record->digest, sizeof digest) != 0))
    return pack_failed (error, "%s changed while packing (its content changed); try again", source);
  return TRUE;
}

/* The directories open while the trees are written, by depth: the
 * component's own at 0.  A member path has at most SAR_PATH_DEPTH_MAX
 * parts. */
typedef struct {
  int fds[SAR_PATH_DEPTH_MAX];
} DirStack;

static void
dir_stack_close_from (DirStack *stack, guint depth)
{
  for (guint i = depth; i < G_N_ELEMENTS (stack->fds); i++)
    autofd_clear (&stack->fds[i]);
}

/* Second pass: the trees, from the first pass's records, each directory
 * opened below its parent and each file below its directory, as found. */
static gboolean
write_trees (Packer *packer, const SarPackSpec *spec, GError **error)
{
  DirStack stack;
  gboolean ok = TRUE;

  for (guint i = 0; i < G_N_ELEMENTS (stack.fds); i++)
    stack.fds[i] = -1;
  for (guint64 offset = 0; ok && offset < spill_size (packer->records);) {
    PackRecord record;
    RecordPath path;
    const SarPackComponent *pack;
    g_autofree char *source = NULL;
    const char *name;
    guint depth = 0;
    int fd;

    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error)
        || !record_read (packer->records, &offset, &record, path, error)) {
      ok = FALSE;
      break;
    }
    pack = g_ptr_array_index (spec->components, record.component);
    for (const char *p = path; *p != '\0'; p++)
      depth += *p == '/';
    if (depth >= G_N_ELEMENTS (stack.fds) || (record.kind == RECORD_ROOT) != (depth == 0)
        || (depth > 0 && stack.fds[depth - 1] < 0)) {
      ok = pack_failed (error, "cannot pack: damaged scratch data");
      break;
    }
    /* what is open below the parent is done */
    dir_stack_close_from (&stack, depth);
    if (record.kind == RECORD_ROOT) {
      fd = open (pack->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        ok = backup_error_set_errno (error, errno, "opening component directory %s", pack->path);
        break;
      }
      stack.fds[0] = fd;
      strcat (path, "/");
      ok = write_header (packer, path, AE_IFDIR, record.mode, record.mtim.tv_sec, 0, error);
      continue;
    }
    name = strrchr (path, '/') + 1;
    source = g_build_filename (pack->path, path + strlen (pack->id) + 1, NULL);
    if (record.kind == RECORD_FILE) {
      ok = write_file (packer, stack.fds[depth - 1], name, &record, source, path, error);
      continue;
    }
    fd = openat (stack.fds[depth - 1], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      ok = backup_error_set_errno (error, errno, "opening %s", source);
      break;
    }
    stack.fds[depth] = fd;
    strcat (path, "/");
    ok = write_header (packer, path, AE_IFDIR, record.mode, record.mtim.tv_sec, 0, error);
  }
  dir_stack_close_from (&stack, 0);
  return ok;
}
static la_ssize_t
packer_write (struct archive *archive, void *data, const void *buffer, size_t len)
{
  Packer *packer = data;

  if (!fd_write_all (packer->out_fd, buffer, len)) {
    packer->write_errno = errno;
    archive_set_error (archive, packer->write_errno, "%s", g_strerror (packer->write_errno));
    return -1;
  }
  packer->out_bytes += len;
  if (packer->readback != NULL && !readback_advance (packer->readback, len)) {
    archive_set_error (archive, ECANCELED, "reading it back failed");
    return -1;
  }
  /* A file that is synced afterwards: its data starts on its way to the
   * disk now, so the fsync has little left to do (errors show there). */
  if (packer->readback != NULL && packer->out_bytes - packer->out_synced >= WRITEBACK_STEP) {
    sync_file_range (packer->out_fd, (off64_t) packer->out_synced,
                     (off64_t) (packer->out_bytes - packer->out_synced), SYNC_FILE_RANGE_WRITE);
    packer->out_synced = packer->out_bytes;
  }
  return len;
}

static gboolean
open_writer (Packer *packer, SarCompression compression, gboolean fast, GError **error)
{
  int ret = ARCHIVE_OK;

  packer->archive = archive_write_new ();
  archive_write_set_format_pax_restricted (packer->archive);
  /* few large writes instead of one per tar record */
  archive_write_set_bytes_per_block (packer->archive, OUT_BLOCK);
  switch (compression) {
  case SAR_COMPRESSION_ZSTD:
    ret = archive_write_add_filter_zstd (packer->archive);
    if (ret == ARCHIVE_OK && fast)
      ret = archive_write_set_filter_option (packer->archive, "zstd", "compression-level",
                                             FAST_ZSTD_LEVEL);
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
  /* Padding belongs to the tar stream, not after the compressed data; an
   * uncompressed archive ends with a whole tar record, as with the
   * default block size. */
  archive_write_set_bytes_in_last_block (packer->archive,
                                         compression != SAR_COMPRESSION_NONE ? 1 : RECORD);
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
    component->database = g_strdup (pack->database);
    component->database_bytes = pack->database != NULL ? pack->dump_size : 0;
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

/* SHA256SUMS is written from one read of the first pass's records as it
 * is made, a buffer at a time: neither a list of every path and digest
 * nor the whole text (both grow with the number of files) is held. */
typedef struct {
  Packer *packer;
  char *buffer; /* IO_CHUNK bytes */
  gsize used;
  guint64 written; /* lines made so far, in bytes */
} SumsWriter;

static gboolean
sums_flush (SumsWriter *w, GError **error)
{
  if (w->used > 0
      && archive_write_data (w->packer->archive, w->buffer, w->used) != (la_ssize_t) w->used)
    return write_failed (w->packer, error);
  w->used = 0;
  return TRUE;
}

static gboolean
sums_line (SumsWriter *w, const guint8 digest[SAR_SHA256_SIZE], const char *path, gsize path_len,
           GError **error)
{
  gsize len = SAR_CHECKSUMS_LINE_LEN (path_len);

  /* a line is far shorter than the buffer: paths are at most SAR_PATH_MAX */
  G_STATIC_ASSERT (SAR_CHECKSUMS_LINE_LEN (SAR_PATH_MAX + 1) <= IO_CHUNK);
  if (len > IO_CHUNK - w->used && !sums_flush (w, error))
    return FALSE;
  sar_checksums_format_line (w->buffer + w->used, digest, path, path_len);
  w->used += len;
  w->written += len;
  return TRUE;
}

/* The SHA256SUMS member: the dumps first (they come right after it),
 * then the files of each tree, in the order they are written. */
static gboolean
write_checksums (Packer *packer, const SarPackSpec *spec, gint64 mtime, GError **error)
{
  SumsWriter w = { packer, (char *) packer->buffer, 0, 0 };
  /* the first pass counted the files' lines as it found them */
  guint64 len = packer->sums_len;

  for (guint i = 0; i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    g_autofree char *member = pack->database != NULL ? sar_dump_member (pack->id) : NULL;

    if (member != NULL)
      len += SAR_CHECKSUMS_LINE_LEN (strlen (member));
  }

  if (!write_header (packer, SAR_CHECKSUMS_MEMBER, AE_IFREG, 0644, mtime, len, error))
    return FALSE;
  for (guint i = 0; i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    g_autofree char *member = pack->database != NULL ? sar_dump_member (pack->id) : NULL;

    if (member != NULL && !sums_line (&w, pack->dump_digest, member, strlen (member), error))
      return FALSE;
  }
  for (guint64 offset = 0; offset < spill_size (packer->records);) {
    PackRecord record;
    RecordPath path;

    if (!record_read (packer->records, &offset, &record, path, error))
      return FALSE;
    if (record.kind == RECORD_FILE && !sums_line (&w, record.digest, path, record.path_len, error))
      return FALSE;
  }
  if (!sums_flush (&w, error))
    return FALSE;
  /* the header's size and the lines come from two reads of the records */
  if (w.written != len)
    return pack_failed (error,
                        "cannot pack: " SAR_CHECKSUMS_MEMBER " came out %" G_GUINT64_FORMAT
                        " bytes long, not %" G_GUINT64_FORMAT,
                        w.written, len);
  return TRUE;
}

/* A component's database dump, as made beforehand: its size and digest
 * are in the metadata already, so it must still be just that. */
static gboolean
write_dump (Packer *packer, const SarPackComponent *pack, gint64 mtime, GError **error)
{
  g_autofree char *member = NULL;
  g_autofree char *source = NULL;
  guint8 digest[SAR_SHA256_SIZE];
  guint64 size;

  if (pack->database == NULL)
    return TRUE;
  member = sar_dump_member (pack->id);
  source = g_strdup_printf ("the dump of database %s", pack->database);
  if (lseek (pack->dump_fd, 0, SEEK_SET) < 0)
    return backup_error_set_errno (error, errno, "reading %s", source);
  if (!write_header (packer, member, AE_IFREG, 0600, mtime, pack->dump_size, error)
      || !pack_file_data (packer, packer->buffer, pack->dump_fd, source, &size,
                          packer->rehash ? digest : NULL, error))
    return FALSE;
  if (size != pack->dump_size
      || (packer->rehash && memcmp (digest, pack->dump_digest, sizeof digest) != 0))
    return pack_failed (error, "%s changed while packing", source);
  return TRUE;
}

/* Writes the archive from the first pass's records. */
static gboolean
write_archive (Packer *packer, const SarPackSpec *spec, const SarManifest *manifest, GError **error)
{
  g_autofree char *manifest_data = NULL;
  gsize manifest_len;

  manifest_data = sar_manifest_to_data (manifest, &manifest_len);
  if (!open_writer (packer, spec->compression, spec->fast, error)
      || !write_metadata (packer, SAR_MANIFEST_MEMBER, manifest_data, manifest_len,
                          manifest->created, error)
      || !write_checksums (packer, spec, manifest->created, error))
    return FALSE;
  for (guint i = 0; i < spec->components->len; i++)
    if (!write_dump (packer, g_ptr_array_index (spec->components, i), manifest->created, error))
      return FALSE;
  if (!write_trees (packer, spec, error))
    return FALSE;
  if (archive_write_close (packer->archive) != ARCHIVE_OK)
    return write_failed (packer, error);
  return TRUE;
}

/* First pass: what is there (into found), then its checksums into
 * packer->records, which SHA256SUMS must list before any file is
 * written. */
static gboolean
find_and_hash (Packer *packer, const SarPackSpec *spec, SarManifest *manifest, GError **error)
{
  g_autoptr (Spill) found = spill_new ();
  g_autofree int *root_fds = g_new (int, spec->components->len);
  gboolean ok = TRUE;

  for (guint i = 0; i < spec->components->len; i++)
    root_fds[i] = -1;
  for (guint i = 0; ok && i < spec->components->len; i++) {
    const SarPackComponent *component = g_ptr_array_index (spec->components, i);
    struct stat st;
    PackRecord root;

    root_fds[i] = open (component->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root_fds[i] < 0 || fstat (root_fds[i], &st) < 0) {
      ok = backup_error_set_errno (error, errno, "opening component directory %s", component->path);
      break;
    }
    root = pack_record_new (RECORD_ROOT, i, &st, strlen (component->id));
    ok = record_append (found, &root, component->id, error)
         && scan_directory (packer, found, root_fds[i], component->path, component->id, i, error);
  }
  if (spec->cache != NULL)
    sar_pack_cache_stop (spec->cache);
  ok = ok && hash_files (packer, found, root_fds, manifest, error);
  for (guint i = 0; i < spec->components->len; i++)
    autofd_clear (&root_fds[i]);
  return ok;
}

static gboolean
pack (const SarPackSpec *spec, int out_fd, Readback *readback, GCancellable *cancellable,
      GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push ();
  g_autoptr (SarManifest) manifest = manifest_for_spec (spec, error);
  g_autoptr (Spill) records = spill_new ();
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);
  Packer packer = { cancellable, NULL, 0, out_fd, buffer, spec, 0, 0 };
  gint64 start = g_get_monotonic_time ();
  gboolean ok;

  if (manifest == NULL)
    return FALSE;
  if (manifest->components->len == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot pack: no components");
    return FALSE;
  }
  packer.records = records;
  packer.readback = readback;
  /* read back, a file that changed fails its checksum there */
  packer.rehash = readback == NULL;

  ok = find_and_hash (&packer, spec, manifest, error);
  cache_used_up (spec->cache);
  g_debug ("packing: found and hashed %u files (%d hashed ahead) in %.3f s", packer.files,
           packer.from_cache, (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
  for (guint i = 0; i < spec->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);

    packer.total += component->bytes + component->database_bytes;
  }
  /* what the first pass freed (the names of directories), not needed for
   * the writing, which needs memory of its own (the reader's list of
   * checksums, compression) */
  malloc_trim (0);

  ok = ok && write_archive (&packer, spec, manifest, error);
  if (packer.archive != NULL)
    archive_write_free (packer.archive);
  return ok;
}

gboolean
sar_pack (const SarPackSpec *spec, int out_fd, GCancellable *cancellable, GError **error)
{
  return pack (spec, out_fd, NULL, cancellable, error);
}

/* --- digests made ahead: the thread ----------------------------------------- */

/* After the first pass: the digests are not needed again. */
static void
cache_used_up (SarPackCache *cache)
{
  if (cache == NULL)
    return;
  g_clear_pointer (&cache->records, spill_free);
}

/* FALSE once stopped; waits while paused. */
static gboolean
cache_go_on (SarPackCache *cache)
{
  gboolean go_on;

  g_mutex_lock (&cache->lock);
  while (cache->paused && !cache->stop)
    g_cond_wait (&cache->cond, &cache->lock);
  go_on = !cache->stop;
  g_mutex_unlock (&cache->lock);
  return go_on;
}

static gboolean
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
         && same_time (&a->st_mtim, &b->st_mtim) && same_time (&a->st_ctim, &b->st_ctim);
}

/* Appends the record of a file (cache->path) as hashed; best effort: once
 * appending failed, the records up to the last whole one are all there
 * are. */
static void
cache_append (SarPackCache *cache, const struct stat *st, SarSha256 *sha)
{
  struct {
    CacheRecord record;
    char path[SAR_PATH_MAX];
  } entry;
  g_autoptr (GError) local = NULL;
  gsize len = sizeof entry.record + cache->path->len;

  memset (&entry.record, 0, sizeof entry.record);
  entry.record.dev = st->st_dev;
  entry.record.ino = st->st_ino;
  entry.record.size = st->st_size;
  entry.record.mtim = st->st_mtim;
  entry.record.ctim = st->st_ctim;
  entry.record.path_len = (guint32) cache->path->len;
  sar_sha256_digest (sha, entry.record.digest);
  memcpy (entry.path, cache->path->str, cache->path->len);
  if (!spill_append (cache->records, &entry, len, NULL, &local)) {
    g_debug ("hashing ahead stops: %s", local->message);
    cache->broken = TRUE;
    return;
  }
  cache->complete += len;
  cache->files++;
}

static void
cache_file (SarPackCache *cache, int dir_fd, const char *name, guint8 *buffer)
{
  g_auto (AutoFd) fd = -1;
  struct stat before, after;
  SarSha256 sha;

  fd = tree_open_beneath (dir_fd, name,
                          O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME, 0);
  if (fd < 0 && errno == EPERM)
    fd = tree_open_beneath (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
                            0);
  if (fd < 0 || fstat (fd, &before) < 0 || !S_ISREG (before.st_mode))
    return;
  sar_sha256_init (&sha);
  for (;;) {
    ssize_t n;

    if (!cache_go_on (cache))
      return;
    n = read (fd, buffer, AHEAD_IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return;
    if (n == 0)
      break;
    sar_sha256_update (&sha, buffer, (gsize) n);
    cache->hashed += (guint64) n;
  }
  if (fstat (fd, &after) < 0 || !same_file (&before, &after))
    return;
  cache_append (cache, &after, &sha);
}

/* Depth first through dir_fd (cache->path below its tree), siblings in
 * the first pass's order, so the packer finds the records by a merge;
 * what cannot be read is left out.  Only this directory's names are held
 * while it is read. */
static void
cache_directory (SarPackCache *cache, int dir_fd, guint depth, guint8 *buffer)
{
  int errsv = 0;
  g_autoptr (GPtrArray) names = sorted_names (dir_fd, &errsv);
  gsize path_len = cache->path->len;

  for (guint i = 0; names != NULL && i < names->len && cache_go_on (cache); i++) {
    const char *name = g_ptr_array_index (names, i);
    struct stat st;

    if (cache->broken || cache->files >= CACHE_FILES_MAX)
      return;
    if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (path_len > 0)
      g_string_append_c (cache->path, '/');
    g_string_append (cache->path, name);
    /* longer paths the packer refuses */
    if (cache->path->len <= SAR_PATH_MAX && S_ISDIR (st.st_mode) && depth < SAR_PATH_DEPTH_MAX) {
      g_auto (AutoFd) fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (fd >= 0)
        cache_directory (cache, fd, depth + 1, buffer);
    } else if (cache->path->len <= SAR_PATH_MAX && S_ISREG (st.st_mode)) {
      cache_file (cache, dir_fd, name, buffer);
    }
    g_string_truncate (cache->path, path_len);
  }
}

static gpointer
cache_thread (gpointer data)
{
  SarPackCache *cache = data;
  struct sched_param idle = { 0 };
  g_autofree guint8 *buffer = g_malloc (AHEAD_IO_CHUNK);

  /* a core only when it would be idle, and the disk too where its
   * scheduler knows priorities */
  if (sched_setscheduler (0, SCHED_IDLE, &idle) < 0)
    g_debug ("hashing ahead at normal priority: %s", g_strerror (errno));
  syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_IDLE);
  for (guint i = 0; i < cache->n_roots; i++) {
    CacheRoot *root = &cache->roots[i];

    root->start = root->end = cache->complete;
    /* held from the start: not even a directory is read */
    if (root->fd >= 0 && cache_go_on (cache)) {
      g_string_truncate (cache->path, 0);
      cache_directory (cache, root->fd, 1, buffer);
    }
    root->end = cache->complete;
  }
  return NULL;
}

SarPackCache *
sar_pack_cache_start (GPtrArray *components, gboolean held)
{
  SarPackCache *cache = g_new0 (SarPackCache, 1);

  g_mutex_init (&cache->lock);
  g_cond_init (&cache->cond);
  cache->records = spill_new ();
  cache->path = g_string_sized_new (SAR_PATH_MAX + 256);
  cache->n_roots = components->len;
  cache->roots = g_new0 (CacheRoot, components->len);
  cache->paused = held;
  /* the trees are the ones there now, whatever their names later */
  for (guint i = 0; i < components->len; i++) {
    const SarPackComponent *component = g_ptr_array_index (components, i);
    CacheRoot *root = &cache->roots[i];
    struct stat st;

    root->fd = open (component->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root->fd >= 0 && fstat (root->fd, &st) < 0)
      autofd_clear (&root->fd);
    if (root->fd >= 0) {
      root->dev = st.st_dev;
      root->ino = st.st_ino;
    }
  }
  cache->thread = g_thread_try_new ("pack-hash-ahead", cache_thread, cache, NULL);
  return cache;
}

void
sar_pack_cache_pause (SarPackCache *cache, gboolean paused)
{
  if (cache == NULL)
    return;
  g_mutex_lock (&cache->lock);
  cache->paused = paused;
  g_cond_broadcast (&cache->cond);
  g_mutex_unlock (&cache->lock);
}

static void
cache_join (SarPackCache *cache)
{
  g_thread_join (g_steal_pointer (&cache->thread));
  g_debug ("hashed %u files (%" G_GUINT64_FORMAT " bytes) ahead", cache->files, cache->hashed);
}

void
sar_pack_cache_stop (SarPackCache *cache)
{
  if (cache == NULL || cache->thread == NULL)
    return;
  g_mutex_lock (&cache->lock);
  cache->stop = TRUE;
  g_cond_broadcast (&cache->cond);
  g_mutex_unlock (&cache->lock);
  cache_join (cache);
}

void
sar_pack_cache_wait (SarPackCache *cache)
{
  if (cache == NULL || cache->thread == NULL)
    return;
  sar_pack_cache_pause (cache, FALSE);
  cache_join (cache);
}

void
sar_pack_cache_free (SarPackCache *cache)
{
  if (cache == NULL)
    return;
  sar_pack_cache_stop (cache);
  for (guint i = 0; i < cache->n_roots; i++)
    autofd_clear (&cache->roots[i].fd);
  g_free (cache->roots);
  g_clear_pointer (&cache->records, spill_free);
  g_string_free (cache->path, TRUE);
  g_mutex_clear (&cache->lock);
  g_cond_clear (&cache->cond);
  g_free (cache);
}

/* --- reading back while writing --------------------------------------------- */

/* What the writer has written of the file, and the reader's place in it. */
struct _Readback {
  int fd;
  const SarLimits *limits;
  GCancellable *cancellable;
  guint64 offset; /* the reader's next byte */

  GMutex lock;
  GCond cond;
  guint64 written;   /* bytes of fd that are complete */
  gboolean done;     /* the writer is done: written is final */
  gboolean stopped;  /* the writer failed, or the reader stops: no more reads */
  gboolean failed;   /* the reader failed: the writer stops */
  SarHeader *header; /* what the reader found */
  GError *error;     /* why it failed */
};

/* The writer: n more bytes are in the file.  FALSE once the reader has
 * failed (nothing written after that would count). */
static gboolean
readback_advance (Readback *rb, gsize n)
{
  gboolean failed;

  g_mutex_lock (&rb->lock);
  rb->written += n;
  failed = rb->failed;
  g_cond_signal (&rb->cond);
  g_mutex_unlock (&rb->lock);
  return !failed;
}

static gssize
readback_read (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  Readback *rb = user_data;
  gboolean stopped;
  guint64 available;
  ssize_t n;

  g_mutex_lock (&rb->lock);
  while (!rb->stopped && !rb->done && rb->written == rb->offset)
    g_cond_wait (&rb->cond, &rb->lock);
  stopped = rb->stopped;
  available = rb->written - rb->offset;
  g_mutex_unlock (&rb->lock);

  if (stopped) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "writing the backup stopped");
    return -1;
  }
  if (available == 0)
    return 0;
  do
    n = pread (rb->fd, buffer, MIN (size, available), (off_t) rb->offset);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return backup_error_set_errno (error, errno, "reading back the backup"), -1;
  if (n == 0) {
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                         "the backup shrank while it was read back");
    return -1;
  }
  rb->offset += (guint64) n;
  return n;
}

static void
readback_stop (gpointer user_data)
{
  Readback *rb = user_data;

  g_mutex_lock (&rb->lock);
  rb->stopped = TRUE;
  g_cond_broadcast (&rb->cond);
  g_mutex_unlock (&rb->lock);
}

static gpointer
readback_thread (gpointer data)
{
  Readback *rb = data;
  SarSource source = { readback_read, readback_stop, rb };
  GError *local = NULL;
  SarHeader *header = sar_verify_stream (&source, rb->limits, NULL, NULL, rb->cancellable, &local);

  g_mutex_lock (&rb->lock);
  rb->header = header;
  rb->error = local;
  rb->failed = header == NULL;
  g_mutex_unlock (&rb->lock);
  return NULL;
}

SarHeader *
sar_pack_verified (const SarPackSpec *spec, int out_fd, const SarLimits *limits,
                   GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) local = NULL;
  Readback rb = { out_fd, limits, cancellable };
  GThread *thread;
  gboolean ok;

  g_mutex_init (&rb.lock);
  g_cond_init (&rb.cond);
  thread = g_thread_try_new ("pack-readback", readback_thread, &rb, &local);
  if (thread == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot start reading back: %s",
                 local->message);
    ok = FALSE;
  } else {
    ok = pack (spec, out_fd, &rb, cancellable, &local);
    g_mutex_lock (&rb.lock);
    rb.done = TRUE;
    rb.stopped = rb.stopped || !ok;
    g_cond_broadcast (&rb.cond);
    g_mutex_unlock (&rb.lock);
    g_thread_join (thread);
    /* the first failure: the reader's stops the writer */
    if (rb.failed
        && (ok || rb.error->domain != G_IO_ERROR || rb.error->code != G_IO_ERROR_CANCELLED)) {
      g_propagate_prefixed_error (error, g_steal_pointer (&rb.error),
                                  "the backup does not read back as a restorable backup: ");
      ok = FALSE;
    } else if (!ok) {
      g_propagate_error (error, g_steal_pointer (&local));
    }
  }
  g_clear_error (&rb.error);
  g_mutex_clear (&rb.lock);
  g_cond_clear (&rb.cond);
  if (!ok) {
    g_clear_pointer (&rb.header, sar_header_free);
    return NULL;
  }
  return rb.header;
}

/* --- predicting what the writer would write -------------------------------- */

static gboolean
survey_directory (int dir_fd, const char *source, const char *path, SarPackSurvey *survey,
                  GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) names = directory_names (dir_fd, source, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    g_autofree char *child_source = g_build_filename (source, name, NULL);
    g_autofree char *child_path = g_strconcat (path, "/", name, NULL);
    struct stat st;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return FALSE;
    if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return backup_error_set_errno (error, errno, "reading %s", child_source);
    if (!check_packable (child_source, child_path, &st, error))
      return FALSE;
    survey->entries++;
    if (S_ISDIR (st.st_mode)) {
      g_auto (AutoFd) fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (fd < 0)
        return backup_error_set_errno (error, errno, "opening %s", child_source);
      /* sar_path_check() bounds the depth long before the stack matters */
      if (!survey_directory (fd, child_source, child_path, survey, cancellable, error))
        return FALSE;
    } else {
      survey->files++;
      survey->bytes += (guint64) st.st_size;
      /* "<64 hex digits>  <path>\n" */
      survey->checksum_bytes += 2 * SAR_SHA256_SIZE + 2 + strlen (child_path) + 1;
    }
  }
  return TRUE;
}

gboolean
sar_pack_survey (const char *id, const char *path, SarPackSurvey *survey, GCancellable *cancellable,
                 GError **error)
{
  g_auto (AutoFd) fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    return backup_error_set_errno (error, errno, "opening component directory %s", path);
  survey->entries++; /* the component's own directory member */
  return survey_directory (fd, path, id, survey, cancellable, error);
}
