/* Unit tests: the PBX adapter, with small shell scripts as the commands. */
#include "errors.h"
#include "pbx.h"
#include "sandbox.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *script_dir;

static void
assert_contains (const char *haystack, const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* argv for a /bin/sh script with this body; free with g_strfreev(). */
static char **
script (const char *name, const char *body)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (script_dir, name, NULL);
  g_autofree char *text = g_strconcat ("#!/bin/sh\n", body, NULL);
  char **argv = g_new0 (char *, 3);

  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0755), ==, 0);
  argv[0] = g_steal_pointer (&path);
  argv[1] = g_strdup ("--flag");
  return argv;
}

static void
query (const char *body, PbxSessions *out)
{
  g_auto (GStrv) argv = script ("sessions", body);

  pbx_query_sessions (argv, 5, out);
  if (out->problem != NULL)
    g_test_message ("%s", out->problem);
}

static void
test_sessions_good_output (void)
{
  PbxSessions sessions;

  query ("echo 'PBX status: running'\necho users=12\necho calls=3\necho other=x\n", &sessions);
  g_assert_true (sessions.known);
  g_assert_cmpuint (sessions.users, ==, 12);
  g_assert_cmpuint (sessions.calls, ==, 3);
  g_assert_null (sessions.problem);
  pbx_sessions_clear (&sessions);

  /* Arguments arrive as given, no shell in between. */
  query ("test \"$1\" = --flag || exit 1\necho calls=0\necho users=999999\n", &sessions);
  g_assert_true (sessions.known);
  g_assert_cmpuint (sessions.users, ==, 999999);
  g_assert_cmpuint (sessions.calls, ==, 0);
  pbx_sessions_clear (&sessions);
}

static void
test_sessions_missing_line (void)
{
  PbxSessions sessions;

  query ("echo users=1\n", &sessions);
  g_assert_false (sessions.known);
  g_assert_cmpstr (sessions.problem, ==, "SessionsCommand printed no calls= line");
  pbx_sessions_clear (&sessions);

  query ("echo calls=1\n", &sessions);
  g_assert_false (sessions.known);
  g_assert_cmpstr (sessions.problem, ==, "SessionsCommand printed no users= line");
  pbx_sessions_clear (&sessions);

  query ("true\n", &sessions);
  g_assert_false (sessions.known);
  assert_contains (sessions.problem, "printed no users= line");
  pbx_sessions_clear (&sessions);
}

static void
test_sessions_garbage_number (void)
{
  const char *const bodies[] = {
    "echo users=abc\necho calls=1\n",  "echo users=1000000\necho calls=1\n",
    "echo users=-1\necho calls=1\n",   "echo 'users= 1'\necho calls=1\n",
    "echo users=1\necho calls=1x\n",   "echo users=\necho calls=1\n",
    "echo users=1\necho 'calls=1 '\n", "echo users=1\necho users=2\necho calls=1\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bodies); i++) {
    PbxSessions sessions;

    query (bodies[i], &sessions);
    g_assert_false (sessions.known);
    g_assert_cmpuint (sessions.users, ==, 0);
    g_assert_cmpuint (sessions.calls, ==, 0);
    g_assert_nonnull (sessions.problem);
    g_assert_true (strstr (sessions.problem, "invalid") != NULL
                   || strstr (sessions.problem, "more than one") != NULL);
    pbx_sessions_clear (&sessions);
  }
}

static void
test_sessions_nonzero_exit (void)
{
  PbxSessions sessions;

  query ("echo users=1\necho calls=1\necho 'first' >&2\necho 'PBX database not reachable' >&2\n"
         "echo >&2\nexit 3\n",
         &sessions);
  g_assert_false (sessions.known);
  assert_contains (sessions.problem, "SessionsCommand exited with status 3");
  assert_contains (sessions.problem, "PBX database not reachable");
  g_assert_null (strstr (sessions.problem, "first"));
  pbx_sessions_clear (&sessions);
}

static void
test_sessions_unset_command (void)
{
  char *empty[] = { NULL };
  PbxSessions sessions;

  pbx_query_sessions (NULL, 5, &sessions);
  g_assert_false (sessions.known);
  assert_contains (sessions.problem, "no SessionsCommand");
  pbx_sessions_clear (&sessions);
  pbx_query_sessions (empty, 5, &sessions);
  g_assert_false (sessions.known);
  pbx_sessions_clear (&sessions);
}

static void
test_sessions_command_missing (void)
{
  char *argv[] = { (char *) "/nonexistent/pbx-sessions", NULL };
  PbxSessions sessions;

  pbx_query_sessions (argv, 5, &sessions);
  g_assert_false (sessions.known);
  assert_contains (sessions.problem, "could not be run");
  pbx_sessions_clear (&sessions);
}

