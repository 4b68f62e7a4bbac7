/* restore.c: the restore transaction and its crash recovery. */
#include "restore.h"

#include "autofd.h"

#include "errors.h"
#include "extract.h"
#include "tree.h"
#include "journal.h"
#include "names.h"
#include "pbx.h"
#include "pgdb.h"
#include "priority.h"
#include "progress.h"
#include "restore-db.h"
#include "dump.h"
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGING_PREFIX ".sf-staging-"

/* The stages of a restore and their shares of its time. */
static const ProgressStep restore_steps[] = {
  { "extracting", 70 },  { "stopping-pbx", 1 },     { "activating", 1 },
  { "starting-pbx", 1 }, { "saving-previous", 24 }, { "cleanup", 3 },
};

typedef struct {
  const Config *config;
  const RestoreHooks *hooks;
  int root_fd;   /* DataRoot */
  int backup_fd; /* the backup directory (journal, pre-restore backup) */
  Journal *journal;
  int *parent_fds; /* per journal component */
  RestoreResult *result;
  gint64 mark; /* monotonic time the last step() ended */
  Progress progress;
  SarPackCache *cache; /* digests of the live trees, made ahead for the undo */
} Transaction;

void
restore_result_clear (RestoreResult *result)
{
  g_clear_pointer (&result->pre_restore, g_free);
  g_clear_pointer (&result->unresolved, g_free);
  result->pbx_stopped_at = result->pbx_started_at = 0;
}

/* A debug message with how long the step that just ended took. */
static void
step (Transaction *t, const char *what)
{
  gint64 now = g_get_monotonic_time ();

  if (t->mark != 0)
    g_debug ("%s in %.3f s", what, (double) (now - t->mark) / G_USEC_PER_SEC);
  t->mark = now;
}

static void
hooks_progress (guint percent, const char *stage, const char *message, gpointer data)
{
  const RestoreHooks *hooks = data;

  hooks->progress (percent, stage, message, hooks->data);
}

/* Opens a directory below root_fd without following any symlink, so a
 * link planted in the PBX data cannot redirect the restore. */
static int
open_dir_beneath (int root_fd, const char *path, GError **error)
{
  int fd = tree_open_beneath (root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd < 0)
    backup_error_set_errno (error, errno, "cannot open %s below the data root", path);
  return fd;
}

static gboolean
transaction_open (Transaction *t, const Config *config, const RestoreHooks *hooks,
                  RestoreResult *result, GError **error)
{
  t->config = config;
  t->hooks = hooks;
  progress_init (&t->progress, restore_steps, G_N_ELEMENTS (restore_steps),
                 hooks != NULL && hooks->progress != NULL ? hooks_progress : NULL,
                 (gpointer) hooks);
  t->result = result;
  t->root_fd = open (config->data_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t->root_fd < 0)
    return backup_error_set_errno (error, errno, "cannot open the data root %s", config->data_root);
  t->backup_fd = open (config->backup_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t->backup_fd < 0)
    return backup_error_set_errno (error, errno, "cannot open the backup directory %s",
                                   config->backup_directory);
  return TRUE;
}

static gboolean
transaction_open_parents (Transaction *t, GError **error)
{
  t->parent_fds = g_new (int, t->journal->components->len);
  for (guint i = 0; i < t->journal->components->len; i++)
    t->parent_fds[i] = -1;
  for (guint i = 0; i < t->journal->components->len; i++) {
    const JournalComponent *c = t->journal->components->pdata[i];
    t->parent_fds[i] = open_dir_beneath (t->root_fd, c->parent, error);
    if (t->parent_fds[i] < 0)
      return FALSE;
  }
  return TRUE;
}

static void
transaction_close (Transaction *t)
{
  for (guint i = 0; t->parent_fds != NULL && t->journal != NULL && i < t->journal->components->len;
       i++)
    autofd_clear (&t->parent_fds[i]);
  g_free (t->parent_fds);
  sar_pack_cache_free (t->cache);
  autofd_clear (&t->root_fd);
  autofd_clear (&t->backup_fd);
  journal_free (t->journal);
  /* A restore's threads allocate in malloc arenas of their own; what they
   * freed would stay resident, and more of it after each restore. */
  malloc_trim (0);
}

static gboolean
save_journal (Transaction *t, JournalState state, GError **error)
{
  t->journal->state = state;
  return journal_write (t->backup_fd, t->journal, error);
}

/* --- the PBX ---------------------------------------------------------------- */

static gboolean
stop_pbx (Transaction *t, GError **error)
{
  progress_step (&t->progress, "stopping-pbx", "Stopping the PBX: logins and calls end now");
  /* recorded first: a crash while it runs must still lead to a start */
  t->journal->pbx_stopped = TRUE;
  if (!journal_write (t->backup_fd, t->journal, error))
    return FALSE;
  if (!pbx_run_command (t->config->stop_command, "StopCommand", t->config->command_timeout, NULL,
                        error))
    return FALSE;
  t->result->pbx_stopped_at = g_get_real_time ();
  step (t, "stopped the PBX");
  return TRUE;
}

/* Never canceled: whoever stopped the PBX starts it. */
static gboolean
start_pbx (Transaction *t, GError **error)
{
  if (!t->journal->pbx_stopped)
    return TRUE;
  progress_step (&t->progress, "starting-pbx", "Starting the PBX");
  if (!pbx_run_command (t->config->start_command, "StartCommand", t->config->command_timeout, NULL,
                        error))
    return FALSE;
  t->result->pbx_started_at = g_get_real_time ();
  step (t, "started the PBX");
  t->journal->pbx_stopped = FALSE;
  if (t->result->pbx_stopped_at != 0)
    g_message ("the PBX was down for %.3f s",
               (double) (t->result->pbx_started_at - t->result->pbx_stopped_at) / G_USEC_PER_SEC);
  return journal_write (t->backup_fd, t->journal, error);
}

/* --- preparing and extracting ----------------------------------------------- */

