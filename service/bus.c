/* bus.c: libdbus-1 watches, timeouts and dispatch as GLib sources. */
#include "bus.h"

#include "errors.h"

#include <glib-unix.h>

typedef struct {
  DBusConnection *connection;
  guint dispatch_source;
  GSourceFunc on_disconnect;
  gpointer on_disconnect_data;
} BusLoop;

/* --- watches ------------------------------------------------------------ */

static gboolean
watch_ready (gint fd, GIOCondition condition, gpointer user_data)
{
  DBusWatch *watch = user_data;
  unsigned int flags = 0;

  if (condition & G_IO_IN)
    flags |= DBUS_WATCH_READABLE;
  if (condition & G_IO_OUT)
    flags |= DBUS_WATCH_WRITABLE;
  if (condition & G_IO_ERR)
    flags |= DBUS_WATCH_ERROR;
  if (condition & G_IO_HUP)
    flags |= DBUS_WATCH_HANGUP;
  /* libdbus may remove this very watch (and our source) from inside. */
  dbus_watch_handle (watch, flags);
  return G_SOURCE_CONTINUE;
}

static void
watch_detach (DBusWatch *watch)
{
  guint id = GPOINTER_TO_UINT (dbus_watch_get_data (watch));

  if (id != 0)
    g_source_remove (id);
  dbus_watch_set_data (watch, NULL, NULL);
}

static void
watch_attach (DBusWatch *watch)
{
  unsigned int flags = dbus_watch_get_flags (watch);
  GIOCondition condition = G_IO_ERR | G_IO_HUP;
  guint id;

  if (flags & DBUS_WATCH_READABLE)
    condition |= G_IO_IN;
  if (flags & DBUS_WATCH_WRITABLE)
    condition |= G_IO_OUT;
  id = g_unix_fd_add_full (G_PRIORITY_DEFAULT, dbus_watch_get_unix_fd (watch), condition,
                           watch_ready, watch, NULL);
  dbus_watch_set_data (watch, GUINT_TO_POINTER (id), NULL);
}

static dbus_bool_t
watch_add (DBusWatch *watch, void *data)
{
  if (dbus_watch_get_enabled (watch))
    watch_attach (watch);
  return TRUE;
}

static void
watch_remove (DBusWatch *watch, void *data)
{
  watch_detach (watch);
}

static void
watch_toggled (DBusWatch *watch, void *data)
{
  watch_detach (watch);
  if (dbus_watch_get_enabled (watch))
    watch_attach (watch);
}

/* --- timeouts ----------------------------------------------------------- */

static gboolean
timeout_fired (gpointer user_data)
{
  dbus_timeout_handle (user_data);
  return G_SOURCE_CONTINUE;
}

static void
timeout_detach (DBusTimeout *timeout)
{
  guint id = GPOINTER_TO_UINT (dbus_timeout_get_data (timeout));

  if (id != 0)
    g_source_remove (id);
  dbus_timeout_set_data (timeout, NULL, NULL);
}

static dbus_bool_t
timeout_add (DBusTimeout *timeout, void *data)
{
  if (dbus_timeout_get_enabled (timeout)) {
    guint id = g_timeout_add ((guint) dbus_timeout_get_interval (timeout), timeout_fired, timeout);
    dbus_timeout_set_data (timeout, GUINT_TO_POINTER (id), NULL);
  }
  return TRUE;
}

static void
timeout_remove (DBusTimeout *timeout, void *data)
{
  timeout_detach (timeout);
}

static void
timeout_toggled (DBusTimeout *timeout, void *data)
{
  timeout_detach (timeout);
  timeout_add (timeout, data);
}

/* --- dispatch ----------------------------------------------------------- */

