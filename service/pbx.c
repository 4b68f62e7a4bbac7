/* pbx.c: running the configured PBX commands, the one place that runs
 * external programs.
 *
 * A command runs synchronously in the calling (worker) thread: spawned
 * without a shell in a process group of its own, then one poll() loop
 * over its stdout, its stderr, a pidfd for its exit, and the
 * cancellable, until it exits or its time is up.  A timeout or a
 * cancellation kills the whole process group; a command that exits
 * normally leaves anything it started in the background alone (a start
 * command may well start a daemon that keeps our pipes open, which is why
 * the loop ends when the child exits, not when the pipes close).
 */
#include "autofd.h"
#include "pbx.h"

#include "errors.h"
#include "priority.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Output kept per stream; the rest is read and discarded so the command
 * never blocks on a full pipe. */
#define OUTPUT_MAX (64 * 1024)
/* users= and calls= values are below this. */
#define COUNT_DIGITS_MAX 6
#define DRAIN_BUDGET (256 * 1024)

typedef struct {
  int status; /* from waitpid() */
  gboolean timed_out;
  GByteArray *out; /* the first OUTPUT_MAX bytes of stdout */
  GByteArray *err; /* the last OUTPUT_MAX bytes of stderr */
} CommandResult;

static void
command_result_clear (CommandResult *result)
{
  g_clear_pointer (&result->out, g_byte_array_unref);
  g_clear_pointer (&result->err, g_byte_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CommandResult, command_result_clear)

static void
child_setup (gpointer user_data)
{
  /* Its own process group, so a timeout kills what it started too. */
  setpgid (0, 0);
  /* not at a job's lower priorities: a start command may start the PBX */
  priority_reset_child ();
}

static void
kill_group (GPid pid)
{
  kill (-pid, SIGKILL);
  kill (pid, SIGKILL);
}

/* Reads what is there on fd (non-blocking), at most DRAIN_BUDGET bytes
 * so that a command writing without pause cannot keep us from its
 * deadline.  FALSE at end of file. */
static gboolean
drain (int fd, GByteArray *kept, gboolean keep_tail)
{
  guint8 buffer[8192];

  for (gsize total = 0; total < DRAIN_BUDGET;) {
    ssize_t n = read (fd, buffer, sizeof buffer);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0)
      return FALSE;
    total += n;
    if (keep_tail) {
      g_byte_array_append (kept, buffer, n);
      if (kept->len > OUTPUT_MAX)
        g_byte_array_remove_range (kept, 0, kept->len - OUTPUT_MAX);
    } else if (kept->len < OUTPUT_MAX) {
      g_byte_array_append (kept, buffer, MIN ((gsize) n, OUTPUT_MAX - kept->len));
    }
  }
  return TRUE;
}

static int
pidfd_for (GPid pid)
{
  return (int) syscall (SYS_pidfd_open, pid, 0);
}

/* Runs argv to completion (or kills it).  FALSE only if it could not be
 * started, or on cancellation (then it was killed). */
