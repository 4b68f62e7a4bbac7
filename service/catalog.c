/* catalog.c: listing and ordering the backups in the backup directory,
 * with what was read from each file kept while the file stays the same. */
#include "catalog-private.h"

#include "autofd.h"
#include "errors.h"
#include "names.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

/* What the watch of the directory is told: every change of a name in it or
 * of a file through it, and of the directory itself; and that of each
 * file: every change of it through any of its names (another link
 * elsewhere, which the directory is not told of). */
#define WATCH_DIRECTORY                                                                            \
  (IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY | IN_MOVE_SELF  \
   | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)
#define WATCH_FILE (IN_ATTRIB | IN_CLOSE_WRITE | IN_MODIFY | IN_DONT_FOLLOW)

struct _Catalog {
  char *directory;
  char *cache_file; /* NULL: kept in memory only */
  guint settle_seconds;
  GMutex lock; /* everything below, and one listing at a time */
  gboolean loaded;
  /* writes the cache file after a listing that changed the records, one
   * save at a time and off the listing's path (a write can wait long for
   * the disk while a restore or an upload writes); NULL without a file */
  GThreadPool *saver;
  gboolean save_queued;
  gboolean save_failed; /* the saver's own: logged once */
  GHashTable *records;  /* name -> CatalogRecord* (owns both) */
  guint64 scans;        /* CatalogRecord.seen of the records the last scan saw */
  /* The last listing, while it holds: made of the records as they are now
   * (and nothing else), for the installed version last_installed (or
   * none), and for a time in [last_made, last_until) (what is in the
   * future then stays so).  NULL when any of this may not hold. */
  GPtrArray *last;
  gboolean last_known;
  SfVersion last_installed;
  gint64 last_made;
  gint64 last_until;
  /* The directory and each of its *.sar files watched with inotify since
   * the last scan (-1: not, and every listing scans), and the identity of
   * the directory watched.  clean: nothing that a scan would see
   * differently has been reported since the last scan, which found only
   * settled records, so the last listing holds without a readdir or a
   * stat. */
  int inotify_fd;
  int watch;
  dev_t watched_dev;
  ino_t watched_ino;
  gboolean clean;
  /* catalog_inspect() calls that found nothing kept and read the whole
   * header (for tests) */
  guint64 inspect_reads;
  /* what catalog_inspect() read whole of files the records do not hold
   * as they are (a file inspected before it is listed, or since it
   * changed): name -> CatalogRecord* with the stamp, valid and problem
   * only; at most INSPECTED_MAX, then emptied */
  GHashTable *inspected;
};

#define INSPECTED_MAX 64

/* A listing brings up to date at most this many names that events named
 * since the last one, a stat each; more, and it reads the directory. */
#define NAMED_CHANGES_MAX 16

void
catalog_entry_free (CatalogEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->name);
  g_free (entry->process);
  g_free (entry->version);
  g_free (entry->hostname);
  g_free (entry->problem);
  sar_header_free (entry->header);
  g_free (entry);
}

int
catalog_open_backup (int dir_fd, const char *name, GError **error)
{
  g_auto (AutoFd) fd = -1;
  struct stat st;

  g_return_val_if_fail (dir_fd >= 0 && name != NULL, -1);
  if (!sar_name_validate (name, error))
    return -1;
  /* O_NONBLOCK: a FIFO planted in the directory must not hang us */
  fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int errsv = errno;
    if (errsv == ENOENT)
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND, "No backup named %s", name);
    else if (errsv == ELOOP)
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND,
                   "%s is a symbolic link, not a backup file", name);
    else
      backup_error_set_errno (error, errsv, "cannot open %s", name);
    return -1;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND, "%s is not a regular file", name);
    return -1;
  }
  return g_steal_fd (&fd);
}

/* --- records --------------------------------------------------------------- */

void
catalog_stamp_from_stat (CatalogStamp *stamp, const struct stat *st)
{
  stamp->dev = (guint64) st->st_dev;
  stamp->ino = (guint64) st->st_ino;
  stamp->size = (guint64) st->st_size;
  stamp->mtime_sec = (gint64) st->st_mtim.tv_sec;
  stamp->mtime_nsec = (gint64) st->st_mtim.tv_nsec;
  stamp->ctime_sec = (gint64) st->st_ctim.tv_sec;
  stamp->ctime_nsec = (gint64) st->st_ctim.tv_nsec;
}

gboolean
catalog_stamp_equal (const CatalogStamp *a, const CatalogStamp *b)
{
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_sec == b->mtime_sec
         && a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec
         && a->ctime_nsec == b->ctime_nsec;
}