static void
split_path (const char *path, char **parent, char **name)
{
  const char *slash = strrchr (path, '/');

  *parent = slash != NULL ? g_strndup (path, (gsize) (slash - path)) : g_strdup (".");
  *name = g_strdup (slash != NULL ? slash + 1 : path);
}

/* Creates an empty staging directory beside the live one, owned and
 * permitted like it (or as configured). */
static int
make_staging (Transaction *t, guint i, const ConfigComponent *cc, ExtractTarget *target,
              GError **error)
{
  const JournalComponent *c = t->journal->components->pdata[i];
  int parent_fd = t->parent_fds[i];
  struct stat live;
  g_auto (AutoFd) fd = -1;

  if (fstatat (parent_fd, c->live, &live, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != ENOENT || mkdirat (parent_fd, c->live, 0755) < 0
        || fstatat (parent_fd, c->live, &live, AT_SYMLINK_NOFOLLOW) < 0) {
      backup_error_set_errno (error, errno, "cannot create %s", cc->path);
      return -1;
    }
  }
  if (!S_ISDIR (live.st_mode)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "the live data of %s (%s) is not a directory", cc->id, cc->path);
    return -1;
  }
  if (!tree_remove (parent_fd, c->staging, error))
    return -1;
  if (mkdirat (parent_fd, c->staging, 0700) < 0) {
    backup_error_set_errno (error, errno, "cannot create a staging directory for %s", cc->id);
    return -1;
  }
  fd = openat (parent_fd, c->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    backup_error_set_errno (error, errno, "cannot open the staging directory");
    return -1;
  }
  target->id = c->id;
  target->staging_fd = fd;
  target->uid = cc->uid >= 0 ? (uid_t) cc->uid : live.st_uid;
  target->gid = cc->gid >= 0 ? (gid_t) cc->gid : live.st_gid;
  if (fchown (fd, target->uid, target->gid) < 0 || fchmod (fd, live.st_mode & 0777) < 0) {
    backup_error_set_errno (error, errno, "cannot set the owner of the staging directory");
    return -1;
  }
  return g_steal_fd (&fd);
}

typedef struct {
  Transaction *t;
  guint64 total;
} ExtractProgress;

static void
extract_progress (guint64 bytes_read, gpointer data)
{
  ExtractProgress *ep = data;
  g_autofree char *done = g_format_size (bytes_read);

  progress_fraction (&ep->t->progress, bytes_read, ep->total, "%s of the backup read and checked",
                     done);
}

/* The undo needs the digests of the live trees as they are at the swap.
 * The thread that makes them opens the trees now but is held until the
 * extraction has written everything: then it hashes while the cores wait
 * for the disk (the sync), is held again while the PBX is stopped, and
 * goes on once the PBX runs.  It
 * is SCHED_IDLE, but hashing during the extraction still slowed that
 * down (bench/restore.py at 2 GB: extraction 3.9-6.2 s with it, 3.2-3.8 s
 * without), and on a disk its reads of the live trees would compete with
 * the extraction's writes.  A file the PBX changes until it stops is
 * hashed again when the undo is packed. */
static void
start_hashing_ahead (Transaction *t, GPtrArray *chosen)
{
  g_autoptr (GPtrArray) components
      = g_ptr_array_new_with_free_func ((GDestroyNotify) sar_pack_component_free);

  for (guint i = 0; i < chosen->len; i++) {
    const ConfigComponent *cc = chosen->pdata[i];
    SarPackComponent *component = g_new0 (SarPackComponent, 1);

    component->id = g_strdup (cc->id);
    component->path = g_build_filename (t->config->data_root, cc->path, NULL);
    g_ptr_array_add (components, component);
  }
  t->cache = sar_pack_cache_start (components, TRUE);
}

/* --- keeping this machine's network settings ------------------------------- */

static gboolean
copy_file_beneath (int from_dir, int to_dir, const char *rel, GError **error)
{
  g_autofree char *parent = NULL;
  g_autofree char *name = NULL;
  struct stat st;
  g_auto (AutoFd) src = -1;
  g_auto (AutoFd) dst = -1;
  gboolean ok = TRUE;
  char buf[65536];

  src = tree_open_beneath (from_dir, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (src < 0 && errno == ENOENT)
    return TRUE; /* nothing to keep */
  if (src < 0)
    return backup_error_set_errno (error, errno, "cannot open the live %s", rel);
  if (fstat (src, &st) < 0 || !S_ISREG (st.st_mode)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "the live %s is not a regular file",
                 rel);
    return FALSE;
  }
  /* parent directories of the kept file, if the backup lacks them */
  split_path (rel, &parent, &name);
  if (!g_str_equal (parent, ".")) {
    g_auto (GStrv) parts = g_strsplit (parent, "/", -1);
    GString *sofar = g_string_new (NULL);
    for (guint i = 0; parts[i] != NULL; i++) {
      g_string_append_printf (sofar, "%s%s", i > 0 ? "/" : "", parts[i]);
      if (mkdirat (to_dir, sofar->str, 0755) < 0 && errno != EEXIST)
        ok = backup_error_set_errno (error, errno, "cannot create %s", sofar->str);
    }
    g_string_free (sofar, TRUE);
  }
  dst = ok ? tree_open_beneath (to_dir, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                                0600)
           : -1;
  if (ok && dst < 0)
    ok = backup_error_set_errno (error, errno, "cannot write %s into the staging tree", rel);
  while (ok) {
    ssize_t n = read (src, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n < 0)
        ok = backup_error_set_errno (error, errno, "cannot read the live %s", rel);
      break;
    }
    if (!fd_write_all (dst, buf, (gsize) n))
      ok = backup_error_set_errno (error, errno, "cannot write %s", rel);
  }
  if (ok
      && (fchown (dst, st.st_uid, st.st_gid) < 0 || fchmod (dst, st.st_mode & 0777) < 0
          || fsync (dst) < 0))
    ok = backup_error_set_errno (error, errno, "cannot finish %s", rel);
  return ok;
}

