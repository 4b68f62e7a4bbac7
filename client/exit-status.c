/* exit-status.c: the one table of D-Bus error names: exit status and meaning. */
#include "exit-status.h"

#include "messages.h"

#include <glib/gi18n.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (starface-backup-client-error-quark, client_error)
/* clang-format on */

#define NS "de.starface.Backup.Error."
#define DBUS_NS "org.freedesktop.DBus.Error."

/* Each error name with its exit status and, for people, what it means:
 * the client shows the sentence in the user's language before the
 * service's (English) message, which says what exactly was wrong. */
static const struct {
  const char *name;
  ExitStatus status;
  const char *sentence;
} dbus_errors[] = {
  { NS "Failed", EXIT_FAILED, N_ ("The operation failed.") },
  { NS "NotAuthorized", EXIT_NOT_AUTHORIZED, N_ ("You are not allowed to do this.") },
  { DBUS_NS "InteractiveAuthorizationRequired", EXIT_NOT_AUTHORIZED,
    N_ ("This needs an administrator's password, but there is no terminal to ask for it.") },
  { DBUS_NS "AccessDenied", EXIT_NOT_AUTHORIZED,
    N_ ("The bus refused the message: access denied.") },
  { DBUS_NS "AuthFailed", EXIT_NOT_AUTHORIZED, N_ ("Authentication with the bus failed.") },
  { NS "NotFound", EXIT_NOT_FOUND, N_ ("The backup was not found.") },
  { NS "UnknownComponent", EXIT_NOT_FOUND,
    N_ ("The component is not in the backup or not configured on this machine.") },
  { DBUS_NS "UnknownObject", EXIT_NOT_FOUND, N_ ("There is no such job (any more).") },
  { NS "InvalidName", EXIT_INVALID,
    N_ ("The backup name is not allowed: only ASCII letters, digits, '.', '-' and '_', "
        "ending in .sar.") },
  { NS "InvalidBackup", EXIT_INVALID, N_ ("The file is not a valid backup.") },
  { NS "VersionTooNew", EXIT_INVALID,
    N_ ("The backup was made by a newer STARFACE version than the installed one.") },
  { NS "InvalidToken", EXIT_INVALID,
    N_ ("The restore's confirmation is not valid (any more); check the backup again with "
        "preflight.") },
  { DBUS_NS "InvalidArgs", EXIT_INVALID, N_ ("The service refused the arguments.") },
  { NS "Busy", EXIT_BUSY, N_ ("The service is busy with another job.") },
  { NS "AlreadyExists", EXIT_BUSY, N_ ("A backup of that name already exists.") },
  { NS "NoSpace", EXIT_NO_SPACE, N_ ("There is not enough disk space.") },
  { NS "TooLarge", EXIT_NO_SPACE, N_ ("The backup exceeds a limit of the service.") },
  { NS "Canceled", EXIT_CANCELED, N_ ("The job was canceled.") },
  { DBUS_NS "UnknownMethod", EXIT_FAILED,
    N_ ("The service does not know this call; is it an older version?") },
  { DBUS_NS "UnknownInterface", EXIT_FAILED,
    N_ ("The service does not know this call; is it an older version?") },
  { DBUS_NS "UnknownProperty", EXIT_FAILED, N_ ("The service does not have this property.") },
  { DBUS_NS "PropertyReadOnly", EXIT_FAILED, N_ ("The property cannot be changed.") },
  { DBUS_NS "NotSupported", EXIT_FAILED, N_ ("The service does not support this.") },
  { DBUS_NS "ServiceUnknown", EXIT_UNAVAILABLE,
    N_ ("The backup service (de.starface.Backup) is not running.") },
  { DBUS_NS "NameHasNoOwner", EXIT_UNAVAILABLE,
    N_ ("The backup service (de.starface.Backup) is not running.") },
  { DBUS_NS "NoReply", EXIT_UNAVAILABLE, N_ ("The backup service did not answer in time.") },
  { DBUS_NS "Timeout", EXIT_UNAVAILABLE, N_ ("The backup service did not answer in time.") },
  { DBUS_NS "TimedOut", EXIT_UNAVAILABLE, N_ ("The backup service did not answer in time.") },
  { DBUS_NS "Disconnected", EXIT_UNAVAILABLE, N_ ("The connection to the bus was lost.") },
  { DBUS_NS "NoServer", EXIT_UNAVAILABLE, N_ ("The bus cannot be reached.") },
  { DBUS_NS "FileNotFound", EXIT_UNAVAILABLE, N_ ("The bus cannot be reached.") },
  { DBUS_NS "NoNetwork", EXIT_UNAVAILABLE, N_ ("The bus cannot be reached.") },
  { DBUS_NS "BadAddress", EXIT_UNAVAILABLE, N_ ("The bus address is not valid.") },
  { DBUS_NS "Spawn.ChildExited", EXIT_UNAVAILABLE,
    N_ ("The bus could not start the backup service.") },
  { DBUS_NS "Spawn.ExecFailed", EXIT_UNAVAILABLE,
    N_ ("The bus could not start the backup service.") },
  { DBUS_NS "Spawn.ServiceNotFound", EXIT_UNAVAILABLE,
    N_ ("The bus could not start the backup service.") },
};

ExitStatus
exit_status_for_dbus_error (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dbus_errors); i++)
    if (strcmp (dbus_errors[i].name, name) == 0)
      return dbus_errors[i].status;
  return EXIT_FAILED;
}

const char *
dbus_error_sentence (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dbus_errors); i++)
    if (strcmp (dbus_errors[i].name, name) == 0)
      return message_translation (dbus_errors[i].sentence);
  return NULL;
}

const char *
client_error_dbus_name (const GError *error)
{
  return error->domain == CLIENT_ERROR ? "" : g_quark_to_string (error->domain);
}

void
client_error_set_dbus (GError **error, const char *name, const char *message)
{
  g_set_error_literal (error, g_quark_from_string (name), exit_status_for_dbus_error (name),
                       message != NULL && *message != '\0' ? message : name);
}