gboolean
catalog_stamp_settled (const CatalogStamp *stamp, guint settle_seconds, gint64 now_ns)
{
  const gint64 second = G_GINT64_CONSTANT (1000000000);
  gint64 now_sec = now_ns / second;
  gint64 limit_sec = now_sec - (gint64) settle_seconds;

  /* ctime + settle <= now, without overflow for any ctime */
  if (stamp->ctime_sec != limit_sec)
    return stamp->ctime_sec < limit_sec;
  return stamp->ctime_nsec <= now_ns % second;
}

void
catalog_record_free (CatalogRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->name);
  g_free (record->process);
  g_free (record->version);
  g_free (record->hostname);
  g_free (record->problem);
  g_free (record);
}

gboolean
catalog_record_equal (const CatalogRecord *a, const CatalogRecord *b)
{
  return catalog_stamp_equal (&a->stamp, &b->stamp) && a->valid == b->valid
         && a->created == b->created && g_strcmp0 (a->name, b->name) == 0
         && g_strcmp0 (a->process, b->process) == 0 && g_strcmp0 (a->version, b->version) == 0
         && g_strcmp0 (a->hostname, b->hostname) == 0 && g_strcmp0 (a->problem, b->problem) == 0
         && (!a->valid || sf_version_compare (&a->parsed_version, &b->parsed_version) == 0);
}

void
catalog_record_fill_from_name (CatalogRecord *record)
{
  g_autofree char *process = NULL;
  gint64 name_time;

  record->created = record->stamp.mtime_sec;
  if (sar_name_parse (record->name, &process, &name_time))
    record->created = name_time;
  g_free (record->process);
  record->process = process != NULL ? g_steal_pointer (&process) : g_strdup ("");
  g_free (record->version);
  record->version = g_strdup ("");
  g_free (record->hostname);
  record->hostname = g_strdup ("");
}

/* Reads the header of an open backup.  *keep: whether the outcome follows
 * from the file's content alone (valid, or invalid for what it holds), so
 * it stays true while the file is unchanged; a failing read does not. */
