/* upload.c: receive, verify, publish.
 *
 * Receiving and verifying overlap.  The calling thread receives into the
 * temporary file and advances a watermark of complete bytes; a second
 * thread verifies the archive as it grows, reading the temporary file
 * back below the watermark (from the page cache).  Whichever side fails
 * first stops the other, so a corrupt upload fails as soon as the damage
 * arrives.  Writeback starts while receiving, so the final fsync is short.
 * Memory is a few fixed buffers, whatever the size of the upload.
 */
#include "upload.h"

#include "autofd.h"
#include "errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1024 * 1024)
/* Small enough that the verifier is never far behind the receiver. */
#define COPY_RANGE_CHUNK (4 * 1024 * 1024)
/* Dirty data is handed to the disk in steps of this size. */
#define WRITEBACK_STEP (32 * 1024 * 1024)

/* Verification runs while the data arrives, so receiving is most of the
 * work when the size is known; from a pipe only verification (whose size
 * is known by then) moves the bar. */
static const ProgressStep sized_steps[] = {
  { "receiving", 95 },
  { "verifying", 4 },
  { "publishing", 1 },
};
static const ProgressStep pipe_steps[] = {
  { "receiving", 0 },
  { "verifying", 99 },
  { "publishing", 1 },
};
G_STATIC_ASSERT (G_N_ELEMENTS (sized_steps) == G_N_ELEMENTS (pipe_steps));

/* Receiving: bytes of total (0 when unknown) are in. */
static void
report_received (Progress *progress, guint64 bytes, guint64 total)
{
  g_autofree char *size = g_format_size (bytes);

  progress_step_fraction (progress, "receiving", bytes, total, "%s received", size);
}

/* Verifying what is in: bytes of total. */
static void
report_verified (Progress *progress, guint64 bytes, guint64 total)
{
  g_autofree char *size = g_format_size (bytes);
  g_autofree char *total_size = g_format_size (total);

  progress_step_fraction (progress, "verifying", bytes, total, "%s of %s verified", size,
                          total_size);
}

gboolean
upload_check_access (int fd, GError **error)
{
  int flags = fd >= 0 ? fcntl (fd, F_GETFL) : -1;

  if (fd < 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                 "The file descriptor cannot be examined");
    return FALSE;
  }
  if (flags < 0 || (flags & O_PATH)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                 "The file descriptor was opened with O_PATH and cannot be read; open the "
                 "file for reading");
    return FALSE;
  }
  if ((flags & O_ACCMODE) == O_WRONLY) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                 "The file descriptor is open for writing only; open the file for reading");
    return FALSE;
  }
  return TRUE;
}

gboolean
upload_check_source (int fd, guint64 *size, GError **error)
{
  struct stat st;

  g_return_val_if_fail (size != NULL, FALSE);
  *size = 0;
  if (!upload_check_access (fd, error))
    return FALSE;
  if (fstat (fd, &st) < 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                 "The file descriptor cannot be examined");
    return FALSE;
  }
  if (S_ISREG (st.st_mode)) {
    *size = (guint64) st.st_size;
    return TRUE;
  }
  if (S_ISFIFO (st.st_mode) || S_ISSOCK (st.st_mode))
    return TRUE;
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
               "The file descriptor refers to a %s; pass a regular file, a pipe or a socket",
               S_ISDIR (st.st_mode)   ? "directory"
               : S_ISCHR (st.st_mode) ? "character device"
               : S_ISBLK (st.st_mode) ? "block device"
                                      : "special file");
  return FALSE;
}

/* The state the receiver and the verifier share. */
typedef struct {
  const UploadRequest *request;
  int fd;              /* the temporary file */
  GCancellable *stop;  /* cancelled on the caller's Cancel and on any failure */
  gint64 deadline;     /* monotonic time by which all data must be in; 0: none */
  guint64 synced;      /* receiver only: bytes handed to writeback */
  guint64 read_offset; /* verifier only: next byte to read back */

  GMutex lock;
  GCond cond;
  guint64 written;   /* bytes of fd that are complete */
  gboolean received; /* all data is in: written is final */
  gboolean stopped;  /* some side failed; error says why */
  gboolean verify_waiting;
  gboolean verify_stopping; /* the verifier stops reading: reads fail */
  gboolean verify_done;
  guint64 verified; /* bytes the verifier has consumed */
  GError *error;    /* the first failure */
} Transfer;

/* Records why the upload fails (only the first reason counts: the other
 * side's failure is then just the consequence) and stops both sides. */
static void
transfer_fail (Transfer *t, GError *error)
{
  g_mutex_lock (&t->lock);
  if (t->error == NULL)
    t->error = g_steal_pointer (&error);
  t->stopped = TRUE;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
  g_clear_error (&error);
  g_cancellable_cancel (t->stop);
}