static gboolean
keep_ip_settings (Transaction *t, GPtrArray *chosen, int *staging_fds, GError **error)
{
  for (guint i = 0; i < chosen->len; i++) {
    const ConfigComponent *cc = chosen->pdata[i];
    const JournalComponent *c = t->journal->components->pdata[i];
    g_auto (AutoFd) live_fd = -1;
    gboolean ok = TRUE;

    if (cc->ip_settings[0] == NULL)
      continue;
    live_fd = openat (t->parent_fds[i], c->live, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (live_fd < 0)
      return backup_error_set_errno (error, errno, "cannot open the live %s", cc->path);
    for (guint k = 0; ok && cc->ip_settings[k] != NULL; k++) {
      progress_step (&t->progress, "activating", "Keeping this machine's %s/%s", cc->path,
                     cc->ip_settings[k]);
      ok = copy_file_beneath (live_fd, staging_fds[i], cc->ip_settings[k], error);
    }
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* --- swapping ------------------------------------------------------------------ */

static gboolean
exchange (Transaction *t, guint i, GError **error)
{
  const JournalComponent *c = t->journal->components->pdata[i];

  if (renameat2 (t->parent_fds[i], c->staging, t->parent_fds[i], c->live, RENAME_EXCHANGE) < 0)
    return backup_error_set_errno (error, errno, "cannot swap in the restored %s", c->id);
  if (fsync (t->parent_fds[i]) < 0)
    return backup_error_set_errno (error, errno, "cannot sync the directory of %s", c->id);
  return TRUE;
}

static guint64
inode_of (int dir_fd, const char *name)
{
  struct stat st;

  return fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (guint64) st.st_ino : 0;
}

/* Which tree a component's live directory holds, read off the disk by the
 * inode numbers the journal records (never from the state word alone). */
typedef enum {
  SIDE_OLD,     /* the tree from before the restore (or nothing swapped yet) */
  SIDE_NEW,     /* the restored tree */
  SIDE_NEITHER, /* something else: the journal does not describe the disk */
} Side;

static Side
tree_side (Transaction *t, guint i)
{
  const JournalComponent *c = t->journal->components->pdata[i];
  guint64 live = inode_of (t->parent_fds[i], c->live);

  if (c->new_ino != 0 && live == c->new_ino)
    return SIDE_NEW;
  if (c->old_ino == 0 || live == c->old_ino)
    return SIDE_OLD;
  return SIDE_NEITHER;
}

/* A component with a database is on the new side only when its tree and
 * its database both are; one of each is half-way (rolled back, or, once
 * the PBX ran on the new data, an error). */
static gboolean
component_side (Transaction *t, guint i, Side *side, GError **error)
{
  const JournalComponent *c = t->journal->components->pdata[i];
  RestoreSide db = RESTORE_SIDE_OLD;

  *side = tree_side (t, i);
  if (c->database == NULL || *side == SIDE_NEITHER)
    return TRUE;
  if (!restore_db_side (&t->config->database, c, &db, error))
    return FALSE;
  if (db == RESTORE_SIDE_NEITHER)
    *side = SIDE_NEITHER;
  else if ((db == RESTORE_SIDE_NEW) != (*side == SIDE_NEW))
    *side = SIDE_OLD; /* half-way: counts as not swapped */
  return TRUE;
}

/* Counts the components whose live directory holds the restored tree;
 * fails when a live directory holds neither tree the journal names. */
static gboolean
count_swapped (Transaction *t, guint *swapped, GError **error)
{
  *swapped = 0;
  for (guint i = 0; i < t->journal->components->len; i++) {
    const JournalComponent *c = t->journal->components->pdata[i];
    Side side;

    if (!component_side (t, i, &side, error))
      return FALSE;
    if (side == SIDE_NEITHER && tree_side (t, i) != SIDE_NEITHER) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "the database %s of %s is neither the one from before the restore of %s nor "
                   "the restored one (the journal records oids %u and %u); nothing was changed",
                   c->database, c->id, t->journal->backup, c->db_old_oid, c->db_new_oid);
      return FALSE;
    }
    if (side == SIDE_NEITHER) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "the live directory of %s is neither the tree from before the restore of %s "
                   "nor the restored one (the journal records inodes %" G_GUINT64_FORMAT
                   " and %" G_GUINT64_FORMAT "); nothing was changed",
                   c->id, t->journal->backup, c->old_ino, c->new_ino);
      return FALSE;
    }
    if (side == SIDE_NEW)
      (*swapped)++;
  }
  return TRUE;
}

/* Every component whose live directory holds the new tree gets its old
 * tree back. */
static gboolean
roll_back_swaps (Transaction *t, GError **error)
{
  for (guint i = 0; i < t->journal->components->len; i++) {
    const JournalComponent *c = t->journal->components->pdata[i];
    if (tree_side (t, i) == SIDE_NEW) {
      g_message ("rolling back %s", c->id);
      if (!exchange (t, i, error))
        return FALSE;
    }
    if (c->database != NULL && !restore_db_roll_back (&t->config->database, c, error))
      return FALSE;
  }
  return TRUE;
}

/* The entries of a tree to be removed, two levels down, removed by two
 * threads (an entry each at a time): unlinking is work for the CPU, and
 * the other core is idle by now. */
typedef struct {
  int dir_fd; /* in fds */
  char *name;
} EmptyItem;

typedef struct {
  GArray *fds;   /* int: the directories open */
  GArray *items; /* EmptyItem */
  gint next;     /* atomic */
} EmptyWork;

static gpointer
empty_worker (gpointer data)
{
  EmptyWork *work = data;

  for (;;) {
    guint i = (guint) g_atomic_int_add (&work->next, 1);
    const EmptyItem *item;

    if (i >= work->items->len)
      return NULL;
    item = &g_array_index (work->items, EmptyItem, i);
    /* best effort: tree_remove() of the whole tree decides */
    tree_remove (item->dir_fd, item->name, NULL);
  }
}

