/* exit-status.c: what each D-Bus error means to the client: its exit status
 * and a sentence for people.  The names the service sends come from the
 * service's one table (errors.c), looked up by their code. */
#include "exit-status.h"

#include "errors.h"
#include "messages.h"

#include <glib/gi18n.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (starface-backup-client-error-quark, client_error)
/* clang-format on */

#define DBUS_NS "org.freedesktop.DBus.Error."

typedef struct {
  ExitStatus status;
  const char *sentence;
} Meaning;

/* Each error the service sends, by its code in the service's one table of
 * names (errors.c), with its exit status and, for people, what it means:
 * the client shows the sentence in the user's language before the
 * service's (English) message, which says what exactly was wrong. */
static const struct {
  BackupError code;
  Meaning meaning;
} service_errors[] = {
  { BACKUP_ERROR_FAILED, { EXIT_FAILED, N_ ("The operation failed.") } },
  { BACKUP_ERROR_NOT_AUTHORIZED, { EXIT_NOT_AUTHORIZED, N_ ("You are not allowed to do this.") } },
  { BACKUP_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
    { EXIT_NOT_AUTHORIZED,
      N_ ("This needs an administrator's password, but there is no terminal to ask for it.") } },
  { BACKUP_ERROR_ACCESS_DENIED,
    { EXIT_NOT_AUTHORIZED, N_ ("The bus refused the message: access denied.") } },
  { BACKUP_ERROR_NOT_FOUND, { EXIT_NOT_FOUND, N_ ("The backup was not found.") } },
  { BACKUP_ERROR_UNKNOWN_COMPONENT,
    { EXIT_NOT_FOUND,
      N_ ("The component is not in the backup or not configured on this machine.") } },
  { BACKUP_ERROR_UNKNOWN_OBJECT, { EXIT_NOT_FOUND, N_ ("There is no such job (any more).") } },
  { BACKUP_ERROR_INVALID_NAME,
    { EXIT_INVALID, N_ ("The backup name is not allowed: only ASCII letters, digits, '.', '-' "
                        "and '_', ending in .sar.") } },
  { BACKUP_ERROR_INVALID_BACKUP, { EXIT_INVALID, N_ ("The file is not a valid backup.") } },
  { BACKUP_ERROR_VERSION_TOO_NEW,
    { EXIT_INVALID,
      N_ ("The backup was made by a newer STARFACE version than the installed one.") } },
  { BACKUP_ERROR_INVALID_TOKEN,
    { EXIT_INVALID, N_ ("The restore's confirmation is not valid (any more); check the backup "
                        "again with preflight.") } },
  { BACKUP_ERROR_INVALID_ARGS, { EXIT_INVALID, N_ ("The service refused the arguments.") } },
  { BACKUP_ERROR_BUSY, { EXIT_BUSY, N_ ("The service is busy with another job.") } },
  { BACKUP_ERROR_ALREADY_EXISTS, { EXIT_BUSY, N_ ("A backup of that name already exists.") } },
  { BACKUP_ERROR_NO_SPACE, { EXIT_NO_SPACE, N_ ("There is not enough disk space.") } },
  { BACKUP_ERROR_TOO_LARGE, { EXIT_NO_SPACE, N_ ("The backup exceeds a limit of the service.") } },
  { BACKUP_ERROR_CANCELED, { EXIT_CANCELED, N_ ("The job was canceled.") } },
  { BACKUP_ERROR_UNKNOWN_METHOD,
    { EXIT_FAILED, N_ ("The service does not know this call; is it an older version?") } },
  { BACKUP_ERROR_UNKNOWN_INTERFACE,
    { EXIT_FAILED, N_ ("The service does not know this call; is it an older version?") } },
  { BACKUP_ERROR_UNKNOWN_PROPERTY,
    { EXIT_FAILED, N_ ("The service does not have this property.") } },
  { BACKUP_ERROR_PROPERTY_READ_ONLY, { EXIT_FAILED, N_ ("The property cannot be changed.") } },
  { BACKUP_ERROR_NOT_SUPPORTED, { EXIT_FAILED, N_ ("The service does not support this.") } },
};

/* The errors only the bus sends, by name. */
static const struct {
  const char *name;
  Meaning meaning;
} bus_errors[] = {
  { DBUS_NS "AuthFailed", { EXIT_NOT_AUTHORIZED, N_ ("Authentication with the bus failed.") } },
  { DBUS_NS "ServiceUnknown",
    { EXIT_UNAVAILABLE, N_ ("The backup service (de.starface.Backup) is not running.") } },
  { DBUS_NS "NameHasNoOwner",
    { EXIT_UNAVAILABLE, N_ ("The backup service (de.starface.Backup) is not running.") } },
  { DBUS_NS "NoReply", { EXIT_UNAVAILABLE, N_ ("The backup service did not answer in time.") } },
  { DBUS_NS "Timeout", { EXIT_UNAVAILABLE, N_ ("The backup service did not answer in time.") } },
  { DBUS_NS "TimedOut", { EXIT_UNAVAILABLE, N_ ("The backup service did not answer in time.") } },
  { DBUS_NS "Disconnected", { EXIT_UNAVAILABLE, N_ ("The connection to the bus was lost.") } },
  { DBUS_NS "NoServer", { EXIT_UNAVAILABLE, N_ ("The bus cannot be reached.") } },
  { DBUS_NS "FileNotFound", { EXIT_UNAVAILABLE, N_ ("The bus cannot be reached.") } },
  { DBUS_NS "NoNetwork", { EXIT_UNAVAILABLE, N_ ("The bus cannot be reached.") } },
  { DBUS_NS "BadAddress", { EXIT_UNAVAILABLE, N_ ("The bus address is not valid.") } },
  { DBUS_NS "Spawn.ChildExited",
    { EXIT_UNAVAILABLE, N_ ("The bus could not start the backup service.") } },
  { DBUS_NS "Spawn.ExecFailed",
    { EXIT_UNAVAILABLE, N_ ("The bus could not start the backup service.") } },
  { DBUS_NS "Spawn.ServiceNotFound",
    { EXIT_UNAVAILABLE, N_ ("The bus could not start the backup service.") } },
};

/* What a D-Bus error name means; NULL for a name neither table knows. */
static const Meaning *
meaning_of (const char *name)
{
  BackupError code;

  if (backup_error_code_from_name (name, &code)) {
    for (gsize i = 0; i < G_N_ELEMENTS (service_errors); i++)
      if (service_errors[i].code == code)
        return &service_errors[i].meaning;
    return NULL;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (bus_errors); i++)
    if (strcmp (bus_errors[i].name, name) == 0)
      return &bus_errors[i].meaning;
  return NULL;
}

ExitStatus
exit_status_for_dbus_error (const char *name)
{
  const Meaning *meaning = meaning_of (name);

  return meaning != NULL ? meaning->status : EXIT_FAILED;
}

const char *
dbus_error_sentence (const char *name)
{
  const Meaning *meaning = meaning_of (name);

  return meaning != NULL ? message_translation (meaning->sentence) : NULL;
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
