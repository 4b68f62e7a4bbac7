/* tree.c: opening and removing below a directory fd, never leaving it. */
#include "autofd.h"
#include "tree.h"

#include "errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* openat2() below dir_fd: no absolute paths, no "..", no symlinks (not
 * even in the last component) and no magic links. */
int
tree_open_beneath (int dir_fd, const char *name, int flags, mode_t mode)
{
  struct open_how how = {
    .flags = (guint64) flags,
    .mode = (flags & O_CREAT) != 0 ? mode : 0,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd;

  do
    fd = (int) syscall (SYS_openat2, dir_fd, name, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* One directory on the way down: what is left to descend into, and its
 * identity, checked when ".." leads back up to it. */
typedef struct {
  char *name; /* in its parent */
  dev_t dev;
  ino_t ino;
  GPtrArray *subdirs; /* names */
  guint next;
} RemoveFrame;

static void
remove_frame_free (RemoveFrame *frame)
{
  g_free (frame->name);
  g_ptr_array_unref (frame->subdirs);
  g_free (frame);
}

/* Opens a directory below dir_fd, refusing symlinks and mount points. */
static int
open_subdir (int dir_fd, const char *name)
{
  struct open_how how = {
    .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd;

  do
    fd = (int) syscall (SYS_openat2, dir_fd, name, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd;
}

GPtrArray *
tree_list (int dir_fd, int *errsv)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int fd = dup (dir_fd);
  struct dirent *dent;
  DIR *dir;

  if (fd < 0 || (dir = fdopendir (fd)) == NULL) {
    *errsv = errno;
    if (fd >= 0)
      close (fd);
    return NULL;
  }
  errno = 0;
  while ((dent = readdir (dir)) != NULL) {
    if (strcmp (dent->d_name, ".") != 0 && strcmp (dent->d_name, "..") != 0)
      g_ptr_array_add (names, g_strdup (dent->d_name));
    errno = 0;
  }
  *errsv = errno;
  closedir (dir);
  return *errsv == 0 ? g_steal_pointer (&names) : NULL;
}

/* Unlinks everything in the directory fd except subdirectories, which
 * are returned in frame->subdirs. */
static gboolean
empty_directory (int fd, RemoveFrame *frame, const char *root, GError **error)
{
  g_autoptr (GPtrArray) names = NULL;
  struct stat st;
  int errsv;

  /* Ours to delete: a read-only directory must not stop it. */
  if (fstat (fd, &st) < 0)
    return backup_error_set_errno (error, errno, "removing %s", root);
  if ((st.st_mode & 0700) != 0700)
    (void) fchmod (fd, (st.st_mode & 07777) | 0700);
  frame->dev = st.st_dev;
  frame->ino = st.st_ino;

  names = tree_list (fd, &errsv);
  if (names == NULL)
    return backup_error_set_errno (error, errsv, "removing %s", root);

  for (guint i = 0; i < names->len; i++) {
    char *name = g_ptr_array_index (names, i);

    /* A symlink is unlinked like a file, never followed. */
    if (unlinkat (fd, name, 0) == 0 || errno == ENOENT)
      continue;
    if (errno != EISDIR && errno != EPERM)
      return backup_error_set_errno (error, errno, "removing %s/%s", root, name);
    g_ptr_array_add (frame->subdirs, g_strdup (name));
  }
  return TRUE;
}

static RemoveFrame *
remove_frame_new (const char *name)
{
  RemoveFrame *frame = g_new0 (RemoveFrame, 1);

  frame->name = g_strdup (name);
  frame->subdirs = g_ptr_array_new_with_free_func (g_free);
  return frame;
}

/* Depth first without recursion and with one directory fd open at a
 * time, so no tree is too deep: going back up uses "..", checked against
 * the device and inode recorded on the way down. */
static gboolean
remove_directory (int parent_fd, const char *name, GError **error)
{
  g_autoptr (GPtrArray) frames
      = g_ptr_array_new_with_free_func ((GDestroyNotify) remove_frame_free);
  g_auto (AutoFd) cur = open_subdir (parent_fd, name);

  if (cur < 0 && errno == ENOENT)
    return TRUE;
  if (cur < 0)
    return backup_error_set_errno (error, errno, "removing %s", name);
  g_ptr_array_add (frames, remove_frame_new (name));
  if (!empty_directory (cur, g_ptr_array_index (frames, 0), name, error))
    return FALSE;

  for (;;) {
    RemoveFrame *top = g_ptr_array_index (frames, frames->len - 1);
    const RemoveFrame *up_frame;
    struct stat st;
    int fd;

    if (top->next < top->subdirs->len) {
      const char *child = g_ptr_array_index (top->subdirs, top->next++);
      RemoveFrame *frame;

      fd = open_subdir (cur, child);
      if (fd < 0 && errno == ENOENT)
        continue;
      if (fd < 0)
        return backup_error_set_errno (error, errno, "removing %s/.../%s", name, child);
      close (cur);
      cur = fd;
      frame = remove_frame_new (child);
      g_ptr_array_add (frames, frame);
      if (!empty_directory (cur, frame, name, error))
        return FALSE;
      continue;
    }

    if (frames->len == 1)
      break;
    /* top is empty now: back to its parent, then remove it. */
    up_frame = g_ptr_array_index (frames, frames->len - 2);
    fd = openat (cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return backup_error_set_errno (error, errno, "removing %s", name);
    close (cur);
    cur = fd;
    if (fstat (cur, &st) < 0)
      return backup_error_set_errno (error, errno, "removing %s", name);
    if (st.st_dev != up_frame->dev || st.st_ino != up_frame->ino) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "removing %s: a directory was moved while it was being removed", name);
      return FALSE;
    }
    if (unlinkat (cur, top->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      return backup_error_set_errno (error, errno, "removing %s/.../%s", name, top->name);
    g_ptr_array_remove_index (frames, frames->len - 1);
  }
  close (g_steal_fd (&cur));
  if (unlinkat (parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return backup_error_set_errno (error, errno, "removing %s", name);
  return TRUE;
}

gboolean
tree_remove (int dir_fd, const char *name, GError **error)
{
  g_autofree char *parent = NULL;
  const char *base = name != NULL ? strrchr (name, '/') : NULL;
  g_auto (AutoFd) parent_fd = -1;

  if (name == NULL || name[0] == '\0' || name[0] == '/' || (base != NULL && base[1] == '\0')) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                 "cannot remove \"%s\": not a relative path", name != NULL ? name : "");
    return FALSE;
  }
  if (base != NULL) {
    parent = g_strndup (name, base - name);
    base++;
    parent_fd
        = tree_open_beneath (dir_fd, parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (parent_fd < 0 && errno == ENOENT)
      return TRUE;
    if (parent_fd < 0)
      return backup_error_set_errno (error, errno, "removing %s", name);
  } else {
    base = name;
  }
  if (strcmp (base, ".") == 0 || strcmp (base, "..") == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot remove \"%s\"", name);
    return FALSE;
  }

  /* A file or symlink goes at once; only a directory needs the walk. */
  if (unlinkat (parent_fd >= 0 ? parent_fd : dir_fd, base, 0) == 0 || errno == ENOENT)
    return TRUE;
  if (errno != EISDIR && errno != EPERM)
    return backup_error_set_errno (error, errno, "removing %s", name);
  return remove_directory (parent_fd >= 0 ? parent_fd : dir_fd, base, error);
}
