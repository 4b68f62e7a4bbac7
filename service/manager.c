/* manager.c: the methods and properties of /de/starface/Backup. */
#include "manager.h"

#include "authority.h"
#include "bus.h"
#include "catalog.h"
#include "job.h"
#include "names.h"
#include "preflight.h"
#include "restore.h"
#include "token.h"
#include "upload.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

struct _Manager {
  Server *server;
  const Config *config;
  Authority *authority;
  JobList *jobs;
  GHashTable *uploading; /* names with an upload in progress */
  TokenStore *tokens;
  gboolean restoring;    /* a restore is being prepared or runs */
};

#define TOKEN_LIFETIME_SECONDS 300

/* --- running domain work off the main loop ------------------------------- */

/* Work done in a worker thread: returns the reply tuple or sets error. */
typedef GVariant *(*WorkFunc) (Manager *manager, gpointer data, GError **error);

typedef struct {
  Manager *manager;
  WorkFunc func;
  gpointer data;
  GDestroyNotify free_data;
} Work;

static void
work_free (Work *work)
{
  if (work->free_data != NULL)
    work->free_data (work->data);
  g_free (work);
}

static void
work_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Work *work = task_data;
  GError *error = NULL;
  GVariant *reply = work->func (work->manager, work->data, &error);

  if (reply == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_variant_ref_sink (reply), (GDestroyNotify) g_variant_unref);
}

static void
work_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr (GError) error = NULL;
  GVariant *reply = g_task_propagate_pointer (G_TASK (result), &error);

  if (reply == NULL)
    call_return_error (call, error);
  else
    call_return (call, reply); /* consumes our reference */
}

static void
run_in_thread (Manager *manager, Call *call, WorkFunc func, gpointer data,
               GDestroyNotify free_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, work_done, call);
  Work *work = g_new0 (Work, 1);

  work->manager = manager;
  work->func = func;
  work->data = data;
  work->free_data = free_data;
  g_task_set_task_data (task, work, (GDestroyNotify) work_free);
  g_task_run_in_thread (task, work_thread);
}

/* --- authorization -------------------------------------------------------- */

/* Continues a call once polkit has allowed it; owns data from then on. */
typedef void (*AuthorizedFunc) (Manager *manager, Call *call, gpointer data, uid_t uid);

typedef struct {
  Manager *manager;
  Call *call;
  AuthorizedFunc func;
  gpointer data;
  GDestroyNotify free_data;
} Pending;

static void
pending_free (Pending *pending)
{
  /* a call still here was never answered: its caller left the bus */
  if (pending->call != NULL)
    call_drop (pending->call);
  if (pending->data != NULL && pending->free_data != NULL)
    pending->free_data (pending->data);
  g_free (pending);
}

static void
pending_decided (uid_t uid, const GError *error, gpointer user_data)
{
  Pending *pending = user_data;
  Call *call = g_steal_pointer (&pending->call);

  if (error != NULL)
    call_return_error (call, error);
  else
    pending->func (pending->manager, call, g_steal_pointer (&pending->data), uid);
}

/* Authorizes before any state changes or file is touched. */
static void
authorize_then (Manager *manager, Call *call, const char *action, const char *backup,
                const char *components, AuthorizedFunc func, gpointer data,
                GDestroyNotify free_data)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->manager = manager;
  pending->call = call;
  pending->func = func;
  pending->data = data;
  pending->free_data = free_data;
  authority_check (manager->authority, call_get_sender (call), action, backup, components,
                   call_allows_interactive_authorization (call), pending_decided, pending,
                   (GDestroyNotify) pending_free);
}

/* --- installed version --------------------------------------------------- */

/* The installed version; FALSE (with *text "") when it cannot be read. */
static gboolean
installed_version (const Manager *manager, SfVersion *version, char **text)
{
  g_autoptr (GError) error = NULL;

  if (sf_version_read_file (manager->config->version_file, version, text, &error))
    return TRUE;
  g_warning ("installed version unknown: %s", error->message);
  *text = g_strdup ("");
  return FALSE;
}

/* --- List ---------------------------------------------------------------- */

