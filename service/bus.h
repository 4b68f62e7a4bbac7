/* bus.h: libdbus-1 driven by the GLib main loop.
 *
 * libdbus leaves the event loop to its user: it hands out watches (fds to
 * poll), timeouts and a "dispatch needed" flag.  This glue turns each of
 * them into a GSource on the default main context, so the daemon has one
 * loop for D-Bus, worker results and signals.
 */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

/* Connects to the system bus (honouring DBUS_SYSTEM_BUS_ADDRESS) or the
 * session bus, on a private connection attached to the default main
 * context.  Calls on_disconnect (from the main loop) when the bus goes
 * away. */
DBusConnection *bus_connect (gboolean session, GSourceFunc on_disconnect, gpointer user_data,
                             GError **error);

/* Requests a well-known name; fails unless we become its primary owner. */
gboolean bus_request_name (DBusConnection *connection, const char *name, GError **error);

/* Calls vanished (from the main loop, once) when the peer with this unique
 * name leaves the bus, including when it has already left.  Returns an id
 * for bus_unwatch_name(). */
typedef void (*BusNameVanishedFunc) (gpointer user_data);
guint bus_watch_name (DBusConnection *connection, const char *unique_name,
                      BusNameVanishedFunc vanished, gpointer user_data);
void bus_unwatch_name (DBusConnection *connection, guint id);
