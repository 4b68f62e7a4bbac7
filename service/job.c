/* job.c: job objects, their progress signals and their lifetime. */
#include "job.h"

#include "audit.h"
#include "method.h"
#include "names.h"

#include <gio/gio.h>
#include <sys/random.h>

/* At most one Progress signal per job in this interval (stage changes and
 * the end are always announced at once). */
#define PROGRESS_INTERVAL_US (200 * 1000)

struct _JobList {
  Server *server;
  Authority *authority;
  guint keep_finished_seconds;
  GCallback changed;
  gpointer changed_data;
  JobFinishedFunc finished;
  gpointer finished_data;
  GPtrArray *jobs; /* Job*, in creation order */
};

struct _Job {
  JobList *list;
  char *path;
  char *operation;
  char *backup;
  char *starter;
  uid_t starter_uid;
  char **components; /* NULL: all, or none for an upload */
  gint64 started;    /* UNIX seconds */
  GCancellable *cancellable;
  char *state;      /* running, done, failed, canceled */
  char *error_name; /* of a failure or cancellation, else "" */
  char *error_message;
  GVariant *details; /* a{sv} */

  /* what the D-Bus side last announced (main loop) */
  guint percent;
  char *stage;
  gint64 last_emit_us;
  guint flush_source;
  guint expire_source;

  /* what workers reported last (under lock) */
  GMutex lock;
  guint reported_percent;
  char *reported_stage;
  char *reported_message;
  GQueue stage_changes; /* StageChange*: each stage is announced, however short */
  gboolean report_pending;
  gboolean cancelable;
};

static void job_free (Job *job);

static const char *const progress_properties[] = { "Percent", "Stage", NULL };
static const char *const all_properties[]
    = { "State", "Percent", "Stage", "Details", "Result", "ErrorName", "ErrorMessage", NULL };
static const char *const details_property[] = { "Details", NULL };

static void
emit_jobs_changed (JobList *list)
{
  if (list->changed != NULL)
    ((void (*) (gpointer)) list->changed) (list->changed_data);
}

/* --- D-Bus face ---------------------------------------------------------- */

static GVariant *
get_operation (gpointer job)
{
  return g_variant_new_string (((Job *) job)->operation);
}

static GVariant *
get_backup (gpointer job)
{
  return g_variant_new_string (((Job *) job)->backup);
}

static GVariant *
get_state (gpointer job)
{
  return g_variant_new_string (((Job *) job)->state);
}

static GVariant *
get_result (gpointer object)
{
  Job *job = object;

  return g_variant_new_string (g_str_equal (job->state, "running") ? "" : job->state);
}

static GVariant *
get_error_name (gpointer job)
{
  return g_variant_new_string (((Job *) job)->error_name);
}

static GVariant *
get_error_message (gpointer job)
{
  return g_variant_new_string (((Job *) job)->error_message);
}

static GVariant *
get_percent (gpointer job)
{
  return g_variant_new_uint32 (((Job *) job)->percent);
}

static GVariant *
get_stage (gpointer job)
{
  return g_variant_new_string (((Job *) job)->stage);
}

static GVariant *
get_details (gpointer job)
{
  return g_variant_ref (((Job *) job)->details);
}

static const PropertyEntry job_properties[] = {
  { "Operation", get_operation },  { "Backup", get_backup },
  { "State", get_state },          { "Result", get_result },
  { "ErrorName", get_error_name }, { "ErrorMessage", get_error_message },
  { "Percent", get_percent },      { "Stage", get_stage },
  { "Details", get_details },      { NULL, NULL },
};

static Job *
job_list_find (JobList *list, const char *path)
{
  for (guint i = 0; i < list->jobs->len; i++) {
    Job *job = list->jobs->pdata[i];
    if (g_str_equal (job->path, path))
      return job;
  }
  return NULL;
}

/* 64 bits from the kernel's generator; should it not be ready yet (early
 * boot), from GLib's, which is seeded from /dev/urandom or the time. */