/* Adds the entries of dir_fd (depth 1: and those of its directories). */
static void
empty_add (EmptyWork *work, int dir_fd, guint depth)
{
  int errsv;
  g_autoptr (GPtrArray) names = tree_list (dir_fd, &errsv);

  g_array_append_val (work->fds, dir_fd);
  for (guint i = 0; names != NULL && i < names->len; i++) {
    EmptyItem item = { dir_fd, g_ptr_array_index (names, i) };
    struct stat st;
    int fd;

    if (depth == 1 && fstatat (dir_fd, item.name, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISDIR (st.st_mode)
        && (fd = tree_open_beneath (dir_fd, item.name,
                                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0))
               >= 0) {
      empty_add (work, fd, depth + 1);
      continue;
    }
    g_array_append_val (work->items, item);
    g_ptr_array_index (names, i) = NULL; /* the item's now */
  }
}

static void
empty_item_clear (EmptyItem *item)
{
  g_free (item->name);
}

static void
empty_in_parallel (int parent_fd, const char *name)
{
  EmptyWork work = { g_array_new (FALSE, FALSE, sizeof (int)),
                     g_array_new (FALSE, FALSE, sizeof (EmptyItem)), 0 };
  int fd = tree_open_beneath (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);

  g_array_set_clear_func (work.items, (GDestroyNotify) empty_item_clear);
  if (fd >= 0)
    empty_add (&work, fd, 1);
  if (work.items->len > 1) {
    GThread *helper = g_thread_try_new ("remove", empty_worker, &work, NULL);

    empty_worker (&work);
    if (helper != NULL)
      g_thread_join (helper);
  }
  for (guint i = 0; i < work.fds->len; i++)
    autofd_clear (&g_array_index (work.fds, int, i));
  g_array_unref (work.fds);
  g_array_unref (work.items);
}

/* Removes the staging directories.  One that holds the tree from before
 * the restore is removed only once that tree is saved (old_saved): the
 * inode number, not the state, decides. */
static gboolean
remove_staging_trees (Transaction *t, gboolean old_saved, GError **error)
{
  for (guint i = 0; i < t->journal->components->len; i++) {
    const JournalComponent *c = t->journal->components->pdata[i];
    guint64 ino = inode_of (t->parent_fds[i], c->staging);

    if (ino != 0 && c->old_ino != 0 && ino == c->old_ino && !old_saved) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "not removing %s: it holds the data of %s from before the restore, which is "
                   "not saved",
                   c->staging, c->id);
      return FALSE;
    }
    empty_in_parallel (t->parent_fds[i], c->staging);
    if (!tree_remove (t->parent_fds[i], c->staging, error))
      return FALSE;
    if (c->database != NULL && !restore_db_remove (&t->config->database, c, old_saved, error))
      return FALSE;
  }
  return TRUE;
}

/* Puts everything back as it was before the restore (from any state before
 * the PBX ran on the restored data), starts the PBX if it was stopped and
 * forgets the journal.  On failure the journal stays, describing what is
 * where, for the next attempt. */
static gboolean
abandon (Transaction *t, GError **error)
{
  g_autoptr (GError) start_error = NULL;
  guint swapped = 0;
  gboolean ok = count_swapped (t, &swapped, error);

  /* the PBX never runs while its data is being swapped */
  if (ok && swapped > 0 && !t->journal->pbx_stopped)
    ok = stop_pbx (t, error);
  ok = ok && roll_back_swaps (t, error);

  if (ok && t->journal->state != JOURNAL_EXTRACTING)
    ok = save_journal (t, JOURNAL_EXTRACTING, error);
  if (!start_pbx (t, ok ? error : &start_error))
    ok = FALSE;
  if (start_error != NULL)
    g_warning ("%s", start_error->message);
  if (ok)
    ok = remove_staging_trees (t, FALSE, error) && journal_remove (t->backup_fd, error);
  return ok;
}

/* Starts the PBX on the swapped-in data: from then on the restore is never
 * rolled back.  If the PBX does not start, everything is rolled back and
 * the PBX started on the old data. */
static gboolean
commit (Transaction *t, GError **error)
{
  g_autoptr (GError) start_error = NULL;
  g_autoptr (GError) undo_error = NULL;

  if (start_pbx (t, &start_error)) {
    g_autoptr (GError) write_error = NULL;

    /* A journal left at "swapped" is resolved the same way (the start is
     * repeated, then the restore completes), so a failed write here is
     * not a reason to stop the PBX again. */
    if (!save_journal (t, JOURNAL_COMMITTED, &write_error))
      g_warning ("%s", write_error->message);
    t->journal->state = JOURNAL_COMMITTED;
    return TRUE;
  }
  if (!abandon (t, &undo_error)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "The PBX did not start on the restored data (%s), and rolling back failed "
                 "(%s); the daemon retries",
                 start_error->message, undo_error->message);
    return FALSE;
  }
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
               "The PBX did not start on the restored data (%s); the previous state is back and "
               "the PBX was started on it",
               start_error->message);
  return FALSE;
}

/* --- saving the previous state and cleaning up ------------------------------ */

static void
close_fd_at (gpointer fd)
{
  autofd_clear (fd);
}

static void
save_progress (guint64 done, guint64 total, gpointer data)
{
  g_autofree char *a = g_format_size (done);
  g_autofree char *b = g_format_size (total);

  Transaction *t = data;

  progress_fraction (&t->progress, done, total, "Saving the previous state: %s of %s", a, b);
}

