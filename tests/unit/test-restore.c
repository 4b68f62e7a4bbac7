/* Unit tests of the restore transaction and its crash recovery, with no
 * bus: a sandbox holding a data root, a backup directory and a log that
 * fake PBX commands (sh -c 'echo stop >> log') append to.
 *
 * restore_run: success, a stop that fails, a start that fails.
 * restore_complete: a journal left in each state, with the trees on disk
 * swapped or not by rename, ends in exactly the old or exactly the new
 * data (or, where the docs say so, changes nothing and keeps the journal).
 * No databases here. */
#include "errors.h"
#include "journal.h"
#include "restore.h"
#include "sandbox.h"
#include "sar-fixture.h"
#include "sar.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The data before the restore, and the backup's. */
#define OLD_CORE "db/\ndb/asterisk.sql=old\nnetwork.conf=old-ip\nold-only=x\n"
#define OLD_VM "vm/\nvm/msg0001.wav=old-wav\n"
#define NEW_CORE "db/\ndb/asterisk.sql=new\nnetwork.conf=new-ip\n"
#define NEW_VM "vm/\nvm/msg0001.wav=new-wav\n"

static const Member backup_tree[] = {
  { "core/", 'd', NULL, 0, 0 },
  { "core/db/", 'd', NULL, 0, 0 },
  { "core/db/asterisk.sql", 'f', "new", 0, 0 },
  { "core/network.conf", 'f', "new-ip", 0, 0 },
  { "cdr-voicemail/", 'd', NULL, 0, 0 },
  { "cdr-voicemail/vm/", 'd', NULL, 0, 0 },
  { "cdr-voicemail/vm/msg0001.wav", 'f', "new-wav", 0, 0 },
};

typedef struct {
  Sandbox *sandbox;
  Config *config;
  char *data;    /* the data root */
  char *backups; /* the backup directory */
  char *log;     /* what the PBX commands did, a line each */
  int data_fd;
  int backups_fd;
  GPtrArray *chosen; /* const ConfigComponent*: core, cdr-voicemail */
} Fixture;

static char **
command (const char *script)
{
  char *argv[] = { "/bin/sh", "-c", (char *) script, NULL };

  return g_strdupv (argv);
}

/* StopCommand and StartCommand append "stop" and "start" to the log; a
 * stop that fails exits 1 after that, a start that fails once does so the
 * first time only. */
static void
set_commands (Fixture *f, gboolean stop_fails, gboolean start_fails_once)
{
  g_autofree char *stop = g_strdup_printf ("echo stop >> '%s'%s", f->log,
                                           stop_fails ? "; echo 'cannot stop' >&2; exit 1" : "");
  g_autofree char *start = NULL;

  if (start_fails_once)
    start = g_strdup_printf ("echo start >> '%s'; if [ ! -e '%s.failed' ]; then "
                             "touch '%s.failed'; exit 1; fi",
                             f->log, f->log, f->log);
  else
    start = g_strdup_printf ("echo start >> '%s'", f->log);
  g_strfreev (f->config->stop_command);
  g_strfreev (f->config->start_command);
  f->config->stop_command = command (stop);
  f->config->start_command = command (start);
}

static void
write_file_at (int dir_fd, const char *path, const char *data)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (!g_str_equal (dir, "."))
    g_assert_true (mkdirat (dir_fd, dir, 0755) == 0 || errno == EEXIST);
  sandbox_write (dir_fd, path, data);
}

