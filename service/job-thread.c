/* job-thread.c: a job's work in a worker thread (see job-thread.h). */
#include "job-thread.h"

#include "priority.h"

typedef struct {
  Job *job;
  JobThreadFunc func;
  JobDoneFunc done;
  gpointer data;
  GDestroyNotify free_data;
} JobWork;

static void
job_work_free (JobWork *work)
{
  if (work->free_data != NULL)
    work->free_data (work->data);
  g_free (work);
}

static void
job_work_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *unused)
{
  JobWork *work = task_data;
  GError *error = NULL;

  if (work->func (work->job, work->data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
job_work_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  JobWork *work = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  g_task_propagate_boolean (G_TASK (result), &error);
  if (work->done != NULL)
    work->done (work->job, work->data, error);
  job_finish (work->job, error);
}

void
job_run_in_thread (Job *job, JobThreadFunc func, JobDoneFunc done, gpointer data,
                   GDestroyNotify free_data)
{
  g_autoptr (GTask) task = NULL;
  JobWork *work;

  g_return_if_fail (job != NULL && func != NULL);
  work = g_new0 (JobWork, 1);
  work->job = job;
  work->func = func;
  work->done = done;
  work->data = data;
  work->free_data = free_data;
  task = g_task_new (NULL, NULL, job_work_done, NULL);
  g_task_set_task_data (task, work, (GDestroyNotify) job_work_free);
  priority_run_job_in_thread (task, job_work_thread);
}
