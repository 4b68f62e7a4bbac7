/* Unit tests of the one error table: every GError to its stable D-Bus
 * name. */
#include "errors.h"

#include <errno.h>
#include <gio/gio.h>

static void
assert_name (GQuark domain, gint code, const char *name)
{
  g_autoptr (GError) error = g_error_new_literal (domain, code, "message");

  g_assert_cmpstr (backup_error_dbus_name (error), ==, name);
}

static void
test_quark (void)
{
  g_assert_cmpstr (g_quark_to_string (BACKUP_ERROR), ==, "de-starface-backup-error-quark");
}

static void
test_own_codes (void)
{
  assert_name (BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND, "de.starface.Backup.Error.NotFound");
  assert_name (BACKUP_ERROR, BACKUP_ERROR_CANCELED, "de.starface.Backup.Error.Canceled");
  assert_name (BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "org.freedesktop.DBus.Error.InvalidArgs");
  assert_name (BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_OBJECT,
               "org.freedesktop.DBus.Error.UnknownObject");
}

/* A job canceled through its GCancellable ends with the same name as one
 * that says BACKUP_ERROR_CANCELED (job.c relies on it). */
static void
test_foreign_codes (void)
{
  assert_name (G_IO_ERROR, G_IO_ERROR_CANCELLED, "de.starface.Backup.Error.Canceled");
  assert_name (G_IO_ERROR, G_IO_ERROR_NO_SPACE, "de.starface.Backup.Error.NoSpace");
  assert_name (G_FILE_ERROR, G_FILE_ERROR_NOENT, "de.starface.Backup.Error.NotFound");
  assert_name (G_IO_ERROR, G_IO_ERROR_BUSY, "de.starface.Backup.Error.Failed");
  assert_name (G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE, "de.starface.Backup.Error.Failed");
  g_assert_cmpstr (backup_error_dbus_name (NULL), ==, "de.starface.Backup.Error.Failed");
}

/* The client reads names back into codes through the same table. */
static void
test_names_back_to_codes (void)
{
  BackupError code;

  for (int i = BACKUP_ERROR_FAILED; i <= BACKUP_ERROR_UNKNOWN_OBJECT; i++) {
    g_assert_true (backup_error_code_from_name (backup_error_code_name (i), &code));
    g_assert_cmpint (code, ==, i);
  }
  g_assert_false (backup_error_code_from_name ("org.freedesktop.DBus.Error.ServiceUnknown", &code));
  g_assert_false (backup_error_code_from_name ("de.starface.Backup.Error.Frobnicated", &code));
}

static void
test_errno (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (backup_error_set_errno (&error, ENOSPC, "cannot write %s", "x"));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_NO_SPACE);
  g_assert_true (g_str_has_prefix (error->message, "cannot write x: "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/errors/quark", test_quark);
  g_test_add_func ("/errors/own-codes", test_own_codes);
  g_test_add_func ("/errors/foreign-codes", test_foreign_codes);
  g_test_add_func ("/errors/names-back-to-codes", test_names_back_to_codes);
  g_test_add_func ("/errors/errno", test_errno);
  return g_test_run ();
}
