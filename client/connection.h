/* connection.h: the client's connection to the backup service (libdbus-1).
 *
 * Method calls block, with a long timeout when polkit may ask for a
 * password.  Signals that match the rules added with bus_add_match() go to
 * one handler on the GLib main loop, outside libdbus's dispatching, so a
 * handler may make calls itself.  Failures come back as GErrors whose code
 * is the exit status (exit-status.h).
 */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

#define SERVICE_NAME "de.starface.Backup"
#define SERVICE_PATH "/de/starface/Backup"
#define SERVICE_INTERFACE "de.starface.Backup"
#define JOB_INTERFACE "de.starface.Backup.Job"
#define JOB_PATH_PREFIX "/de/starface/Backup/job/"

typedef struct _Bus Bus;

typedef enum {
  BUS_CALL_PLAIN = 0,
  /* The call may need polkit: from a terminal it allows interactive
   * authorization (with a text agent when needed) and waits minutes. */
  BUS_CALL_AUTHORIZE = 1 << 0,
} BusCallFlags;

/* Also receives org.freedesktop.DBus.Local.Disconnected when the bus goes. */
typedef void (*BusSignalFunc) (DBusMessage *message, gpointer user_data);

Bus *bus_open (gboolean session, GError **error);
void bus_close (Bus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Bus, bus_close)

/* Calls a method of the service; args is a tuple (floating is fine) or
 * NULL.  Returns the reply's arguments as a tuple. */
GVariant *bus_call (Bus *bus, const char *path, const char *interface, const char *method,
                    GVariant *args, BusCallFlags flags, GError **error);
/* The same for a message the caller built (e.g. one carrying an fd). */
GVariant *bus_send (Bus *bus, DBusMessage *message, BusCallFlags flags, GError **error);
/* All properties of one interface of an object, as a{sv}. */
GVariant *bus_get_all (Bus *bus, const char *path, const char *interface, GError **error);

gboolean bus_add_match (Bus *bus, const char *rule, GError **error);
/* The unique name of the service as of its last reply ("" before one). */
const char *bus_service_owner (Bus *bus);
void bus_set_signal_handler (Bus *bus, BusSignalFunc func, gpointer user_data);
/* Hands what is already queued to the handler now. */
void bus_dispatch_pending (Bus *bus);

/* The job's id, "5c1e0d9a3b7f2e14" for /de/starface/Backup/job/5c1e0d9a3b7f2e14,
 * the path itself for anything else. */
const char *bus_job_number (const char *path);
