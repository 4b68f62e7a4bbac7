/* journal.c: reading and writing the restore journal durably. */
#include "journal.h"

#include "config.h"

#include "autofd.h"
#include "errors.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_TEMP JOURNAL_FILE ".new"

static const char *const state_names[]
    = { "extracting", "swapping", "swapped", "running", "saved" };

const char *
journal_state_name (JournalState state)
{
  return state_names[state];
}

static void
journal_component_free (JournalComponent *component)
{
  g_free (component->id);
  g_free (component->parent);
  g_free (component->live);
  g_free (component->staging);
  g_free (component->database);
  g_free (component);
}

Journal *
journal_new (const char *backup, const char *installed_version)
{
  Journal *journal = g_new0 (Journal, 1);

  journal->backup = g_strdup (backup);
  journal->installed_version = g_strdup (installed_version);
  journal->components = g_ptr_array_new_with_free_func ((GDestroyNotify) journal_component_free);
  return journal;
}

JournalComponent *
journal_add_component (Journal *journal, const char *id, const char *parent, const char *live,
                       const char *staging)
{
  JournalComponent *component = g_new0 (JournalComponent, 1);

  component->id = g_strdup (id);
  component->parent = g_strdup (parent);
  component->live = g_strdup (live);
  component->staging = g_strdup (staging);
  g_ptr_array_add (journal->components, component);
  return component;
}

void
journal_free (Journal *journal)
{
  if (journal == NULL)
    return;
  g_free (journal->backup);
  g_free (journal->installed_version);
  g_free (journal->pre_restore);
  g_ptr_array_unref (journal->components);
  g_free (journal);
}

static gboolean
write_journal (int dir_fd, const Journal *journal, gboolean create, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *data = NULL;
  gsize len;
  g_auto (AutoFd) fd = -1;
  gboolean ok;

  g_key_file_set_string (kf, "Restore", "State", journal_state_name (journal->state));
  g_key_file_set_string (kf, "Restore", "Backup", journal->backup);
  g_key_file_set_string (kf, "Restore", "InstalledVersion", journal->installed_version);
  if (journal->pre_restore != NULL)
    g_key_file_set_string (kf, "Restore", "PreRestore", journal->pre_restore);
  g_key_file_set_boolean (kf, "Restore", "PbxStopped", journal->pbx_stopped);
  for (guint i = 0; i < journal->components->len; i++) {
    const JournalComponent *c = journal->components->pdata[i];
    g_autofree char *group = g_strconcat ("Component ", c->id, NULL);
    g_key_file_set_string (kf, group, "Parent", c->parent);
    g_key_file_set_string (kf, group, "Live", c->live);
    g_key_file_set_string (kf, group, "Staging", c->staging);
    g_key_file_set_uint64 (kf, group, "OldInode", c->old_ino);
    g_key_file_set_uint64 (kf, group, "NewInode", c->new_ino);
    if (c->database != NULL) {
      g_key_file_set_string (kf, group, "Database", c->database);
      g_key_file_set_uint64 (kf, group, "OldDatabaseOid", c->db_old_oid);
      g_key_file_set_uint64 (kf, group, "NewDatabaseOid", c->db_new_oid);
    }
  }
  data = g_key_file_to_data (kf, &len, NULL);

  fd = openat (dir_fd, JOURNAL_TEMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "cannot create the restore journal");
  ok = fd_write_all (fd, data, len)
       || backup_error_set_errno (error, errno, "cannot write the restore journal");
  if (ok && fsync (fd) < 0)
    ok = backup_error_set_errno (error, errno, "cannot sync the restore journal");
  if (ok && create
      && renameat2 (dir_fd, JOURNAL_TEMP, dir_fd, JOURNAL_FILE, RENAME_NOREPLACE) < 0) {
    if (errno == EEXIST)
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_BUSY,
                   "An earlier restore is not resolved yet (its journal %s is still there); "
                   "the daemon retries it",
                   JOURNAL_FILE);
    else
      backup_error_set_errno (error, errno, "cannot create the restore journal");
    ok = FALSE;
  } else if (ok && !create && renameat (dir_fd, JOURNAL_TEMP, dir_fd, JOURNAL_FILE) < 0) {
    ok = backup_error_set_errno (error, errno, "cannot replace the restore journal");
  }
  if (ok && fsync (dir_fd) < 0)
    ok = backup_error_set_errno (error, errno, "cannot sync the backup directory");
  if (!ok)
    unlinkat (dir_fd, JOURNAL_TEMP, 0);
  return ok;
}

gboolean
journal_write (int dir_fd, const Journal *journal, GError **error)
{
  g_return_val_if_fail (dir_fd >= 0 && journal != NULL, FALSE);
  return write_journal (dir_fd, journal, FALSE, error);
}

gboolean
journal_create (int dir_fd, const Journal *journal, GError **error)
{
  g_return_val_if_fail (dir_fd >= 0 && journal != NULL, FALSE);
  return write_journal (dir_fd, journal, TRUE, error);
}