/* The old data: core/ and cdr-voicemail/ below the data root. */
static void
write_old_data (Fixture *f)
{
  g_assert_cmpint (mkdirat (f->data_fd, "core", 0755), ==, 0);
  write_file_at (f->data_fd, "core/db/asterisk.sql", "old");
  write_file_at (f->data_fd, "core/network.conf", "old-ip");
  write_file_at (f->data_fd, "core/old-only", "x");
  g_assert_cmpint (mkdirat (f->data_fd, "cdr-voicemail", 0755), ==, 0);
  write_file_at (f->data_fd, "cdr-voicemail/vm/msg0001.wav", "old-wav");
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  f->sandbox = sandbox_new ();
  f->data = g_build_filename (f->sandbox->root, "data", NULL);
  f->backups = g_build_filename (f->sandbox->root, "backups", NULL);
  f->log = g_build_filename (f->sandbox->root, "log", NULL);
  g_assert_cmpint (mkdir (f->data, 0755), ==, 0);
  g_assert_cmpint (mkdir (f->backups, 0750), ==, 0);
  f->data_fd = open (f->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->backups_fd = open (f->backups, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (f->data_fd, >=, 0);
  g_assert_cmpint (f->backups_fd, >=, 0);

  f->config = config_new_default ();
  g_free (f->config->data_root);
  f->config->data_root = g_strdup (f->data);
  g_free (f->config->backup_directory);
  f->config->backup_directory = g_strdup (f->backups);
  f->config->command_timeout = 30;
  set_commands (f, FALSE, FALSE);
  f->chosen = g_ptr_array_new ();
  g_ptr_array_add (f->chosen, (gpointer) config_find_component (f->config, "core"));
  g_ptr_array_add (f->chosen, (gpointer) config_find_component (f->config, "cdr-voicemail"));
  write_old_data (f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  close (f->data_fd);
  close (f->backups_fd);
  g_ptr_array_unref (f->chosen);
  config_free (f->config);
  g_free (f->data);
  g_free (f->backups);
  g_free (f->log);
  sandbox_free (f->sandbox);
}

/* --- what is on disk ------------------------------------------------------- */

static void
describe_into (GString *out, const char *path, const char *prefix)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, sandbox_compare_names);
  for (guint i = 0; i < names->len; i++) {
    const char *n = names->pdata[i];
    g_autofree char *full = g_build_filename (path, n, NULL);
    g_autofree char *rel = g_strconcat (prefix, n, NULL);

    if (g_file_test (full, G_FILE_TEST_IS_DIR)) {
      g_autofree char *sub = g_strconcat (rel, "/", NULL);
      g_string_append_printf (out, "%s/\n", rel);
      describe_into (out, full, sub);
    } else {
      g_autofree char *contents = NULL;
      g_assert_true (g_file_get_contents (full, &contents, NULL, NULL));
      g_string_append_printf (out, "%s=%s\n", rel, contents);
    }
  }
}

/* The tree at data/<name>, a line an entry: "dir/" or "file=contents". */
static char *
describe (const Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->data, name, NULL);
  GString *out = g_string_new (NULL);

  describe_into (out, path, "");
  return g_string_free (out, FALSE);
}

static void
assert_data (const Fixture *f, const char *core, const char *vm)
{
  g_autofree char *have_core = describe (f, "core");
  g_autofree char *have_vm = describe (f, "cdr-voicemail");
  g_autofree char *root = sandbox_list (f->data_fd, ".");
  g_autoptr (GDir) dir = g_dir_open (f->data, 0, NULL);
  const char *name;

  g_assert_cmpstr (have_core, ==, core);
  g_assert_cmpstr (have_vm, ==, vm);
  /* no staging tree is left beside them */
  g_assert_cmpstr (root, ==, "cdr-voicemail core");
  while ((name = g_dir_read_name (dir)) != NULL)
    g_assert_false (name[0] == '.');
}

static void
assert_log (const Fixture *f, const char *expected)
{
  g_autofree char *log = NULL;

  if (!g_file_get_contents (f->log, &log, NULL, NULL))
    log = g_strdup ("");
  g_assert_cmpstr (log, ==, expected);
}

static void
clear_log (const Fixture *f)
{
  g_assert_true (unlink (f->log) == 0 || errno == ENOENT);
}

static gboolean
journal_exists (const Fixture *f)
{
  return faccessat (f->backups_fd, JOURNAL_FILE, F_OK, 0) == 0;
}

/* The backup directory holds exactly these (hidden names included). */
static void
assert_backups (const Fixture *f, const char *expected)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = g_dir_open (f->backups, 0, NULL);
  g_autofree char *have = NULL;
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, sandbox_compare_names);
  g_ptr_array_add (names, NULL);
  have = g_strjoinv (" ", (char **) names->pdata);
  g_assert_cmpstr (have, ==, expected);
}

/* --- restoring -------------------------------------------------------------- */

/* restore_run of the archive on fd (named backup) with the fixture's
 * components. */
static gboolean
run_restore (Fixture *f, int fd, const char *backup, gboolean ignore_ip, RestoreResult *result,
             GError **error)
{
  g_autoptr (SarHeader) header = NULL;
  RestoreRequest request = { 0 };

  header = sar_read_header (fd, error);
  g_assert_nonnull (header);
  request.config = f->config;
  request.backup = backup;
  request.archive_fd = fd;
  request.header = header;
  request.components = f->chosen;
  request.ignore_ip = ignore_ip;
  request.installed_version = "9.0.1";
  return restore_run (&request, NULL, NULL, result, error);
}

