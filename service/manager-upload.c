/* manager-upload.c: the Upload method: checks, then a job. */
#include "manager-private.h"

#include "autofd.h"

#include "bus.h"
#include "job-thread.h"
#include "names.h"
#include "upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- Upload -------------------------------------------------------------- */

typedef struct {
  Manager *manager;
  Job *job;
  char *name;
  UploadRequest request;
  guint name_watch;
  /* from the authorization to the job */
  Call *call;
  uid_t uid;
} Upload;

static void
upload_free (Upload *upload)
{
  autofd_clear (&upload->request.source_fd);
  g_free (upload->name);
  g_free (upload);
}

static gboolean
upload_job (Job *job, gpointer data, GError **error)
{
  Upload *upload = data;

  /* the upload computes its progress; the job only announces it */
  return upload_run (&upload->request, job_report_progress, job, job_get_cancellable (job), error);
}

static void
upload_done (Job *job, gpointer data, const GError *error)
{
  Upload *upload = data;
  Manager *manager = upload->manager;

  bus_unwatch_name (server_get_connection (manager->server), upload->name_watch);
  g_hash_table_remove (manager->uploading, upload->name);
}

static void
upload_caller_vanished (gpointer user_data)
{
  Upload *upload = user_data;

  g_message ("%s: the uploading client left the bus; canceling", job_get_path (upload->job));
  g_cancellable_cancel (job_get_cancellable (upload->job));
}

static gboolean
backup_exists (const char *directory, const char *name)
{
  g_auto (AutoFd) dir_fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;

  return dir_fd >= 0 && fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Worker, after the authorization: whether the name is taken (a look
 * at the backup directory, off the main loop). */
static void
upload_check_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *unused)
{
  Upload *upload = task_data;
  UploadRequest *request = &upload->request;

  if (!request->replace && backup_exists (request->directory, request->name)) {
    g_task_return_new_error (task, BACKUP_ERROR, BACKUP_ERROR_ALREADY_EXISTS,
                             "A backup named %s already exists; upload with replace=true to "
                             "overwrite it",
                             request->name);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

static void
upload_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Upload *upload = user_data;
  Manager *manager = upload->manager;
  Call *call = g_steal_pointer (&upload->call);
  const char *name = upload->name;
  g_autoptr (GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (res), &error)) {
    call_return_error (call, error);
    upload_free (upload);
    return;
  }
  if (g_hash_table_contains (manager->uploading, name)) {
    call_return_new_error (call, BACKUP_ERROR_BUSY,
                           "An upload of %s is already in progress; wait for it to finish", name);
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

  upload->job
      = job_list_add (manager->jobs, "upload", name, NULL, call_get_sender (call), upload->uid);
  g_hash_table_add (manager->uploading, g_strdup (name));
  upload->name_watch = bus_watch_name (server_get_connection (manager->server),
                                       call_get_sender (call), upload_caller_vanished, upload);
  call_return (call, g_variant_new ("(o)", job_get_path (upload->job)));
  job_run_in_thread (upload->job, upload_job, upload_done, upload, (GDestroyNotify) upload_free);
}

static void
upload_authorized (gpointer object, Call *call, gpointer data, uid_t uid)
{
  g_autoptr (GTask) task = NULL;
  Upload *upload = data;

  upload->call = call;
  upload->uid = uid;
  task = g_task_new (NULL, NULL, upload_checked, upload);
  g_task_set_task_data (task, upload, NULL);
  g_task_run_in_thread (task, upload_check_thread);
}

/* Worker, before the authorization: what the descriptor's file is (an
 * fstat() may wait for its file system: never on the main loop). */
static void
upload_source_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *unused)
{
  Upload *upload = task_data;
  UploadRequest *request = &upload->request;
  GError *error = NULL;

  if (!upload_check_source (request->source_fd, &request->source_size, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
upload_source_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Upload *upload = user_data;
  Call *call = g_steal_pointer (&upload->call);
  g_autoptr (GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (res), &error)) {
    call_return_error (call, error);
    upload_free (upload);
    return;
  }
  method_authorize_then (upload->manager->authority, call, ACTION_UPLOAD, upload->name, NULL,
                         upload_authorized, upload->manager, upload, (GDestroyNotify) upload_free);
}

void
manager_handle_upload (Call *call, GVariant *args, gpointer object)
{
  static const OptionSpec upload_options[] = { { "replace", "b" }, { NULL, NULL } };
  Manager *manager = object;
  const char *name;
  gint32 handle;
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  gboolean replace = FALSE;
  g_auto (AutoFd) fd = -1;
  g_autoptr (GTask) task = NULL;
  Upload *upload;

  /* everything about the request is checked before a byte is read, and
   * before polkit is asked; what asks a file system (the descriptor's
   * file, and after the authorization the backup directory) in a worker,
   * never on the main loop */
  g_variant_get (args, "(&sh@a{sv})", &name, &handle, &options);
  fd = call_steal_fd (call, handle);
  if (!sar_name_validate_upload (name, &error)
      || !method_check_options (options, upload_options, "Upload", &error)
      || !upload_check_access (fd, &error)) {
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
  upload->request.source_fd = g_steal_fd (&fd);
  upload->request.max_size = manager->config->max_backup_size;
  upload->request.idle_timeout_seconds = manager->config->upload_idle_timeout;
  upload->request.timeout_seconds = manager->config->upload_timeout;
  upload->request.limits.max_unpacked_bytes = manager->config->max_unpacked_size;
  upload->request.limits.max_entries = manager->config->max_entries;
  upload->call = call;
  task = g_task_new (NULL, NULL, upload_source_checked, upload);
  g_task_set_task_data (task, upload, NULL);
  g_task_run_in_thread (task, upload_source_thread);
}