static void
stop_on_cancel (GCancellable *cancellable, gpointer stop)
{
  g_cancellable_cancel (stop);
}

/* Receiver: n more bytes are in the file. */
static void
transfer_advance (Transfer *t, guint64 n)
{
  guint64 written;

  g_mutex_lock (&t->lock);
  t->written += n;
  written = t->written;
  if (t->verify_waiting)
    g_cond_signal (&t->cond);
  g_mutex_unlock (&t->lock);

  /* Errors show up in the final fsync. */
  if (written - t->synced >= WRITEBACK_STEP) {
    sync_file_range (t->fd, (off64_t) t->synced, (off64_t) (written - t->synced),
                     SYNC_FILE_RANGE_WRITE);
    t->synced = written;
  }
}

static gboolean
too_large (const UploadRequest *request, GError **error)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE,
               "The upload exceeds the maximum backup size of %" G_GUINT64_FORMAT
               " bytes (MaxBackupSize)",
               request->max_size);
  return FALSE;
}

/* Data that keeps trickling in (a byte now and then keeps the idle timeout
 * from firing) must not hold an upload slot forever: everything must have
 * arrived by the deadline. */
static gboolean
check_deadline (Transfer *t, guint64 received, GError **error)
{
  if (t->deadline == 0 || g_get_monotonic_time () < t->deadline)
    return TRUE;
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
               "The upload did not arrive within %u seconds (UploadTimeout); %" G_GUINT64_FORMAT
               " bytes had come by then. The upload was abandoned",
               t->request->timeout_seconds, received);
  return FALSE;
}

/* Milliseconds to wait for data: the idle timeout, or less when the
 * deadline comes first. */
static gint
poll_timeout (Transfer *t)
{
  gint64 idle = (gint64) t->request->idle_timeout_seconds * 1000;
  gint64 left;

  if (t->deadline == 0)
    return (gint) idle;
  left = (t->deadline - g_get_monotonic_time () + 999) / 1000;
  return (gint) CLAMP (left, 0, idle);
}

/* Regular files: in-kernel copy from offset 0 (the client's own file
 * offset is left alone), until EOF whatever st_size said. */
static gboolean
receive_file (Transfer *t, Progress *progress, GError **error)
{
  const UploadRequest *request = t->request;
  g_autofree char *buf = NULL;
  off_t offset = 0;
  gboolean use_copy_range = TRUE;

  for (;;) {
    ssize_t n;
    if (g_cancellable_set_error_if_cancelled (t->stop, error)
        || !check_deadline (t, (guint64) offset, error))
      return FALSE;
    if (use_copy_range) {
      n = copy_file_range (request->source_fd, &offset, t->fd, NULL, COPY_RANGE_CHUNK, 0);
      if (n < 0
          && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP
              || errno == EBADF)) {
        use_copy_range = FALSE;
        continue;
      }
    } else {
      if (buf == NULL)
        buf = g_malloc (CHUNK);
      n = pread (request->source_fd, buf, CHUNK, offset);
      if (n > 0 && !fd_write_all (t->fd, buf, (gsize) n))
        return backup_error_set_errno (error, errno, "cannot write the uploaded data");
      if (n > 0)
        offset += n;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "cannot %s the uploaded file",
                                     use_copy_range ? "copy" : "read");
    if (n == 0)
      break;
    if ((guint64) offset > request->max_size)
      return too_large (request, error);
    transfer_advance (t, (guint64) n);
    report_received (progress, (guint64) offset, request->source_size);
  }
  return TRUE;
}

/* Pipes and sockets: poll with an inactivity timeout and the deadline;
 * Cancel and a failed verification wake us. */
static gboolean
receive_stream (Transfer *t, Progress *progress, GError **error)
{
  const UploadRequest *request = t->request;
  g_autofree char *buf = g_malloc (CHUNK);
  GPollFD fds[2] = { { request->source_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, 0 } };
  gboolean have_cancel_fd = g_cancellable_make_pollfd (t->stop, &fds[1]);
  guint64 received = 0;
  gboolean ok = FALSE;

  for (;;) {
    ssize_t n;
    int ready;

    if (!check_deadline (t, received, error))
      break;
    ready = g_poll (fds, have_cancel_fd ? 2 : 1, poll_timeout (t));
    if (ready < 0 && errno == EINTR)
      continue;
    if (g_cancellable_set_error_if_cancelled (t->stop, error))
      break;
    if (ready == 0 && !check_deadline (t, received, error))
      break;
    if (ready == 0) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "No data arrived for %u seconds after %" G_GUINT64_FORMAT
                   " bytes; the upload was abandoned",
                   request->idle_timeout_seconds, received);
      break;
    }
    n = read (request->source_fd, buf, CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0) {
      backup_error_set_errno (error, errno, "cannot read the upload");
      break;
    }
    if (n == 0) {
      ok = TRUE;
      break;
    }
    received += (guint64) n;
    if (received > request->max_size) {
      too_large (request, error);
      break;
    }
    if (!fd_write_all (t->fd, buf, (gsize) n)) {
      backup_error_set_errno (error, errno, "cannot write the uploaded data");
      break;
    }
    transfer_advance (t, (guint64) n);
    report_received (progress, received, 0);
  }
  if (have_cancel_fd)
    g_cancellable_release_fd (t->stop);
  return ok;
}