static GVariant *
entry_to_variant (const CatalogEntry *entry)
{
  GVariantBuilder info;

  g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&info, "{sv}", "size", g_variant_new_uint64 (entry->size));
  g_variant_builder_add (&info, "{sv}", "created",
                         g_variant_new_uint64 ((guint64) MAX (entry->created, 0)));
  g_variant_builder_add (&info, "{sv}", "process", g_variant_new_string (entry->process));
  g_variant_builder_add (&info, "{sv}", "version", g_variant_new_string (entry->version));
  g_variant_builder_add (&info, "{sv}", "hostname", g_variant_new_string (entry->hostname));
  g_variant_builder_add (&info, "{sv}", "valid", g_variant_new_boolean (entry->valid));
  g_variant_builder_add (&info, "{sv}", "compatible", g_variant_new_boolean (entry->compatible));
  g_variant_builder_add (&info, "{sv}", "latest", g_variant_new_boolean (entry->latest));
  if (entry->problem != NULL)
    g_variant_builder_add (&info, "{sv}", "problem", g_variant_new_string (entry->problem));
  return g_variant_new ("(sa{sv})", entry->name, &info);
}

static GVariant *
list_work (Manager *manager, gpointer data, GError **error)
{
  g_autofree char *installed_text = NULL;
  SfVersion installed;
  gboolean known = installed_version (manager, &installed, &installed_text);
  g_autoptr (GPtrArray) entries
      = catalog_list (manager->config->backup_directory, known ? &installed : NULL, error);
  GVariantBuilder list;

  if (entries == NULL)
    return NULL;
  g_variant_builder_init (&list, G_VARIANT_TYPE ("a(sa{sv})"));
  for (guint i = 0; i < entries->len; i++)
    g_variant_builder_add_value (&list, entry_to_variant (entries->pdata[i]));
  return g_variant_new ("(a(sa{sv}))", &list);
}

static void
list_authorized (Manager *manager, Call *call, gpointer data, uid_t uid)
{
  run_in_thread (manager, call, list_work, NULL, NULL);
}

static void
handle_list (Call *call, GVariant *args, gpointer object)
{
  authorize_then (object, call, ACTION_READ, NULL, NULL, list_authorized, NULL, NULL);
}

/* --- Inspect ------------------------------------------------------------- */

static GVariant *
components_to_variant (const SarManifest *manifest)
{
  GVariantBuilder components;

  g_variant_builder_init (&components, G_VARIANT_TYPE ("a(sa{sv})"));
  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = manifest->components->pdata[i];
    GVariantBuilder info;
    g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&info, "{sv}", "label", g_variant_new_string (component->label));
    g_variant_builder_add (&info, "{sv}", "files",
                           g_variant_new_uint32 ((guint32) MIN (component->files, G_MAXUINT32)));
    g_variant_builder_add (&info, "{sv}", "bytes", g_variant_new_uint64 (component->bytes));
    g_variant_builder_add (&components, "(sa{sv})", component->id, &info);
  }
  return g_variant_builder_end (&components);
}

static GVariant *
inspect_work (Manager *manager, gpointer data, GError **error)
{
  const char *name = data;
  g_autofree char *installed_text = NULL;
  SfVersion installed;
  gboolean known = installed_version (manager, &installed, &installed_text);
  g_autoptr (CatalogEntry) entry = catalog_inspect (manager->config->backup_directory, name,
                                                    known ? &installed : NULL, error);
  const SarManifest *manifest;
  GVariantBuilder info;

  if (entry == NULL)
    return NULL;
  manifest = entry->header->manifest;
  g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&info, "{sv}", "name", g_variant_new_string (entry->name));
  g_variant_builder_add (&info, "{sv}", "version", g_variant_new_string (manifest->version));
  g_variant_builder_add (&info, "{sv}", "created",
                         g_variant_new_uint64 ((guint64) MAX (manifest->created, 0)));
  g_variant_builder_add (&info, "{sv}", "process", g_variant_new_string (manifest->process));
  g_variant_builder_add (&info, "{sv}", "hostname", g_variant_new_string (manifest->hostname));
  if (manifest->ip_address != NULL)
    g_variant_builder_add (&info, "{sv}", "ip-address",
                           g_variant_new_string (manifest->ip_address));
  g_variant_builder_add (&info, "{sv}", "size", g_variant_new_uint64 (entry->size));
  g_variant_builder_add (&info, "{sv}", "compatible", g_variant_new_boolean (entry->compatible));
  g_variant_builder_add (&info, "{sv}", "installed-version",
                         g_variant_new_string (installed_text));
  g_variant_builder_add (&info, "{sv}", "components", components_to_variant (manifest));
  return g_variant_new ("(a{sv})", &info);
}

static void
inspect_authorized (Manager *manager, Call *call, gpointer name, uid_t uid)
{
  run_in_thread (manager, call, inspect_work, name, g_free);
}

