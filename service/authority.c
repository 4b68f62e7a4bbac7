/* authority.c: the polkit check, asynchronous, subject = system-bus-name. */
#include "authority.h"

#include "audit.h"

#include "bus.h"
#include "errors.h"

#include <polkit/polkit.h>
#include <unistd.h>

/* Callers whose uid is kept at most (then the table starts anew). */
#define UIDS_MAX 4096

/* Every unique name that leaves the bus (NameOwnerChanged with an empty
 * new owner); a unique name is never given out again. */
#define LEFT_RULE                                                                                  \
  "type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS                   \
  "',member='NameOwnerChanged',arg2=''"

struct _Authority {
  DBusConnection *connection;
  gboolean session_mode;
  PolkitAuthority *polkit; /* NULL until first needed */
  /* the uid of each caller (unique name -> uid) asked for while it stays
   * on the bus: a further call of the same connection needs no round trip
   * to the bus before it is decided; NULL until the first check (then the
   * rule LEFT_RULE is in place before any name is asked for) */
  GHashTable *uids;
};

typedef struct {
  Authority *authority;
  char *sender;
  char *action; /* NULL: only the uid is wanted */
  char *backup;
  char *components;
  gboolean interactive;
  AuthorityFunc func;
  gpointer user_data;
  GDestroyNotify free_data;
  GCancellable *cancellable;
  guint name_watch;
  uid_t uid;
  gboolean vanished;
  const char *reason; /* AUDIT_REASON_*: why the check decided as it did */
} Check;

static void
check_free (Check *check)
{
  if (check->name_watch != 0)
    bus_unwatch_name (check->authority->connection, check->name_watch);
  if (check->free_data != NULL)
    check->free_data (check->user_data);
  g_object_unref (check->cancellable);
  g_free (check->sender);
  g_free (check->action);
  g_free (check->backup);
  g_free (check->components);
  g_free (check);
}

/* Ends the check: calls back unless the caller has left. */
static void
check_finish (Check *check, const GError *error)
{
  /* privileged decisions go to the audit log, allowed or not */
  if (check->action != NULL && !g_str_equal (check->action, ACTION_READ) && !check->vanished)
    audit_authorization (check->action, check->sender, check->uid, check->backup, check->components,
                         error == NULL,
                         check->reason != NULL ? check->reason : AUDIT_REASON_CALLER_UNKNOWN,
                         error != NULL ? error->message : NULL);
  if (!check->vanished)
    check->func (check->uid, error, check->user_data);
  else
    g_debug ("%s left the bus during its authorization check; dropping the call", check->sender);
  check_free (check);
}

static void check_fail (Check *check, BackupError code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
check_fail (Check *check, BackupError code, const char *format, ...)
{
  g_autoptr (GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (BACKUP_ERROR, code, format, args);
  va_end (args);
  check_finish (check, error);
}

static void
caller_vanished (gpointer user_data)
{
  Check *check = user_data;

  check->vanished = TRUE;
  g_cancellable_cancel (check->cancellable);
}

static void
polkit_answered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *check = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) answer
      = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), result, &error);

  if (answer == NULL) {
    check->reason = AUDIT_REASON_POLKIT_UNAVAILABLE;
    check_fail (check, BACKUP_ERROR_NOT_AUTHORIZED,
                "Not authorized: the authorization service (polkit) could not decide: %s",
                error->message);
  } else if (polkit_authorization_result_get_is_authorized (answer)) {
    check->reason = AUDIT_REASON_POLKIT_YES;
    check_finish (check, NULL);
  } else if (polkit_authorization_result_get_is_challenge (answer) && !check->interactive) {
    check->reason = AUDIT_REASON_NOT_INTERACTIVE;
    check_fail (check, BACKUP_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                "Authentication is required for %s; call again allowing interactive "
                "authorization (e.g. from a terminal with a polkit agent)",
                check->action);
  } else {
    check->reason = AUDIT_REASON_POLKIT_NO;
    check_fail (check, BACKUP_ERROR_NOT_AUTHORIZED, "Not authorized to perform %s", check->action);
  }
}

