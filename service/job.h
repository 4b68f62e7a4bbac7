/* job.h: long-running work as D-Bus objects.
 *
 * A job lives at /de/starface/Backup/job/<id> with the properties of
 * de.starface.Backup.Job.  <id> is 16 random hexadecimal digits (64 bits),
 * so a path a client kept from before a restart of the daemon names no job
 * rather than another one.  Its progress is announced with the manager's
 * Progress signal and PropertiesChanged on the job, rate-limited, with a
 * percent that never goes down and reaches 100 only when the job is done.
 * Workers report from any thread with job_report(); the job finishes on
 * the main loop with job_finish() and stays readable for a while before
 * its object goes away.
 */
#pragma once

#include "authority.h"
#include "object.h"

typedef struct _Job Job;
typedef struct _JobList JobList;

/* changed: called (main loop) whenever the set of job paths changes. */
JobList *job_list_new (Server *server, Authority *authority, guint keep_finished_seconds,
                       GCallback changed, gpointer changed_data);
void job_list_free (JobList *list);
/* Every job object with its interfaces and properties, as
 * GetManagedObjects answers: a{oa{sa{sv}}}, floating. */
GVariant *job_list_managed_objects (JobList *list);
/* The object paths of all jobs, running or recently finished: "ao". */
GVariant *job_list_paths (JobList *list);
/* Running jobs of one operation ("upload", "restore"). */
guint job_list_count_running (JobList *list, const char *operation);

/* Called (main loop) when a job ends, with its history record (a{sv},
 * floating; see history.h). */
typedef void (*JobFinishedFunc) (GVariant *record, gpointer data);
void job_list_set_finished_func (JobList *list, JobFinishedFunc func, gpointer data);

/* A new running job; starter is the caller's unique bus name and uid;
 * components those a restore works on (NULL: none named).  The start is
 * an audit record (audit.h), and so is the end.
 * The starter's uid (and root) may cancel it; anyone else needs the
 * de.starface.backup.cancel action. */
Job *job_list_add (JobList *list, const char *operation, const char *backup,
                   const char *const *components, const char *starter, uid_t starter_uid);

const char *job_get_path (Job *job);
const char *job_get_starter (Job *job);
GCancellable *job_get_cancellable (Job *job);

/* Thread-safe.  percent is clamped so that it never goes down and stays
 * below 100 until job_finish(); stage NULL keeps the current stage. */
void job_report (Job *job, guint percent, const char *stage, const char *message);
/* job_report() as a ProgressFunc (progress.h) for the domain code's
 * progress: data is the job. */
void job_report_progress (guint percent, const char *stage, const char *message, gpointer job);

/* Main loop only.  error NULL: done; G_IO_ERROR_CANCELLED or
 * BACKUP_ERROR_CANCELED: canceled; anything else: failed. */
void job_finish (Job *job, const GError *error);

/* Main loop only: sets a key of the job's Details property. */
void job_set_detail (Job *job, const char *key, GVariant *value);

/* Whether Cancel() is still honoured (a restore past its point of no
 * return refuses it).  Thread-safe. */
void job_set_cancelable (Job *job, gboolean cancelable);