static int
backup_archive (void)
{
  return write_sar_as (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, backup_tree,
                       G_N_ELEMENTS (backup_tree), backup_tree, G_N_ELEMENTS (backup_tree));
}

/* The undo backup named holds the old data: restoring it brings it back
 * (and the PBX is stopped and started once more for that). */
static void
assert_undo_restores_old (Fixture *f, const char *undo)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };
  int fd = openat (f->backups_fd, undo, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_true (g_str_has_prefix (undo, "pre-restore_"));
  clear_log (f);
  set_commands (f, FALSE, FALSE);
  g_assert_true (run_restore (f, fd, undo, FALSE, &result, &error));
  g_assert_no_error (error);
  close (fd);
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, "stop\nstart\n");
  g_assert_false (journal_exists (f));
  restore_result_clear (&result);
}

static void
test_run_succeeds (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *undo = NULL;
  RestoreResult result = { 0 };
  int fd = backup_archive ();

  (void) data;
  g_assert_true (run_restore (f, fd, "b1.sar", FALSE, &result, &error));
  g_assert_no_error (error);
  close (fd);
  assert_data (f, NEW_CORE, NEW_VM);
  assert_log (f, "stop\nstart\n");
  g_assert_null (result.unresolved);
  g_assert_nonnull (result.pre_restore);
  g_assert_cmpint (result.pbx_stopped_at, >, 0);
  g_assert_cmpint (result.pbx_started_at, >=, result.pbx_stopped_at);
  assert_backups (f, result.pre_restore);
  undo = g_strdup (result.pre_restore);
  restore_result_clear (&result);

  assert_undo_restores_old (f, undo);
}

/* IgnoreIp: the live network.conf is kept, the rest is the backup's. */
static void
test_run_keeps_ip_settings (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };
  int fd = backup_archive ();

  (void) data;
  g_assert_true (run_restore (f, fd, "b1.sar", TRUE, &result, &error));
  g_assert_no_error (error);
  close (fd);
  assert_data (f, "db/\ndb/asterisk.sql=new\nnetwork.conf=old-ip\n", NEW_VM);
  restore_result_clear (&result);
}

/* restore_run fails with the PBX commands as set: live untouched (or put
 * back), the PBX started again, nothing left behind, the error saying
 * why; log: what the PBX commands did. */
static void
assert_run_fails (Fixture *f, gboolean stop_fails, gboolean start_fails_once, const char *why,
                  const char *log)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };
  int fd = backup_archive ();

  set_commands (f, stop_fails, start_fails_once);
  g_assert_false (run_restore (f, fd, "b1.sar", FALSE, &result, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  if (strstr (error->message, why) == NULL)
    g_error ("\"%s\" does not say %s", error->message, why);
  close (fd);
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, log);
  g_assert_null (result.pre_restore);
  assert_backups (f, "");
}

/* A stop that fails: live untouched, the PBX started (whoever stopped it,
 * or tried to, starts it). */
static void
test_run_stop_fails (Fixture *f, gconstpointer data)
{
  (void) data;
  assert_run_fails (f, TRUE, FALSE, "StopCommand", "stop\nstart\n");
}

/* A start that fails on the restored data: rolled back, started again on
 * the old data, the job fails saying so. */
static void
test_run_start_fails (Fixture *f, gconstpointer data)
{
  (void) data;
  assert_run_fails (f, FALSE, TRUE, "did not start on the restored data (StartCommand",
                    "stop\nstart\nstart\n");
}

/* A second restore while a journal is there: Busy, nothing touched. */
static void
test_run_refused_while_a_journal_is_there (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (Journal) journal = journal_new ("other.sar", "9.0.1");
  RestoreResult result = { 0 };
  int fd = backup_archive ();

  (void) data;
  journal_add_component (journal, "core", ".", "core", ".sf-staging-core");
  g_assert_true (journal_write (f->backups_fd, journal, &error));
  g_assert_false (run_restore (f, fd, "b1.sar", FALSE, &result, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_BUSY);
  close (fd);
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, "");
  assert_backups (f, JOURNAL_FILE);
}

/* --- recovery --------------------------------------------------------------- */

static const char *const ids[] = { "core", "cdr-voicemail" };

static guint64
inode_at (int dir_fd, const char *name)
{
  struct stat st;

  g_assert_cmpint (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW), ==, 0);
  return (guint64) st.st_ino;
}

