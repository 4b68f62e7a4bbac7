/* manager-restore.c: the Preflight and Restore methods, and finishing a
 * restore a crash interrupted. */
#include "manager-private.h"

#include "autofd.h"
#include "job-thread.h"
#include "names.h"
#include "preflight.h"
#include "restore.h"

/* --- Preflight and Restore ---------------------------------------------------- */

typedef struct {
  char *name;
  char **components;
  gboolean ignore_ip;
  char *token;
  uid_t uid;
  /* the manager's unresolved restore, when the call was authorized */
  char *unresolved;
  char *unresolved_backup;
  char *unresolved_reason;
} RestoreArgs;

static void
restore_args_free (RestoreArgs *ra)
{
  g_free (ra->name);
  g_strfreev (ra->components);
  g_free (ra->token);
  g_free (ra->unresolved);
  g_free (ra->unresolved_backup);
  g_free (ra->unresolved_reason);
  g_free (ra);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RestoreArgs, restore_args_free)

/* A component id as callers give it: well-formed, configured on this
 * machine, and not named before (components[0..index-1]). */
static gboolean
check_component (const Config *config, char **components, guint index, GError **error)
{
  const char *id = components[index];
  g_autofree char *quoted = NULL;

  if (!sar_component_id_check (id, error))
    return FALSE;
  quoted = sar_quote (id);
  if (config_find_component (config, id) == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT,
                 "This machine has no component %s configured; it cannot be restored here", quoted);
    return FALSE;
  }
  for (guint i = 0; i < index; i++)
    if (g_str_equal (components[i], id)) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "Component %s is named twice",
                   quoted);
      return FALSE;
    }
  return TRUE;
}

/* Decodes (s as a{sv}) and checks, the same way for Preflight and Restore
 * and before polkit is asked, everything that needs no file: the name,
 * the options, each component id and, with needs_token, that a token is
 * given. */
static RestoreArgs *
restore_args_parse (const Manager *manager, GVariant *args, const OptionSpec *specs,
                    const char *method, gboolean needs_token, GError **error)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (RestoreArgs) ra = g_new0 (RestoreArgs, 1);

  g_variant_get (args, "(s^as@a{sv})", &ra->name, &ra->components, &options);
  if (!sar_name_validate (ra->name, error) || !method_check_options (options, specs, method, error))
    return NULL;
  for (guint i = 0; ra->components[i] != NULL; i++)
    if (!check_component (manager->config, ra->components, i, error))
      return NULL;
  g_variant_lookup (options, "ignore-ip", "b", &ra->ignore_ip);
  g_variant_lookup (options, "token", "s", &ra->token);
  if (needs_token && (ra->token == NULL || ra->token[0] == '\0')) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_TOKEN,
                 "%s needs the option 'token' from a Preflight of the same backup and components",
                 method);
    return NULL;
  }
  return g_steal_pointer (&ra);
}

static GVariant *
strings_variant (GPtrArray *strings)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < strings->len; i++)
    g_variant_builder_add (&builder, "s", (const char *) strings->pdata[i]);
  return g_variant_builder_end (&builder);
}

