/* agent.c: starting and stopping pkttyagent. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long registering the agent with polkitd may take. */
#define REGISTER_TIMEOUT_MS 10000

struct _Agent {
  GPid pid;
};

/* "pid,start-time": pkttyagent's advice, so a recycled pid cannot be
 * mistaken for this process. */
static char *
process_subject (void)
{
  g_autofree char *stat = NULL;
  const char *fields;
  g_auto (GStrv) parts = NULL;

  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL)
      || (fields = strrchr (stat, ')')) == NULL)
    return g_strdup_printf ("%d", (int) getpid ());
  /* after "pid (comm)": field 3 is state ... field 22 is starttime */
  parts = g_strsplit (fields + 2, " ", 0);
  if (g_strv_length (parts) < 20)
    return g_strdup_printf ("%d", (int) getpid ());
  return g_strdup_printf ("%d,%s", (int) getpid (), parts[19]);
}

/* Waits until pkttyagent closes the notify fd: registered, or exited. */
static void
wait_registered (int notify_fd)
{
  struct pollfd pfd = { .fd = notify_fd, .events = POLLIN };
  gint64 deadline = g_get_monotonic_time () + REGISTER_TIMEOUT_MS * 1000;
  char byte;

  for (;;) {
    int left = (int) ((deadline - g_get_monotonic_time ()) / 1000);
    int n;

    if (left <= 0)
      return;
    n = poll (&pfd, 1, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || read (notify_fd, &byte, 1) <= 0)
      return;
  }
}

/* Whether this process belongs to a logind session, as polkit sees it
 * (sd_pid_get_session() reads the same cgroup path). */
static gboolean
in_login_session (void)
{
  g_autofree char *cgroup = NULL;

  return g_file_get_contents ("/proc/self/cgroup", &cgroup, NULL, NULL)
         && strstr (cgroup, "/session-") != NULL && strstr (cgroup, ".scope") != NULL;
}

Agent *
agent_start (void)
{
  g_autofree char *subject = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  gint source_fds[1], target_fds[1] = { 3 };
  int notify[2];
  Agent *agent;
  GPid pid;

  if (geteuid () == 0 || !isatty (STDIN_FILENO))
    return NULL;
  if (pipe2 (notify, O_CLOEXEC) < 0)
    return NULL;
  subject = process_subject ();
  g_ptr_array_add (argv, "pkttyagent");
  g_ptr_array_add (argv, "--notify-fd");
  g_ptr_array_add (argv, "3");
  g_ptr_array_add (argv, "--process");
  g_ptr_array_add (argv, subject);
  /* polkit passes over a fallback agent when the caller has no login
   * session, so only in one does a desktop's agent get the first word */
  if (in_login_session ())
    g_ptr_array_add (argv, "--fallback");
  g_ptr_array_add (argv, NULL);
  source_fds[0] = notify[1];
  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char *const *) argv->pdata, NULL,
                                         G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                         NULL, -1, -1, -1, source_fds, target_fds, 1, &pid, NULL,
                                         NULL, NULL, &error)) {
    g_debug ("no polkit text agent: %s", error->message);
    close (notify[0]);
    close (notify[1]);
    return NULL;
  }
  close (notify[1]);
  wait_registered (notify[0]);
  close (notify[0]);
  agent = g_new0 (Agent, 1);
  agent->pid = pid;
  return agent;
}

void
agent_stop (Agent *agent)
{
  if (agent == NULL)
    return;
  kill (agent->pid, SIGTERM);
  while (waitpid (agent->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (agent->pid);
  g_free (agent);
}