static CatalogRecord *
record_read (int fd, const char *name, const CatalogStamp *stamp, gboolean *keep)
{
  g_autoptr (CatalogRecord) record = g_new0 (CatalogRecord, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  const SarManifest *manifest;

  record->name = g_strdup (name);
  record->stamp = *stamp;
  header = sar_read_header (fd, &error);
  if (header == NULL) {
    *keep = g_error_matches (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    record->problem = g_strdup (error->message);
    catalog_record_fill_from_name (record);
    return g_steal_pointer (&record);
  }
  *keep = TRUE;
  manifest = header->manifest;
  record->valid = TRUE;
  record->created = manifest->created;
  record->process = g_strdup (manifest->process);
  record->version = g_strdup (manifest->version);
  record->hostname = g_strdup (manifest->hostname);
  record->parsed_version = manifest->parsed_version;
  return g_steal_pointer (&record);
}

static CatalogEntry *
entry_from_record (const CatalogRecord *record, const SfVersion *installed)
{
  CatalogEntry *entry = g_new0 (CatalogEntry, 1);

  entry->name = g_strdup (record->name);
  entry->size = record->stamp.size;
  entry->created = record->created;
  entry->process = g_strdup (record->process);
  entry->version = g_strdup (record->version);
  entry->hostname = g_strdup (record->hostname);
  entry->valid = record->valid;
  entry->compatible = record->valid && installed != NULL
                      && sf_version_compare (&record->parsed_version, installed) <= 0;
  entry->problem = g_strdup (record->problem);
  /* records are of regular files that could be opened */
  entry->problem_code = record->problem != NULL ? CATALOG_PROBLEM_INVALID : NULL;
  entry->undo_point = g_strcmp0 (entry->process, SAR_PROCESS_PRE_RESTORE) == 0;
  return entry;
}

/* --- entries ---------------------------------------------------------------- */

/* Fills an entry from an open backup: metadata from the header when it is
 * valid, else from the name and the file's times.  checksums: whether
 * SHA256SUMS is read too (else only the manifest; for a file known to be
 * valid). */
static void
entry_read (CatalogEntry *entry, int fd, gboolean checksums, const SfVersion *installed,
            gboolean *content_outcome)
{
  g_autoptr (GError) error = NULL;
  struct stat st;
  g_autofree char *name_process = NULL;
  gint64 name_time = 0;

  if (fstat (fd, &st) == 0) {
    entry->size = (guint64) st.st_size;
    entry->created = st.st_mtime;
  }
  if (sar_name_parse (entry->name, &name_process, &name_time))
    entry->created = name_time;

  entry->header = checksums ? sar_read_header (fd, &error) : sar_read_manifest (fd, &error);
  /* valid, or invalid for what the file holds (not a failing read) */
  *content_outcome
      = entry->header != NULL || g_error_matches (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  if (entry->header == NULL) {
    entry->problem = g_strdup (error->message);
    entry->problem_code = CATALOG_PROBLEM_INVALID;
    entry->process = g_strdup (name_process != NULL ? name_process : "");
    entry->version = g_strdup ("");
    entry->hostname = g_strdup ("");
    return;
  }
  entry->valid = TRUE;
  entry->created = entry->header->manifest->created;
  entry->process = g_strdup (entry->header->manifest->process);
  entry->version = g_strdup (entry->header->manifest->version);
  entry->hostname = g_strdup (entry->header->manifest->hostname);
  entry->undo_point = g_strcmp0 (entry->process, SAR_PROCESS_PRE_RESTORE) == 0;
  entry->compatible
      = installed != NULL
        && sf_version_compare (&entry->header->manifest->parsed_version, installed) <= 0;
}

static CatalogEntry *
entry_new_invalid (const char *name, const char *code, const char *problem)
{
  CatalogEntry *entry = g_new0 (CatalogEntry, 1);
  g_autofree char *process = NULL;

  entry->name = g_strdup (name);
  if (!sar_name_parse (name, &process, &entry->created))
    process = g_strdup ("");
  entry->process = g_steal_pointer (&process);
  entry->version = g_strdup ("");
  entry->hostname = g_strdup ("");
  entry->problem = g_strdup (problem);
  entry->problem_code = code;
  return entry;
}

static gint
entry_newest_first (gconstpointer a, gconstpointer b)
{
  const CatalogEntry *x = *(CatalogEntry *const *) a;
  const CatalogEntry *y = *(CatalogEntry *const *) b;

  if (x->created != y->created)
    return x->created > y->created ? -1 : 1;
  return g_strcmp0 (x->name, y->name);
}

/* Valid backups whose manifest says they were made in the future: listed
 * and restorable by name, but never preselected (a clock far ahead, or a
 * crafted manifest, must not decide what "restore" takes by default). */
static void
mark_future (GPtrArray *entries, gint64 now)
{
  for (guint i = 0; i < entries->len; i++) {
    CatalogEntry *entry = entries->pdata[i];
    g_autoptr (GDateTime) time = NULL;
    g_autofree char *text = NULL;

    if (!entry->valid || entry->created <= now + CATALOG_CLOCK_SKEW_SECONDS)
      continue;
    time = g_date_time_new_from_unix_utc (entry->created);
    text = time != NULL ? g_date_time_format (time, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("?");
    entry->problem_code = CATALOG_PROBLEM_FUTURE;
    g_free (entry->problem);
    entry->problem = g_strdup_printf (
        "created in the future (%s, more than %d hours ahead of this machine's clock), so "
        "never preselected; check the clock of the machine that made it, and this one's",
        text, CATALOG_CLOCK_SKEW_SECONDS / 3600);
  }
}

static int
open_directory (const char *directory, GError **error)
{
  int fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    backup_error_set_errno (error, errno, "cannot open the backup directory %s", directory);
  return fd;
}

/* --- the catalog ------------------------------------------------------------ */

static void save_thread (gpointer item, gpointer user_data);

Catalog *
catalog_new (const char *directory, const char *cache_file, guint settle_seconds)
{
  Catalog *catalog;

  g_return_val_if_fail (directory != NULL, NULL);
  catalog = g_new0 (Catalog, 1);
  catalog->directory = g_strdup (directory);
  catalog->cache_file = g_strdup (cache_file);
  catalog->settle_seconds = settle_seconds;
  g_mutex_init (&catalog->lock);
  catalog->inotify_fd = -1;
  catalog->watch = -1;
  catalog->records
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) catalog_record_free);
  catalog->inspected
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) catalog_record_free);
  /* a shared pool (never fails): its one thread runs when there is work */
  if (cache_file != NULL)
    catalog->saver = g_thread_pool_new (save_thread, NULL, 1, FALSE, NULL);
  return catalog;
}

void
catalog_free (Catalog *catalog)
{
  if (catalog == NULL)
    return;
  /* a save still to come is made, and waited for */
  if (catalog->saver != NULL)
    g_thread_pool_free (catalog->saver, FALSE, TRUE);
  g_clear_pointer (&catalog->last, g_ptr_array_unref);
  autofd_clear (&catalog->inotify_fd);
  g_hash_table_unref (catalog->records);
  g_hash_table_unref (catalog->inspected);
  g_mutex_clear (&catalog->lock);
  g_free (catalog->cache_file);
  g_free (catalog->directory);
  g_free (catalog);
}

guint
catalog_kept (Catalog *catalog)
{
  g_autoptr (GMutexLocker) locker = NULL;
  GHashTableIter iter;
  gpointer value;
  guint kept = 0;

  g_return_val_if_fail (catalog != NULL, 0);
  locker = g_mutex_locker_new (&catalog->lock);
  g_hash_table_iter_init (&iter, catalog->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    kept += ((const CatalogRecord *) value)->settled ? 1 : 0;
  return kept;
}

guint64
catalog_scan_count (Catalog *catalog)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&catalog->lock);

  return catalog->scans;
}