static gboolean
bad_journal (GError **error, const char *what)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "the restore journal is damaged: %s",
               what);
  return FALSE;
}

/* An unsigned number, 0 when the key is absent; FALSE when it is there
 * but not a number (which must not read as 0, "not yet known"). */
static gboolean
get_number (GKeyFile *kf, const char *group, const char *key, guint64 max, guint64 *out)
{
  g_autofree char *text = g_key_file_get_value (kf, group, key, NULL);

  *out = 0;
  return text == NULL || g_ascii_string_to_unsigned (text, 10, 0, max, out, NULL);
}

/* A name inside one directory, as the journal stores it. */
static gboolean
safe_name (const char *name)
{
  return name != NULL && sar_path_check (name, NULL) && strchr (name, '/') == NULL;
}

static Journal *
read_journal (int dir_fd, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (Journal) journal = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *state = NULL;
  g_auto (GStrv) groups = NULL;
  char buf[65536];
  ssize_t n;
  g_auto (AutoFd) fd = -1;

  fd = openat (dir_fd, JOURNAL_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    return NULL;
  if (fd < 0) {
    backup_error_set_errno (error, errno, "cannot open the restore journal");
    return NULL;
  }
  n = read (fd, buf, sizeof buf - 1);
  if (n < 0) {
    backup_error_set_errno (error, errno, "cannot read the restore journal");
    return NULL;
  }
  buf[n] = '\0';
  if (!g_key_file_load_from_data (kf, buf, (gsize) n, G_KEY_FILE_NONE, &local)) {
    bad_journal (error, local->message);
    return NULL;
  }
  journal = journal_new (NULL, NULL);
  state = g_key_file_get_string (kf, "Restore", "State", NULL);
  journal->backup = g_key_file_get_string (kf, "Restore", "Backup", NULL);
  journal->installed_version = g_key_file_get_string (kf, "Restore", "InstalledVersion", NULL);
  journal->pre_restore = g_key_file_get_string (kf, "Restore", "PreRestore", NULL);
  journal->pbx_stopped = g_key_file_get_boolean (kf, "Restore", "PbxStopped", NULL);
  if (state == NULL || journal->backup == NULL || journal->installed_version == NULL) {
    bad_journal (error, "[Restore] is incomplete");
    return NULL;
  }
  for (guint s = 0; s < G_N_ELEMENTS (state_names); s++)
    if (g_str_equal (state, state_names[s]))
      journal->state = (JournalState) s;
  if (!g_str_equal (state, state_names[journal->state])) {
    bad_journal (error, "unknown state");
    return NULL;
  }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    JournalComponent *c;
    if (!g_str_has_prefix (groups[i], "Component "))
      continue;
    c = journal_add_component (journal, groups[i] + strlen ("Component "), NULL, NULL, NULL);
    c->parent = g_key_file_get_string (kf, groups[i], "Parent", NULL);
    c->live = g_key_file_get_string (kf, groups[i], "Live", NULL);
    c->staging = g_key_file_get_string (kf, groups[i], "Staging", NULL);
    if (!get_number (kf, groups[i], "OldInode", G_MAXUINT64, &c->old_ino)
        || !get_number (kf, groups[i], "NewInode", G_MAXUINT64, &c->new_ino)) {
      bad_journal (error, groups[i]);
      return NULL;
    }
    c->database = g_key_file_get_string (kf, groups[i], "Database", NULL);
    if (c->database != NULL) {
      guint64 old_oid, new_oid;

      if (!config_database_name_check (c->database, NULL)
          || !get_number (kf, groups[i], "OldDatabaseOid", G_MAXUINT32, &old_oid)
          || !get_number (kf, groups[i], "NewDatabaseOid", G_MAXUINT32, &new_oid)) {
        bad_journal (error, groups[i]);
        return NULL;
      }
      c->db_old_oid = (guint32) old_oid;
      c->db_new_oid = (guint32) new_oid;
    }
    if (c->parent == NULL || !(g_str_equal (c->parent, ".") || sar_path_check (c->parent, NULL))
        || !safe_name (c->live) || !safe_name (c->staging)) {
      bad_journal (error, groups[i]);
      return NULL;
    }
  }
  if (journal->pre_restore != NULL && !safe_name (journal->pre_restore)) {
    bad_journal (error, "PreRestore");
    return NULL;
  }
  return g_steal_pointer (&journal);
}

gboolean
journal_remove (int dir_fd, GError **error)
{
  g_return_val_if_fail (dir_fd >= 0, FALSE);
  if (unlinkat (dir_fd, JOURNAL_FILE, 0) < 0 && errno != ENOENT)
    return backup_error_set_errno (error, errno, "cannot remove the restore journal");
  if (fsync (dir_fd) < 0)
    return backup_error_set_errno (error, errno, "cannot sync the backup directory");
  return TRUE;
}

gboolean
journal_read (int dir_fd, Journal **journal, GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail (journal != NULL, FALSE);
  *journal = read_journal (dir_fd, &local);
  if (local != NULL) {
    g_propagate_error (error, local);
    return FALSE;
  }
  return TRUE;
}