static gboolean
process_gone (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *state;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return TRUE;
  state = strrchr (stat, ')');
  return state != NULL && (state[2] == 'Z' || state[2] == 'X');
}

/* The timeout kills the command and everything in its process group. */
static void
test_timeout_kills_process_group (void)
{
  g_autofree char *pid_file = g_build_filename (script_dir, "background.pid", NULL);
  g_autofree char *body = g_strdup_printf (
      "sleep 30 &\necho $! > %s\necho 'waiting for the PBX' >&2\nsleep 30\n", pid_file);
  g_auto (GStrv) argv = script ("slow", body);
  g_autoptr (GError) error = NULL;
  g_autofree char *pid_text = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed;
  pid_t background;

  g_assert_false (pbx_run_command (argv, "StopCommand", 1, NULL, &error));
  elapsed = g_get_monotonic_time () - start;
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_test_message ("%s (after %" G_GINT64_FORMAT " ms)", error->message, elapsed / 1000);
  assert_contains (error->message, "StopCommand");
  assert_contains (error->message, "did not finish within 1 second");
  assert_contains (error->message, "waiting for the PBX");
  g_assert_cmpint (elapsed, <, 2500 * 1000);

  g_assert_true (g_file_get_contents (pid_file, &pid_text, NULL, NULL));
  background = (pid_t) atoi (pid_text);
  g_assert_cmpint (background, >, 1);
  for (int i = 0; i < 100 && !process_gone (background); i++)
    g_usleep (10 * 1000);
  g_assert_true (process_gone (background));
}

static void
test_sessions_timeout (void)
{
  g_auto (GStrv) argv = script ("slow-sessions", "echo users=1\nsleep 30\necho calls=1\n");
  PbxSessions sessions;
  gint64 start = g_get_monotonic_time ();

  pbx_query_sessions (argv, 1, &sessions);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2500 * 1000);
  g_assert_false (sessions.known);
  assert_contains (sessions.problem, "did not finish within 1 second");
  pbx_sessions_clear (&sessions);
}

/* A start command may leave a daemon running that keeps our pipes open:
 * the command is done when it exits, and the daemon is left alone. */