static guint64
random_id (void)
{
  guint64 id;

  if (getrandom (&id, sizeof id, GRND_NONBLOCK) == (ssize_t) sizeof id)
    return id;
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

/* A new job's path: 64 random bits as 16 hexadecimal digits (a valid path
 * element), so that no counter restarting with the daemon hands a path out
 * again: a client that kept a job's path across a restart finds nothing
 * there (UnknownObject), not another job.  Unused in this run, checked. */
static char *
job_list_new_path (JobList *list)
{
  for (;;) {
    g_autofree char *path
        = g_strdup_printf ("%s/job/%016" G_GINT64_MODIFIER "x", BACKUP_OBJECT_PATH, random_id ());
    if (job_list_find (list, path) == NULL)
      return g_steal_pointer (&path);
  }
}

static void
cancel_job (Call *call, Job *job)
{
  gboolean cancelable;

  if (job == NULL || !g_str_equal (job->state, "running")) {
    call_return_new_error (call, BACKUP_ERROR_FAILED, "Job %s has already ended",
                           call_get_path (call));
    return;
  }
  g_mutex_lock (&job->lock);
  cancelable = job->cancelable;
  g_mutex_unlock (&job->lock);
  if (!cancelable) {
    call_return_new_error (call, BACKUP_ERROR_BUSY,
                           "Job %s is past the point where it can be canceled; it will "
                           "complete or roll back on its own",
                           job->path);
    return;
  }
  g_message ("%s: canceled by %s", job->path, call_get_sender (call));
  g_cancellable_cancel (job->cancellable);
  call_return (call, NULL);
}

/* The job may have expired while the caller was being identified or
 * polkit asked: the answers find it again by its path (data), not by
 * pointer. */
static void
cancel_authorized (gpointer object, Call *call, gpointer path, uid_t uid)
{
  cancel_job (call, job_list_find (object, path));
  g_free (path);
}

static void
cancel_caller_known (gpointer object, Call *call, gpointer path, uid_t uid)
{
  JobList *list = object;
  Job *job = job_list_find (list, path);

  if (job == NULL || uid == 0 || uid == job->starter_uid) {
    if (job != NULL)
      audit_authorization (ACTION_CANCEL, call_get_sender (call), uid, job->backup, NULL, TRUE,
                           uid == 0 ? AUDIT_REASON_ROOT : AUDIT_REASON_STARTER, NULL);
    cancel_job (call, job);
    g_free (path);
    return;
  }
  /* someone else's job: polkit decides */
  method_authorize_then (list->authority, call, ACTION_CANCEL, job->backup, NULL, cancel_authorized,
                         list, path, g_free);
}

static void
handle_cancel (Call *call, GVariant *args, gpointer object)
{
  Job *job = object;

  /* first only who asks: the starter (and root) need no polkit */
  method_authorize_then (job->list->authority, call, NULL, NULL, NULL, cancel_caller_known,
                         job->list, g_strdup (job->path), g_free);
}

static const MethodEntry job_methods[] = {
  { "Cancel", handle_cancel },
  { NULL, NULL },
};

static const InterfaceVTable job_interface = {
  BACKUP_JOB_INTERFACE,
  job_methods,
  job_properties,
};

/* --- progress ------------------------------------------------------------ */

static void
emit_progress (Job *job, const char *message)
{
  server_emit_signal (job->list->server, BACKUP_OBJECT_PATH, BACKUP_INTERFACE, "Progress",
                      g_variant_new ("(ouss)", job->path, job->percent, job->stage, message));
  server_properties_changed (job->list->server, job->path, BACKUP_JOB_INTERFACE,
                             progress_properties);
  job->last_emit_us = g_get_monotonic_time ();
}

typedef struct {
  guint percent;
  char *stage;
  char *message;
} StageChange;

static void
stage_change_free (StageChange *change)
{
  g_free (change->stage);
  g_free (change->message);
  g_free (change);
}

static gboolean flush_progress (gpointer user_data);

/* Main loop: announces every stage change at once, in order, then the
 * latest report, rate-limited. */
static void
apply_report (Job *job)
{
  g_autofree char *stage = NULL;
  g_autofree char *message = NULL;
  GQueue changes = G_QUEUE_INIT;
  StageChange *change;
  guint percent;
  gint64 wait_us;

  g_mutex_lock (&job->lock);
  changes = job->stage_changes;
  g_queue_init (&job->stage_changes);
  job->report_pending = FALSE;
  percent = job->reported_percent;
  stage = g_strdup (job->reported_stage);
  message = g_strdup (job->reported_message);
  g_mutex_unlock (&job->lock);

  while ((change = g_queue_pop_head (&changes)) != NULL) {
    if (g_str_equal (job->state, "running")) {
      job->percent = MAX (job->percent, change->percent);
      g_free (job->stage);
      job->stage = g_strdup (change->stage);
      emit_progress (job, change->message);
    }
    stage_change_free (change);
  }
  if (!g_str_equal (job->state, "running") || !g_str_equal (stage, job->stage)
      || (percent == job->percent && message[0] == '\0'))
    return;
  wait_us = job->last_emit_us + PROGRESS_INTERVAL_US - g_get_monotonic_time ();
  if (wait_us > 0) {
    if (job->flush_source == 0)
      job->flush_source = g_timeout_add ((guint) (wait_us / 1000) + 1, flush_progress, job);
    return;
  }
  job->percent = percent;
  emit_progress (job, message);
}

static gboolean
flush_progress (gpointer user_data)
{
  Job *job = user_data;

  job->flush_source = 0;
  apply_report (job);
  return G_SOURCE_REMOVE;
}

static gboolean
report_arrived (gpointer user_data)
{
  apply_report (user_data);
  return G_SOURCE_REMOVE;
}

void
job_report (Job *job, guint percent, const char *stage, const char *message)
{
  gboolean schedule;

  g_mutex_lock (&job->lock);
  job->reported_percent = CLAMP (percent, job->reported_percent, 99);
  g_free (job->reported_message);
  job->reported_message = sar_escape_invalid (message != NULL ? message : "");
  if (stage != NULL && !g_str_equal (stage, job->reported_stage)) {
    StageChange *change = g_new0 (StageChange, 1);
    g_free (job->reported_stage);
    job->reported_stage = g_strdup (stage);
    change->percent = job->reported_percent;
    change->stage = g_strdup (stage);
    change->message = g_strdup (job->reported_message);
    g_queue_push_tail (&job->stage_changes, change);
  }
  schedule = !job->report_pending;
  job->report_pending = TRUE;
  g_mutex_unlock (&job->lock);
  /* one pending idle per job at a time: bursts of reports coalesce */
  if (schedule)
    g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, report_arrived, job, NULL);
}