gboolean
catalog_watching (Catalog *catalog)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&catalog->lock);

  return catalog->inotify_fd >= 0;
}

/* What a scan changed: the records (so the last listing no longer holds),
 * and the settled ones among them (so the cache file is to be written). */
typedef struct {
  gboolean records;
  gboolean settled;
} Changes;

/* Under the lock: record (which may be NULL) was added, replaced or
 * removed. */
static void
records_changed (Catalog *catalog, const CatalogRecord *record, Changes *changes)
{
  g_clear_pointer (&catalog->last, g_ptr_array_unref);
  changes->records = TRUE;
  if (record != NULL && record->settled)
    changes->settled = TRUE;
}

/* Under the lock: the records of the cache file, once. */
static void
load_cache (Catalog *catalog, gint64 now_ns)
{
  g_autoptr (GError) error = NULL;
  GHashTable *records;

  if (catalog->loaded || catalog->cache_file == NULL)
    return;
  catalog->loaded = TRUE;
  records = catalog_cache_load (catalog->cache_file, catalog->directory, catalog->settle_seconds,
                                now_ns, &error);
  if (records == NULL) {
    if (!g_error_matches (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND))
      g_message ("ignoring the catalog cache %s (it will be rebuilt): %s", catalog->cache_file,
                 error->message);
    return;
  }
  g_hash_table_unref (catalog->records);
  catalog->records = records;
  g_clear_pointer (&catalog->last, g_ptr_array_unref);
}

/* --- the watch ------------------------------------------------------------- */

/* File systems whose every change is made by this kernel, so inotify sees
 * it (not a network file system, where another machine may write). */
static gboolean
local_file_system (int dir_fd)
{
  struct statfs fs;

  if (fstatfs (dir_fd, &fs) < 0)
    return FALSE;
  switch ((unsigned long) fs.f_type) {
  case EXT4_SUPER_MAGIC: /* ext2, ext3 and ext4 */
  case XFS_SUPER_MAGIC:
  case BTRFS_SUPER_MAGIC:
  case TMPFS_MAGIC:
  case F2FS_SUPER_MAGIC:
    return TRUE;
  default:
    return FALSE;
  }
}

static void
unwatch (Catalog *catalog)
{
  autofd_clear (&catalog->inotify_fd);
  catalog->watch = -1;
  catalog->clean = FALSE;
}

/* Under the lock, at the start of a scan: the directory open as dir_fd is
 * watched from now on, anew (so the files of the last scan are not), if
 * it can be (else listings scan as without a watch). */
static void
watch_directory (Catalog *catalog, int dir_fd)
{
  g_autofree char *proc_path = NULL;
  struct stat dir_st;

  unwatch (catalog);
  if (!local_file_system (dir_fd) || fstat (dir_fd, &dir_st) < 0)
    return;
  catalog->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (catalog->inotify_fd < 0) {
    g_debug ("listing without a watch of %s: %s", catalog->directory, g_strerror (errno));
    return;
  }
  /* the very directory that is open, whatever the path names by now */
  proc_path = g_strdup_printf ("/proc/self/fd/%d", dir_fd);
  catalog->watch = inotify_add_watch (catalog->inotify_fd, proc_path, WATCH_DIRECTORY);
  if (catalog->watch < 0) {
    g_debug ("listing without a watch of %s: %s", catalog->directory, g_strerror (errno));
    unwatch (catalog);
    return;
  }
  catalog->watched_dev = dir_st.st_dev;
  catalog->watched_ino = dir_st.st_ino;
}

/* Under the lock, in a scan, before the file is looked at: the file name
 * in the directory open as dir_fd is watched too.  When that fails (the
 * limit of watches), the directory is not watched at all. */
static void
watch_file (Catalog *catalog, int dir_fd, const char *name)
{
  char path[64 + NAME_MAX];

  if (catalog->inotify_fd < 0)
    return;
  g_snprintf (path, sizeof path, "/proc/self/fd/%d/%s", dir_fd, name);
  if (inotify_add_watch (catalog->inotify_fd, path, WATCH_FILE) < 0 && errno != ENOENT) {
    g_debug ("listing without a watch of %s: %s", catalog->directory, g_strerror (errno));
    unwatch (catalog);
  }
}

/* Under the lock: whether an event since the last call may change what a
 * scan sees (events of hidden or other than *.sar names do not; those of
 * the directory itself, of a file's own watch, a lost event or a failing
 * read do).  names gets the *.sar names in the directory that events named
 * (once each); *whole is set when an event said more than that, or named
 * more than NAMED_CHANGES_MAX, so the directory is to be read whole. */
