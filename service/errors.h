/* errors.h: the service's one error domain and its mapping to D-Bus names.
 *
 * Domain code reports failures as GError in BACKUP_ERROR (or in G_IO_ERROR /
 * G_FILE_ERROR, which are mapped too).  backup_error_dbus_name() is the one
 * table at the boundary that turns a GError into a stable D-Bus error name.
 */
#pragma once

#include <glib.h>

typedef enum {
  BACKUP_ERROR_FAILED,
  BACKUP_ERROR_INVALID_NAME,
  BACKUP_ERROR_NOT_FOUND,
  BACKUP_ERROR_ALREADY_EXISTS,
  BACKUP_ERROR_INVALID_BACKUP,
  BACKUP_ERROR_VERSION_TOO_NEW,
  BACKUP_ERROR_UNKNOWN_COMPONENT,
  BACKUP_ERROR_BUSY,
  BACKUP_ERROR_NOT_AUTHORIZED,
  BACKUP_ERROR_INVALID_TOKEN,
  BACKUP_ERROR_NO_SPACE,
  BACKUP_ERROR_TOO_LARGE,
  BACKUP_ERROR_CANCELED,
  /* standard errors, produced by the D-Bus layer */
  BACKUP_ERROR_INVALID_ARGS,
  BACKUP_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
  BACKUP_ERROR_NOT_SUPPORTED,
  BACKUP_ERROR_UNKNOWN_METHOD,
  BACKUP_ERROR_UNKNOWN_PROPERTY,
  BACKUP_ERROR_PROPERTY_READ_ONLY,
  BACKUP_ERROR_ACCESS_DENIED,
  BACKUP_ERROR_UNKNOWN_INTERFACE,
  BACKUP_ERROR_UNKNOWN_OBJECT,
} BackupError;

#define BACKUP_ERROR (backup_error_quark ())
GQuark backup_error_quark (void);

/* The stable D-Bus error name for any GError (BACKUP_ERROR, G_IO_ERROR,
 * G_FILE_ERROR); unknown errors map to de.starface.Backup.Error.Failed. */
const char *backup_error_dbus_name (const GError *error);
/* The D-Bus name of one code. */
const char *backup_error_code_name (BackupError code);
/* The code a D-Bus error name stands for; FALSE for a name the service
 * never sends (those of the bus itself, e.g. ServiceUnknown).  The client
 * maps what it receives through this, so both use this one table. */
gboolean backup_error_code_from_name (const char *name, BackupError *code);

/* Sets BACKUP_ERROR_INVALID_BACKUP with a formatted message; returns FALSE.
 * Both helpers make their messages valid UTF-8 (sar_escape_invalid()): a
 * message may name a file, and D-Bus strings must be UTF-8. */
gboolean backup_error_invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Turns errno from a failed system call into a GError in BACKUP_ERROR:
 * ENOSPC/EDQUOT become NO_SPACE, ENOENT NOT_FOUND, EEXIST ALREADY_EXISTS,
 * everything else FAILED.  The message is "<what>: <strerror>". */
gboolean backup_error_set_errno (GError **error, int errsv, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