void
job_report_progress (guint percent, const char *stage, const char *message, gpointer job)
{
  job_report (job, percent, stage, message);
}

void
job_set_detail (Job *job, const char *key, GVariant *value)
{
  GVariantDict dict;

  g_variant_dict_init (&dict, job->details);
  g_variant_dict_insert_value (&dict, key, value);
  g_variant_unref (job->details);
  job->details = g_variant_ref_sink (g_variant_dict_end (&dict));
  server_properties_changed (job->list->server, job->path, BACKUP_JOB_INTERFACE, details_property);
}

void
job_set_cancelable (Job *job, gboolean cancelable)
{
  g_mutex_lock (&job->lock);
  job->cancelable = cancelable;
  g_mutex_unlock (&job->lock);
}

/* --- lifetime ------------------------------------------------------------ */

static gboolean
expire_job (gpointer user_data)
{
  Job *job = user_data;
  JobList *list = job->list;

  job->expire_source = 0;
  g_ptr_array_remove (list->jobs, job);
  emit_jobs_changed (list);
  return G_SOURCE_REMOVE;
}

/* What the history keeps of a job that ended (keys: docs/dbus-api.md,
 * GetHistory). */
static GVariant *
history_record (Job *job, const char *error_name, const char *error_message)
{
  GVariantBuilder record;
  const char *const none[] = { NULL };
  guint64 downtime;
  const char *undo;

  g_variant_builder_init (&record, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&record, "{sv}", "job", g_variant_new_object_path (job->path));
  g_variant_builder_add (&record, "{sv}", "operation", g_variant_new_string (job->operation));
  g_variant_builder_add (&record, "{sv}", "backup", g_variant_new_string (job->backup));
  g_variant_builder_add (
      &record, "{sv}", "components",
      g_variant_new_strv (job->components != NULL ? (const char *const *) job->components : none,
                          -1));
  g_variant_builder_add (&record, "{sv}", "uid",
                         g_variant_new_uint32 (job->starter_uid == (uid_t) -1
                                                   ? G_MAXUINT32
                                                   : (guint32) job->starter_uid));
  g_variant_builder_add (&record, "{sv}", "started", g_variant_new_uint64 ((guint64) job->started));
  g_variant_builder_add (&record, "{sv}", "finished",
                         g_variant_new_uint64 ((guint64) (g_get_real_time () / G_USEC_PER_SEC)));
  g_variant_builder_add (&record, "{sv}", "result", g_variant_new_string (job->state));
  g_variant_builder_add (&record, "{sv}", "error-name", g_variant_new_string (error_name));
  g_variant_builder_add (&record, "{sv}", "error-message", g_variant_new_string (error_message));
  if (g_variant_lookup (job->details, "pbx-downtime-ms", "t", &downtime))
    g_variant_builder_add (&record, "{sv}", "pbx-downtime-ms", g_variant_new_uint64 (downtime));
  if (g_variant_lookup (job->details, "pre-restore-backup", "&s", &undo))
    g_variant_builder_add (&record, "{sv}", "pre-restore-backup", g_variant_new_string (undo));
  return g_variant_builder_end (&record);
}

