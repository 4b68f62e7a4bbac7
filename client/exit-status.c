/* exit-status.c: the one table from D-Bus error names to exit statuses. */
#include "exit-status.h"

#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (starface-backup-client-error-quark, client_error)
/* clang-format on */

#define NS "de.starface.Backup.Error."
#define DBUS_NS "org.freedesktop.DBus.Error."

static const struct {
  const char *name;
  ExitStatus status;
} dbus_error_statuses[] = {
  { NS "Failed", EXIT_FAILED },
  { NS "NotAuthorized", EXIT_NOT_AUTHORIZED },
  { DBUS_NS "InteractiveAuthorizationRequired", EXIT_NOT_AUTHORIZED },
  { DBUS_NS "AccessDenied", EXIT_NOT_AUTHORIZED },
  { DBUS_NS "AuthFailed", EXIT_NOT_AUTHORIZED },
  { NS "NotFound", EXIT_NOT_FOUND },
  { NS "UnknownComponent", EXIT_NOT_FOUND },
  { DBUS_NS "UnknownObject", EXIT_NOT_FOUND },
  { NS "InvalidName", EXIT_INVALID },
  { NS "InvalidBackup", EXIT_INVALID },
  { NS "VersionTooNew", EXIT_INVALID },
  { NS "InvalidToken", EXIT_INVALID },
  { DBUS_NS "InvalidArgs", EXIT_INVALID },
  { NS "Busy", EXIT_BUSY },
  { NS "AlreadyExists", EXIT_BUSY },
  { NS "NoSpace", EXIT_NO_SPACE },
  { NS "TooLarge", EXIT_NO_SPACE },
  { NS "Canceled", EXIT_CANCELED },
  { DBUS_NS "ServiceUnknown", EXIT_UNAVAILABLE },
  { DBUS_NS "NameHasNoOwner", EXIT_UNAVAILABLE },
  { DBUS_NS "NoReply", EXIT_UNAVAILABLE },
  { DBUS_NS "Timeout", EXIT_UNAVAILABLE },
  { DBUS_NS "TimedOut", EXIT_UNAVAILABLE },
  { DBUS_NS "Disconnected", EXIT_UNAVAILABLE },
  { DBUS_NS "NoServer", EXIT_UNAVAILABLE },
  { DBUS_NS "FileNotFound", EXIT_UNAVAILABLE },
  { DBUS_NS "NoNetwork", EXIT_UNAVAILABLE },
  { DBUS_NS "BadAddress", EXIT_UNAVAILABLE },
  { DBUS_NS "Spawn.ChildExited", EXIT_UNAVAILABLE },
  { DBUS_NS "Spawn.ExecFailed", EXIT_UNAVAILABLE },
  { DBUS_NS "Spawn.ServiceNotFound", EXIT_UNAVAILABLE },
};

ExitStatus
exit_status_for_dbus_error (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dbus_error_statuses); i++)
    if (strcmp (dbus_error_statuses[i].name, name) == 0)
      return dbus_error_statuses[i].status;
  return EXIT_FAILED;
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