static gboolean
run (char **argv, guint timeout_seconds, GCancellable *cancellable, CommandResult *result,
     GError **error)
{
  const char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL };
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_seconds * G_USEC_PER_SEC;
  GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH_FROM_ENVP
                      | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_CLOEXEC_PIPES;
  g_auto (AutoFd) out_fd = -1;
  g_auto (AutoFd) err_fd = -1;
  g_auto (AutoFd) pid_fd = -1;
  gboolean exited = FALSE, cancelled = FALSE;
  GPollFD cancel_poll;
  gboolean have_cancel_poll;
  GPid pid;

  result->out = g_byte_array_new ();
  result->err = g_byte_array_new ();
  if (!g_spawn_async_with_pipes_and_fds ("/", (const char *const *) argv, envp, flags, child_setup,
                                         NULL, -1, -1, -1, NULL, NULL, 0, &pid, NULL, &out_fd,
                                         &err_fd, error))
    return FALSE;
  g_unix_set_fd_nonblocking (out_fd, TRUE, NULL);
  g_unix_set_fd_nonblocking (err_fd, TRUE, NULL);
  pid_fd = pidfd_for (pid);
  have_cancel_poll = cancellable != NULL && g_cancellable_make_pollfd (cancellable, &cancel_poll);

  while (!exited) {
    GPollFD fds[4];
    guint n = 0;
    gint64 now = g_get_monotonic_time ();
    int wait_ms;

    if (g_cancellable_is_cancelled (cancellable)) {
      cancelled = TRUE;
      break;
    }
    if (timeout_seconds > 0 && now >= deadline) {
      result->timed_out = TRUE;
      break;
    }
    wait_ms = timeout_seconds > 0 ? (int) MIN ((deadline - now + 999) / 1000, 1000) : 1000;
    if (out_fd >= 0)
      fds[n++] = (GPollFD){ .fd = out_fd, .events = G_IO_IN };
    if (err_fd >= 0)
      fds[n++] = (GPollFD){ .fd = err_fd, .events = G_IO_IN };
    if (pid_fd >= 0)
      fds[n++] = (GPollFD){ .fd = pid_fd, .events = G_IO_IN };
    else
      wait_ms = MIN (wait_ms, 20); /* no pidfd (before Linux 5.3): poll waitpid() */
    if (have_cancel_poll)
      fds[n++] = cancel_poll;
    if (g_poll (fds, n, wait_ms) < 0 && errno != EINTR) {
      g_warning ("poll() while running %s: %s", argv[0], g_strerror (errno));
      g_usleep (10 * 1000);
    }
    if (out_fd >= 0 && !drain (out_fd, result->out, FALSE))
      close (g_steal_fd (&out_fd));
    if (err_fd >= 0 && !drain (err_fd, result->err, TRUE))
      close (g_steal_fd (&err_fd));
    if (waitpid (pid, &result->status, WNOHANG) == pid)
      exited = TRUE;
  }
  if (have_cancel_poll)
    g_cancellable_release_fd (cancellable);

  if (exited) {
    /* What it wrote before it exited is still in the pipes. */
    if (out_fd >= 0)
      drain (out_fd, result->out, FALSE);
    if (err_fd >= 0)
      drain (err_fd, result->err, TRUE);
  } else {
    kill_group (pid);
    while (waitpid (pid, &result->status, 0) < 0 && errno == EINTR)
      ;
  }
  g_spawn_close_pid (pid);
  if (cancelled)
    return !g_cancellable_set_error_if_cancelled (cancellable, error);
  return TRUE;
}

/* The last non-empty line of the command's stderr, or NULL. */
static char *
bytes_to_text (GByteArray *bytes)
{
  /* Empty: data is NULL. */
  return bytes->len > 0 ? g_strndup ((const char *) bytes->data, bytes->len) : g_strdup ("");
}

static char *
last_line (GByteArray *bytes)
{
  g_autofree char *text = bytes_to_text (bytes);
  g_auto (GStrv) lines = NULL;

  g_strchomp (text);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = g_strv_length (lines); i > 0; i--) {
    char *line = g_strstrip (lines[i - 1]);

    if (line[0] != '\0')
      return g_utf8_make_valid (line, -1);
  }
  return NULL;
}

/* "exited with status 3: <stderr>", "was killed by signal 9", ... or NULL
 * on success. */
static char *
describe_failure (const CommandResult *result, guint timeout_seconds)
{
  g_autofree char *stderr_line = last_line (result->err);
  g_autofree char *what = NULL;

  if (result->timed_out)
    what = g_strdup_printf ("did not finish within %u %s and was killed", timeout_seconds,
                            timeout_seconds == 1 ? "second" : "seconds");
  else if (WIFEXITED (result->status) && WEXITSTATUS (result->status) == 0)
    return NULL;
  else if (WIFEXITED (result->status))
    what = g_strdup_printf ("exited with status %d", WEXITSTATUS (result->status));
  else if (WIFSIGNALED (result->status))
    what = g_strdup_printf ("was killed by signal %d (%s)", WTERMSIG (result->status),
                            g_strsignal (WTERMSIG (result->status)));
  else
    what = g_strdup ("ended abnormally");
  if (stderr_line != NULL)
    return g_strdup_printf ("%s: %s", what, stderr_line);
  return g_steal_pointer (&what);
}