void
job_finish (Job *job, const GError *error)
{
  const char *error_name = "";
  g_autofree char *error_message = g_strdup ("");

  g_return_if_fail (g_str_equal (job->state, "running"));
  /* stages reported just before the end are announced before it */
  apply_report (job);
  if (job->flush_source != 0) {
    g_source_remove (job->flush_source);
    job->flush_source = 0;
  }
  g_free (job->state);
  if (error == NULL) {
    job->state = g_strdup ("done");
    job->percent = 100;
  } else {
    gboolean canceled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                        || g_error_matches (error, BACKUP_ERROR, BACKUP_ERROR_CANCELED);
    job->state = g_strdup (canceled ? "canceled" : "failed");
    /* the one table: both kinds of cancellation are ...Error.Canceled */
    error_name = backup_error_dbus_name (error);
    /* D-Bus strings are UTF-8; a message may name a file that is not */
    g_free (error_message);
    error_message = sar_escape_invalid (error->message);
  }
  g_free (job->error_name);
  job->error_name = g_strdup (error_name);
  g_free (job->error_message);
  job->error_message = g_strdup (error_message);
  if (error == NULL)
    emit_progress (job, "");
  server_properties_changed (job->list->server, job->path, BACKUP_JOB_INTERFACE, all_properties);
  server_emit_signal (job->list->server, BACKUP_OBJECT_PATH, BACKUP_INTERFACE, "Finished",
                      g_variant_new ("(osss)", job->path, job->state, error_name, error_message));
  g_message ("%s (%s of %s): %s%s%s", job->path, job->operation, job->backup, job->state,
             error != NULL ? ": " : "", error_message);
  audit_job_finished (job->path, job->operation, job->backup, (const char *const *) job->components,
                      job->starter_uid, job->state, error_name, error_message);
  if (job->list->finished != NULL)
    job->list->finished (history_record (job, error_name, error_message), job->list->finished_data);
  job->expire_source = g_timeout_add_seconds (job->list->keep_finished_seconds, expire_job, job);
}