static void
handle_inspect (Call *call, GVariant *args, gpointer object)
{
  g_autoptr (GError) error = NULL;
  const char *name;

  g_variant_get (args, "(&s)", &name);
  if (!sar_name_validate (name, &error)) {
    call_return_error (call, error);
    return;
  }
  authorize_then (object, call, ACTION_READ, name, NULL, inspect_authorized, g_strdup (name),
                  g_free);
}

/* --- options ------------------------------------------------------------- */

typedef struct {
  const char *key;
  const char *type;
} OptionSpec;

/* Unknown keys and wrong types are refused, never ignored. */
static gboolean
check_options (GVariant *options, const OptionSpec *specs, const char *method, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
    const OptionSpec *spec = specs;
    g_autoptr (GString) known = g_string_new (NULL);
    for (; spec->key != NULL; spec++) {
      if (g_str_equal (spec->key, key))
        break;
      g_string_append_printf (known, "%s%s", known->len > 0 ? ", " : "", spec->key);
    }
    if (spec->key == NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   "%s does not know the option '%s'; it accepts: %s", method, key,
                   known->len > 0 ? known->str : "no options");
      return FALSE;
    }
    if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type))) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   "Option '%s' of %s must have type '%s', not '%s'", key, method, spec->type,
                   g_variant_get_type_string (value));
      return FALSE;
    }
  }
  return TRUE;
}

/* --- Upload -------------------------------------------------------------- */

typedef struct {
  Manager *manager;
  Job *job;
  char *name;
  UploadRequest request;
  guint name_watch;
  guint64 last_report_bytes;
} Upload;

static void
upload_free (Upload *upload)
{
  if (upload->request.source_fd >= 0)
    close (upload->request.source_fd);
  g_free (upload->name);
  g_free (upload);
}

static void
upload_progress (UploadStage stage, guint64 bytes, guint64 total, gpointer user_data)
{
  Upload *upload = user_data;
  g_autofree char *size = g_format_size (bytes);
  g_autofree char *total_size = NULL;
  g_autofree char *message = NULL;
  guint percent = 0;

  /* verification runs while the data arrives, so receiving is most of the
   * work when the size is known; from a pipe only verification (whose size
   * is known by then) moves the bar */
  switch (stage) {
  case UPLOAD_STAGE_RECEIVING:
    if (total > 0)
      percent = (guint) (bytes * 95 / MAX (total, bytes));
    message = g_strdup_printf ("%s received", size);
    job_report (upload->job, percent, "receiving", message);
    return;
  case UPLOAD_STAGE_VERIFYING:
    total_size = g_format_size (total);
    if (upload->request.source_size > 0)
      percent = 95 + (total > 0 ? (guint) (bytes * 4 / total) : 0);
    else
      percent = total > 0 ? (guint) (bytes * 99 / total) : 0;
    message = g_strdup_printf ("%s of %s verified", size, total_size);
    job_report (upload->job, percent, "verifying", message);
    return;
  case UPLOAD_STAGE_PUBLISHING:
    job_report (upload->job, 99, "publishing", "");
    return;
  }
}

