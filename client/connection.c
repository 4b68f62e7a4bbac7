/* connection.c: blocking calls, and signals on the GLib main loop.
 *
 * The connection's socket is watched with a GLib fd source; whatever
 * libdbus has read is taken off its queue with dbus_connection_pop_message()
 * and handed to the one signal handler.  Blocking calls read from the same
 * socket and leave other messages queued, so after every call the queue is
 * drained from an idle callback: no signal is lost between subscribing and
 * entering the main loop.
 */
#include "connection.h"

#include "agent.h"
#include "exit-status.h"
#include "marshal.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

/* polkit may be waiting for a password typed over a slow SSH session */
#define AUTHORIZE_TIMEOUT_MS (5 * 60 * 1000)

struct _Bus {
  DBusConnection *connection;
  gboolean session;
  char *service_owner;
  BusSignalFunc handler;
  gpointer handler_data;
  guint fd_source;
  guint drain_source;
};

static void
set_error_from_dbus (GError **error, DBusError *dbus_error)
{
  client_error_set_dbus (error, dbus_error->name, dbus_error->message);
  dbus_error_free (dbus_error);
}

Bus *
bus_open (gboolean session, GError **error)
{
  DBusError dbus_error = DBUS_ERROR_INIT;
  DBusConnection *connection;
  Bus *bus;

  connection = dbus_bus_get_private (session ? DBUS_BUS_SESSION : DBUS_BUS_SYSTEM, &dbus_error);
  if (connection == NULL) {
    g_autofree char *message
        = g_strdup_printf (session ? _ ("Cannot connect to the session bus: %s")
                                   : _ ("Cannot connect to the system bus: %s"),
                           dbus_error.message);
    client_error_set_dbus (error, dbus_error.name, message);
    dbus_error_free (&dbus_error);
    return NULL;
  }
  dbus_connection_set_exit_on_disconnect (connection, FALSE);
  bus = g_new0 (Bus, 1);
  bus->connection = connection;
  bus->session = session;
  bus->service_owner = g_strdup ("");
  return bus;
}

void
bus_close (Bus *bus)
{
  if (bus == NULL)
    return;
  if (bus->fd_source != 0)
    g_source_remove (bus->fd_source);
  if (bus->drain_source != 0)
    g_source_remove (bus->drain_source);
  dbus_connection_close (bus->connection);
  dbus_connection_unref (bus->connection);
  g_free (bus->service_owner);
  g_free (bus);
}

/* Hands every queued message to the handler; method calls to the client
 * (nobody should send any) get an error so their senders do not wait. */
static void
drain (Bus *bus)
{
  DBusMessage *message;

  while (bus->handler != NULL
         && (message = dbus_connection_pop_message (bus->connection)) != NULL) {
    if (dbus_message_get_type (message) == DBUS_MESSAGE_TYPE_SIGNAL)
      bus->handler (message, bus->handler_data);
    else if (dbus_message_get_type (message) == DBUS_MESSAGE_TYPE_METHOD_CALL
             && !dbus_message_get_no_reply (message)) {
      DBusMessage *reply = dbus_message_new_error (message, DBUS_ERROR_UNKNOWN_METHOD,
                                                   "starface-backup offers no methods");
      if (reply != NULL) {
        dbus_connection_send (bus->connection, reply, NULL);
        dbus_connection_flush (bus->connection);
        dbus_message_unref (reply);
      }
    }
    dbus_message_unref (message);
  }
}

static gboolean
drain_idle (gpointer user_data)
{
  Bus *bus = user_data;

  bus->drain_source = 0;
  drain (bus);
  return G_SOURCE_REMOVE;
}

