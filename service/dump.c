/* dump.c: a component's database, dumped for the writer. */
#include "dump.h"

#include "autofd.h"
#include "errors.h"
#include "pgdb.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

gboolean
dump_for_pack (SarPackComponent *component, const ConfigDatabase *db, const char *name,
               const char *record_as, int dir_fd, GCancellable *cancellable, GError **error)
{
  g_auto (AutoFd) fd = openat (dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  g_autofree char *hex = NULL;
  guint64 size = 0;

  g_return_val_if_fail (component != NULL && component->database == NULL, FALSE);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "cannot make a temporary file for the dump of %s",
                                   name);
  if (!pgdb_dump (db, name, fd, &size, &hex, cancellable, error))
    return FALSE;
  if (hex == NULL || strlen (hex) != 2 * sizeof component->dump_digest) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "the dump of %s has no checksum", name);
    return FALSE;
  }
  for (gsize i = 0; i < sizeof component->dump_digest; i++)
    component->dump_digest[i]
        = (guint8) (g_ascii_xdigit_value (hex[2 * i]) << 4 | g_ascii_xdigit_value (hex[2 * i + 1]));
  component->database = g_strdup (record_as != NULL ? record_as : name);
  component->dump_size = size;
  component->dump_fd = g_steal_fd (&fd);
  return TRUE;
}