static gboolean
watch_reports_change (Catalog *catalog, GPtrArray *names, gboolean *whole)
{
  /* struct inotify_event is followed by its name */
  char buffer[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  gboolean changed = FALSE;

  for (;;) {
    ssize_t n = read (catalog->inotify_fd, buffer, sizeof buffer);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return changed;
    if (n <= 0) {
      unwatch (catalog);
      *whole = TRUE;
      return TRUE;
    }
    for (char *p = buffer; p < buffer + n;) {
      const struct inotify_event *event = (const struct inotify_event *) p;

      if (event->wd != catalog->watch || event->len == 0
          || (event->mask & (IN_IGNORED | IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF))) {
        changed = TRUE;
        *whole = TRUE;
      } else if (event->name[0] != '.' && g_str_has_suffix (event->name, ".sar")) {
        changed = TRUE;
        if (!*whole && !g_ptr_array_find_with_equal_func (names, event->name, g_str_equal, NULL)) {
          if (names->len < NAMED_CHANGES_MAX)
            g_ptr_array_add (names, g_strdup (event->name));
          else
            *whole = TRUE;
        }
      }
      p += sizeof (struct inotify_event) + event->len;
    }
  }
}

/* The saver's thread: the records as they are now, to the file. */
static void
save_thread (gpointer item, gpointer user_data)
{
  Catalog *catalog = item;
  g_autoptr (GBytes) content = NULL;
  g_autoptr (GError) error = NULL;

  g_mutex_lock (&catalog->lock);
  catalog->save_queued = FALSE;
  content = catalog_cache_serialize (catalog->directory, catalog->records);
  g_mutex_unlock (&catalog->lock);
  if (catalog_cache_write (catalog->cache_file, content, &error)) {
    catalog->save_failed = FALSE;
    return;
  }
  if (!catalog->save_failed)
    g_warning ("cannot keep the catalog of backups in %s (listings after a restart will read "
               "every backup once): %s",
               catalog->cache_file, error->message);
  catalog->save_failed = TRUE;
}

/* Under the lock: the cache file is to be written (once, however many
 * listings change the records before the saver gets to it). */
static void
queue_save (Catalog *catalog)
{
  if (catalog->saver == NULL || catalog->save_queued)
    return;
  catalog->save_queued = TRUE;
  g_thread_pool_push (catalog->saver, catalog, NULL);
}

/* Under the lock: a regular file.  Its record while the file is unchanged
 * and had settled (borrowed from the catalog), else the file is read: its
 * record, kept (and returned, borrowed) when the outcome follows from its
 * content and it did not change while it was read, else its entry
 * (*entry, owned, and NULL returned).  fd: the file when already open,
 * else -1. */
static const CatalogRecord *
regular_file (Catalog *catalog, int dir_fd, const char *name, const struct stat *st, int fd,
              const SfVersion *installed, CatalogEntry **entry, Changes *changes)
{
  g_auto (AutoFd) file = fd;
  g_autoptr (GError) error = NULL;
  g_autoptr (CatalogRecord) record = NULL;
  CatalogRecord *kept = g_hash_table_lookup (catalog->records, name);
  CatalogStamp stamp, after;
  struct stat now_st;
  gboolean keep = FALSE;
  gint64 now_ns;

  catalog_stamp_from_stat (&stamp, st);
  if (kept != NULL && kept->settled && catalog_stamp_equal (&kept->stamp, &stamp)) {
    kept->seen = catalog->scans;
    return kept;
  }

  if (file < 0)
    file = catalog_open_backup (dir_fd, name, &error);
  if (file < 0) {
    *entry = entry_new_invalid (name, CATALOG_PROBLEM_UNREADABLE, error->message);
    return NULL;
  }
  /* the identity of what is read: the name may point elsewhere by now */
  if (fstat (file, &now_st) < 0) {
    *entry = entry_new_invalid (name, CATALOG_PROBLEM_UNREADABLE, g_strerror (errno));
    return NULL;
  }
  catalog_stamp_from_stat (&stamp, &now_st);
  now_ns = g_get_real_time () * 1000;
  record = record_read (file, name, &stamp, &keep);
  /* kept only if nothing changed while it was read; and trusted later
   * only if no later change can leave the same ctime */
  keep = keep && fstat (file, &now_st) == 0;
  if (keep) {
    catalog_stamp_from_stat (&after, &now_st);
    keep = catalog_stamp_equal (&stamp, &after);
    record->settled = catalog_stamp_settled (&stamp, catalog->settle_seconds, now_ns);
  }
  if (!keep) {
    if (kept != NULL) {
      records_changed (catalog, kept, changes);
      g_hash_table_remove (catalog->records, name);
    }
    *entry = entry_from_record (record, installed);
    return NULL;
  }
  record->seen = catalog->scans;
  /* read again, and the same as before: the listing made of it holds */
  if (kept != NULL && catalog_record_equal (kept, record)) {
    kept->seen = catalog->scans;
    if (record->settled && !kept->settled) {
      kept->settled = TRUE;
      changes->settled = TRUE;
    }
    return kept;
  }
  if (kept != NULL)
    records_changed (catalog, kept, changes);
  records_changed (catalog, record, changes);
  g_hash_table_replace (catalog->records, record->name, record);
  return g_steal_pointer (&record);
}

/* Under the lock, with the records those of the directory but for the
 * names events named: the records of those names brought up to date by a
 * stat each (and a read of what changed), without reading the directory.
 * FALSE when one is anything else than a regular file whose outcome can
 * be kept (a listing shows such a file as a problem, which only a scan
 * makes), or the watch of one fails: the directory is then read whole. */
static gboolean
update_names (Catalog *catalog, int dir_fd, const SfVersion *installed, GPtrArray *names)
{
  Changes changes = { FALSE, FALSE };
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < names->len; i++) {
    const char *name = names->pdata[i];
    CatalogRecord *kept = g_hash_table_lookup (catalog->records, name);
    CatalogEntry *entry = NULL;
    struct stat st;

    if (!g_utf8_validate (name, -1, NULL)) {
      ok = FALSE;
      break;
    }
    /* watched before it is looked at, as in a scan */
    watch_file (catalog, dir_fd, name);
    if (catalog->inotify_fd < 0) {
      ok = FALSE;
    } else if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      ok = errno == ENOENT;
      if (ok && kept != NULL) {
        records_changed (catalog, kept, &changes);
        g_hash_table_remove (catalog->records, name);
      }
    } else if (!S_ISREG (st.st_mode)) {
      ok = FALSE;
    } else if (regular_file (catalog, dir_fd, name, &st, -1, installed, &entry, &changes) == NULL) {
      catalog_entry_free (entry);
      ok = FALSE;
    }
  }
  if (changes.settled)
    queue_save (catalog);
  return ok;
}