static void
ask_polkit (Check *check)
{
  g_autoptr (PolkitSubject) subject = polkit_system_bus_name_new (check->sender);
  g_autoptr (PolkitDetails) details = polkit_details_new ();

  if (check->backup != NULL)
    polkit_details_insert (details, "backup", check->backup);
  if (check->components != NULL)
    polkit_details_insert (details, "components", check->components);
  polkit_authority_check_authorization (
      check->authority->polkit, subject, check->action, details,
      check->interactive ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
                         : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE,
      check->cancellable, polkit_answered, check);
}

static void
polkit_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *check = user_data;
  g_autoptr (GError) error = NULL;
  PolkitAuthority *polkit = polkit_authority_get_finish (result, &error);

  if (polkit == NULL) {
    check->reason = AUDIT_REASON_POLKIT_UNAVAILABLE;
    check_fail (check, BACKUP_ERROR_NOT_AUTHORIZED,
                "Not authorized: the authorization service (polkit) is not available: %s",
                error->message);
    return;
  }
  if (check->authority->polkit == NULL)
    check->authority->polkit = g_object_ref (polkit);
  g_object_unref (polkit);
  ask_polkit (check);
}

/* The polkit client is made once, asynchronously, so a slow or missing
 * polkitd never blocks the main loop. */
static void
with_polkit (Check *check)
{
  if (check->authority->polkit != NULL)
    ask_polkit (check);
  else
    polkit_authority_get_async (check->cancellable, polkit_ready, check);
}

/* check->uid known: decides, or asks polkit. */
static void
decide (Check *check)
{
  if (check->action == NULL) {
    check_finish (check, NULL);
  } else if (check->authority->session_mode) {
    check->reason
        = check->uid == getuid () ? AUDIT_REASON_SESSION_OWNER : AUDIT_REASON_SESSION_OTHER;
    if (check->uid == getuid ())
      check_finish (check, NULL);
    else
      check_fail (check, BACKUP_ERROR_NOT_AUTHORIZED,
                  "Not authorized: in session mode only uid %u may call this service",
                  (guint) getuid ());
  } else if (check->uid == 0) {
    check->reason = AUDIT_REASON_ROOT;
    check_finish (check, NULL);
  } else {
    /* polkit takes a while: a caller that leaves meanwhile is dropped */
    if (check->name_watch == 0)
      check->name_watch
          = bus_watch_name (check->authority->connection, check->sender, caller_vanished, check);
    with_polkit (check);
  }
}

