/* errors.c: the one table from GError to stable D-Bus error names. */
#include "errors.h"

#include "names.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (de-starface-backup-error-quark, backup_error)
/* clang-format on */

#define NS "de.starface.Backup.Error."

static const struct {
  BackupError code;
  const char *name;
} error_names[] = {
  { BACKUP_ERROR_FAILED, NS "Failed" },
  { BACKUP_ERROR_INVALID_NAME, NS "InvalidName" },
  { BACKUP_ERROR_NOT_FOUND, NS "NotFound" },
  { BACKUP_ERROR_ALREADY_EXISTS, NS "AlreadyExists" },
  { BACKUP_ERROR_INVALID_BACKUP, NS "InvalidBackup" },
  { BACKUP_ERROR_VERSION_TOO_NEW, NS "VersionTooNew" },
  { BACKUP_ERROR_UNKNOWN_COMPONENT, NS "UnknownComponent" },
  { BACKUP_ERROR_BUSY, NS "Busy" },
  { BACKUP_ERROR_NOT_AUTHORIZED, NS "NotAuthorized" },
  { BACKUP_ERROR_INVALID_TOKEN, NS "InvalidToken" },
  { BACKUP_ERROR_NO_SPACE, NS "NoSpace" },
  { BACKUP_ERROR_TOO_LARGE, NS "TooLarge" },
  { BACKUP_ERROR_CANCELED, NS "Canceled" },
  { BACKUP_ERROR_INVALID_ARGS, "org.freedesktop.DBus.Error.InvalidArgs" },
  { BACKUP_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" },
  { BACKUP_ERROR_NOT_SUPPORTED, "org.freedesktop.DBus.Error.NotSupported" },
  { BACKUP_ERROR_UNKNOWN_METHOD, "org.freedesktop.DBus.Error.UnknownMethod" },
  { BACKUP_ERROR_UNKNOWN_PROPERTY, "org.freedesktop.DBus.Error.UnknownProperty" },
  { BACKUP_ERROR_PROPERTY_READ_ONLY, "org.freedesktop.DBus.Error.PropertyReadOnly" },
  { BACKUP_ERROR_ACCESS_DENIED, "org.freedesktop.DBus.Error.AccessDenied" },
  { BACKUP_ERROR_UNKNOWN_INTERFACE, "org.freedesktop.DBus.Error.UnknownInterface" },
  { BACKUP_ERROR_UNKNOWN_OBJECT, "org.freedesktop.DBus.Error.UnknownObject" },
};

static BackupError
code_for_foreign_error (const GError *error)
{
  if (error->domain == G_IO_ERROR) {
    switch (error->code) {
    case G_IO_ERROR_CANCELLED:
      return BACKUP_ERROR_CANCELED;
    case G_IO_ERROR_NO_SPACE:
      return BACKUP_ERROR_NO_SPACE;
    case G_IO_ERROR_NOT_FOUND:
      return BACKUP_ERROR_NOT_FOUND;
    case G_IO_ERROR_EXISTS:
      return BACKUP_ERROR_ALREADY_EXISTS;
    case G_IO_ERROR_INVALID_ARGUMENT:
      return BACKUP_ERROR_INVALID_ARGS;
    default:
      return BACKUP_ERROR_FAILED;
    }
  }
  if (error->domain == G_FILE_ERROR) {
    switch (error->code) {
    case G_FILE_ERROR_NOSPC:
      return BACKUP_ERROR_NO_SPACE;
    case G_FILE_ERROR_NOENT:
      return BACKUP_ERROR_NOT_FOUND;
    case G_FILE_ERROR_EXIST:
      return BACKUP_ERROR_ALREADY_EXISTS;
    default:
      return BACKUP_ERROR_FAILED;
    }
  }
  return BACKUP_ERROR_FAILED;
}

const char *
backup_error_dbus_name (const GError *error)
{
  BackupError code = BACKUP_ERROR_FAILED;

  if (error != NULL && error->domain == BACKUP_ERROR)
    code = (BackupError) error->code;
  else if (error != NULL)
    code = code_for_foreign_error (error);

  return backup_error_code_name (code);
}

const char *
backup_error_code_name (BackupError code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (error_names); i++)
    if (error_names[i].code == code)
      return error_names[i].name;
  return NS "Failed";
}

gboolean
backup_error_code_from_name (const char *name, BackupError *code)
{
  g_return_val_if_fail (name != NULL && code != NULL, FALSE);
  for (gsize i = 0; i < G_N_ELEMENTS (error_names); i++)
    if (strcmp (error_names[i].name, name) == 0) {
      *code = error_names[i].code;
      return TRUE;
    }
  return FALSE;
}

gboolean
backup_error_set_errno (GError **error, int errsv, const char *format, ...)
{
  BackupError code;
  va_list args;
  g_autofree char *what = NULL;
  g_autofree char *valid = NULL;

  switch (errsv) {
  case ENOSPC:
  case EDQUOT:
    code = BACKUP_ERROR_NO_SPACE;
    break;
  case ENOENT:
    code = BACKUP_ERROR_NOT_FOUND;
    break;
  case EEXIST:
    code = BACKUP_ERROR_ALREADY_EXISTS;
    break;
  case EFBIG:
    code = BACKUP_ERROR_TOO_LARGE;
    break;
  default:
    code = BACKUP_ERROR_FAILED;
  }
  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  /* what may name a file whose name is not UTF-8 */
  valid = sar_escape_invalid (what);
  g_set_error (error, BACKUP_ERROR, code, "%s: %s", valid, g_strerror (errsv));
  return FALSE;
}

gboolean
backup_error_invalid (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *valid = NULL;
  va_list args;

  if (error == NULL)
    return FALSE;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  valid = sar_escape_invalid (message);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP, valid);
  return FALSE;
}