static void
test_background_child_does_not_block (void)
{
  g_autofree char *pid_file = g_build_filename (script_dir, "daemon.pid", NULL);
  g_autofree char *body = g_strdup_printf ("sleep 30 &\necho $! > %s\necho started\n", pid_file);
  g_auto (GStrv) argv = script ("start", body);
  g_autoptr (GError) error = NULL;
  g_autofree char *pid_text = NULL;
  gint64 start = g_get_monotonic_time ();
  pid_t daemon_pid;

  g_assert_true (pbx_run_command (argv, "StartCommand", 10, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_true (g_file_get_contents (pid_file, &pid_text, NULL, NULL));
  daemon_pid = (pid_t) atoi (pid_text);
  g_assert_false (process_gone (daemon_pid));
  kill (daemon_pid, SIGKILL);
}

static void
test_run_command_failure_names_status_and_stderr (void)
{
  g_auto (GStrv) failing = script ("stop", "echo 'stopping' \necho 'asterisk: still busy' >&2\n"
                                           "exit 4\n");
  g_auto (GStrv) killed = script ("killed", "kill -TERM $$\n");
  g_autoptr (GError) error = NULL;
  char *missing[] = { (char *) "/nonexistent/pbx-stop", NULL };

  g_assert_false (pbx_run_command (failing, "StopCommand", 5, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_test_message ("%s", error->message);
  assert_contains (error->message, "StopCommand");
  assert_contains (error->message, failing[0]);
  assert_contains (error->message, "exited with status 4: asterisk: still busy");
  g_clear_error (&error);

  g_assert_false (pbx_run_command (killed, "StartCommand", 5, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_test_message ("%s", error->message);
  assert_contains (error->message, "killed by signal 15");
  g_clear_error (&error);

  g_assert_false (pbx_run_command (missing, "StopCommand", 5, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  assert_contains (error->message, "could not be run");
}

static void
test_run_command_unset_succeeds (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (pbx_run_command (NULL, "StopCommand", 5, NULL, &error));
  g_assert_no_error (error);
}

/* A clean environment and stdin from /dev/null. */
static void
test_environment_and_stdin (void)
{
  g_autofree char *out_file = g_build_filename (script_dir, "env.out", NULL);
  g_autofree char *body = g_strdup_printf ("env > %s\ncat\necho users=0\necho calls=0\n", out_file);
  g_auto (GStrv) argv = script ("env", body);
  g_autofree char *env = NULL;
  PbxSessions sessions;

  g_setenv ("PBX_TEST_SECRET", "leaked", TRUE);
  pbx_query_sessions (argv, 5, &sessions);
  g_assert_true (sessions.known);
  pbx_sessions_clear (&sessions);
  g_assert_true (g_file_get_contents (out_file, &env, NULL, NULL));
  assert_contains (env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
  assert_contains (env, "LANG=C.UTF-8\n");
  g_assert_null (strstr (env, "PBX_TEST_SECRET"));
  g_assert_null (strstr (env, "HOME="));
}

/* Megabytes of output neither block the command nor use our memory. */
static void
test_output_is_bounded (void)
{
  g_auto (GStrv) argv
      = script ("chatty", "head -c 20000000 /dev/zero | tr '\\0' x\nhead -c 20000000 /dev/zero "
                          "| tr '\\0' y >&2\necho\necho 'the real error' >&2\nexit 1\n");
  g_autoptr (GError) error = NULL;

  g_assert_false (pbx_run_command (argv, "StopCommand", 20, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_cmpuint (strlen (error->message), <, 70 * 1024);
  assert_contains (error->message, "the real error");
}

/* A command that never stops writing still meets its deadline. */
static void
test_endless_output_times_out (void)
{
  g_auto (GStrv) argv = script ("endless", "exec yes\n");
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_false (pbx_run_command (argv, "StopCommand", 1, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  assert_contains (error->message, "did not finish within 1 second");
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2500 * 1000);
}

static gpointer
cancel_thread (gpointer data)
{
  g_usleep (200 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_run_command_cancelled (void)
{
  g_auto (GStrv) argv = script ("stuck", "sleep 30\n");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  GThread *thread = g_thread_new ("cancel", cancel_thread, cancellable);

  g_assert_false (pbx_run_command (argv, "StopCommand", 30, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_thread_join (thread);
}

/* Pipes and pidfds are closed on every path. */
static void
test_no_fd_leaks (void)
{
  g_auto (GStrv) good = script ("leak-good", "echo users=1\necho calls=1\n");
  g_auto (GStrv) failing = script ("leak-failing", "echo oops >&2\nexit 1\n");
  g_auto (GStrv) slow = script ("leak-slow", "sleep 30\n");
  guint before = count_open_fds ();

  for (int i = 0; i < 3; i++) {
    PbxSessions sessions;

    pbx_query_sessions (good, 5, &sessions);
    g_assert_true (sessions.known);
    pbx_sessions_clear (&sessions);
    g_assert_false (pbx_run_command (failing, "StopCommand", 5, NULL, NULL));
  }
  g_assert_false (pbx_run_command (slow, "StopCommand", 1, NULL, NULL));
  g_assert_cmpuint (count_open_fds (), ==, before);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  script_dir = g_dir_make_tmp ("test-pbx-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/pbx/sessions/good-output", test_sessions_good_output);
  g_test_add_func ("/pbx/sessions/missing-line", test_sessions_missing_line);
  g_test_add_func ("/pbx/sessions/garbage-number", test_sessions_garbage_number);
  g_test_add_func ("/pbx/sessions/nonzero-exit", test_sessions_nonzero_exit);
  g_test_add_func ("/pbx/sessions/unset-command", test_sessions_unset_command);
  g_test_add_func ("/pbx/sessions/command-missing", test_sessions_command_missing);
  g_test_add_func ("/pbx/sessions/timeout", test_sessions_timeout);
  g_test_add_func ("/pbx/command/timeout-kills-process-group", test_timeout_kills_process_group);
  g_test_add_func ("/pbx/command/background-child-does-not-block",
                   test_background_child_does_not_block);
  g_test_add_func ("/pbx/command/failure-names-status-and-stderr",
                   test_run_command_failure_names_status_and_stderr);
  g_test_add_func ("/pbx/command/unset-succeeds", test_run_command_unset_succeeds);
  g_test_add_func ("/pbx/command/environment-and-stdin", test_environment_and_stdin);
  g_test_add_func ("/pbx/command/output-is-bounded", test_output_is_bounded);
  g_test_add_func ("/pbx/command/endless-output-times-out", test_endless_output_times_out);
  g_test_add_func ("/pbx/command/no-fd-leaks", test_no_fd_leaks);
  g_test_add_func ("/pbx/command/cancelled", test_run_command_cancelled);
  ret = g_test_run ();

  {
    g_autofree char *command = g_strdup_printf ("rm -rf '%s'", script_dir);

    if (system (command) != 0)
      g_warning ("could not remove %s", script_dir);
  }
  g_free (script_dir);
  return ret;
}