/* Verifier: the next bytes below the watermark; waits for the receiver
 * when it has caught up. */
static gssize
read_received (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  Transfer *t = user_data;
  gboolean stopped;
  guint64 available;
  ssize_t n;

  g_mutex_lock (&t->lock);
  t->verify_waiting = TRUE;
  while (!t->stopped && !t->verify_stopping && !t->received && t->written == t->read_offset)
    g_cond_wait (&t->cond, &t->lock);
  t->verify_waiting = FALSE;
  stopped = t->stopped || t->verify_stopping;
  available = t->written - t->read_offset;
  g_mutex_unlock (&t->lock);

  if (stopped) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The upload was stopped");
    return -1;
  }
  if (available == 0)
    return 0;
  do
    n = pread (t->fd, buffer, MIN (size, available), (off_t) t->read_offset);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    backup_error_set_errno (error, errno, "cannot read back the uploaded data");
    return -1;
  }
  if (n == 0) {
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                         "The uploaded data shrank while it was verified");
    return -1;
  }
  t->read_offset += (guint64) n;
  return n;
}

/* The verifier's read-ahead stops early (the verification failed): a read
 * waiting for the receiver returns at once. */
static void
interrupt_read (gpointer user_data)
{
  Transfer *t = user_data;

  g_mutex_lock (&t->lock);
  t->verify_stopping = TRUE;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
}

static void
verify_progress (guint64 bytes_read, gpointer user_data)
{
  Transfer *t = user_data;

  g_mutex_lock (&t->lock);
  t->verified = bytes_read;
  if (t->received)
    g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
}

static gpointer
verify_thread (gpointer user_data)
{
  Transfer *t = user_data;
  GError *error = NULL;
  SarSource source = { read_received, interrupt_read, t };
  g_autoptr (SarHeader) header
      = sar_verify_stream (&source, &t->request->limits, verify_progress, t, t->stop, &error);

  if (header == NULL)
    transfer_fail (t, error);
  g_mutex_lock (&t->lock);
  t->verify_done = TRUE;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
  return NULL;
}

/* Waits for the verifier, reporting its progress from this thread (the
 * only one that calls progress). */
static void
wait_for_verifier (Transfer *t, guint64 total, Progress *progress)
{
  guint64 reported = 0;

  g_mutex_lock (&t->lock);
  while (!t->verify_done) {
    if (t->received && !t->stopped && t->verified != reported) {
      reported = t->verified;
      g_mutex_unlock (&t->lock);
      report_verified (progress, reported, total);
      g_mutex_lock (&t->lock);
      continue;
    }
    g_cond_wait (&t->cond, &t->lock);
  }
  g_mutex_unlock (&t->lock);
}

/* Receives into t->fd while a second thread verifies; on success the data
 * is complete, valid and durable. */
static gboolean
transfer_run (Transfer *t, Progress *progress, GError **error)
{
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time (), received_at = 0, synced_at = 0;
  struct stat st;
  GThread *verifier;
  gboolean ok;

  verifier = g_thread_try_new ("upload-verify", verify_thread, t, &local);
  if (verifier == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot start verifying: %s",
                 local->message);
    return FALSE;
  }

  if (fstat (t->request->source_fd, &st) == 0 && S_ISREG (st.st_mode))
    ok = receive_file (t, progress, &local);
  else
    ok = receive_stream (t, progress, &local);
  if (ok) {
    guint64 received, verified;

    g_mutex_lock (&t->lock);
    t->received = TRUE;
    received = t->written;
    verified = t->verified;
    g_cond_broadcast (&t->cond);
    g_mutex_unlock (&t->lock);
    /* From here on the job is verifying (and syncing) what is in. */
    report_verified (progress, verified, received);
    received_at = g_get_monotonic_time ();
    if (fsync (t->fd) < 0) {
      backup_error_set_errno (&local, errno, "cannot sync the uploaded data");
      transfer_fail (t, g_steal_pointer (&local));
    }
    synced_at = g_get_monotonic_time ();
    wait_for_verifier (t, received, progress);
    g_debug ("received %" G_GUINT64_FORMAT " bytes in %.3f s, synced in %.3f s, verified %.3f s "
             "later",
             received, (double) (received_at - start) / G_USEC_PER_SEC,
             (double) (synced_at - received_at) / G_USEC_PER_SEC,
             (double) (g_get_monotonic_time () - synced_at) / G_USEC_PER_SEC);
  } else {
    transfer_fail (t, g_steal_pointer (&local));
  }
  g_thread_join (verifier);

  if (t->error != NULL) {
    g_propagate_error (error, g_steal_pointer (&t->error));
    return FALSE;
  }
  return TRUE;
}

