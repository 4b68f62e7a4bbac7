/* history.c: the job history file (see history.h). */
#include "history.h"

#include "autofd.h"
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HISTORY_TEMP HISTORY_FILE ".new"
/* A record line is small; anything longer is damage. */
#define LINE_MAX_BYTES (64 * 1024)
#define DIGEST_HEX 64

struct _History {
  GMutex lock; /* the records and the counts below */
  /* one write of the file at a time, taken before lock and never while
   * holding it: the disk is waited for without blocking readers */
  GMutex write_lock;
  char *directory;
  int dir_fd;
  guint keep;
  GPtrArray *records;  /* GVariant* a{sv}, oldest first, at most keep */
  guint lines;         /* records in the file (appends since the last rewrite included) */
  guint64 added;       /* records appended since the open */
  guint64 written;     /* of them, those in the file */
  GThreadPool *writer; /* history_append_later(): one thread, when there is work */
};

/* The keys a record may have, and their types. */
static const struct {
  const char *key;
  const char *type;
} record_keys[] = {
  { "job", "o" },
  { "operation", "s" },
  { "backup", "s" },
  { "components", "as" },
  { "uid", "u" },
  { "started", "t" },
  { "finished", "t" },
  { "result", "s" },
  { "error-name", "s" },
  { "error-message", "s" },
  { "pbx-downtime-ms", "t" },
  { "pre-restore-backup", "s" },
};

static gboolean
record_valid (GVariant *record)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (!g_variant_is_of_type (record, G_VARIANT_TYPE_VARDICT))
    return FALSE;
  g_variant_iter_init (&iter, record);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value)) {
    gboolean known = FALSE;

    for (gsize i = 0; i < G_N_ELEMENTS (record_keys); i++)
      if (g_str_equal (key, record_keys[i].key))
        known = g_variant_is_of_type (value, G_VARIANT_TYPE (record_keys[i].type));
    g_variant_unref (value);
    if (!known)
      return FALSE;
  }
  return g_variant_lookup (record, "job", "&o", NULL)
         && g_variant_lookup (record, "operation", "&s", NULL)
         && g_variant_lookup (record, "finished", "t", NULL);
}

/* "<sha256 of text> <text>\n" */
static char *
record_line (GVariant *record)
{
  g_autofree char *text = g_variant_print (record, TRUE);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);

  return g_strdup_printf ("%s %s\n", digest, text);
}

static GVariant *
parse_line (const char *line, gsize len)
{
  g_autofree char *text = NULL;
  g_autofree char *digest = NULL;
  g_autoptr (GVariant) record = NULL;

  if (len < DIGEST_HEX + 2 || line[DIGEST_HEX] != ' ' || len > LINE_MAX_BYTES)
    return NULL;
  text = g_strndup (line + DIGEST_HEX + 1, len - DIGEST_HEX - 1);
  if (strlen (text) != len - DIGEST_HEX - 1 || !g_utf8_validate (text, -1, NULL))
    return NULL;
  digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  if (g_ascii_strncasecmp (digest, line, DIGEST_HEX) != 0)
    return NULL;
  record = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, NULL);
  if (record == NULL || !record_valid (record))
    return NULL;
  return g_steal_pointer (&record);
}

static void
keep_newest (History *history)
{
  if (history->records->len > history->keep)
    g_ptr_array_remove_range (history->records, 0, history->records->len - history->keep);
}

/* Reads the file into history->records, up to the first line that does
 * not check out; FALSE if there is one. */
static gboolean
load (History *history, const char *contents, gsize len)
{
  const char *p = contents, *end = contents + len;

  while (p < end) {
    const char *nl = memchr (p, '\n', (gsize) (end - p));
    GVariant *record;

    if (nl == NULL)
      return FALSE; /* a torn last line */
    record = parse_line (p, (gsize) (nl - p));
    if (record == NULL)
      return FALSE;
    g_ptr_array_add (history->records, record);
    history->lines++;
    p = nl + 1;
  }
  keep_newest (history);
  return TRUE;
}