void
pbx_sessions_clear (PbxSessions *sessions)
{
  g_clear_pointer (&sessions->problem, g_free);
  sessions->known = FALSE;
  sessions->users = 0;
  sessions->calls = 0;
}

/* Takes the value of a "key=N" line: decimal digits only, below 1e6. */
static gboolean
parse_count (const char *line, const char *key, guint *value, gboolean *seen, char **problem)
{
  const char *digits = line + strlen (key);
  gsize len = strlen (digits);
  g_autofree char *quoted = NULL;

  if (*seen) {
    *problem = g_strdup_printf ("SessionsCommand printed more than one %s line", key);
    return FALSE;
  }
  if (len == 0 || len > COUNT_DIGITS_MAX || strspn (digits, "0123456789") != len) {
    quoted = g_utf8_make_valid (line, MIN (strlen (line), 64));
    *problem = g_strdup_printf ("SessionsCommand printed an invalid %s line: \"%s\"", key, quoted);
    return FALSE;
  }
  *value = (guint) g_ascii_strtoull (digits, NULL, 10);
  *seen = TRUE;
  return TRUE;
}

static gboolean
parse_sessions (GByteArray *bytes, PbxSessions *out)
{
  g_autofree char *text = bytes_to_text (bytes);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean have_users = FALSE, have_calls = FALSE;

  for (guint i = 0; lines[i] != NULL; i++) {
    const char *line = lines[i];

    if (g_str_has_prefix (line, "users=")) {
      if (!parse_count (line, "users=", &out->users, &have_users, &out->problem))
        return FALSE;
    } else if (g_str_has_prefix (line, "calls=")) {
      if (!parse_count (line, "calls=", &out->calls, &have_calls, &out->problem))
        return FALSE;
    }
  }
  if (!have_users || !have_calls) {
    out->problem
        = g_strdup_printf ("SessionsCommand printed no %s line", !have_users ? "users=" : "calls=");
    return FALSE;
  }
  return TRUE;
}

void
pbx_query_sessions (char **argv, guint timeout_seconds, PbxSessions *out)
{
  g_auto (CommandResult) result = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *failure = NULL;

  memset (out, 0, sizeof *out);
  if (argv == NULL || argv[0] == NULL) {
    out->problem = g_strdup ("no SessionsCommand is configured");
    return;
  }
  if (!run (argv, timeout_seconds, NULL, &result, &error)) {
    out->problem = g_strdup_printf ("SessionsCommand could not be run: %s", error->message);
    return;
  }
  failure = describe_failure (&result, timeout_seconds);
  if (failure != NULL) {
    out->problem = g_strdup_printf ("SessionsCommand %s", failure);
    return;
  }
  if (parse_sessions (result.out, out))
    out->known = TRUE;
  else
    out->users = out->calls = 0;
}

gboolean
pbx_run_command (char **argv, const char *what, guint timeout_seconds, GCancellable *cancellable,
                 GError **error)
{
  g_auto (CommandResult) result = { 0 };
  g_autoptr (GError) local = NULL;
  g_autofree char *failure = NULL;

  if (argv == NULL || argv[0] == NULL)
    return TRUE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (!run (argv, timeout_seconds, cancellable, &result, &local)) {
    if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s (%s) could not be run: %s", what,
                 argv[0], local->message);
    return FALSE;
  }
  failure = describe_failure (&result, timeout_seconds);
  if (failure != NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s (%s) failed: it %s", what, argv[0],
                 failure);
    return FALSE;
  }
  return TRUE;
}