static gboolean
backup_exists (Transaction *t, const char *name)
{
  struct stat st;

  return name != NULL && fstatat (t->backup_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISREG (st.st_mode);
}

/* A pre-restore name not taken yet: the writer's naming, a second later
 * if need be.  Callers cannot upload under these names (names.c reserves
 * the process), so only earlier undos can be in the way. */
static char *
free_pre_restore_name (Transaction *t, gint64 *created)
{
  char *name = NULL;

  *created = g_get_real_time () / G_USEC_PER_SEC;
  for (;; (*created)++) {
    g_autofree char *temp = NULL;

    g_free (name);
    name = sar_name_for (SAR_PROCESS_PRE_RESTORE, *created);
    temp = g_strconcat (UPLOAD_TEMP_PREFIX, name, NULL);
    if (!backup_exists (t, name) && !backup_exists (t, temp))
      return name;
  }
}

/* Writes the set-aside old trees as the pre-restore backup: packed into a
 * temporary file, synced, read back by the reader and limits a restore
 * uses, and only then published under its name and recorded (SAVED). */
static gboolean
save_previous (Transaction *t, GError **error)
{
  g_autoptr (GPtrArray) components = g_ptr_array_new ();
  g_autoptr (GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) dump_fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (SarHeader) check = NULL;
  g_autofree char *temp = NULL;
  SarLimits limits = { t->config->max_unpacked_size, t->config->max_entries };
  SarPackSpec spec = { 0 };
  gint64 created, start, packed;
  gboolean ok;
  g_auto (AutoFd) fd = -1;

  g_array_set_clear_func (dump_fds, close_fd_at);
  if (t->journal->state == JOURNAL_SAVED && backup_exists (t, t->journal->pre_restore))
    return TRUE;
  /* an undo published before its journal said so */
  if (backup_exists (t, t->journal->pre_restore))
    return save_journal (t, JOURNAL_SAVED, error);

  progress_step (&t->progress, "saving-previous", "Saving the previous state as a backup");
  for (guint i = 0; i < t->journal->components->len; i++) {
    const JournalComponent *c = t->journal->components->pdata[i];
    const ConfigComponent *cc = config_find_component (t->config, c->id);
    SarPackComponent *pc = g_new0 (SarPackComponent, 1);

    if (inode_of (t->parent_fds[i], c->staging) != c->old_ino) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "the set-aside tree of %s (%s) is not the one the journal records", c->id,
                   c->staging);
      g_free (pc);
      return FALSE;
    }
    pc->id = c->id;
    pc->label = (char *) (cc != NULL ? cc->label : sar_default_label (c->id));
    pc->path = g_build_filename (t->config->data_root, c->parent, c->staging, NULL);
    g_ptr_array_add (owned, pc->path);
    g_ptr_array_add (owned, pc);
    g_ptr_array_add (components, pc);
    if (c->database != NULL) {
      g_autofree char *previous = restore_db_previous_name (c->database);
      guint32 oid = 0;
      gboolean dumped;

      if (!pgdb_oid (&t->config->database, previous, &oid, NULL, error))
        return FALSE;
      if (oid == 0 || oid != c->db_old_oid) {
        g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                     "the set-aside database of %s (%s) is not the one the journal records", c->id,
                     previous);
        return FALSE;
      }
      progress_step (&t->progress, "saving-previous", "Dumping the previous database %s",
                     c->database);
      dumped = dump_for_pack (pc, &t->config->database, previous, c->database, t->backup_fd, NULL,
                              error);
      if (pc->database != NULL) {
        g_ptr_array_add (owned, pc->database);
        g_array_append_val (dump_fds, pc->dump_fd);
      }
      if (!dumped)
        return FALSE;
    }
  }

  /* the name is in the journal before the file exists */
  g_free (t->journal->pre_restore);
  t->journal->pre_restore = free_pre_restore_name (t, &created);
  if (!save_journal (t, JOURNAL_COMMITTED, error))
    return FALSE;

  spec.version = t->journal->installed_version;
  spec.process = SAR_PROCESS_PRE_RESTORE;
  spec.created = created;
  spec.compression = SAR_COMPRESSION_ZSTD;
  spec.fast = TRUE;
  spec.cache = t->cache;
  spec.components = components;
  spec.progress = save_progress;
  spec.progress_data = t;

  temp = g_strconcat (UPLOAD_TEMP_PREFIX, t->journal->pre_restore, NULL);
  fd = openat (t->backup_fd, temp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "cannot create %s", temp);
  /* read back by a second thread while it is written */
  start = g_get_monotonic_time ();
  check = sar_pack_verified (&spec, fd, &limits, NULL, error);
  ok = check != NULL;
  if (ok) {
    packed = g_get_monotonic_time ();
    progress_step (&t->progress, "saving-previous", "Syncing %s", t->journal->pre_restore);
    if (fsync (fd) < 0)
      ok = backup_error_set_errno (error, errno, "cannot sync %s", t->journal->pre_restore);
    g_debug ("packed and read back %s in %.3f s, synced in %.3f s", t->journal->pre_restore,
             (double) (packed - start) / G_USEC_PER_SEC,
             (double) (g_get_monotonic_time () - packed) / G_USEC_PER_SEC);
  }
  autofd_clear (&fd);
  if (ok
      && renameat2 (t->backup_fd, temp, t->backup_fd, t->journal->pre_restore, RENAME_NOREPLACE)
             < 0)
    ok = backup_error_set_errno (error, errno, "cannot publish %s", t->journal->pre_restore);
  if (ok && fsync (t->backup_fd) < 0)
    ok = backup_error_set_errno (error, errno, "cannot sync the backup directory");
  if (!ok) {
    unlinkat (t->backup_fd, temp, 0);
    return FALSE;
  }
  progress_step (&t->progress, "saving-previous", "Saved the previous state as %s",
                 t->journal->pre_restore);
  return save_journal (t, JOURNAL_SAVED, error);
}

/* The PBX runs on the restored data: save the old trees, then remove
 * them.  Never stops the PBX. */