static GVariant *
preflight_work (gpointer object, gpointer data, GError **error)
{
  Manager *manager = object;
  RestoreArgs *ra = data;
  g_autoptr (PreflightReport) report = preflight_run (
      manager->config, ra->name, (const char *const *) ra->components, ra->ignore_ip, error);
  g_autofree char *token = NULL;
  GVariantBuilder info, components;

  if (report == NULL)
    return NULL;
  if (ra->unresolved != NULL)
    preflight_report_add (report, PREFLIGHT_BLOCKER, "restore-unresolved",
                          g_variant_new_parsed ("{'backup': <%s>, 'reason': <%s>}",
                                                ra->unresolved_backup, ra->unresolved_reason),
                          "%s", ra->unresolved);
  if (report->blockers->len == 0)
    token = token_store_issue (manager->tokens, ra->name, report->components_key, &report->file,
                               ra->uid);
  g_variant_builder_init (&components, G_VARIANT_TYPE_STRING_ARRAY);
  for (guint i = 0; i < report->components->len; i++)
    g_variant_builder_add (&components, "s",
                           ((const ConfigComponent *) report->components->pdata[i])->id);
  g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&info, "{sv}", "compatible", g_variant_new_boolean (report->compatible));
  g_variant_builder_add (&info, "{sv}", "backup-version",
                         g_variant_new_string (report->header->manifest->version));
  g_variant_builder_add (&info, "{sv}", "installed-version",
                         g_variant_new_string (report->installed_version));
  g_variant_builder_add (&info, "{sv}", "components", g_variant_builder_end (&components));
  g_variant_builder_add (&info, "{sv}", "sessions-known",
                         g_variant_new_boolean (report->sessions.known));
  g_variant_builder_add (&info, "{sv}", "logged-in-users",
                         g_variant_new_uint32 (report->sessions.users));
  g_variant_builder_add (&info, "{sv}", "active-calls",
                         g_variant_new_uint32 (report->sessions.calls));
  g_variant_builder_add (&info, "{sv}", "bytes-required",
                         g_variant_new_uint64 (report->bytes_required));
  g_variant_builder_add (&info, "{sv}", "bytes-available",
                         g_variant_new_uint64 (report->bytes_available));
  g_variant_builder_add (&info, "{sv}", "blockers", strings_variant (report->blockers));
  g_variant_builder_add (&info, "{sv}", "warnings", strings_variant (report->warnings));
  g_variant_builder_add (&info, "{sv}", "checks", preflight_report_checks (report));
  g_variant_builder_add (&info, "{sv}", "token", g_variant_new_string (token ? token : ""));
  return g_variant_new ("(a{sv})", &info);
}

static void
preflight_authorized (gpointer object, Call *call, gpointer data, uid_t uid)
{
  Manager *manager = object;
  RestoreArgs *ra = data;

  ra->uid = uid;
  ra->unresolved = g_strdup (manager->unresolved);
  ra->unresolved_backup = g_strdup (manager->unresolved_backup);
  ra->unresolved_reason = g_strdup (manager->unresolved_reason);
  worker_pool_run (manager->readers, call, preflight_work, ra, (GDestroyNotify) restore_args_free);
}

void
manager_handle_preflight (Call *call, GVariant *args, gpointer object)
{
  static const OptionSpec options[] = { { "ignore-ip", "b" }, { NULL, NULL } };
  Manager *manager = object;
  g_autoptr (GError) error = NULL;
  g_autofree char *detail = NULL;
  RestoreArgs *ra = restore_args_parse (manager, args, options, "Preflight", FALSE, &error);

  if (ra == NULL) {
    call_return_error (call, error);
    return;
  }
  detail = preflight_components_detail ((const char *const *) ra->components);
  method_authorize_then (manager->authority, call, ACTION_READ, ra->name, detail,
                         preflight_authorized, manager, ra, (GDestroyNotify) restore_args_free);
}

/* A restore from its checks to its end. */
typedef struct {
  Manager *manager;
  RestoreArgs *args;
  Call *call;
  int fd;
  PreflightReport *report;
  Job *job;
  RestoreResult result;
  char *pending; /* at the end: the backup of a journal still on disk */
} Restore;

static void
restore_free (Restore *restore)
{
  autofd_clear (&restore->fd);
  g_clear_pointer (&restore->args, restore_args_free);
  preflight_report_free (restore->report);
  restore_result_clear (&restore->result);
  g_free (restore->pending);
  g_free (restore);
}

static void
restore_hook_cancelable (gboolean cancelable, gpointer job)
{
  job_set_cancelable (job, cancelable);
}

static gboolean
restore_job (Job *job, gpointer data, GError **error)
{
  Restore *restore = data;
  const RestoreHooks hooks = { job_report_progress, restore_hook_cancelable, job };
  gboolean ok;

  if (restore->report != NULL) {
    RestoreRequest request = {
      .config = restore->manager->config,
      .backup = restore->args->name,
      .archive_fd = restore->fd,
      .header = restore->report->header,
      .components = restore->report->components,
      .ignore_ip = restore->args->ignore_ip,
      .installed_version = restore->report->installed_version,
    };
    ok = restore_run (&request, &hooks, job_get_cancellable (job), &restore->result, error);
  } else {
    /* finishing a restore that a crash interrupted */
    ok = restore_complete (restore->manager->config, &hooks, &restore->result, error);
  }
  restore_pending (restore->manager->config, &restore->pending);
  return ok;
}

