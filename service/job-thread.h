/* job-thread.h: a job's work in a worker thread, its end on the main loop.
 *
 * One way for every job (an upload, a restore, a recovery): the work runs
 * in a thread of its own below the reads (priority.h; never in the worker
 * pool of List, Inspect and Preflight), then, on the main loop, the
 * caller's done function sees how it ended and the job finishes
 * (Finished, the history record).
 */
#pragma once

#include "job.h"

/* Worker thread: the job's work.  Reports with job_report(); honours
 * job_get_cancellable(). */
typedef gboolean (*JobThreadFunc) (Job *job, gpointer data, GError **error);

/* Main loop, right before job_finish (job, error): details, the caller's
 * own state.  error NULL: the work succeeded. */
typedef void (*JobDoneFunc) (Job *job, gpointer data, const GError *error);

/* Runs func (job, data) in a thread at the job's priorities, then done (may be NULL) and
 * job_finish() on the main loop; data is freed with free_data after that. */
void job_run_in_thread (Job *job, JobThreadFunc func, JobDoneFunc done, gpointer data,
                        GDestroyNotify free_data);