static void
uid_answered (DBusPendingCall *pending, void *user_data)
{
  Check *check = user_data;
  DBusMessage *reply = dbus_pending_call_steal_reply (pending);
  dbus_uint32_t uid = (dbus_uint32_t) -1;
  gboolean ok = reply != NULL && dbus_message_get_type (reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN
                && dbus_message_get_args (reply, NULL, DBUS_TYPE_UINT32, &uid, DBUS_TYPE_INVALID);
  GHashTable *uids = check->authority->uids;

  if (reply != NULL)
    dbus_message_unref (reply);
  dbus_pending_call_unref (pending);

  if (!ok) {
    check_fail (check, BACKUP_ERROR_NOT_AUTHORIZED, "Not authorized: the caller is unknown");
    return;
  }
  check->uid = (uid_t) uid;
  /* unless it has left by now (the bus sends its NameOwnerChanged before
   * it could answer for the name again) */
  if (!check->vanished) {
    if (g_hash_table_size (uids) >= UIDS_MAX)
      g_hash_table_remove_all (uids);
    g_hash_table_insert (uids, g_strdup (check->sender), GUINT_TO_POINTER (check->uid));
  }
  decide (check);
}

/* Forgets the uid of a caller that left the bus. */
static DBusHandlerResult
name_left_filter (DBusConnection *connection, DBusMessage *message, void *data)
{
  Authority *authority = data;
  const char *name, *old_owner, *new_owner;

  if (dbus_message_is_signal (message, DBUS_INTERFACE_DBUS, "NameOwnerChanged")
      && dbus_message_has_sender (message, DBUS_SERVICE_DBUS)
      && dbus_message_get_args (message, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                &old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID)
      && new_owner[0] == '\0')
    g_hash_table_remove (authority->uids, name);
  return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static gboolean
decide_later (gpointer user_data)
{
  decide (user_data);
  return G_SOURCE_REMOVE;
}

static void
start_check (Check *check)
{
  DBusMessage *query = dbus_message_new_method_call (DBUS_SERVICE_DBUS, DBUS_PATH_DBUS,
                                                     DBUS_INTERFACE_DBUS, "GetConnectionUnixUser");
  DBusPendingCall *pending = NULL;
  const char *sender = check->sender;
  Authority *authority = check->authority;
  gpointer uid;

  if (authority->uids == NULL) {
    authority->uids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    dbus_connection_add_filter (authority->connection, name_left_filter, authority, NULL);
    /* without an error argument this does not block */
    dbus_bus_add_match (authority->connection, LEFT_RULE, NULL);
  }
  /* a caller seen before, still on the bus: decided without asking the
   * bus (on the next iteration of the main loop, as after an answer) */
  if (g_hash_table_lookup_extended (authority->uids, sender, NULL, &uid)) {
    check->uid = (uid_t) GPOINTER_TO_UINT (uid);
    g_idle_add_full (G_PRIORITY_DEFAULT, decide_later, check, NULL);
    dbus_message_unref (query);
    return;
  }
  check->name_watch
      = bus_watch_name (check->authority->connection, check->sender, caller_vanished, check);
  dbus_message_append_args (query, DBUS_TYPE_STRING, &sender, DBUS_TYPE_INVALID);
  if (!dbus_connection_send_with_reply (check->authority->connection, query, &pending, -1)
      || pending == NULL) {
    dbus_message_unref (query);
    check_fail (check, BACKUP_ERROR_NOT_AUTHORIZED, "Not authorized: the bus is unavailable");
    return;
  }
  dbus_message_unref (query);
  dbus_pending_call_set_notify (pending, uid_answered, check, NULL);
}

void
authority_check (Authority *authority, const char *sender, const char *action, const char *backup,
                 const char *components, gboolean interactive, AuthorityFunc func,
                 gpointer user_data, GDestroyNotify free_data)
{
  Check *check = g_new0 (Check, 1);

  check->authority = authority;
  check->sender = g_strdup (sender);
  check->action = g_strdup (action);
  check->backup = g_strdup (backup);
  check->components = g_strdup (components);
  check->interactive = interactive;
  check->func = func;
  check->user_data = user_data;
  check->free_data = free_data;
  check->cancellable = g_cancellable_new ();
  check->uid = (uid_t) -1;
  start_check (check);
}

void
authority_get_uid (Authority *authority, const char *sender, AuthorityFunc func, gpointer user_data,
                   GDestroyNotify free_data)
{
  authority_check (authority, sender, NULL, NULL, NULL, FALSE, func, user_data, free_data);
}

Authority *
authority_new (DBusConnection *connection, gboolean session_mode)
{
  Authority *authority = g_new0 (Authority, 1);

  authority->connection = dbus_connection_ref (connection);
  authority->session_mode = session_mode;
  return authority;
}

void
authority_free (Authority *authority)
{
  if (authority == NULL)
    return;
  g_clear_object (&authority->polkit);
  if (authority->uids != NULL) {
    dbus_connection_remove_filter (authority->connection, name_left_filter, authority);
    g_hash_table_unref (authority->uids);
  }
  dbus_connection_unref (authority->connection);
  g_free (authority);
}