static void
swap (Fixture *f, guint i)
{
  g_autofree char *staging = g_strconcat (".sf-staging-", ids[i], NULL);

  g_assert_cmpint (renameat2 (f->data_fd, staging, f->data_fd, ids[i], RENAME_EXCHANGE), ==, 0);
}

/* What a restore left: the restored trees in the staging directories (so
 * far unswapped), the journal in state with the inodes recorded (unless
 * extracting), the PBX stopped or not. */
static Journal *
left_behind (Fixture *f, JournalState state, gboolean pbx_stopped)
{
  Journal *journal = journal_new ("b1.sar", "9.0.1");

  g_assert_cmpint (mkdirat (f->data_fd, ".sf-staging-core", 0755), ==, 0);
  write_file_at (f->data_fd, ".sf-staging-core/db/asterisk.sql", "new");
  write_file_at (f->data_fd, ".sf-staging-core/network.conf", "new-ip");
  g_assert_cmpint (mkdirat (f->data_fd, ".sf-staging-cdr-voicemail", 0755), ==, 0);
  write_file_at (f->data_fd, ".sf-staging-cdr-voicemail/vm/msg0001.wav", "new-wav");
  journal->state = state;
  journal->pbx_stopped = pbx_stopped;
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    g_autofree char *staging = g_strconcat (".sf-staging-", ids[i], NULL);
    JournalComponent *c = journal_add_component (journal, ids[i], ".", ids[i], staging);

    if (state != JOURNAL_EXTRACTING) {
      c->old_ino = inode_at (f->data_fd, ids[i]);
      c->new_ino = inode_at (f->data_fd, staging);
    }
  }
  return journal;
}

static void
write_journal (Fixture *f, const Journal *journal)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (journal_write (f->backups_fd, journal, &error));
  g_assert_no_error (error);
}

/* restore_complete rolls back: the old data, the PBX started if the
 * journal says it was stopped, no journal, and a failure saying so. */
static void
assert_rolled_back (Fixture *f, gboolean pbx_stopped)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };

  g_assert_false (restore_complete (f->config, NULL, &result, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "rolled back"));
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, pbx_stopped ? "start\n" : "");
  g_assert_false (journal_exists (f));
  g_assert_null (result.pre_restore);
  assert_backups (f, "");
}

/* restore_complete completes: the new data, an undo holding the old, no
 * journal; start_log: what the PBX commands did meanwhile. */
static void
assert_completed (Fixture *f, const char *start_log)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *undo = NULL;
  RestoreResult result = { 0 };

  g_assert_true (restore_complete (f->config, NULL, &result, &error));
  g_assert_no_error (error);
  assert_data (f, NEW_CORE, NEW_VM);
  assert_log (f, start_log);
  g_assert_false (journal_exists (f));
  g_assert_nonnull (result.pre_restore);
  assert_backups (f, result.pre_restore);
  undo = g_strdup (result.pre_restore);
  restore_result_clear (&result);
  assert_undo_restores_old (f, undo);
}

/* restore_complete changes nothing and keeps the journal. */
static void
assert_nothing_changed (Fixture *f, const char *core, const char *vm, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *before_core = describe (f, "core");
  g_autofree char *before_vm = describe (f, "cdr-voicemail");
  g_autofree char *before_staging_core = describe (f, ".sf-staging-core");
  g_autofree char *after_core = NULL;
  g_autofree char *after_vm = NULL;
  g_autofree char *after_staging_core = NULL;
  RestoreResult result = { 0 };

  g_assert_cmpstr (before_core, ==, core);
  g_assert_cmpstr (before_vm, ==, vm);
  g_assert_false (restore_complete (f->config, NULL, &result, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  if (strstr (error->message, why) == NULL)
    g_error ("\"%s\" does not say %s", error->message, why);
  after_core = describe (f, "core");
  after_vm = describe (f, "cdr-voicemail");
  after_staging_core = describe (f, ".sf-staging-core");
  g_assert_cmpstr (after_core, ==, before_core);
  g_assert_cmpstr (after_vm, ==, before_vm);
  g_assert_cmpstr (after_staging_core, ==, before_staging_core);
  assert_log (f, "");
  assert_backups (f, JOURNAL_FILE);
  restore_result_clear (&result);
}

static void
test_complete_without_journal (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };

  (void) data;
  g_assert_true (restore_complete (f->config, NULL, &result, &error));
  g_assert_no_error (error);
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, "");
  assert_backups (f, "");
}

