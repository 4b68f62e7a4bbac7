/* upload.c: receive, verify, publish. */
#include "upload.h"

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
#define COPY_RANGE_CHUNK (16 * 1024 * 1024)

gboolean
upload_check_source (int fd, guint64 *size, GError **error)
{
  struct stat st;
  int flags;

  *size = 0;
  if (fd < 0 || fstat (fd, &st) < 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                 "The file descriptor cannot be examined");
    return FALSE;
  }
  flags = fcntl (fd, F_GETFL);
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

static gboolean
write_all (int fd, const char *buf, gsize len, GError **error)
{
  while (len > 0) {
    ssize_t n = write (fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "cannot write the uploaded data");
    buf += n;
    len -= (gsize) n;
  }
  return TRUE;
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

/* Regular files: in-kernel copy from offset 0 (the client's own file
 * offset is left alone), until EOF whatever st_size said. */
static gboolean
receive_file (const UploadRequest *request, int dst, guint64 *received,
              UploadProgressFunc progress, gpointer data, GCancellable *cancellable,
              GError **error)
{
  g_autofree char *buf = NULL;
  off_t offset = 0;
  gboolean use_copy_range = TRUE;

  for (;;) {
    ssize_t n;
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return FALSE;
    if (use_copy_range) {
      n = copy_file_range (request->source_fd, &offset, dst, NULL, COPY_RANGE_CHUNK, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP
                    || errno == EBADF)) {
        use_copy_range = FALSE;
        continue;
      }
    } else {
      if (buf == NULL)
        buf = g_malloc (CHUNK);
      n = pread (request->source_fd, buf, CHUNK, offset);
      if (n > 0 && !write_all (dst, buf, (gsize) n, error))
        return FALSE;
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
    *received = (guint64) offset;
    if (*received > request->max_size)
      return too_large (request, error);
    progress (UPLOAD_STAGE_RECEIVING, *received, request->source_size, data);
  }
  return TRUE;
}

/* Pipes and sockets: poll with an inactivity timeout; Cancel wakes us. */
static gboolean
receive_stream (const UploadRequest *request, int dst, guint64 *received,
                UploadProgressFunc progress, gpointer data, GCancellable *cancellable,
                GError **error)
{
  g_autofree char *buf = g_malloc (CHUNK);
  GPollFD fds[2] = { { request->source_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, 0 } };
  gboolean have_cancel_fd = g_cancellable_make_pollfd (cancellable, &fds[1]);
  gboolean ok = FALSE;

  for (;;) {
    ssize_t n;
    int ready = g_poll (fds, have_cancel_fd ? 2 : 1, (gint) request->idle_timeout_seconds * 1000);
    if (ready < 0 && errno == EINTR)
      continue;
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    if (ready == 0) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "No data arrived for %u seconds after %" G_GUINT64_FORMAT
                   " bytes; the upload was abandoned",
                   request->idle_timeout_seconds, *received);
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
    *received += (guint64) n;
    if (*received > request->max_size) {
      too_large (request, error);
      break;
    }
    if (!write_all (dst, buf, (gsize) n, error))
      break;
    progress (UPLOAD_STAGE_RECEIVING, *received, 0, data);
  }
  if (have_cancel_fd)
    g_cancellable_release_fd (cancellable);
  return ok;
}

typedef struct {
  UploadProgressFunc progress;
  gpointer data;
  guint64 total;
} VerifyProgress;

static void
verify_progress (guint64 bytes_read, gpointer user_data)
{
  VerifyProgress *vp = user_data;

  vp->progress (UPLOAD_STAGE_VERIFYING, bytes_read, vp->total, vp->data);
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

gboolean
upload_run (const UploadRequest *request, UploadProgressFunc progress, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  g_autofree char *temp = g_strdup_printf (UPLOAD_TEMP_PREFIX "%s-XXXXXX", request->name);
  g_autoptr (SarHeader) header = NULL;
  struct stat st;
  VerifyProgress vp = { progress, progress_data, 0 };
  guint64 received = 0;
  gboolean ok;
  int dir_fd, fd;

  dir_fd = open (request->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return backup_error_set_errno (error, errno, "cannot open the backup directory %s",
                                   request->directory);
  fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
    g_autofree char *candidate = g_strdup (temp);
    char *x = candidate + strlen (candidate) - 6;
    for (int i = 0; i < 6; i++)
      x[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[g_random_int_range (0, 36)];
    fd = openat (dir_fd, candidate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd >= 0) {
      g_free (temp);
      temp = g_steal_pointer (&candidate);
    } else if (errno != EEXIST) {
      backup_error_set_errno (error, errno, "cannot create a temporary file in %s",
                              request->directory);
      close (dir_fd);
      return FALSE;
    }
  }
  if (fd < 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot create a temporary file");
    close (dir_fd);
    return FALSE;
  }

  if (fstat (request->source_fd, &st) == 0 && S_ISREG (st.st_mode))
    ok = receive_file (request, fd, &received, progress, progress_data, cancellable, error);
  else
    ok = receive_stream (request, fd, &received, progress, progress_data, cancellable, error);
  if (ok && fsync (fd) < 0)
    ok = backup_error_set_errno (error, errno, "cannot sync the uploaded data");
  if (ok && lseek (fd, 0, SEEK_SET) < 0)
    ok = backup_error_set_errno (error, errno, "cannot rewind the uploaded data");
  if (ok) {
    vp.total = received;
    progress (UPLOAD_STAGE_VERIFYING, 0, received, progress_data);
    header = sar_verify (fd, &request->limits, verify_progress, &vp, cancellable, error);
    ok = header != NULL;
  }
  if (ok) {
    progress (UPLOAD_STAGE_PUBLISHING, received, received, progress_data);
    ok = !g_cancellable_set_error_if_cancelled (cancellable, error)
         && publish (dir_fd, temp, request, error);
  }
  close (fd);
  if (!ok)
    unlinkat (dir_fd, temp, 0);
  close (dir_fd);
  return ok;
}

void
upload_sweep_temporaries (const char *directory)
{
  int dir_fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = dir_fd >= 0 ? fdopendir (dup (dir_fd)) : NULL;
  struct dirent *d;

  while (dir != NULL && (d = readdir (dir)) != NULL) {
    struct stat st;
    if (!g_str_has_prefix (d->d_name, UPLOAD_TEMP_PREFIX))
      continue;
    if (fstatat (dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode)
        && unlinkat (dir_fd, d->d_name, 0) == 0)
      g_message ("removed the stale upload temporary %s/%s", directory, d->d_name);
  }
  if (dir != NULL)
    closedir (dir);
  if (dir_fd >= 0)
    close (dir_fd);
}