static gboolean
publish (int dir_fd, const char *temp, const UploadRequest *request, GError **error)
{
  int ret;

  if (request->replace)
    ret = renameat (dir_fd, temp, dir_fd, request->name);
  else
    ret = renameat2 (dir_fd, temp, dir_fd, request->name, RENAME_NOREPLACE);
  if (ret < 0 && errno == EEXIST) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_ALREADY_EXISTS,
                 "A backup named %s already exists; upload with replace=true to overwrite it",
                 request->name);
    return FALSE;
  }
  if (ret < 0)
    return backup_error_set_errno (error, errno, "cannot publish %s", request->name);
  if (fsync (dir_fd) < 0)
    return backup_error_set_errno (error, errno, "cannot sync the backup directory");
  return TRUE;
}

/* A new temporary file in the backup directory; *temp is its name. */
static int
create_temporary (int dir_fd, const UploadRequest *request, char **temp, GError **error)
{
  for (int attempt = 0; attempt < 100; attempt++) {
    g_autofree char *candidate = g_strdup_printf (UPLOAD_TEMP_PREFIX "%s-XXXXXX", request->name);
    char *x = candidate + strlen (candidate) - 6;
    int fd;

    for (int i = 0; i < 6; i++)
      x[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[g_random_int_range (0, 36)];
    fd = openat (dir_fd, candidate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd >= 0) {
      *temp = g_steal_pointer (&candidate);
      return fd;
    }
    if (errno != EEXIST) {
      backup_error_set_errno (error, errno, "cannot create a temporary file in %s",
                              request->directory);
      return -1;
    }
  }
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot create a temporary file");
  return -1;
}

gboolean
upload_run (const UploadRequest *request, ProgressFunc progress_func, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  Progress progress;
  g_autoptr (GCancellable) stop = g_cancellable_new ();
  g_autofree char *temp = NULL;
  g_auto (AutoFd) dir_fd = -1;
  g_auto (AutoFd) temp_fd = -1;
  Transfer t = { request, -1, stop };
  gulong cancel_handler = 0;
  gboolean ok;

  g_return_val_if_fail (request != NULL && request->directory != NULL && request->name != NULL,
                        FALSE);
  progress_init (&progress, request->source_size > 0 ? sized_steps : pipe_steps,
                 G_N_ELEMENTS (sized_steps), progress_func, progress_data);
  if (request->timeout_seconds > 0)
    t.deadline = g_get_monotonic_time () + (gint64) request->timeout_seconds * G_USEC_PER_SEC;

  dir_fd = open (request->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return backup_error_set_errno (error, errno, "cannot open the backup directory %s",
                                   request->directory);
  temp_fd = create_temporary (dir_fd, request, &temp, error);
  if (temp_fd < 0)
    return FALSE;
  t.fd = temp_fd;

  g_mutex_init (&t.lock);
  g_cond_init (&t.cond);
  if (cancellable != NULL)
    cancel_handler = g_cancellable_connect (cancellable, G_CALLBACK (stop_on_cancel), stop, NULL);
  ok = transfer_run (&t, &progress, error);
  g_cancellable_disconnect (cancellable, cancel_handler);
  if (ok) {
    progress_step (&progress, "publishing", "%s", "");
    ok = !g_cancellable_set_error_if_cancelled (cancellable, error)
         && publish (dir_fd, temp, request, error);
  }
  g_mutex_clear (&t.lock);
  g_cond_clear (&t.cond);
  if (!ok)
    unlinkat (dir_fd, temp, 0);
  return ok;
}

void
upload_sweep_temporaries (const char *directory)
{
  g_auto (AutoFd) dir_fd = -1;
  g_auto (AutoFd) dir_copy = -1;
  g_autoptr (DIR) dir = NULL;
  struct dirent *d;

  g_return_if_fail (directory != NULL);
  dir_fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  dir_copy = dir_fd >= 0 ? dup (dir_fd) : -1;
  dir = dir_copy >= 0 ? fdopendir (dir_copy) : NULL;
  if (dir == NULL)
    return;
  g_steal_fd (&dir_copy); /* the stream's now */
  while ((d = readdir (dir)) != NULL) {
    struct stat st;
    if (!g_str_has_prefix (d->d_name, UPLOAD_TEMP_PREFIX))
      continue;
    if (fstatat (dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode)
        && unlinkat (dir_fd, d->d_name, 0) == 0)
      g_message ("removed the stale upload temporary %s/%s", directory, d->d_name);
  }
}