/* The recovery matrix: a journal left in a state, with the PBX stopped or
 * not and some components swapped, and what recovery does with it. */
typedef enum { ROLLED_BACK, COMPLETED, NOTHING_CHANGED } Outcome;

typedef struct {
  const char *name;
  JournalState state;
  gboolean pbx_stopped;
  guint swapped;           /* bit 0: core, bit 1: cdr-voicemail */
  const char *pre_restore; /* named in the journal, not on disk */
  Outcome outcome;
  const char *log; /* what the PBX commands did (COMPLETED) */
} Case;

static const Case cases[] = {
  /* the staging trees are being filled while the PBX runs, or it was
   * being stopped */
  { "extracting", JOURNAL_EXTRACTING, FALSE, 0, NULL, ROLLED_BACK, NULL },
  { "extracting-pbx-stopped", JOURNAL_EXTRACTING, TRUE, 0, NULL, ROLLED_BACK, NULL },
  /* crashed before the first swap, between the two, after both */
  { "swapping-none", JOURNAL_SWAPPING, TRUE, 0, NULL, ROLLED_BACK, NULL },
  { "swapping-half", JOURNAL_SWAPPING, TRUE, 1, NULL, ROLLED_BACK, NULL },
  { "swapping-other-half", JOURNAL_SWAPPING, TRUE, 2, NULL, ROLLED_BACK, NULL },
  { "swapping-all", JOURNAL_SWAPPING, TRUE, 3, NULL, ROLLED_BACK, NULL },
  /* swapped, the PBX not started yet: started, then completed */
  { "swapped", JOURNAL_SWAPPED, TRUE, 3, NULL, COMPLETED, "start\n" },
  /* swapped, but a rollback had begun or ended: finish it, never save the
   * restored data as the previous state */
  { "swapped-rollback-begun", JOURNAL_SWAPPED, TRUE, 2, NULL, ROLLED_BACK, NULL },
  { "swapped-rollback-ended", JOURNAL_SWAPPED, TRUE, 0, NULL, ROLLED_BACK, NULL },
  /* a journal of an earlier version: swapped with the PBX started is running */
  { "swapped-pbx-started", JOURNAL_SWAPPED, FALSE, 3, NULL, COMPLETED, "" },
  /* the PBX runs on the restored data: saved and cleaned up, never stopped */
  { "running", JOURNAL_COMMITTED, FALSE, 3, NULL, COMPLETED, "" },
  { "running-undo-named", JOURNAL_COMMITTED, FALSE, 3, "pre-restore_20261120T020000Z.sar",
    COMPLETED, "" },
  /* saved, but the undo is not there (removed since): written again
   * before the old trees go */
  { "saved-undo-missing", JOURNAL_SAVED, FALSE, 3, "pre-restore_20261120T020000Z.sar", COMPLETED,
    "" },
  /* the PBX ran on the restored data, but not every component holds it */
  { "running-half", JOURNAL_COMMITTED, FALSE, 1, NULL, NOTHING_CHANGED, NULL },
  { "saved-half", JOURNAL_SAVED, FALSE, 2, "pre-restore_20261120T020000Z.sar", NOTHING_CHANGED,
    NULL },
};

/* Leaves what a restore left (see left_behind) with the components of
 * swapped swapped. */
static void
leave (Fixture *f, JournalState state, gboolean pbx_stopped, guint swapped, const char *pre_restore)
{
  g_autoptr (Journal) journal = left_behind (f, state, pbx_stopped);

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    if (swapped & (1u << i))
      swap (f, i);
  journal->pre_restore = g_strdup (pre_restore);
  write_journal (f, journal);
}

static void
test_complete_case (Fixture *f, gconstpointer data)
{
  const Case *c = data;

  leave (f, c->state, c->pbx_stopped, c->swapped, c->pre_restore);
  switch (c->outcome) {
  case ROLLED_BACK:
    assert_rolled_back (f, c->pbx_stopped);
    break;
  case COMPLETED:
    assert_completed (f, c->log);
    break;
  case NOTHING_CHANGED:
    assert_nothing_changed (f, c->swapped & 1 ? NEW_CORE : OLD_CORE,
                            c->swapped & 2 ? NEW_VM : OLD_VM, "only 1 of 2");
    break;
  }
}

/* Swapped, and the PBX does not start on the restored data: rolled back,
 * started on the old. */
static void
test_complete_swapped_start_fails (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };

  (void) data;
  leave (f, JOURNAL_SWAPPED, TRUE, 3, NULL);
  set_commands (f, FALSE, TRUE);
  g_assert_false (restore_complete (f->config, NULL, &result, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "previous state is back"));
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, "start\nstart\n");
  assert_backups (f, "");
}