/* ObjectManager: the job object goes away with all its interfaces. */
static void
announce_removed (Job *job)
{
  g_autoptr (GVariant) interfaces
      = g_variant_ref_sink (server_object_interfaces (job->list->server, job->path));
  GVariantBuilder names;
  GVariantIter iter;
  const char *name;

  g_variant_builder_init (&names, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_iter_init (&iter, interfaces);
  while (g_variant_iter_next (&iter, "{&s@a{sv}}", &name, NULL))
    g_variant_builder_add (&names, "s", name);
  server_emit_signal (job->list->server, BACKUP_OBJECT_PATH, OBJECT_MANAGER_INTERFACE,
                      "InterfacesRemoved", g_variant_new ("(oas)", job->path, &names));
}

static void
job_free (Job *job)
{
  if (job->flush_source != 0)
    g_source_remove (job->flush_source);
  if (job->expire_source != 0)
    g_source_remove (job->expire_source);
  /* a report may still be queued for the main loop: drop it with us */
  while (g_source_remove_by_user_data (job))
    ;
  announce_removed (job);
  server_unexport (job->list->server, job->path);
  g_free (job->path);
  g_free (job->error_name);
  g_free (job->error_message);
  g_free (job->operation);
  g_free (job->backup);
  g_free (job->starter);
  g_strfreev (job->components);
  g_free (job->state);
  g_variant_unref (job->details);
  g_free (job->stage);
  g_free (job->reported_stage);
  g_free (job->reported_message);
  g_queue_clear_full (&job->stage_changes, (GDestroyNotify) stage_change_free);
  g_object_unref (job->cancellable);
  g_mutex_clear (&job->lock);
  g_free (job);
}

Job *
job_list_add (JobList *list, const char *operation, const char *backup,
              const char *const *components, const char *starter, uid_t starter_uid)
{
  const InterfaceVTable *const interfaces[] = { &job_interface, NULL };
  g_autoptr (GError) error = NULL;
  Job *job = g_new0 (Job, 1);

  job->list = list;
  job->path = job_list_new_path (list);
  job->operation = g_strdup (operation);
  job->backup = g_strdup (backup);
  job->starter = g_strdup (starter);
  job->starter_uid = starter_uid;
  job->components = g_strdupv ((char **) components);
  job->started = g_get_real_time () / G_USEC_PER_SEC;
  job->cancellable = g_cancellable_new ();
  job->state = g_strdup ("running");
  job->error_name = g_strdup ("");
  job->error_message = g_strdup ("");
  job->details = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  job->stage = g_strdup ("starting");
  job->reported_stage = g_strdup ("starting");
  job->reported_message = g_strdup ("");
  job->cancelable = TRUE;
  g_mutex_init (&job->lock);
  if (!server_export (list->server, job->path, interfaces, job, &error))
    g_error ("cannot export %s: %s", job->path, error->message); /* the XML is ours */
  g_ptr_array_add (list->jobs, job);
  server_emit_signal (list->server, BACKUP_OBJECT_PATH, OBJECT_MANAGER_INTERFACE, "InterfacesAdded",
                      g_variant_new ("(o@a{sa{sv}})", job->path,
                                     server_object_interfaces (list->server, job->path)));
  emit_jobs_changed (list);
  audit_job_started (job->path, operation, backup, components, starter, starter_uid);
  return job;
}

const char *
job_get_path (Job *job)
{
  return job->path;
}

const char *
job_get_starter (Job *job)
{
  return job->starter;
}

GCancellable *
job_get_cancellable (Job *job)
{
  return job->cancellable;
}

JobList *
job_list_new (Server *server, Authority *authority, guint keep_finished_seconds, GCallback changed,
              gpointer changed_data)
{
  JobList *list = g_new0 (JobList, 1);

  list->server = server;
  list->authority = authority;
  list->keep_finished_seconds = keep_finished_seconds;
  list->changed = changed;
  list->changed_data = changed_data;
  list->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);
  return list;
}

void
job_list_set_finished_func (JobList *list, JobFinishedFunc func, gpointer data)
{
  list->finished = func;
  list->finished_data = data;
}

void
job_list_free (JobList *list)
{
  if (list == NULL)
    return;
  list->changed = NULL;
  g_ptr_array_unref (list->jobs);
  g_free (list);
}

GVariant *
job_list_managed_objects (JobList *list)
{
  GVariantBuilder objects;

  g_variant_builder_init (&objects, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  for (guint i = 0; i < list->jobs->len; i++) {
    Job *job = list->jobs->pdata[i];
    g_variant_builder_add (&objects, "{o@a{sa{sv}}}", job->path,
                           server_object_interfaces (list->server, job->path));
  }
  return g_variant_builder_end (&objects);
}

GVariant *
job_list_paths (JobList *list)
{
  GVariantBuilder paths;

  g_variant_builder_init (&paths, G_VARIANT_TYPE_OBJECT_PATH_ARRAY);
  for (guint i = 0; i < list->jobs->len; i++)
    g_variant_builder_add (&paths, "o", ((Job *) list->jobs->pdata[i])->path);
  return g_variant_builder_end (&paths);
}

guint
job_list_count_running (JobList *list, const char *operation)
{
  guint n = 0;

  for (guint i = 0; i < list->jobs->len; i++) {
    Job *job = list->jobs->pdata[i];
    if (g_str_equal (job->state, "running") && g_str_equal (job->operation, operation))
      n++;
  }
  return n;
}
