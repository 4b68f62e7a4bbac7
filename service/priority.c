/* priority.c: long jobs below the reads (see priority.h). */
#include "priority.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ioprio_set(2) (glibc has no wrapper): the calling thread; the
 * best-effort class at its lowest level, and "none" (the default, which
 * follows the nice value) */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_BEST_EFFORT_LOWEST ((2 << IOPRIO_CLASS_SHIFT) | 7)
#define IOPRIO_NONE 0

/* the nice of the thread that started the first job (the main loop's) */
static int base_nice;
static gsize base_known;
/* set in a job's own thread: only that one is ever moved */
static _Thread_local gboolean in_job_thread;

typedef struct {
  GTask *task;
  GTaskThreadFunc func;
} JobThread;

static gpointer
job_thread (gpointer data)
{
  JobThread *job = data;
  GTask *task = job->task;

  in_job_thread = TRUE;

  /* Only this thread (and those it starts): a thread's nice is its own
   * on Linux.  Both may fail where a system call filter forbids them; the
   * job then runs at the daemon's priority. */
  errno = 0;
  if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), base_nice + PRIORITY_JOB_NICE) < 0)
    g_debug ("job at the daemon's CPU priority: %s", g_strerror (errno));
  if (syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_BEST_EFFORT_LOWEST) < 0)
    g_debug ("job at the daemon's I/O priority: %s", g_strerror (errno));
  job->func (task, g_task_get_source_object (task), g_task_get_task_data (task),
             g_task_get_cancellable (task));
  g_object_unref (task);
  g_free (job);
  return NULL;
}

void
priority_run_job_in_thread (GTask *task, GTaskThreadFunc func)
{
  g_autoptr (GError) error = NULL;
  JobThread *job;
  GThread *thread;

  if (g_once_init_enter (&base_known)) {
    errno = 0;
    base_nice = getpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid));
    if (base_nice == -1 && errno != 0)
      base_nice = 0;
    g_once_init_leave (&base_known, 1);
  }
  job = g_new0 (JobThread, 1);
  job->task = g_object_ref (task);
  job->func = func;
  thread = g_thread_try_new ("job", job_thread, job, &error);
  if (thread == NULL) {
    g_warning ("running a job in the shared pool, at normal priority: %s", error->message);
    g_object_unref (job->task);
    g_free (job);
    g_task_run_in_thread (task, func);
    return;
  }
  g_thread_unref (thread);
}

void
priority_critical (gboolean critical)
{
  id_t tid = (id_t) syscall (SYS_gettid);

  if (!in_job_thread)
    return; /* not a job's own thread: nothing was lowered */
  if (setpriority (PRIO_PROCESS, tid, base_nice + (critical ? 0 : PRIORITY_JOB_NICE)) < 0)
    g_debug ("cannot change the CPU priority of the restore: %s", g_strerror (errno));
  if (syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
               critical ? IOPRIO_NONE : IOPRIO_BEST_EFFORT_LOWEST)
      < 0)
    g_debug ("cannot change the I/O priority of the restore: %s", g_strerror (errno));
}

void
priority_reset_child (void)
{
  int saved = errno;

  if (base_known)
    setpriority (PRIO_PROCESS, 0, base_nice);
  syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_NONE);
  errno = saved;
}