/* Under the lock: the records of the regular *.sar files of the directory
 * (borrowed, once each) and the entries of the other *.sar names (owned). */
static gboolean
scan (Catalog *catalog, int dir_fd, const SfVersion *installed, GPtrArray *records,
      GPtrArray *others, GError **error)
{
  Changes changes = { FALSE, FALSE };
  gboolean clean = TRUE;
  GHashTableIter iter;
  gpointer value;
  g_auto (AutoFd) dir_copy = dup (dir_fd);
  g_autoptr (DIR) dir = dir_copy >= 0 ? fdopendir (dir_copy) : NULL;
  struct dirent *d;

  if (dir == NULL)
    return backup_error_set_errno (error, errno, "cannot read the backup directory %s",
                                   catalog->directory);
  g_steal_fd (&dir_copy); /* the stream's now */
  load_cache (catalog, g_get_real_time () * 1000);
  catalog->scans++;
  watch_directory (catalog, dir_fd);
  while ((d = readdir (dir)) != NULL) {
    g_autoptr (GError) local = NULL;
    const CatalogRecord *record;
    CatalogEntry *entry = NULL;
    g_auto (AutoFd) fd = -1;
    struct stat st;

    /* hidden files are upload temporaries; only *.sar names are backups */
    if (d->d_name[0] == '.' || !g_str_has_suffix (d->d_name, ".sar"))
      continue;
    /* D-Bus strings are UTF-8: such a name is listed with its other
     * bytes as \xNN, as a problem, and never sent as it is */
    if (!g_utf8_validate (d->d_name, -1, NULL)) {
      g_autofree char *escaped = sar_escape_invalid (d->d_name);

      g_ptr_array_add (others,
                       entry_new_invalid (escaped, CATALOG_PROBLEM_NAME,
                                          "the file name is not valid UTF-8 (its other bytes are "
                                          "shown as \\xNN); rename the file to use it"));
      continue;
    }
    /* watched before it is looked at: a change after that is reported */
    watch_file (catalog, dir_fd, d->d_name);
    if (fstatat (dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (st.st_mode)) {
      /* a symlink, a directory or a FIFO named *.sar is listed as a
       * problem rather than silently hidden (and one that has just become
       * a regular file is read) */
      fd = catalog_open_backup (dir_fd, d->d_name, &local);
      if (fd < 0) {
        g_ptr_array_add (others,
                         entry_new_invalid (d->d_name, CATALOG_PROBLEM_UNREADABLE, local->message));
        continue;
      }
      if (fstat (fd, &st) < 0) {
        g_ptr_array_add (
            others, entry_new_invalid (d->d_name, CATALOG_PROBLEM_UNREADABLE, g_strerror (errno)));
        continue;
      }
    }
    /* a name readdir gives twice (the directory changed meanwhile) is
     * listed once */
    record = g_hash_table_lookup (catalog->records, d->d_name);
    if (record != NULL && record->seen == catalog->scans)
      continue;
    record = regular_file (catalog, dir_fd, d->d_name, &st, g_steal_fd (&fd), installed, &entry,
                           &changes);
    if (record != NULL)
      g_ptr_array_add (records, (gpointer) record);
    else
      g_ptr_array_add (others, entry);
    /* A record of a file that had not settled is trusted by no listing
     * without a watch: a change in the same clock step as its read could
     * leave the same times.  With the file watched before its stat, such a
     * change is reported all the same, so the listing holds until an event
     * comes (the record is read again at the next scan, and settles
     * then). */
    if (record == NULL || (!record->settled && catalog->inotify_fd < 0))
      clean = FALSE;
  }
  /* a listing with entries of no record (odd names, unreadable files) is
   * made by a scan every time */
  catalog->clean = clean && others->len == 0 && catalog->inotify_fd >= 0;

  /* only the files there are now are kept */
  g_hash_table_iter_init (&iter, catalog->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((CatalogRecord *) value)->seen != catalog->scans) {
      records_changed (catalog, value, &changes);
      g_hash_table_iter_remove (&iter);
    }
  if (changes.settled)
    queue_save (catalog);
  return TRUE;
}

/* What is in the future at now stays so until the returned time. */
static gint64
future_until (const GPtrArray *entries, gint64 now)
{
  gint64 until = G_MAXINT64;

  for (guint i = 0; i < entries->len; i++) {
    const CatalogEntry *entry = entries->pdata[i];

    if (entry->valid && entry->created > now + CATALOG_CLOCK_SKEW_SECONDS)
      until = MIN (until, entry->created - CATALOG_CLOCK_SKEW_SECONDS);
  }
  return until;
}

static gboolean
same_installed (gboolean known, const SfVersion *a, const SfVersion *b)
{
  if (!known)
    return b == NULL;
  return b != NULL && sf_version_compare (a, b) == 0;
}

GPtrArray *
catalog_list (Catalog *catalog, const SfVersion *installed, GError **error)
{
  g_autoptr (GPtrArray) records = g_ptr_array_new ();
  g_autoptr (GPtrArray) entries
      = g_ptr_array_new_with_free_func ((GDestroyNotify) catalog_entry_free);
  g_autoptr (GMutexLocker) locker = NULL;
  g_auto (AutoFd) dir_fd = -1;
  struct stat dir_st;
  gint64 now;

  g_return_val_if_fail (catalog != NULL, NULL);
  dir_fd = open_directory (catalog->directory, error);
  if (dir_fd < 0)
    return NULL;
  if (fstat (dir_fd, &dir_st) < 0) {
    backup_error_set_errno (error, errno, "cannot read the backup directory %s",
                            catalog->directory);
    return NULL;
  }
  locker = g_mutex_locker_new (&catalog->lock);
  /* The same directory at the path, watched since a scan that found only
   * files it could keep, and no event since but of a few *.sar names in
   * it: the records are the directory's once those names are brought up
   * to date, without a readdir. */
  if (catalog->inotify_fd < 0 || dir_st.st_dev != catalog->watched_dev
      || dir_st.st_ino != catalog->watched_ino) {
    catalog->clean = FALSE;
  } else if (catalog->clean) {
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    gboolean whole = FALSE;

    if (watch_reports_change (catalog, names, &whole)
        && (whole || !update_names (catalog, dir_fd, installed, names)))
      catalog->clean = FALSE;
  }
  now = g_get_real_time () / G_USEC_PER_SEC;
  if (catalog->clean) {
    GHashTableIter iter;
    gpointer value;

    if (catalog->last != NULL
        && same_installed (catalog->last_known, &catalog->last_installed, installed)
        && now >= catalog->last_made && now < catalog->last_until)
      return g_ptr_array_ref (catalog->last);
    g_hash_table_iter_init (&iter, catalog->records);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      g_ptr_array_add (records, value);
  } else {
    if (!scan (catalog, dir_fd, installed, records, entries, error))
      return NULL;
    now = g_get_real_time () / G_USEC_PER_SEC;
    /* nothing changed: the last listing, as it is */
    if (catalog->last != NULL && entries->len == 0
        && same_installed (catalog->last_known, &catalog->last_installed, installed)
        && now >= catalog->last_made && now < catalog->last_until)
      return g_ptr_array_ref (catalog->last);
  }

  for (guint i = 0; i < records->len; i++)
    g_ptr_array_add (entries, entry_from_record (records->pdata[i], installed));
  g_ptr_array_sort (entries, entry_newest_first);
  mark_future (entries, now);
  for (guint i = 0; i < entries->len; i++) {
    CatalogEntry *entry = entries->pdata[i];
    /* an undo point is restorable by name, but "restore" without one must
     * not undo the last restore */
    if (entry->valid && entry->compatible && entry->problem == NULL && !entry->undo_point) {
      entry->latest = TRUE;
      break;
    }
  }
  /* a listing with entries of no record (odd files, files read but not
   * kept) is made again every time */
  g_clear_pointer (&catalog->last, g_ptr_array_unref);
  if (entries->len == records->len) {
    catalog->last = g_ptr_array_ref (entries);
    catalog->last_known = installed != NULL;
    if (installed != NULL)
      catalog->last_installed = *installed;
    catalog->last_made = now;
    catalog->last_until = future_until (entries, now);
  }
  return g_steal_pointer (&entries);
}

/* What the catalog knows of the file with this name and stat identity,
 * when it read it and kept the outcome (settled, so no change since can
 * have left the same identity): whether it is valid and, when not, why.
 * Never waits: while a listing holds the lock, nothing is known. */
typedef enum {
  KNOWN_NOTHING,
  KNOWN_VALID,
  KNOWN_INVALID,
} Known;

static Known
known_outcome (Catalog *catalog, const char *name, const struct stat *st, char **problem)
{
  const CatalogRecord *record;
  CatalogStamp stamp;
  Known known = KNOWN_NOTHING;

  if (!g_mutex_trylock (&catalog->lock))
    return KNOWN_NOTHING;
  catalog_stamp_from_stat (&stamp, st);
  record = g_hash_table_lookup (catalog->records, name);
  if (record == NULL || !record->settled || !catalog_stamp_equal (&record->stamp, &stamp))
    record = g_hash_table_lookup (catalog->inspected, name);
  if (record != NULL && record->settled && catalog_stamp_equal (&record->stamp, &stamp)) {
    known = record->valid ? KNOWN_VALID : KNOWN_INVALID;
    if (!record->valid)
      *problem = g_strdup (record->problem);
  }
  if (known == KNOWN_NOTHING)
    catalog->inspect_reads++;
  g_mutex_unlock (&catalog->lock);
  return known;
}

/* After a whole read of the file open on fd (its stat before: st) with
 * an outcome that follows from its content: kept for the next Inspect if
 * the file did not change meanwhile and had settled.  Never waits. */
static void
keep_inspected (Catalog *catalog, const CatalogEntry *entry, int fd, const struct stat *st)
{
  g_autoptr (CatalogRecord) record = g_new0 (CatalogRecord, 1);
  CatalogStamp after;
  struct stat now_st;
  char *name;

  catalog_stamp_from_stat (&record->stamp, st);
  if (fstat (fd, &now_st) < 0)
    return;
  catalog_stamp_from_stat (&after, &now_st);
  if (!catalog_stamp_equal (&record->stamp, &after)
      || !catalog_stamp_settled (&record->stamp, catalog->settle_seconds,
                                 g_get_real_time () * 1000))
    return;
  record->name = g_strdup (entry->name);
  record->valid = entry->valid;
  record->problem = g_strdup (entry->problem);
  record->settled = TRUE;
  if (!g_mutex_trylock (&catalog->lock))
    return;
  if (g_hash_table_size (catalog->inspected) >= INSPECTED_MAX)
    g_hash_table_remove_all (catalog->inspected);
  name = record->name;
  g_hash_table_replace (catalog->inspected, name, g_steal_pointer (&record));
  g_mutex_unlock (&catalog->lock);
}

guint
catalog_inspect_kept (Catalog *catalog)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&catalog->lock);

  return g_hash_table_size (catalog->inspected);
}