static void
schedule_drain (Bus *bus)
{
  if (bus->handler != NULL && bus->drain_source == 0)
    bus->drain_source = g_idle_add (drain_idle, bus);
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  Bus *bus = user_data;
  gboolean connected = dbus_connection_read_write (bus->connection, 0);

  drain (bus);
  if (!connected || !dbus_connection_get_is_connected (bus->connection)) {
    bus->fd_source = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

void
bus_set_signal_handler (Bus *bus, BusSignalFunc func, gpointer user_data)
{
  int fd = -1;

  bus->handler = func;
  bus->handler_data = user_data;
  if (func != NULL && bus->fd_source == 0 && dbus_connection_get_unix_fd (bus->connection, &fd))
    bus->fd_source = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, bus);
  schedule_drain (bus);
}

void
bus_dispatch_pending (Bus *bus)
{
  dbus_connection_read_write (bus->connection, 0);
  drain (bus);
}

GVariant *
bus_send (Bus *bus, DBusMessage *message, BusCallFlags flags, GError **error)
{
  DBusError dbus_error = DBUS_ERROR_INIT;
  gboolean authorize = (flags & BUS_CALL_AUTHORIZE) != 0;
  gboolean interactive = authorize && isatty (STDIN_FILENO);
  g_autoptr (Agent) agent = NULL;
  g_autoptr (GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  DBusMessage *reply;
  GVariant *args;

  if (interactive) {
    dbus_message_set_allow_interactive_authorization (message, TRUE);
    /* the session bus never asks polkit */
    if (!bus->session)
      agent = agent_start ();
  }
  reply = dbus_connection_send_with_reply_and_block (
      bus->connection, message, authorize ? AUTHORIZE_TIMEOUT_MS : DBUS_TIMEOUT_USE_DEFAULT,
      &dbus_error);
  schedule_drain (bus);
  if (reply == NULL) {
    set_error_from_dbus (error, &dbus_error);
    return NULL;
  }
  if (g_strcmp0 (dbus_message_get_destination (message), SERVICE_NAME) == 0
      && dbus_message_get_sender (reply) != NULL) {
    g_free (bus->service_owner);
    bus->service_owner = g_strdup (dbus_message_get_sender (reply));
  }
  args = marshal_read_message (reply, fds);
  dbus_message_unref (reply);
  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  if (args == NULL)
    g_set_error (error, CLIENT_ERROR, EXIT_FAILED, _ ("The reply to %s could not be read"),
                 dbus_message_get_member (message));
  return args;
}

GVariant *
bus_call (Bus *bus, const char *path, const char *interface, const char *method, GVariant *args,
          BusCallFlags flags, GError **error)
{
  g_autoptr (GVariant) owned = args != NULL ? g_variant_ref_sink (args) : NULL;
  DBusMessage *message = dbus_message_new_method_call (SERVICE_NAME, path, interface, method);
  GVariant *reply;

  if (message == NULL || (owned != NULL && !marshal_append_tuple (message, owned)))
    g_error ("out of memory building a call to %s", method);
  reply = bus_send (bus, message, flags, error);
  dbus_message_unref (message);
  return reply;
}

GVariant *
bus_get_all (Bus *bus, const char *path, const char *interface, GError **error)
{
  g_autoptr (GVariant) reply = bus_call (bus, path, DBUS_INTERFACE_PROPERTIES, "GetAll",
                                         g_variant_new ("(s)", interface), BUS_CALL_PLAIN, error);

  if (reply == NULL)
    return NULL;
  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(a{sv})"))) {
    g_set_error (error, CLIENT_ERROR, EXIT_FAILED, _ ("%s answered GetAll with %s"), path,
                 g_variant_get_type_string (reply));
    return NULL;
  }
  return g_variant_get_child_value (reply, 0);
}

gboolean
bus_add_match (Bus *bus, const char *rule, GError **error)
{
  DBusError dbus_error = DBUS_ERROR_INIT;

  dbus_bus_add_match (bus->connection, rule, &dbus_error);
  if (dbus_error_is_set (&dbus_error)) {
    set_error_from_dbus (error, &dbus_error);
    return FALSE;
  }
  return TRUE;
}

const char *
bus_service_owner (Bus *bus)
{
  return bus->service_owner;
}

const char *
bus_job_number (const char *path)
{
  if (g_str_has_prefix (path, JOB_PATH_PREFIX) && path[strlen (JOB_PATH_PREFIX)] != '\0')
    return path + strlen (JOB_PATH_PREFIX);
  return path;
}