static gboolean
finish (Transaction *t, GError **error)
{
  gint64 start;

  if (!save_previous (t, error))
    return FALSE;
  g_free (t->result->pre_restore);
  t->result->pre_restore = g_strdup (t->journal->pre_restore);
  progress_step (&t->progress, "cleanup", "Removing the previous trees (saved in %s)",
                 t->journal->pre_restore);
  start = g_get_monotonic_time ();
  if (!remove_staging_trees (t, TRUE, error) || !journal_remove (t->backup_fd, error))
    return FALSE;
  g_debug ("removed the previous trees in %.3f s",
           (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
  return TRUE;
}

/* After the PBX runs on the restored data, a failure to save or remove
 * the old trees ends the restore done, with the old trees kept and
 * recorded in the journal for the daemon to try again. */
static void
finish_or_defer (Transaction *t)
{
  g_autoptr (GError) local = NULL;

  if (finish (t, &local))
    return;
  g_warning ("the restore of %s is done, but %s; the previous state stays on disk as the "
             "journal records, and the daemon tries again",
             t->journal->backup, local->message);
  t->result->unresolved = g_strdup (local->message);
}

/* --- what a restore needs of the live data ----------------------------------- */

void
restore_live_problem_clear (RestoreLiveProblem *problem)
{
  g_clear_pointer (&problem->component, g_free);
  g_clear_pointer (&problem->reason, g_free);
  problem->limit = NULL;
}

static gboolean
over_limit (RestoreLiveProblem *problem, const char *limit, guint64 value, guint64 maximum)
{
  if (problem != NULL) {
    problem->limit = limit;
    problem->value = value;
    problem->maximum = maximum;
  }
  return FALSE;
}

gboolean
restore_check_live_data (const Config *config, GPtrArray *components, guint64 *bytes,
                         RestoreLiveProblem *problem, GCancellable *cancellable, GError **error)
{
  SarPackSurvey survey = { 0 };

  for (guint i = 0; i < components->len; i++) {
    const ConfigComponent *cc = components->pdata[i];
    g_autofree char *live = g_build_filename (config->data_root, cc->path, NULL);
    g_autoptr (GError) local = NULL;
    struct stat st;

    if (lstat (live, &st) < 0 && errno == ENOENT)
      continue; /* created empty by the restore */
    if (!sar_pack_survey (cc->id, live, &survey, cancellable, &local)) {
      if (problem != NULL) {
        problem->component = g_strdup (cc->id);
        problem->reason = g_strdup (local->message);
      }
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "The current data of %s cannot be saved as the backup that undoes the "
                   "restore: %s",
                   cc->id, local->message);
      return FALSE;
    }
  }
  if (bytes != NULL)
    *bytes = survey.bytes;
  /* the undo must pass the limits a restore of it is held to */
  if (config->max_entries != 0 && survey.entries + 2 > config->max_entries) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE,
                 "The current data holds %" G_GUINT64_FORMAT " files and directories; the backup "
                 "that undoes the restore would exceed MaxEntries (%" G_GUINT64_FORMAT ")",
                 survey.entries, config->max_entries);
    return over_limit (problem, "MaxEntries", survey.entries + 2, config->max_entries);
  }
  if (config->max_unpacked_size != 0 && survey.bytes > config->max_unpacked_size) {
    g_autofree char *have = g_format_size (survey.bytes);
    g_autofree char *max = g_format_size (config->max_unpacked_size);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE,
                 "The current data holds %s; the backup that undoes the restore would exceed "
                 "MaxUnpackedSize (%s)",
                 have, max);
    return over_limit (problem, "MaxUnpackedSize", survey.bytes, config->max_unpacked_size);
  }
  if (survey.checksum_bytes > SAR_CHECKSUMS_MAX) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE,
                 "The current data holds %" G_GUINT64_FORMAT " files; the checksum list of the "
                 "backup that undoes the restore would be %" G_GUINT64_FORMAT " bytes, over the "
                 "format's limit of %u",
                 survey.files, survey.checksum_bytes, (guint) SAR_CHECKSUMS_MAX);
    return over_limit (problem, "SHA256SUMS", survey.checksum_bytes, SAR_CHECKSUMS_MAX);
  }
  return TRUE;
}

/* --- the transaction ---------------------------------------------------------- */

/* --- the databases ------------------------------------------------------------ */

/* A dump being loaded into a staging database while it is extracted. */
typedef struct {
  PgdbLoad *load;
  int input_fd;
  const char *database;
} Load;

static gboolean
write_to_load (const void *block, gsize len, gpointer data, GError **error)
{
  Load *load = data;
  g_autoptr (GError) local = NULL;
  int errsv;

  if (fd_write_all (load->input_fd, block, len))
    return TRUE;
  /* what pg_restore said is the better reason */
  errsv = errno;
  autofd_clear (&load->input_fd);
  if (!pgdb_load_finish (g_steal_pointer (&load->load), NULL, &local)) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  return backup_error_set_errno (error, errsv, "loading the dump into %s", load->database);
}

/* Waits for the loads (after the whole archive was extracted and
 * checked); on failure ends those still running. */
static gboolean
finish_loads (Transaction *t, Load *loads, guint n, GCancellable *cancellable, GError **error)
{
  gboolean ok = TRUE;

  for (guint i = 0; i < n; i++) {
    autofd_clear (&loads[i].input_fd);
    if (loads[i].load == NULL)
      continue;
    if (ok) {
      progress_step (&t->progress, "extracting", "Loading the database %s", loads[i].database);
      ok = pgdb_load_finish (g_steal_pointer (&loads[i].load), cancellable, error);
    } else
      pgdb_load_abort (g_steal_pointer (&loads[i].load));
  }
  return ok;
}

static void
abort_loads (Load *loads, guint n)
{
  for (guint i = 0; i < n; i++) {
    autofd_clear (&loads[i].input_fd);
    if (loads[i].load != NULL)
      pgdb_load_abort (g_steal_pointer (&loads[i].load));
  }
}

/* A dump is untrusted: nothing is loaded that needs a superuser or a role
 * or extension the server lacks. */
static gboolean
check_dumps (Transaction *t, const RestoreRequest *request, GCancellable *cancellable,
             GError **error)
{
  g_autoptr (GPtrArray) problems
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pgdb_problem_free);
  g_autoptr (GString) text = NULL;

  if (!restore_db_check_dumps (request->config, request->archive_fd, request->header,
                               request->components, problems, cancellable, error))
    return FALSE;
  if (problems->len == 0)
    return TRUE;
  text = g_string_new ("The database dump in the backup is refused:");
  for (guint i = 0; i < problems->len && i < 5; i++) {
    const PgdbProblem *problem = problems->pdata[i];

    g_string_append_printf (text, "%s %s: %s (%s)", i > 0 ? ";" : "", problem->component,
                            problem->detail, problem->code);
  }
  if (problems->len > 5)
    g_string_append_printf (text, "; and %u more", problems->len - 5);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, text->str);
  return FALSE;
}