/* The lines of the records from first on, as one text. */
static GString *
lines_of (History *history, guint first)
{
  GString *data = g_string_new (NULL);

  for (guint i = first; i < history->records->len; i++) {
    g_autofree char *line = record_line (history->records->pdata[i]);
    g_string_append (data, line);
  }
  return data;
}

/* Writes data as the whole file (temporary, fsync, rename, fsync of the
 * directory). */
static gboolean
write_file (History *history, const GString *data, GError **error)
{
  g_auto (AutoFd) fd = -1;

  fd = openat (history->dir_fd, HISTORY_TEMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
               0600);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "cannot write the history");
  if (!fd_write_all (fd, data->str, data->len) || fsync (fd) < 0) {
    int errsv = errno;
    unlinkat (history->dir_fd, HISTORY_TEMP, 0);
    return backup_error_set_errno (error, errsv, "cannot write the history");
  }
  if (renameat (history->dir_fd, HISTORY_TEMP, history->dir_fd, HISTORY_FILE) < 0
      || fsync (history->dir_fd) < 0) {
    int errsv = errno;
    unlinkat (history->dir_fd, HISTORY_TEMP, 0);
    return backup_error_set_errno (error, errsv, "cannot replace the history");
  }
  return TRUE;
}

/* Writes the records in memory as the whole file (at open: no other
 * thread yet). */
static gboolean
rewrite (History *history, GError **error)
{
  g_autoptr (GString) data = lines_of (history, 0);

  if (!write_file (history, data, error))
    return FALSE;
  history->lines = history->records->len;
  return TRUE;
}

/* Brings the file up to date with the records in memory: appends (and
 * fsyncs) the lines of those not in it yet, or writes the file anew when
 * that would make it longer than twice keep (or more came than are kept).
 * The records' lock is held only to take the lines and to count them in,
 * not while the disk is waited for.  What fails to be written is tried
 * again by the next call. */
static gboolean
write_pending (History *history, GError **error)
{
  g_autoptr (GMutexLocker) writing = g_mutex_locker_new (&history->write_lock);
  g_autoptr (GString) data = NULL;
  g_auto (AutoFd) fd = -1;
  gboolean whole;
  guint64 target;
  guint count;

  {
    g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&history->lock);
    guint64 pending = history->added - history->written;

    if (pending == 0)
      return TRUE;
    whole
        = pending > history->records->len || history->lines + pending > 2 * (guint64) history->keep;
    count = whole ? history->records->len : (guint) pending;
    data = lines_of (history, history->records->len - count);
    target = history->added;
  }
  if (whole) {
    if (!write_file (history, data, error))
      return FALSE;
  } else {
    fd = openat (history->dir_fd, HISTORY_FILE,
                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
      return backup_error_set_errno (error, errno, "cannot open the history");
    if (!fd_write_all (fd, data->str, data->len) || fsync (fd) < 0)
      return backup_error_set_errno (error, errno, "cannot write the history");
  }
  {
    g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&history->lock);

    history->written = target;
    history->lines = whole ? count : history->lines + count;
  }
  return TRUE;
}

/* The writer's thread. */
static void
writer_thread (gpointer item, gpointer user_data)
{
  History *history = user_data;
  g_autoptr (GError) error = NULL;

  if (!write_pending (history, &error))
    g_warning ("the job history could not be written: %s", error->message);
}

/* Moves a damaged file out of the way, keeping it for whoever wants to
 * look at it. */
static void
set_aside (History *history, const char *why)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H-%M-%S");
  g_autofree char *name = g_strdup_printf (HISTORY_FILE ".damaged-%s", stamp);

  if (renameat (history->dir_fd, HISTORY_FILE, history->dir_fd, name) < 0)
    unlinkat (history->dir_fd, HISTORY_FILE, 0);
  g_warning ("the job history %s/%s %s; set aside as %s, starting a new history with the %u "
             "records before the damage",
             history->directory, HISTORY_FILE, why, name, history->records->len);
}