static void start_recovery (Manager *manager);

static gboolean
retry_recovery (gpointer user_data)
{
  Manager *manager = user_data;

  manager->retry_source = 0;
  if (manager->restoring)
    return G_SOURCE_REMOVE; /* a job works on it; it schedules the next attempt */
  start_recovery (manager);
  return G_SOURCE_REMOVE;
}

/* After every restore or recovery job, and at start: while a journal is
 * on disk, restores are refused and the daemon tries again, waiting
 * longer after each failure. */
static void
schedule_recovery (Manager *manager, const char *backup, const char *why)
{
  g_clear_handle_id (&manager->retry_source, g_source_remove);
  g_clear_pointer (&manager->unresolved, g_free);
  g_clear_pointer (&manager->unresolved_backup, g_free);
  g_clear_pointer (&manager->unresolved_reason, g_free);
  if (backup == NULL) {
    manager->retry_seconds = 0;
    return;
  }
  if (manager->retry_seconds == 0)
    manager->retry_seconds = manager->config->recovery_retry_interval;
  else
    manager->retry_seconds
        = MIN (manager->retry_seconds * 2, MAX (3600, manager->config->recovery_retry_interval));
  manager->unresolved
      = g_strdup_printf ("The restore of %s is not resolved yet (%s); the daemon tries again in "
                         "%u s",
                         backup, why, manager->retry_seconds);
  manager->unresolved_backup = g_strdup (backup);
  manager->unresolved_reason = g_strdup (why);
  g_warning ("%s", manager->unresolved);
  manager->retry_source = g_timeout_add_seconds (manager->retry_seconds, retry_recovery, manager);
}

/* Main loop: what the job did, before it finishes; then, while a journal
 * is still on disk, the next attempt at resolving it. */
static void
restore_done (Job *job, gpointer data, const GError *error)
{
  Restore *restore = data;
  RestoreResult *result = &restore->result;

  if (result->pre_restore != NULL)
    job_set_detail (job, "pre-restore-backup", g_variant_new_string (result->pre_restore));
  if (result->pbx_stopped_at != 0)
    job_set_detail (job, "pbx-stopped-at", g_variant_new_uint64 ((guint64) result->pbx_stopped_at));
  if (result->pbx_started_at != 0)
    job_set_detail (job, "pbx-started-at", g_variant_new_uint64 ((guint64) result->pbx_started_at));
  if (result->pbx_stopped_at != 0 && result->pbx_started_at >= result->pbx_stopped_at)
    job_set_detail (
        job, "pbx-downtime-ms",
        g_variant_new_uint64 ((guint64) (result->pbx_started_at - result->pbx_stopped_at) / 1000));
  if (result->unresolved != NULL)
    job_set_detail (job, "warning",
                    g_variant_new_printf ("The restore is done, but the previous state is not "
                                          "saved yet (%s); the daemon tries again",
                                          result->unresolved));
  restore->manager->restoring = FALSE;
  schedule_recovery (restore->manager, restore->pending,
                     result->unresolved != NULL ? result->unresolved
                     : error != NULL            ? error->message
                                                : "its journal is still there");
}

static void
restore_start_job (Restore *restore, const char *backup, const char *starter, uid_t uid)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();

  /* the components it works on: those the checks resolved (none named
   * for a recovery) */
  for (guint i = 0; restore->report != NULL && i < restore->report->components->len; i++)
    g_ptr_array_add (ids, ((ConfigComponent *) restore->report->components->pdata[i])->id);
  g_ptr_array_add (ids, NULL);
  restore->job = job_list_add (restore->manager->jobs, "restore", backup,
                               (const char *const *) ids->pdata, starter, uid);
  job_run_in_thread (restore->job, restore_job, restore_done, restore,
                     (GDestroyNotify) restore_free);
}

