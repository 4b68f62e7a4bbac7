/* dump.c: a component's database, dumped for the writer. */
#include "dump.h"

#include "autofd.h"
#include "errors.h"
#include "pgdb.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

gboolean
dump_for_pack (SarPackComponent *component, const ConfigDatabase *db, const char *name,
               const char *record_as, int dir_fd, GCancellable *cancellable, GError **error)
{
  g_auto (AutoFd) fd = openat (dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  guint64 size = 0;

  g_return_val_if_fail (component != NULL && component->database == NULL, FALSE);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "cannot make a temporary file for the dump of %s",
                                   name);
  if (!pgdb_dump (db, name, fd, &size, component->dump_digest, cancellable, error))
    return FALSE;
  component->database = g_strdup (record_as != NULL ? record_as : name);
  component->dump_size = size;
  component->dump_fd = g_steal_fd (&fd);
  return TRUE;
}