History *
history_open (const char *directory, guint keep, GError **error)
{
  g_autoptr (History) history = g_new0 (History, 1);
  g_autofree char *contents = NULL;
  struct stat st;
  g_auto (AutoFd) fd = -1;

  g_return_val_if_fail (directory != NULL && keep > 0, NULL);
  g_mutex_init (&history->lock);
  g_mutex_init (&history->write_lock);
  history->directory = g_strdup (directory);
  history->keep = keep;
  history->records = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  history->dir_fd = -1;
  if (g_mkdir_with_parents (directory, 0750) < 0) {
    backup_error_set_errno (error, errno, "cannot create the state directory %s", directory);
    return NULL;
  }
  history->dir_fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (history->dir_fd < 0) {
    backup_error_set_errno (error, errno, "cannot open the state directory %s", directory);
    return NULL;
  }
  unlinkat (history->dir_fd, HISTORY_TEMP, 0);

  fd = openat (history->dir_fd, HISTORY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT)
    return g_steal_pointer (&history);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (guint64) st.st_size > (guint64) LINE_MAX_BYTES * 2 * keep) {
    set_aside (history, "is not a readable file of a sensible size");
    return g_steal_pointer (&history);
  }
  contents = g_malloc ((gsize) st.st_size + 1);
  {
    gsize got = 0;
    while (got < (gsize) st.st_size) {
      ssize_t n = read (fd, contents + got, (gsize) st.st_size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (gsize) n;
    }
    if (got != (gsize) st.st_size || !load (history, contents, got)) {
      g_autoptr (GError) local = NULL;

      /* the records before the damage are kept in the new file */
      keep_newest (history);
      set_aside (history, "is damaged or was cut short");
      if (!rewrite (history, &local))
        g_warning ("%s", local->message);
    }
  }
  return g_steal_pointer (&history);
}

void
history_free (History *history)
{
  if (history == NULL)
    return;
  /* what is still to be written is, and waited for */
  if (history->writer != NULL)
    g_thread_pool_free (history->writer, FALSE, TRUE);
  if (history->dir_fd >= 0)
    close (history->dir_fd);
  g_ptr_array_unref (history->records);
  g_free (history->directory);
  g_mutex_clear (&history->lock);
  g_mutex_clear (&history->write_lock);
  g_free (history);
}

/* Under the lock: the record is one of the history's now. */
static gboolean
add (History *history, GVariant *record)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&history->lock);

  g_return_val_if_fail (record_valid (record), FALSE);
  g_ptr_array_add (history->records, g_variant_ref (record));
  keep_newest (history);
  history->added++;
  return TRUE;
}

gboolean
history_append (History *history, GVariant *record, GError **error)
{
  g_autoptr (GVariant) owned = g_variant_ref_sink (record);

  if (!add (history, owned))
    return FALSE;
  return write_pending (history, error);
}

void
history_append_later (History *history, GVariant *record)
{
  g_autoptr (GVariant) owned = g_variant_ref_sink (record);

  if (!add (history, owned))
    return;
  /* a shared pool's thread (never fails), exclusive to the history */
  if (history->writer == NULL)
    history->writer = g_thread_pool_new (writer_thread, history, 1, FALSE, NULL);
  g_thread_pool_push (history->writer, GUINT_TO_POINTER (1), NULL);
}

GVariant *
history_list (History *history, guint limit)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&history->lock);
  GVariantBuilder builder;
  guint n = history->records->len;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < n && (limit == 0 || i < limit); i++)
    g_variant_builder_add_value (&builder, history->records->pdata[n - 1 - i]);
  return g_variant_builder_end (&builder);
}