/* Worker: every refusal happens here, before the job exists. */
static void
restore_check_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *unused)
{
  Restore *restore = task_data;
  Manager *manager = restore->manager;
  RestoreArgs *ra = restore->args;
  GError *error = NULL;

  if (!token_store_peek (manager->tokens, ra->token, &error)) {
    g_task_return_error (task, error);
    return;
  }
  restore->report = preflight_open (manager->config, ra->name, (const char *const *) ra->components,
                                    &restore->fd, &error);
  if (restore->report == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!restore->report->compatible) {
    /* an unknown installed version is this machine's problem, not the backup's */
    g_task_return_new_error (task, BACKUP_ERROR,
                             restore->report->installed_version[0] == '\0'
                                 ? BACKUP_ERROR_FAILED
                                 : BACKUP_ERROR_VERSION_TOO_NEW,
                             "%s", (const char *) restore->report->blockers->pdata[0]);
    return;
  }
  if (!token_store_redeem (manager->tokens, ra->token, ra->name, restore->report->components_key,
                           &restore->report->file, ra->uid, &error)) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

static void
restore_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Restore *restore = user_data;
  g_autoptr (GError) error = NULL;
  Call *call = g_steal_pointer (&restore->call);

  if (!g_task_propagate_boolean (G_TASK (res), &error)) {
    restore->manager->restoring = FALSE;
    call_return_error (call, error);
    restore_free (restore);
    return;
  }
  restore_start_job (restore, restore->args->name, call_get_sender (call), restore->args->uid);
  call_return (call, g_variant_new ("(o)", job_get_path (restore->job)));
}

static void
restore_authorized (gpointer object, Call *call, gpointer data, uid_t uid)
{
  g_autoptr (GTask) task = NULL;
  Manager *manager = object;
  g_autoptr (RestoreArgs) ra = data;
  Restore *restore;

  if (manager->restoring) {
    call_return_new_error (call, BACKUP_ERROR_BUSY,
                           "Another restore is running; only one restore can run at a time");
    return;
  }
  if (manager->unresolved != NULL) {
    call_return_new_error (call, BACKUP_ERROR_BUSY, "%s", manager->unresolved);
    return;
  }
  manager->restoring = TRUE;
  restore = g_new0 (Restore, 1);
  restore->manager = manager;
  restore->args = g_steal_pointer (&ra);
  restore->args->uid = uid;
  restore->call = call;
  restore->fd = -1;
  task = g_task_new (NULL, NULL, restore_checked, restore);
  g_task_set_task_data (task, restore, NULL);
  g_task_run_in_thread (task, restore_check_thread);
}

void
manager_handle_restore (Call *call, GVariant *args, gpointer object)
{
  static const OptionSpec options[] = { { "token", "s" }, { "ignore-ip", "b" }, { NULL, NULL } };
  Manager *manager = object;
  g_autoptr (GError) error = NULL;
  g_autofree char *detail = NULL;
  RestoreArgs *ra = restore_args_parse (manager, args, options, "Restore", TRUE, &error);

  if (ra == NULL) {
    call_return_error (call, error);
    return;
  }
  detail = preflight_components_detail ((const char *const *) ra->components);
  method_authorize_then (manager->authority, call, ACTION_RESTORE, ra->name, detail,
                         restore_authorized, manager, ra, (GDestroyNotify) restore_args_free);
}

/* A job that resolves the journal on disk (completes or rolls back the
 * restore it describes).  It cannot be canceled: it only ends what a
 * restore started. */
static void
start_recovery (Manager *manager)
{
  g_autofree char *backup = NULL;
  Restore *restore;

  /* the journal's name only labels the job; restore_complete() reads it again */
  if (!restore_pending (manager->config, &backup)) {
    schedule_recovery (manager, NULL, NULL);
    return;
  }
  restore = g_new0 (Restore, 1);
  restore->manager = manager;
  restore->fd = -1;
  manager->restoring = TRUE;
  restore_start_job (restore, backup, "", 0);
  job_set_cancelable (restore->job, FALSE);
}

/* At start: a restore that a crash interrupted is completed or rolled back
 * by a recovery job (in a worker thread: the PBX commands it may run take
 * time, and the bus is served meanwhile); if that fails, the daemon tries
 * again later. */
void
manager_resume_interrupted_restore (Manager *manager)
{
  start_recovery (manager);
}