static gboolean
dispatch_pending (gpointer user_data)
{
  BusLoop *loop = user_data;

  loop->dispatch_source = 0;
  dbus_connection_ref (loop->connection);
  /* One message per iteration keeps other sources (workers' results,
   * signals) served while a burst of calls arrives. */
  if (dbus_connection_dispatch (loop->connection) == DBUS_DISPATCH_DATA_REMAINS
      && loop->dispatch_source == 0)
    loop->dispatch_source = g_idle_add (dispatch_pending, loop);
  dbus_connection_unref (loop->connection);
  return G_SOURCE_REMOVE;
}

static void
dispatch_status_changed (DBusConnection *connection, DBusDispatchStatus status, void *data)
{
  BusLoop *loop = data;

  if (status == DBUS_DISPATCH_DATA_REMAINS && loop->dispatch_source == 0)
    loop->dispatch_source = g_idle_add (dispatch_pending, loop);
}

static void
wakeup_main (void *data)
{
  g_main_context_wakeup (NULL);
}

static DBusHandlerResult
disconnect_filter (DBusConnection *connection, DBusMessage *message, void *data)
{
  BusLoop *loop = data;

  if (dbus_message_is_signal (message, DBUS_INTERFACE_LOCAL, "Disconnected")) {
    if (loop->on_disconnect != NULL)
      g_idle_add (loop->on_disconnect, loop->on_disconnect_data);
    return DBUS_HANDLER_RESULT_HANDLED;
  }
  return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

DBusConnection *
bus_connect (gboolean session, GSourceFunc on_disconnect, gpointer user_data, GError **error)
{
  DBusError derr = DBUS_ERROR_INIT;
  DBusConnection *connection;
  BusLoop *loop;

  dbus_threads_init_default ();
  connection = dbus_bus_get_private (session ? DBUS_BUS_SESSION : DBUS_BUS_SYSTEM, &derr);
  if (connection == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot connect to the %s bus: %s",
                 session ? "session" : "system", derr.message);
    dbus_error_free (&derr);
    return NULL;
  }
  dbus_connection_set_exit_on_disconnect (connection, FALSE);

  loop = g_new0 (BusLoop, 1);
  loop->connection = connection;
  loop->on_disconnect = on_disconnect;
  loop->on_disconnect_data = user_data;
  dbus_connection_add_filter (connection, disconnect_filter, loop, NULL);
  dbus_connection_set_watch_functions (connection, watch_add, watch_remove, watch_toggled, loop,
                                       NULL);
  dbus_connection_set_timeout_functions (connection, timeout_add, timeout_remove, timeout_toggled,
                                         loop, NULL);
  dbus_connection_set_wakeup_main_function (connection, wakeup_main, loop, NULL);
  dbus_connection_set_dispatch_status_function (connection, dispatch_status_changed, loop, g_free);
  dispatch_status_changed (connection, dbus_connection_get_dispatch_status (connection), loop);
  return connection;
}

gboolean
bus_request_name (DBusConnection *connection, const char *name, GError **error)
{
  DBusError derr = DBUS_ERROR_INIT;
  int ret = dbus_bus_request_name (connection, name, DBUS_NAME_FLAG_DO_NOT_QUEUE, &derr);

  if (ret == -1) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot own %s: %s", name, derr.message);
    dbus_error_free (&derr);
    return FALSE;
  }
  if (ret != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot own %s: another process owns it",
                 name);
    return FALSE;
  }
  return TRUE;
}

/* --- peers leaving the bus ---------------------------------------------- */

typedef struct {
  guint id;
  char *name;
  char *rule;
  BusNameVanishedFunc vanished;
  gpointer user_data;
  gboolean fired;
} NameWatch;

static GHashTable *name_watches; /* id -> NameWatch* */
static guint next_watch_id;

static void
name_watch_free (NameWatch *watch)
{
  g_free (watch->name);
  g_free (watch->rule);
  g_free (watch);
}