/* The staging databases, created empty and recorded (owners[i]: the
 * owner role of component i's database). */
static gboolean
create_staging_databases (Transaction *t, char **owners, GError **error)
{
  for (guint i = 0; i < t->journal->components->len; i++) {
    JournalComponent *c = t->journal->components->pdata[i];

    if (c->database == NULL)
      continue;
    if (!restore_db_begin (&t->config->database, c, &owners[i], error)
        || !save_journal (t, JOURNAL_EXTRACTING, error)
        || !restore_db_create_staging (&t->config->database, c, error)
        || !save_journal (t, JOURNAL_EXTRACTING, error))
      return FALSE;
  }
  return TRUE;
}

typedef struct {
  Transaction *t;
  const RestoreRequest *request;
  GCancellable *cancellable;
  GError *error;
} DumpCheckThread;

static gpointer
dump_check_thread (gpointer data)
{
  DumpCheckThread *dc = data;

  check_dumps (dc->t, dc->request, dc->cancellable, &dc->error);
  return NULL;
}

/* The dumps are checked while the staging databases are created (in
 * another thread: neither waits for the other, and only this one writes
 * the journal); only then does each load start, reading from a pipe the
 * extraction writes into. */
static gboolean
prepare_databases (Transaction *t, const RestoreRequest *request, Load *loads,
                   GCancellable *cancellable, GError **error)
{
  DumpCheckThread dc = { t, request, cancellable, NULL };
  g_auto (GStrv) owners = g_new0 (char *, t->journal->components->len + 1);
  gboolean any = FALSE, ok;
  GThread *checker;

  for (guint i = 0; i < t->journal->components->len; i++)
    any = any || ((JournalComponent *) t->journal->components->pdata[i])->database != NULL;
  if (!any)
    return TRUE;
  progress_step (&t->progress, "extracting",
                 "Checking the database dumps and creating databases beside the live ones");
  checker = g_thread_new ("check-dumps", dump_check_thread, &dc);
  ok = create_staging_databases (t, owners, error);
  g_thread_join (checker);
  if (dc.error != NULL) {
    g_clear_error (error);
    g_propagate_error (error, dc.error);
    ok = FALSE;
  }
  step (t, "checked the dumps and created the staging databases");
  for (guint i = 0; ok && i < t->journal->components->len; i++) {
    JournalComponent *c = t->journal->components->pdata[i];
    g_autofree char *staging = NULL;

    if (c->database == NULL)
      continue;
    staging = restore_db_staging_name (c->database);
    loads[i].database = c->database;
    loads[i].load
        = pgdb_load_start (&t->config->database, staging, owners[i], &loads[i].input_fd, error);
    ok = loads[i].load != NULL;
  }
  return ok;
}

static gboolean
run_before_swap (Transaction *t, const RestoreRequest *request, int *staging_fds, Load *loads,
                 GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) targets = g_ptr_array_new_with_free_func (g_free);
  SarLimits limits = { request->config->max_unpacked_size, request->config->max_entries };
  ExtractProgress ep = { t, 0 };
  struct stat st;

  progress_step (&t->progress, "extracting", "Checking that the current data can be saved");
  if (!restore_check_live_data (request->config, request->components, NULL, NULL, cancellable,
                                error))
    return FALSE;
  step (t, "checked the current data");
  if (!prepare_databases (t, request, loads, cancellable, error))
    return FALSE;
  start_hashing_ahead (t, request->components);
  for (guint i = 0; i < request->components->len; i++) {
    ExtractTarget *target = g_new0 (ExtractTarget, 1);
    g_ptr_array_add (targets, target);
    staging_fds[i] = make_staging (t, i, request->components->pdata[i], target, error);
    if (staging_fds[i] < 0)
      return FALSE;
    if (loads[i].load != NULL) {
      target->dump = write_to_load;
      target->dump_data = &loads[i];
    }
  }
  step (t, "made the staging directories");
  if (fstat (request->archive_fd, &st) == 0)
    ep.total = (guint64) st.st_size;
  if (lseek (request->archive_fd, 0, SEEK_SET) < 0)
    return backup_error_set_errno (error, errno, "cannot read %s", request->backup);
  progress_step (&t->progress, "extracting", "Extracting %u component(s) beside the live data",
                 request->components->len);
  if (!extract_components (request->archive_fd, request->header, targets, &limits, extract_progress,
                           &ep, cancellable, error))
    return FALSE;
  /* written: the digests for the undo are made while the disk writes */
  sar_pack_cache_pause (t->cache, FALSE);
  if (!extract_sync (targets, error)
      || !finish_loads (t, loads, request->components->len, cancellable, error))
    return FALSE;
  step (t, "extracted, checked and synced");
  /* every file and dump was checked against them: not needed again */
  g_clear_pointer (&request->header->checksums, sar_checksums_free);

  /* nothing of ours competes with stopping, swapping and starting */
  sar_pack_cache_pause (t->cache, TRUE);
  /* from the stop to the start, nothing on the machine goes first */
  priority_critical (TRUE);
  if (g_cancellable_set_error_if_cancelled (cancellable, error) || !stop_pbx (t, error))
    return FALSE;
  if (request->ignore_ip && !keep_ip_settings (t, request->components, staging_fds, error))
    return FALSE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  for (guint i = 0; i < t->journal->components->len; i++) {
    JournalComponent *c = t->journal->components->pdata[i];
    c->old_ino = inode_of (t->parent_fds[i], c->live);
    c->new_ino = inode_of (t->parent_fds[i], c->staging);
  }
  return TRUE;
}

