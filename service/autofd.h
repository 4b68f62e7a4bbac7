/* autofd.h: file descriptors (and directory streams) closed at the end
 * of their scope.
 *
 *   g_auto (AutoFd) fd = openat (...);
 *   return g_steal_fd (&fd);   (to hand it on)
 *
 *   g_autoptr (DIR) dir = fdopendir (fd);
 *
 *   autofd_clear (&object->fd);   (one kept in a struct, in its free function)
 *
 * The g_auto is what closes it: a plain "AutoFd fd" is just an int.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <unistd.h>

typedef int AutoFd;

static inline void
autofd_close (AutoFd fd)
{
  close (fd);
}

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (AutoFd, autofd_close, -1)

/* Closes *fd unless it is -1 already, and leaves -1 there. */
static inline void
autofd_clear (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DIR, closedir)

/* Writes all len bytes to fd, again after EINTR and short writes.  FALSE
 * with errno set when a write fails (EIO for one that writes nothing). */
static inline gboolean
fd_write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0) {
    ssize_t n = write (fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return FALSE;
    }
    p += n;
    len -= (gsize) n;
  }
  return TRUE;
}