static void
upload_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Upload *upload = task_data;
  GError *error = NULL;

  if (upload_run (&upload->request, upload_progress, upload, job_get_cancellable (upload->job),
                  &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
upload_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Upload *upload = g_task_get_task_data (G_TASK (result));
  Manager *manager = upload->manager;
  g_autoptr (GError) error = NULL;

  g_task_propagate_boolean (G_TASK (result), &error);
  bus_unwatch_name (server_get_connection (manager->server), upload->name_watch);
  g_hash_table_remove (manager->uploading, upload->name);
  job_finish (upload->job, error);
}

static void
upload_caller_vanished (gpointer user_data)
{
  Upload *upload = user_data;

  g_message ("%s: the uploading client left the bus; canceling", job_get_path (upload->job));
  g_cancellable_cancel (job_get_cancellable (upload->job));
}

static gboolean
backup_exists (Manager *manager, const char *name)
{
  int dir_fd = open (manager->config->backup_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  gboolean exists = dir_fd >= 0 && fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;

  if (dir_fd >= 0)
    close (dir_fd);
  return exists;
}

static void
upload_authorized (Manager *manager, Call *call, gpointer data, uid_t uid)
{
  g_autoptr (GTask) task = NULL;
  Upload *upload = data;
  const char *name = upload->name;

  if (g_hash_table_contains (manager->uploading, name)) {
    call_return_new_error (call, BACKUP_ERROR_BUSY,
                           "An upload of %s is already in progress; wait for it to finish", name);
    upload_free (upload);
    return;
  }
  if (!upload->request.replace && backup_exists (manager, name)) {
    call_return_new_error (call, BACKUP_ERROR_ALREADY_EXISTS,
                           "A backup named %s already exists; upload with replace=true to "
                           "overwrite it",
                           name);
    upload_free (upload);
    return;
  }
  if (job_list_count_running (manager->jobs, "upload") >= manager->config->max_concurrent_uploads) {
    call_return_new_error (call, BACKUP_ERROR_BUSY,
                           "%u uploads are already running (MaxConcurrentUploads); try again "
                           "when one has finished",
                           manager->config->max_concurrent_uploads);
    upload_free (upload);
    return;
  }

  upload->job = job_list_add (manager->jobs, "upload", name, call_get_sender (call), uid);
  g_hash_table_add (manager->uploading, g_strdup (name));
  upload->name_watch = bus_watch_name (server_get_connection (manager->server),
                                       call_get_sender (call), upload_caller_vanished, upload);
  call_return (call, g_variant_new ("(o)", job_get_path (upload->job)));

  task = g_task_new (NULL, NULL, upload_done, NULL);
  g_task_set_task_data (task, upload, (GDestroyNotify) upload_free);
  g_task_run_in_thread (task, upload_thread);
}

static void
handle_upload (Call *call, GVariant *args, gpointer object)
{
  static const OptionSpec upload_options[] = { { "replace", "b" }, { NULL, NULL } };
  Manager *manager = object;
  const char *name;
  gint32 handle;
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  gboolean replace = FALSE;
  Upload *upload;
  guint64 size;
  int fd;

  /* everything about the request is checked before a byte is read */
  g_variant_get (args, "(&sh@a{sv})", &name, &handle, &options);
  fd = call_steal_fd (call, handle);
  if (!sar_name_validate (name, &error) || !check_options (options, upload_options, "Upload", &error)
      || !upload_check_source (fd, &size, &error)) {
    if (fd >= 0)
      close (fd);
    call_return_error (call, error);
    return;
  }
  g_variant_lookup (options, "replace", "b", &replace);

  upload = g_new0 (Upload, 1);
  upload->manager = manager;
  upload->name = g_strdup (name);
  upload->request.directory = manager->config->backup_directory;
  upload->request.name = upload->name;
  upload->request.replace = replace;
  upload->request.source_fd = fd;
  upload->request.source_size = size;
  upload->request.max_size = manager->config->max_backup_size;
  upload->request.idle_timeout_seconds = manager->config->upload_idle_timeout;
  upload->request.limits.max_unpacked_bytes = manager->config->max_unpacked_size;
  upload->request.limits.max_entries = manager->config->max_entries;
  authorize_then (manager, call, ACTION_UPLOAD, name, NULL, upload_authorized, upload,
                  (GDestroyNotify) upload_free);
}

/* --- Preflight and Restore ---------------------------------------------------- */

typedef struct {
  char *name;
  char **components;
  gboolean ignore_ip;
  char *token;
  uid_t uid;
} RestoreArgs;

static void
restore_args_free (RestoreArgs *ra)
{
  g_free (ra->name);
  g_strfreev (ra->components);
  g_free (ra->token);
  g_free (ra);
}

/* Decodes (s as a{sv}) and checks everything that needs no file. */
static RestoreArgs *
restore_args_parse (GVariant *args, const OptionSpec *specs, const char *method, GError **error)
{
  g_autoptr (GVariant) options = NULL;
  RestoreArgs *ra = g_new0 (RestoreArgs, 1);

  g_variant_get (args, "(s^as@a{sv})", &ra->name, &ra->components, &options);
  if (!sar_name_validate (ra->name, error) || !check_options (options, specs, method, error)) {
    restore_args_free (ra);
    return NULL;
  }
  for (guint i = 0; ra->components[i] != NULL; i++)
    if (!sar_component_id_check (ra->components[i], error)) {
      restore_args_free (ra);
      return NULL;
    }
  g_variant_lookup (options, "ignore-ip", "b", &ra->ignore_ip);
  g_variant_lookup (options, "token", "s", &ra->token);
  return ra;
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
preflight_work (Manager *manager, gpointer data, GError **error)
{
  RestoreArgs *ra = data;
  g_autoptr (PreflightReport) report
      = preflight_run (manager->config, ra->name, (const char *const *) ra->components,
                       ra->ignore_ip, error);
  g_autofree char *token = NULL;
  GVariantBuilder info, components;

  if (report == NULL)
    return NULL;
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
  g_variant_builder_add (&info, "{sv}", "token", g_variant_new_string (token ? token : ""));
  return g_variant_new ("(a{sv})", &info);
}

static void
preflight_authorized (Manager *manager, Call *call, gpointer data, uid_t uid)
{
  RestoreArgs *ra = data;

  ra->uid = uid;
  run_in_thread (manager, call, preflight_work, ra, (GDestroyNotify) restore_args_free);
}

static void
handle_preflight (Call *call, GVariant *args, gpointer object)
{
  static const OptionSpec options[] = { { "ignore-ip", "b" }, { NULL, NULL } };
  g_autoptr (GError) error = NULL;
  g_autofree char *detail = NULL;
  RestoreArgs *ra = restore_args_parse (args, options, "Preflight", &error);

  if (ra == NULL) {
    call_return_error (call, error);
    return;
  }
  detail = preflight_components_detail ((const char *const *) ra->components);
  authorize_then (object, call, ACTION_READ, ra->name, detail, preflight_authorized, ra,
                  (GDestroyNotify) restore_args_free);
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
} Restore;

static void
restore_free (Restore *restore)
{
  if (restore->fd >= 0)
    close (restore->fd);
  if (restore->args != NULL)
    restore_args_free (restore->args);
  preflight_report_free (restore->report);
  restore_result_clear (&restore->result);
  g_free (restore);
}

static void
restore_hook_progress (guint percent, const char *stage, const char *message, gpointer data)
{
  job_report (((Restore *) data)->job, percent, stage, message);
}

static void
restore_hook_cancelable (gboolean cancelable, gpointer data)
{
  job_set_cancelable (((Restore *) data)->job, cancelable);
}

static const RestoreHooks restore_hooks = { restore_hook_progress, restore_hook_cancelable, NULL };

static void
restore_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Restore *restore = task_data;
  RestoreHooks hooks = restore_hooks;
  GError *error = NULL;
  gboolean ok;

  hooks.data = restore;
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
    ok = restore_run (&request, &hooks, job_get_cancellable (restore->job), &restore->result,
                      &error);
  } else {
    /* finishing a restore that a crash interrupted */
    ok = restore_complete (restore->manager->config, &hooks, &restore->result, &error);
  }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
restore_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Restore *restore = g_task_get_task_data (G_TASK (res));
  RestoreResult *result = &restore->result;
  g_autoptr (GError) error = NULL;

  g_task_propagate_boolean (G_TASK (res), &error);
  if (result->pre_restore != NULL)
    job_set_detail (restore->job, "pre-restore-backup", g_variant_new_string (result->pre_restore));
  if (result->pbx_stopped_at != 0)
    job_set_detail (restore->job, "pbx-stopped-at",
                    g_variant_new_uint64 ((guint64) result->pbx_stopped_at));
  if (result->pbx_started_at != 0)
    job_set_detail (restore->job, "pbx-started-at",
                    g_variant_new_uint64 ((guint64) result->pbx_started_at));
  if (result->pbx_stopped_at != 0 && result->pbx_started_at >= result->pbx_stopped_at)
    job_set_detail (restore->job, "pbx-downtime-ms",
                    g_variant_new_uint64 ((guint64) (result->pbx_started_at
                                                     - result->pbx_stopped_at) / 1000));
  restore->manager->restoring = FALSE;
  job_finish (restore->job, error);
}

static void
restore_start_job (Restore *restore, const char *backup, const char *starter, uid_t uid)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, restore_done, NULL);

  restore->job = job_list_add (restore->manager->jobs, "restore", backup, starter, uid);
  g_task_set_task_data (task, restore, (GDestroyNotify) restore_free);
  g_task_run_in_thread (task, restore_thread);
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
  restore->report = preflight_open (manager->config, ra->name,
                                    (const char *const *) ra->components, &restore->fd, &error);
  if (restore->report == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!restore->report->compatible) {
    g_task_return_new_error (task, BACKUP_ERROR, BACKUP_ERROR_VERSION_TOO_NEW, "%s",
                             (const char *) restore->report->blockers->pdata[0]);
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
restore_authorized (Manager *manager, Call *call, gpointer data, uid_t uid)
{
  g_autoptr (GTask) task = NULL;
  Restore *restore;

  if (manager->restoring) {
    call_return_new_error (call, BACKUP_ERROR_BUSY,
                           "Another restore is running; only one restore can run at a time");
    restore_args_free (data);
    return;
  }
  manager->restoring = TRUE;
  restore = g_new0 (Restore, 1);
  restore->manager = manager;
  restore->args = data;
  restore->args->uid = uid;
  restore->call = call;
  restore->fd = -1;
  task = g_task_new (NULL, NULL, restore_checked, restore);
  g_task_set_task_data (task, restore, NULL);
  g_task_run_in_thread (task, restore_check_thread);
}

static void
handle_restore (Call *call, GVariant *args, gpointer object)
{
  static const OptionSpec options[]
      = { { "token", "s" }, { "ignore-ip", "b" }, { NULL, NULL } };
  g_autoptr (GError) error = NULL;
  g_autofree char *detail = NULL;
  RestoreArgs *ra = restore_args_parse (args, options, "Restore", &error);

  if (ra == NULL) {
    call_return_error (call, error);
    return;
  }
  if (ra->token == NULL || ra->token[0] == '\0') {
    call_return_new_error (call, BACKUP_ERROR_INVALID_TOKEN,
                           "Restore needs the option 'token' from a Preflight of the same backup "
                           "and components");
    restore_args_free (ra);
    return;
  }
  detail = preflight_components_detail ((const char *const *) ra->components);
  authorize_then (object, call, ACTION_RESTORE, ra->name, detail, restore_authorized, ra,
                  (GDestroyNotify) restore_args_free);
}

/* At start: a restore that a crash interrupted after its swaps is finished
 * as a job of its own (the fast part, rolling back or starting the PBX, ran
 * before). */
static void
resume_interrupted_restore (Manager *manager)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *backup = NULL;
  Restore *restore;

  if (!restore_recover (manager->config, &backup, &error)) {
    g_warning ("recovering an interrupted restore failed: %s", error->message);
    return;
  }
  if (backup == NULL)
    return;
  restore = g_new0 (Restore, 1);
  restore->manager = manager;
  restore->fd = -1;
  manager->restoring = TRUE;
  restore_start_job (restore, backup, "", 0);
}