guint64
catalog_inspect_reads (Catalog *catalog)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&catalog->lock);

  return catalog->inspect_reads;
}

CatalogEntry *
catalog_inspect (Catalog *catalog, const char *name, const SfVersion *installed, GError **error)
{
  g_autoptr (CatalogEntry) entry = NULL;
  g_autofree char *problem = NULL;
  g_auto (AutoFd) dir_fd = -1;
  g_auto (AutoFd) fd = -1;
  struct stat st;
  Known known = KNOWN_NOTHING;
  gboolean content_outcome = FALSE;

  g_return_val_if_fail (catalog != NULL && name != NULL, NULL);
  if (!sar_name_validate (name, error))
    return NULL;
  dir_fd = open_directory (catalog->directory, error);
  if (dir_fd < 0)
    return NULL;
  fd = catalog_open_backup (dir_fd, name, error);
  if (fd < 0)
    return NULL;
  /* the identity of the file open, whatever the name points to by now */
  if (fstat (fd, &st) < 0) {
    backup_error_set_errno (error, errno, "cannot read %s", name);
    return NULL;
  }
  known = known_outcome (catalog, name, &st, &problem);
  if (known == KNOWN_INVALID) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP, "%s: %s", name, problem);
    return NULL;
  }
  entry = g_new0 (CatalogEntry, 1);
  entry->name = g_strdup (name);
  /* a file the catalog read whole and found valid: its SHA256SUMS, which
   * grows with the backup and which Inspect does not report, need not be
   * read again */
  entry_read (entry, fd, known != KNOWN_VALID, installed, &content_outcome);
  if (known == KNOWN_NOTHING && content_outcome)
    keep_inspected (catalog, entry, fd, &st);
  if (!entry->valid) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP, "%s: %s", name, entry->problem);
    return NULL;
  }
  return g_steal_pointer (&entry);
}
