/* object.h: exporting objects, dispatching method calls, properties,
 * signals and introspection, all driven by the embedded interface XML.
 *
 * An object is exported with a table of interfaces, each a table of
 * method name -> handler and one of property name -> getter.  Argument
 * signatures, property types and the introspection data come from the XML
 * in dbus/; export fails if a table and the XML disagree (a method or
 * property of the one missing in the other), so they cannot drift.
 * A call is checked (object, interface, method, signature) before its
 * handler runs.  Handlers may answer later: a Call lives until
 * call_return() or call_return_error() consumes it.  The objects and the
 * dispatch are object.c's, the calls call.c's.
 *
 * GVariant ownership: every GVariant passed in here (replies, signal
 * arguments) is consumed: the function takes over the caller's reference,
 * floating (straight from g_variant_new() or a builder) or full (e.g. one
 * that came out of g_task_propagate_pointer()); the caller must not use or
 * unref it afterwards.  A PropertyFunc returns a reference that the caller
 * (object.c) owns and drops, floating or full (g_variant_ref() of a value
 * the object keeps).
 */
#pragma once

#include <dbus/dbus.h>
#include <gio/gio.h>

#include "errors.h"

#define BACKUP_BUS_NAME "de.starface.Backup"
#define BACKUP_OBJECT_PATH "/de/starface/Backup"
#define BACKUP_INTERFACE "de.starface.Backup"
#define BACKUP_JOB_INTERFACE "de.starface.Backup.Job"
#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"

typedef struct _Server Server;
typedef struct _Call Call;

typedef void (*MethodFunc) (Call *call, GVariant *args, gpointer object);
/* Returns a new reference (floating or full), owned by the caller, of the
 * property's type in the XML. */
typedef GVariant *(*PropertyFunc) (gpointer object);

typedef struct {
  const char *name;
  MethodFunc func;
} MethodEntry;

typedef struct {
  const char *name;
  PropertyFunc get;
} PropertyEntry;

typedef struct {
  const char *name;
  const MethodEntry *methods;      /* terminated by { NULL, NULL } */
  const PropertyEntry *properties; /* terminated by { NULL, NULL }; NULL: none */
} InterfaceVTable;

Server *server_new (DBusConnection *connection, GError **error);
void server_free (Server *server);
DBusConnection *server_get_connection (Server *server);

/* interfaces: NULL-terminated; the standard interfaces are added. */
gboolean server_export (Server *server, const char *path, const InterfaceVTable *const *interfaces,
                        gpointer object, GError **error);
void server_unexport (Server *server, const char *path);
/* The interfaces of the object at path with their properties, as
 * org.freedesktop.DBus.ObjectManager reports them: a{sa{sv}}, floating
 * (empty when there is no such object). */
GVariant *server_object_interfaces (Server *server, const char *path);

/* args: a tuple matching the signal's signature in the XML; consumed. */
void server_emit_signal (Server *server, const char *path, const char *interface,
                         const char *signal, GVariant *args);
/* Emits PropertiesChanged with the current values of the named properties. */
void server_properties_changed (Server *server, const char *path, const char *interface,
                                const char *const *properties);

const char *call_get_sender (Call *call);
const char *call_get_path (Call *call);
const char *call_get_member (Call *call);
gboolean call_allows_interactive_authorization (Call *call);
/* Takes ownership of a received fd (by the 'h' index); -1 if invalid. */
int call_steal_fd (Call *call, gint32 handle);

/* reply: a tuple matching the method's out-arguments, or NULL for a
 * method without out-arguments; consumed (floating or full reference).
 * Both consume the call. */
void call_return (Call *call, GVariant *reply);
void call_return_error (Call *call, const GError *error);
void call_return_new_error (Call *call, BackupError code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
/* Large replies (List) are built with libdbus, without a GVariant on the
 * way: their arguments are appended to a message of
 * dbus_message_new (DBUS_MESSAGE_TYPE_METHOD_RETURN), which may be kept and
 * used again for later calls of the same method.  Answers the call with a
 * copy of those arguments, after checking their signature against the
 * XML.  Consumes the call, not the message (which must not change any
 * more: only read here). */
void call_return_arguments (Call *call, DBusMessage *arguments);
/* Consumes the call without an answer (its caller has left the bus). */
void call_drop (Call *call);
