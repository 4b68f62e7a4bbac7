/* spill.c: scratch data in memory, then in an unlinked temporary file. */
#include "spill.h"

#include "autofd.h"
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* What a read away from the read buffer fetches. */
#define SPILL_PAGE 4096

G_LOCK_DEFINE_STATIC (directory);
static char *directory;

struct _Spill {
  gsize memory_max;
  GByteArray *memory; /* the data, until it goes to a file */
  guint64 size;       /* bytes appended */

  int fd;          /* -1 until the data goes to a file */
  guint8 *append;  /* SPILL_BUFFER: the data after flushed */
  guint64 flushed; /* bytes in the file */
  guint8 *read;    /* SPILL_BUFFER: the file's bytes from read_start */
  guint64 read_start;
  gsize read_len;
};

void
spill_set_directory (const char *path)
{
  G_LOCK (directory);
  g_free (directory);
  directory = g_strdup (path);
  G_UNLOCK (directory);
}

static int
open_scratch (GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *name = NULL;
  int fd;

  G_LOCK (directory);
  dir = g_strdup (directory != NULL ? directory : g_get_tmp_dir ());
  G_UNLOCK (directory);

  fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  /* a file system without O_TMPFILE: a named file, unlinked at once */
  name = g_build_filename (dir, "starface-backupd-scratch-XXXXXX", NULL);
  fd = g_mkstemp_full (name, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    int saved = errno;

    /* whatever the errno, a failure of the daemon's own, not the caller's */
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot make a scratch file in %s: %s",
                 dir, g_strerror (saved));
    return -1;
  }
  unlink (name);
  return fd;
}

Spill *
spill_new_limit (gsize memory_max)
{
  Spill *spill = g_new0 (Spill, 1);

  spill->memory_max = memory_max;
  spill->memory = g_byte_array_new ();
  spill->fd = -1;
  return spill;
}

Spill *
spill_new (void)
{
  return spill_new_limit (SPILL_MEMORY_MAX);
}

/* The file is written only here and in to_file(), in order, and read
 * with pread(): its offset is always flushed. */
static gboolean
flush (Spill *spill, GError **error)
{
  if (!fd_write_all (spill->fd, spill->append, (gsize) (spill->size - spill->flushed)))
    return backup_error_set_errno (error, errno, "cannot write a scratch file");
  spill->flushed = spill->size;
  return TRUE;
}

/* From memory to a file: the data so far becomes the file's first
 * bytes. */
static gboolean
to_file (Spill *spill, GError **error)
{
  g_autoptr (GByteArray) memory = g_steal_pointer (&spill->memory);

  spill->fd = open_scratch (error);
  if (spill->fd < 0) {
    spill->memory = g_steal_pointer (&memory);
    return FALSE;
  }
  spill->append = g_malloc (SPILL_BUFFER);
  spill->read = g_malloc (SPILL_BUFFER);
  if (!fd_write_all (spill->fd, memory->data, memory->len))
    return backup_error_set_errno (error, errno, "cannot write a scratch file");
  spill->flushed = memory->len;
  return TRUE;
}

gboolean
spill_append (Spill *spill, const void *data, gsize len, guint64 *offset, GError **error)
{
  const guint8 *p = data;

  if (offset != NULL)
    *offset = spill->size;
  if (spill->fd < 0) {
    if (len <= spill->memory_max - MIN (spill->memory_max, spill->memory->len)) {
      g_byte_array_append (spill->memory, p, (guint) len);
      spill->size += len;
      return TRUE;
    }
    if (!to_file (spill, error))
      return FALSE;
  }
  while (len > 0) {
    gsize used = (gsize) (spill->size - spill->flushed);
    gsize n = MIN (len, SPILL_BUFFER - used);

    memcpy (spill->append + used, p, n);
    spill->size += n;
    p += n;
    len -= n;
    if (spill->size - spill->flushed == SPILL_BUFFER && !flush (spill, error))
      return FALSE;
  }
  return TRUE;
}

/* Up to len bytes at offset (below flushed) from the read buffer, filled
 * from the file if need be: how many were copied. */
static gssize
read_file (Spill *spill, guint64 offset, guint8 *out, gsize len, GError **error)
{
  gsize n;

  if (offset < spill->read_start || offset >= spill->read_start + spill->read_len) {
    /* Reading on from the buffer: a whole buffer more.  Elsewhere (a
     * lookup by hash): only the page around it, as the next read is
     * likely elsewhere again. */
    gboolean in_order = offset == spill->read_start + spill->read_len;
    guint64 start = in_order ? offset : offset & ~(guint64) (SPILL_PAGE - 1);
    gsize want
        = (gsize) MIN ((guint64) (in_order ? SPILL_BUFFER : SPILL_PAGE), spill->flushed - start);
    ssize_t got;

    do
      got = pread (spill->fd, spill->read, want, (off_t) start);
    while (got < 0 && errno == EINTR);
    /* the file holds every byte below flushed: less is an error */
    if (got <= 0 || (guint64) got <= offset - start) {
      spill->read_len = 0;
      return backup_error_set_errno (error, got < 0 ? errno : EIO, "cannot read a scratch file"),
             -1;
    }
    spill->read_start = start;
    spill->read_len = (gsize) got;
  }
  n = MIN (len, (gsize) (spill->read_start + spill->read_len - offset));
  memcpy (out, spill->read + (offset - spill->read_start), n);
  return (gssize) n;
}

gboolean
spill_read (Spill *spill, guint64 offset, void *out, gsize len, GError **error)
{
  guint8 *p = out;

  g_return_val_if_fail (offset <= spill->size && len <= spill->size - offset, FALSE);
  if (spill->fd < 0) {
    memcpy (p, spill->memory->data + offset, len);
    return TRUE;
  }
  while (len > 0) {
    gsize n;

    if (offset >= spill->flushed) {
      n = len;
      memcpy (p, spill->append + (offset - spill->flushed), n);
    } else {
      gssize got = read_file (spill, offset, p, len, error);

      if (got < 0)
        return FALSE;
      n = (gsize) got;
    }
    p += n;
    offset += n;
    len -= n;
  }
  return TRUE;
}

guint64
spill_size (const Spill *spill)
{
  return spill->size;
}

gboolean
spill_in_file (const Spill *spill)
{
  return spill->fd >= 0;
}

void
spill_free (Spill *spill)
{
  if (spill == NULL)
    return;
  if (spill->memory != NULL)
    g_byte_array_unref (spill->memory);
  autofd_clear (&spill->fd);
  g_free (spill->append);
  g_free (spill->read);
  g_free (spill);
}