/* --- properties ---------------------------------------------------------- */

static GVariant *
get_property (const char *property, gpointer object)
{
  Manager *manager = object;

  if (g_str_equal (property, "InstalledVersion")) {
    g_autofree char *text = NULL;
    SfVersion version;
    installed_version (manager, &version, &text);
    return g_variant_new_string (text);
  }
  if (g_str_equal (property, "BackupDirectory"))
    return g_variant_new_string (manager->config->backup_directory);
  if (g_str_equal (property, "Jobs"))
    return job_list_paths (manager->jobs);
  return NULL;
}

static void
jobs_changed (gpointer user_data)
{
  Manager *manager = user_data;
  const char *const changed[] = { "Jobs", NULL };

  server_properties_changed (manager->server, BACKUP_OBJECT_PATH, BACKUP_INTERFACE, changed);
}

static const MethodEntry manager_methods[] = {
  { "List", handle_list },
  { "Inspect", handle_inspect },
  { "Upload", handle_upload },
  { "Preflight", handle_preflight },
  { "Restore", handle_restore },
  { NULL, NULL },
};

static const InterfaceVTable manager_interface = {
  BACKUP_INTERFACE,
  manager_methods,
  get_property,
};

Manager *
manager_new (Server *server, const Config *config, Authority *authority, GError **error)
{
  const InterfaceVTable *const interfaces[] = { &manager_interface, NULL };
  Manager *manager = g_new0 (Manager, 1);

  manager->server = server;
  manager->config = config;
  manager->authority = authority;
  manager->jobs = job_list_new (server, authority, config->finished_job_lifetime,
                                G_CALLBACK (jobs_changed), manager);
  manager->uploading = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  manager->tokens = token_store_new (TOKEN_LIFETIME_SECONDS);
  upload_sweep_temporaries (config->backup_directory);
  if (!server_export (server, BACKUP_OBJECT_PATH, interfaces, manager, error)) {
    g_free (manager);
    return NULL;
  }
  resume_interrupted_restore (manager);
  return manager;
}

void
manager_free (Manager *manager)
{
  if (manager == NULL)
    return;
  job_list_free (manager->jobs);
  token_store_free (manager->tokens);
  g_hash_table_unref (manager->uploading);
  server_unexport (manager->server, BACKUP_OBJECT_PATH);
  g_free (manager);
}
