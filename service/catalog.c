/* catalog.c: listing and ordering the backups in the backup directory. */
#include "catalog.h"

#include "errors.h"
#include "names.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void
catalog_entry_free (CatalogEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->name);
  g_free (entry->process);
  g_free (entry->version);
  g_free (entry->hostname);
  g_free (entry->problem);
  sar_header_free (entry->header);
  g_free (entry);
}

int
catalog_open_backup (int dir_fd, const char *name, GError **error)
{
  struct stat st;
  int fd;

  if (!sar_name_validate (name, error))
    return -1;
  /* O_NONBLOCK: a FIFO planted in the directory must not hang us */
  fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int errsv = errno;
    if (errsv == ENOENT)
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND, "No backup named %s", name);
    else if (errsv == ELOOP)
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND,
                   "%s is a symbolic link, not a backup file", name);
    else
      backup_error_set_errno (error, errsv, "cannot open %s", name);
    return -1;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND, "%s is not a regular file", name);
    return -1;
  }
  return fd;
}

/* Fills an entry from an open backup: metadata from the header when it is
 * valid, else from the name and the file's times. */
static void
entry_read (CatalogEntry *entry, int fd, const SfVersion *installed)
{
  g_autoptr (GError) error = NULL;
  struct stat st;
  g_autofree char *name_process = NULL;
  gint64 name_time = 0;

  if (fstat (fd, &st) == 0) {
    entry->size = (guint64) st.st_size;
    entry->created = st.st_mtime;
  }
  if (sar_name_parse (entry->name, &name_process, &name_time))
    entry->created = name_time;

  entry->header = sar_read_header (fd, &error);
  if (entry->header == NULL) {
    entry->problem = g_strdup (error->message);
    entry->process = g_strdup (name_process != NULL ? name_process : "");
    entry->version = g_strdup ("");
    entry->hostname = g_strdup ("");
    return;
  }
  entry->valid = TRUE;
  entry->created = entry->header->manifest->created;
  entry->process = g_strdup (entry->header->manifest->process);
  entry->version = g_strdup (entry->header->manifest->version);
  entry->hostname = g_strdup (entry->header->manifest->hostname);
  entry->compatible
      = installed != NULL
        && sf_version_compare (&entry->header->manifest->parsed_version, installed) <= 0;
}

static CatalogEntry *
entry_new_invalid (const char *name, const char *problem)
{
  CatalogEntry *entry = g_new0 (CatalogEntry, 1);
  g_autofree char *process = NULL;

  entry->name = g_strdup (name);
  if (!sar_name_parse (name, &process, &entry->created))
    process = g_strdup ("");
  entry->process = g_steal_pointer (&process);
  entry->version = g_strdup ("");
  entry->hostname = g_strdup ("");
  entry->problem = g_strdup (problem);
  return entry;
}

static gint
entry_newest_first (gconstpointer a, gconstpointer b)
{
  const CatalogEntry *x = *(CatalogEntry *const *) a;
  const CatalogEntry *y = *(CatalogEntry *const *) b;

  if (x->created != y->created)
    return x->created > y->created ? -1 : 1;
  return g_strcmp0 (x->name, y->name);
}

/* Valid backups whose manifest says they were made in the future: listed
 * and restorable by name, but never preselected (a clock far ahead, or a
 * crafted manifest, must not decide what "restore" takes by default). */
static void
mark_future (GPtrArray *entries, gint64 now)
{
  for (guint i = 0; i < entries->len; i++) {
    CatalogEntry *entry = entries->pdata[i];
    g_autoptr (GDateTime) time = NULL;
    g_autofree char *text = NULL;

    if (!entry->valid || entry->created <= now + CATALOG_CLOCK_SKEW_SECONDS)
      continue;
    time = g_date_time_new_from_unix_utc (entry->created);
    text = time != NULL ? g_date_time_format (time, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("?");
    g_free (entry->problem);
    entry->problem = g_strdup_printf (
        "created in the future (%s, more than %d hours ahead of this machine's clock), so "
        "never preselected; check the clock of the machine that made it, and this one's",
        text, CATALOG_CLOCK_SKEW_SECONDS / 3600);
  }
}

static int
open_directory (const char *directory, GError **error)
{
  int fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    backup_error_set_errno (error, errno, "cannot open the backup directory %s", directory);
  return fd;
}

GPtrArray *
catalog_list (const char *directory, const SfVersion *installed, GError **error)
{
  g_autoptr (GPtrArray) entries
      = g_ptr_array_new_with_free_func ((GDestroyNotify) catalog_entry_free);
  int dir_fd = open_directory (directory, error);
  DIR *dir;
  struct dirent *d;

  if (dir_fd < 0)
    return NULL;
  dir = fdopendir (dup (dir_fd));
  if (dir == NULL) {
    backup_error_set_errno (error, errno, "cannot read the backup directory %s", directory);
    close (dir_fd);
    return NULL;
  }
  while ((d = readdir (dir)) != NULL) {
    g_autoptr (GError) local = NULL;
    CatalogEntry *entry;
    int fd;

    /* hidden files are upload temporaries; only *.sar names are backups */
    if (d->d_name[0] == '.' || !g_str_has_suffix (d->d_name, ".sar"))
      continue;
    /* D-Bus strings are UTF-8: such a name is listed with its other
     * bytes as \xNN, as a problem, and never sent as it is */
    if (!g_utf8_validate (d->d_name, -1, NULL)) {
      g_autofree char *escaped = sar_escape_invalid (d->d_name);

      g_ptr_array_add (entries,
                       entry_new_invalid (escaped,
                                          "the file name is not valid UTF-8 (its other bytes are "
                                          "shown as \\xNN); rename the file to use it"));
      continue;
    }
    fd = catalog_open_backup (dir_fd, d->d_name, &local);
    if (fd < 0) {
      /* a symlink, a directory or a FIFO named *.sar is listed as a
       * problem rather than silently hidden */
      g_ptr_array_add (entries, entry_new_invalid (d->d_name, local->message));
      continue;
    }
    entry = g_new0 (CatalogEntry, 1);
    entry->name = g_strdup (d->d_name);
    entry_read (entry, fd, installed);
    close (fd);
    g_ptr_array_add (entries, entry);
  }
  closedir (dir);
  close (dir_fd);

  g_ptr_array_sort (entries, entry_newest_first);
  mark_future (entries, g_get_real_time () / G_USEC_PER_SEC);
  for (guint i = 0; i < entries->len; i++) {
    CatalogEntry *entry = entries->pdata[i];
    if (entry->valid && entry->compatible && entry->problem == NULL) {
      entry->latest = TRUE;
      break;
    }
  }
  return g_steal_pointer (&entries);
}

CatalogEntry *
catalog_inspect (const char *directory, const char *name, const SfVersion *installed,
                 GError **error)
{
  g_autoptr (CatalogEntry) entry = NULL;
  int dir_fd;
  int fd;

  if (!sar_name_validate (name, error))
    return NULL;
  dir_fd = open_directory (directory, error);
  if (dir_fd < 0)
    return NULL;
  fd = catalog_open_backup (dir_fd, name, error);
  close (dir_fd);
  if (fd < 0)
    return NULL;
  entry = g_new0 (CatalogEntry, 1);
  entry->name = g_strdup (name);
  entry_read (entry, fd, installed);
  close (fd);
  if (!entry->valid) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP, "%s: %s", name, entry->problem);
    return NULL;
  }
  return g_steal_pointer (&entry);
}