/* Saved: the undo is on disk, only cleanup is left. */
static void
test_complete_saved (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  RestoreResult result = { 0 };
  const char *undo = "pre-restore_20261120T020000Z.sar";

  (void) data;
  leave (f, JOURNAL_SAVED, FALSE, 3, undo);
  sandbox_write (f->backups_fd, undo, "stands for the undo");
  g_assert_true (restore_complete (f->config, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (result.pre_restore, ==, undo);
  assert_data (f, NEW_CORE, NEW_VM);
  assert_log (f, "");
  assert_backups (f, undo);
  restore_result_clear (&result);
}

/* A live directory that holds neither tree (replaced behind the daemon's
 * back): nothing changed, in any state. */
static void
test_complete_neither (Fixture *f, gconstpointer data)
{
  static const JournalState states[]
      = { JOURNAL_SWAPPING, JOURNAL_SWAPPED, JOURNAL_COMMITTED, JOURNAL_SAVED };
  g_autoptr (Journal) journal = left_behind (f, JOURNAL_SWAPPING, TRUE);

  (void) data;
  /* core/ replaced by a copy: same contents, another inode */
  g_assert_cmpint (renameat (f->data_fd, "core", f->data_fd, "core-was"), ==, 0);
  g_assert_cmpint (mkdirat (f->data_fd, "core", 0755), ==, 0);
  write_file_at (f->data_fd, "core/db/asterisk.sql", "old");
  write_file_at (f->data_fd, "core/network.conf", "old-ip");
  write_file_at (f->data_fd, "core/old-only", "x");
  for (guint s = 0; s < G_N_ELEMENTS (states); s++) {
    journal->state = states[s];
    journal->pbx_stopped = states[s] <= JOURNAL_SWAPPED;
    write_journal (f, journal);
    assert_nothing_changed (f, OLD_CORE, OLD_VM, "neither");
  }
}

/* A journal that cannot be read: nothing changed, the journal kept, and
 * restore_pending() says a restore is unresolved. */
static void
test_complete_unreadable_journal (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *backup = NULL;
  RestoreResult result = { 0 };

  (void) data;
  g_assert_false (restore_pending (f->config, &backup));
  g_assert_null (backup);
  sandbox_write (f->backups_fd, JOURNAL_FILE, "[Restore]\nState=swapping\n");
  g_assert_true (restore_pending (f->config, &backup));
  g_assert_cmpstr (backup, ==, "(unreadable journal)");
  g_assert_false (restore_complete (f->config, NULL, &result, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "damaged"));
  assert_data (f, OLD_CORE, OLD_VM);
  assert_log (f, "");
  assert_backups (f, JOURNAL_FILE);
}

/* restore_pending() names the backup of the journal on disk. */
static void
test_pending (Fixture *f, gconstpointer data)
{
  g_autofree char *backup = NULL;

  (void) data;
  leave (f, JOURNAL_SWAPPING, TRUE, 1, NULL);
  g_assert_true (restore_pending (f->config, &backup));
  g_assert_cmpstr (backup, ==, "b1.sar");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "C.UTF-8");
  g_test_init (&argc, &argv, NULL);
#define ADD(path, data, func)                                                                      \
  g_test_add ("/restore/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)
  ADD ("run/succeeds", NULL, test_run_succeeds);
  ADD ("run/keeps-ip-settings", NULL, test_run_keeps_ip_settings);
  ADD ("run/stop-fails", NULL, test_run_stop_fails);
  ADD ("run/start-fails", NULL, test_run_start_fails);
  ADD ("run/refused-while-a-journal-is-there", NULL, test_run_refused_while_a_journal_is_there);
  ADD ("complete/without-journal", NULL, test_complete_without_journal);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *path = g_strconcat ("/restore/complete/", cases[i].name, NULL);
    g_test_add (path, Fixture, &cases[i], fixture_set_up, test_complete_case, fixture_tear_down);
  }
  ADD ("complete/swapped-start-fails", NULL, test_complete_swapped_start_fails);
  ADD ("complete/saved", NULL, test_complete_saved);
  ADD ("complete/neither", NULL, test_complete_neither);
  ADD ("complete/unreadable-journal", NULL, test_complete_unreadable_journal);
  ADD ("pending", NULL, test_pending);
#undef ADD
  return g_test_run ();
}