static void
fire_vanished (const char *name)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) due = g_ptr_array_new ();

  if (name_watches == NULL)
    return;
  g_hash_table_iter_init (&iter, name_watches);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    NameWatch *watch = value;
    if (!watch->fired && g_str_equal (watch->name, name)) {
      watch->fired = TRUE;
      g_ptr_array_add (due, GUINT_TO_POINTER (watch->id));
    }
  }
  /* a callback may unwatch others: look each one up again */
  for (guint i = 0; i < due->len; i++) {
    NameWatch *watch = g_hash_table_lookup (name_watches, due->pdata[i]);
    if (watch != NULL)
      watch->vanished (watch->user_data);
  }
}

static DBusHandlerResult
name_owner_filter (DBusConnection *connection, DBusMessage *message, void *data)
{
  const char *name, *old_owner, *new_owner;

  /* only the bus itself says who left it: any client may send a signal
   * of this name straight to us */
  if (dbus_message_is_signal (message, DBUS_INTERFACE_DBUS, "NameOwnerChanged")
      && dbus_message_has_sender (message, DBUS_SERVICE_DBUS)
      && dbus_message_get_args (message, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                &old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID)
      && new_owner[0] == '\0')
    fire_vanished (name);
  return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static void
name_has_owner_reply (DBusPendingCall *pending, void *user_data)
{
  DBusMessage *reply = dbus_pending_call_steal_reply (pending);
  guint id = GPOINTER_TO_UINT (user_data);
  NameWatch *watch
      = name_watches != NULL ? g_hash_table_lookup (name_watches, GUINT_TO_POINTER (id)) : NULL;
  dbus_bool_t has_owner = TRUE;

  if (reply != NULL && dbus_message_get_type (reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN)
    dbus_message_get_args (reply, NULL, DBUS_TYPE_BOOLEAN, &has_owner, DBUS_TYPE_INVALID);
  if (reply != NULL)
    dbus_message_unref (reply);
  dbus_pending_call_unref (pending);
  if (watch != NULL && !has_owner)
    fire_vanished (watch->name);
}

guint
bus_watch_name (DBusConnection *connection, const char *unique_name, BusNameVanishedFunc vanished,
                gpointer user_data)
{
  NameWatch *watch = g_new0 (NameWatch, 1);
  DBusMessage *query;
  DBusPendingCall *pending = NULL;

  if (name_watches == NULL) {
    name_watches = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) name_watch_free);
    dbus_connection_add_filter (connection, name_owner_filter, NULL, NULL);
  }
  watch->id = ++next_watch_id;
  watch->name = g_strdup (unique_name);
  watch->rule = g_strdup_printf ("type='signal',sender='" DBUS_SERVICE_DBUS
                                 "',interface='" DBUS_INTERFACE_DBUS
                                 "',member='NameOwnerChanged',arg0='%s'",
                                 unique_name);
  watch->vanished = vanished;
  watch->user_data = user_data;
  g_hash_table_insert (name_watches, GUINT_TO_POINTER (watch->id), watch);
  /* without an error argument this does not block */
  dbus_bus_add_match (connection, watch->rule, NULL);

  /* the peer may have gone before the match rule was in place */
  query = dbus_message_new_method_call (DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                        "NameHasOwner");
  dbus_message_append_args (query, DBUS_TYPE_STRING, &unique_name, DBUS_TYPE_INVALID);
  if (dbus_connection_send_with_reply (connection, query, &pending, -1) && pending != NULL)
    dbus_pending_call_set_notify (pending, name_has_owner_reply, GUINT_TO_POINTER (watch->id),
                                  NULL);
  dbus_message_unref (query);
  return watch->id;
}

void
bus_unwatch_name (DBusConnection *connection, guint id)
{
  NameWatch *watch
      = name_watches != NULL ? g_hash_table_lookup (name_watches, GUINT_TO_POINTER (id)) : NULL;

  if (watch == NULL)
    return;
  dbus_bus_remove_match (connection, watch->rule, NULL);
  g_hash_table_remove (name_watches, GUINT_TO_POINTER (id));
}