gboolean
restore_run (const RestoreRequest *request, const RestoreHooks *hooks, GCancellable *cancellable,
             RestoreResult *result, GError **error)
{
  Transaction t = { .root_fd = -1, .backup_fd = -1 };
  g_autofree int *staging_fds = NULL;
  g_autofree Load *loads = NULL;
  g_autoptr (GError) cleanup_error = NULL;
  gboolean journaled, ok;

  g_return_val_if_fail (request != NULL && request->components != NULL && result != NULL, FALSE);
  staging_fds = g_new (int, request->components->len);
  loads = g_new0 (Load, request->components->len);
  for (guint i = 0; i < request->components->len; i++) {
    staging_fds[i] = -1;
    loads[i].input_fd = -1;
  }
  t.journal = journal_new (request->backup, request->installed_version);
  for (guint i = 0; i < request->components->len; i++) {
    const ConfigComponent *cc = request->components->pdata[i];
    g_autofree char *parent = NULL;
    g_autofree char *live = NULL;
    g_autofree char *staging = g_strconcat (STAGING_PREFIX, cc->id, NULL);
    JournalComponent *c;

    split_path (cc->path, &parent, &live);
    c = journal_add_component (t.journal, cc->id, parent, live, staging);
    if (restore_db_wanted (request->header, cc))
      c->database = g_strdup (cc->database);
  }

  /* nothing is created before the journal says where it will be, and
   * nothing while another restore's journal is unresolved */
  t.mark = g_get_monotonic_time ();
  journaled = transaction_open (&t, request->config, hooks, result, error)
              && transaction_open_parents (&t, error)
              && journal_create (t.backup_fd, t.journal, error);
  step (&t, "created the journal");
  ok = journaled && run_before_swap (&t, request, staging_fds, loads, cancellable, error);
  abort_loads (loads, request->components->len);
  for (guint i = 0; i < request->components->len; i++)
    autofd_clear (&staging_fds[i]);

  if (ok) {
    /* the point of no return: from here the restore completes or rolls back */
    if (hooks != NULL && hooks->set_cancelable != NULL)
      hooks->set_cancelable (FALSE, hooks->data);
    progress_step (&t.progress, "activating", "Swapping in the restored data");
    ok = save_journal (&t, JOURNAL_SWAPPING, error);
    for (guint i = 0; ok && i < t.journal->components->len; i++) {
      const JournalComponent *c = t.journal->components->pdata[i];

      ok = exchange (&t, i, error)
           && (c->database == NULL || restore_db_swap (&t.config->database, c, error));
    }
    ok = ok && save_journal (&t, JOURNAL_SWAPPED, error);
    step (&t, "swapped");
  }
  if (!ok) {
    if (journaled && !abandon (&t, &cleanup_error))
      g_warning ("could not undo the failed restore of %s (the journal stays, and the daemon "
                 "tries again): %s",
                 request->backup, cleanup_error->message);
    priority_critical (FALSE);
    transaction_close (&t);
    return FALSE;
  }
  ok = commit (&t, error);
  priority_critical (FALSE);
  sar_pack_cache_pause (t.cache, FALSE);
  if (ok)
    finish_or_defer (&t);
  transaction_close (&t);
  return ok;
}

/* --- recovery ------------------------------------------------------------------ */

/* Opens the transaction of the journal on disk; FALSE without error (and
 * t->journal NULL) when there is none. */
static gboolean
transaction_resume (Transaction *t, const Config *config, const RestoreHooks *hooks,
                    RestoreResult *result, GError **error)
{
  if (!transaction_open (t, config, hooks, result, error))
    return FALSE;
  if (!journal_read (t->backup_fd, &t->journal, error) || t->journal == NULL)
    return FALSE;
  /* a journal of an earlier version: "swapped" with the PBX started */
  if (t->journal->state == JOURNAL_SWAPPED && !t->journal->pbx_stopped)
    t->journal->state = JOURNAL_COMMITTED;
  return transaction_open_parents (t, error);
}

/* Whether the journal can only be resolved by completing the restore
 * (the slow part: saving the previous state). */
static gboolean
must_complete (Transaction *t, guint swapped)
{
  return t->journal->state >= JOURNAL_SWAPPED && swapped == t->journal->components->len;
}

gboolean
restore_complete (const Config *config, const RestoreHooks *hooks, RestoreResult *result,
                  GError **error)
{
  Transaction t = { .root_fd = -1, .backup_fd = -1 };
  guint swapped = 0;
  gboolean ok;

  g_return_val_if_fail (config != NULL && result != NULL, FALSE);
  ok = transaction_resume (&t, config, hooks, result, error);

  if (t.journal == NULL) {
    transaction_close (&t);
    return ok || error == NULL || *error == NULL;
  }
  ok = ok && count_swapped (&t, &swapped, error);
  if (ok && !must_complete (&t, swapped)) {
    if (t.journal->state >= JOURNAL_COMMITTED) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "the restore of %s ran the PBX on the restored data, but only %u of %u "
                   "components hold it now; nothing was changed",
                   t.journal->backup, swapped, t.journal->components->len);
      ok = FALSE;
    } else {
      progress_step (&t.progress, "activating", "Rolling back the interrupted restore of %s",
                     t.journal->backup);
      ok = abandon (&t, error);
      if (ok)
        g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                     "The interrupted restore of %s was rolled back; the previous state is "
                     "back and the PBX runs",
                     t.journal->backup);
      ok = FALSE;
    }
  } else if (ok) {
    if (t.journal->state == JOURNAL_SWAPPED)
      ok = commit (&t, error);
    ok = ok && finish (&t, error);
  }
  transaction_close (&t);
  return ok;
}

gboolean
restore_pending (const Config *config, char **backup)
{
  g_autoptr (Journal) journal = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (AutoFd) fd = -1;

  g_return_val_if_fail (config != NULL && backup != NULL, FALSE);
  fd = open (config->backup_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *backup = NULL;
  if (fd < 0)
    return FALSE;
  if (!journal_read (fd, &journal, &error))
    *backup = g_strdup ("(unreadable journal)");
  else if (journal != NULL)
    *backup = g_strdup (journal->backup);
  return *backup != NULL;
}
