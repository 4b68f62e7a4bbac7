/* object.c: objects on the bus, dispatched from tables checked against the
 * embedded introspection XML. */
#include "object.h"

#include "call-private.h"
#include "marshal.h"
#include "names.h"

#include <unistd.h>

#define INTROSPECTABLE "org.freedesktop.DBus.Introspectable"
#define PROPERTIES "org.freedesktop.DBus.Properties"
#define PEER "org.freedesktop.DBus.Peer"
#define XML_RESOURCE "/de/starface/Backup/de.starface.Backup.xml"

struct _Server {
  DBusConnection *connection;
  GDBusNodeInfo *node_info; /* the parsed XML */
  GHashTable *objects;      /* path -> Object* */
};

typedef struct {
  const InterfaceVTable *vtable; /* NULL for the standard interfaces */
  GDBusInterfaceInfo *info;
} ObjectInterface;

typedef struct {
  Server *server;
  char *path;
  gpointer data;
  GArray *interfaces; /* ObjectInterface */
} Object;

/* --- introspection ------------------------------------------------------ */

static char *
introspect_xml (DBusConnection *connection, const char *path, Object *object)
{
  GString *xml = g_string_new (DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE "<node>\n");
  char **children = NULL;

  if (object != NULL)
    for (guint i = 0; i < object->interfaces->len; i++)
      g_dbus_interface_info_generate_xml (
          g_array_index (object->interfaces, ObjectInterface, i).info, 1, xml);
  if (dbus_connection_list_registered (connection, path, &children)) {
    for (guint i = 0; children[i] != NULL; i++)
      g_string_append_printf (xml, " <node name=\"%s\"/>\n", children[i]);
    dbus_free_string_array (children);
  }
  g_string_append (xml, "</node>\n");
  return g_string_free (xml, FALSE);
}

/* --- properties --------------------------------------------------------- */

static ObjectInterface *
object_find_interface (Object *object, const char *name)
{
  for (guint i = 0; i < object->interfaces->len; i++) {
    ObjectInterface *iface = &g_array_index (object->interfaces, ObjectInterface, i);
    if (g_str_equal (iface->info->name, name))
      return iface;
  }
  return NULL;
}

static const PropertyEntry *
find_property (const InterfaceVTable *vtable, const char *name)
{
  for (const PropertyEntry *entry = vtable != NULL ? vtable->properties : NULL;
       entry != NULL && entry->name != NULL; entry++)
    if (g_str_equal (entry->name, name))
      return entry;
  return NULL;
}

/* A full reference the caller owns, or NULL. */
static GVariant *
property_value (Object *object, ObjectInterface *iface, GDBusPropertyInfo *property)
{
  /* there is one: server_export() checked the table against the XML */
  const PropertyEntry *entry = find_property (iface->vtable, property->name);
  GVariant *value = entry != NULL ? entry->get (object->data) : NULL;

  if (value != NULL)
    value = g_variant_take_ref (value);
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE (property->signature))) {
    g_critical ("property %s.%s has the wrong type", iface->info->name, property->name);
    g_clear_pointer (&value, g_variant_unref);
    return NULL;
  }
  return value;
}

static GVariant *
all_properties (Object *object, ObjectInterface *iface, const char *const *only)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; iface->info->properties != NULL && iface->info->properties[i] != NULL; i++) {
    GDBusPropertyInfo *property = iface->info->properties[i];
    g_autoptr (GVariant) value = NULL;
    if (only != NULL && !g_strv_contains (only, property->name))
      continue;
    value = property_value (object, iface, property);
    if (value != NULL)
      g_variant_builder_add (&builder, "{sv}", property->name, value);
  }
  return g_variant_builder_end (&builder);
}

static ObjectInterface *
properties_interface (Call *call, Object *object, const char *name)
{
  ObjectInterface *iface = object_find_interface (object, name);

  if (iface == NULL || iface->vtable == NULL) {
    call_return_new_error (call, BACKUP_ERROR_UNKNOWN_INTERFACE,
                           "Object %s has no interface %s with properties", object->path, name);
    return NULL;
  }
  return iface;
}

static void
handle_properties (Call *call, GVariant *args, Object *object)
{
  const char *member = call_get_member (call);
  const char *iface_name;
  const char *prop_name = NULL;
  ObjectInterface *iface;
  GDBusPropertyInfo *property;
  g_autoptr (GVariant) value = NULL;

  if (g_str_equal (member, "GetAll")) {
    g_variant_get (args, "(&s)", &iface_name);
    /* an empty interface name is allowed by the spec: ours has one */
    if (iface_name[0] == '\0')
      iface_name = object->interfaces->len > 0
                       ? g_array_index (object->interfaces, ObjectInterface, 0).info->name
                       : "";
    if ((iface = properties_interface (call, object, iface_name)) != NULL)
      call_return (call, g_variant_new ("(@a{sv})", all_properties (object, iface, NULL)));
    return;
  }
  if (g_str_equal (member, "Get"))
    g_variant_get (args, "(&s&s)", &iface_name, &prop_name);
  else
    g_variant_get (args, "(&s&sv)", &iface_name, &prop_name, NULL);
  if ((iface = properties_interface (call, object, iface_name)) == NULL)
    return;
  property = g_dbus_interface_info_lookup_property (iface->info, prop_name);
  if (property == NULL) {
    call_return_new_error (call, BACKUP_ERROR_UNKNOWN_PROPERTY, "No property %s on interface %s",
                           prop_name, iface_name);
    return;
  }
  if (g_str_equal (member, "Set")) {
    call_return_new_error (call, BACKUP_ERROR_PROPERTY_READ_ONLY, "Property %s.%s is read-only",
                           iface_name, prop_name);
    return;
  }
  value = property_value (object, iface, property);
  if (value == NULL) {
    call_return_new_error (call, BACKUP_ERROR_FAILED, "Property %s cannot be read", prop_name);
    return;
  }
  call_return (call, g_variant_new ("(v)", value));
}

/* --- dispatch ----------------------------------------------------------- */

static DBusHandlerResult reply_error (DBusConnection *connection, DBusMessage *message,
                                      BackupError code, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static DBusHandlerResult
reply_error (DBusConnection *connection, DBusMessage *message, BackupError code, const char *format,
             ...)
{
  g_autoptr (GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (BACKUP_ERROR, code, format, args);
  va_end (args);
  if (!dbus_message_get_no_reply (message)) {
    DBusMessage *reply
        = dbus_message_new_error (message, backup_error_dbus_name (error), error->message);
    call_send_message (connection, reply);
    dbus_message_unref (reply);
  }
  return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult
object_message (DBusConnection *connection, DBusMessage *message, void *user_data)
{
  Object *object = user_data;
  const char *interface = dbus_message_get_interface (message);
  const char *member = dbus_message_get_member (message);
  ObjectInterface *iface = NULL;
  GDBusMethodInfo *method = NULL;
  g_autofree char *expected = NULL;
  g_autoptr (GVariant) args = NULL;
  Call *call;

  if (dbus_message_get_type (message) != DBUS_MESSAGE_TYPE_METHOD_CALL)
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

  if (interface != NULL) {
    iface = object_find_interface (object, interface);
    if (iface == NULL)
      return reply_error (connection, message, BACKUP_ERROR_UNKNOWN_INTERFACE,
                          "Object %s has no interface %s", object->path, interface);
    method = g_dbus_interface_info_lookup_method (iface->info, member);
  } else {
    /* no interface: the first interface with a method of that name */
    for (guint i = 0; method == NULL && i < object->interfaces->len; i++) {
      iface = &g_array_index (object->interfaces, ObjectInterface, i);
      method = g_dbus_interface_info_lookup_method (iface->info, member);
    }
  }
  if (method == NULL)
    return reply_error (connection, message, BACKUP_ERROR_UNKNOWN_METHOD,
                        "No method %s on interface %s of object %s", member,
                        interface != NULL ? interface : "(any)", object->path);

  expected = call_args_signature (method->in_args);
  if (!g_str_equal (dbus_message_get_signature (message), expected))
    return reply_error (connection, message, BACKUP_ERROR_INVALID_ARGS,
                        "%s.%s takes arguments of signature '%s', not '%s'", iface->info->name,
                        member, expected, dbus_message_get_signature (message));

  call = call_new (connection, message, method);
  args = marshal_read_message (message, call_get_fds (call));
  if (args == NULL) {
    call_return_new_error (call, BACKUP_ERROR_INVALID_ARGS, "%s: arguments cannot be decoded",
                           member);
    return DBUS_HANDLER_RESULT_HANDLED;
  }

  if (g_str_equal (iface->info->name, INTROSPECTABLE)) {
    g_autofree char *xml = introspect_xml (connection, object->path, object);
    call_return (call, g_variant_new ("(s)", xml));
  } else if (g_str_equal (iface->info->name, PROPERTIES)) {
    handle_properties (call, args, object);
  } else if (iface->vtable != NULL) {
    for (const MethodEntry *entry = iface->vtable->methods; entry->name != NULL; entry++)
      if (g_str_equal (entry->name, member)) {
        entry->func (call, args, object->data);
        return DBUS_HANDLER_RESULT_HANDLED;
      }
    call_return_new_error (call, BACKUP_ERROR_UNKNOWN_METHOD, "%s has no handler", member);
  } else {
    /* Peer is answered by libdbus before it reaches objects */
    call_return_new_error (call, BACKUP_ERROR_UNKNOWN_METHOD, "%s.%s is not handled here",
                           iface->info->name, member);
  }
  return DBUS_HANDLER_RESULT_HANDLED;
}

/* Paths without an object: introspection of the tree above our objects
 * (so `busctl tree` finds them), UnknownObject for everything else. */
static DBusHandlerResult
fallback_message (DBusConnection *connection, DBusMessage *message, void *user_data)
{
  const char *path = dbus_message_get_path (message);

  if (dbus_message_get_type (message) != DBUS_MESSAGE_TYPE_METHOD_CALL)
    return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
  if (dbus_message_is_method_call (message, INTROSPECTABLE, "Introspect")
      && dbus_message_has_signature (message, "")) {
    char **children = NULL;
    gboolean has_children
        = dbus_connection_list_registered (connection, path, &children) && children[0] != NULL;
    if (children != NULL)
      dbus_free_string_array (children);
    if (has_children) {
      g_autofree char *xml = introspect_xml (connection, path, NULL);
      DBusMessage *reply = dbus_message_new_method_return (message);
      const char *text = xml;
      dbus_message_append_args (reply, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
      call_send_message (connection, reply);
      dbus_message_unref (reply);
      return DBUS_HANDLER_RESULT_HANDLED;
    }
  }
  return reply_error (connection, message, BACKUP_ERROR_UNKNOWN_OBJECT, "No object at %s", path);
}

static const DBusObjectPathVTable object_vtable = { .message_function = object_message };
static const DBusObjectPathVTable fallback_vtable = { .message_function = fallback_message };

/* --- server ------------------------------------------------------------- */

static void
object_free (Object *object)
{
  g_free (object->path);
  g_array_unref (object->interfaces);
  g_free (object);
}

Server *
server_new (DBusConnection *connection, GError **error)
{
  g_autoptr (GBytes) xml = NULL;
  Server *server;
  GDBusNodeInfo *info;

  xml = g_resources_lookup_data (XML_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (xml == NULL)
    return NULL;
  info = g_dbus_node_info_new_for_xml (g_bytes_get_data (xml, NULL), error);
  if (info == NULL)
    return NULL;

  server = g_new0 (Server, 1);
  server->connection = dbus_connection_ref (connection);
  server->node_info = info;
  server->objects
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) object_free);
  if (!dbus_connection_register_fallback (connection, "/", &fallback_vtable, server)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot register the root object");
    server_free (server);
    return NULL;
  }
  return server;
}

void
server_free (Server *server)
{
  GHashTableIter iter;
  gpointer path;

  if (server == NULL)
    return;
  g_hash_table_iter_init (&iter, server->objects);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    dbus_connection_unregister_object_path (server->connection, path);
  dbus_connection_unregister_object_path (server->connection, "/");
  g_hash_table_unref (server->objects);
  g_dbus_node_info_unref (server->node_info);
  dbus_connection_unref (server->connection);
  g_free (server);
}

DBusConnection *
server_get_connection (Server *server)
{
  return server->connection;
}

static gboolean
add_interface (Server *server, Object *object, const char *name, const InterfaceVTable *vtable,
               GError **error)
{
  ObjectInterface iface = { vtable, g_dbus_node_info_lookup_interface (server->node_info, name) };

  if (iface.info == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "interface %s is not in the XML", name);
    return FALSE;
  }
  /* every method of the XML needs a handler, and every handler a method */
  for (guint i = 0; vtable != NULL && iface.info->methods[i] != NULL; i++) {
    gboolean found = FALSE;
    for (const MethodEntry *entry = vtable->methods; entry->name != NULL; entry++)
      found = found || g_str_equal (entry->name, iface.info->methods[i]->name);
    if (!found) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s.%s has no handler", name,
                   iface.info->methods[i]->name);
      return FALSE;
    }
  }
  for (const MethodEntry *entry = vtable != NULL ? vtable->methods : NULL;
       entry != NULL && entry->name != NULL; entry++)
    if (g_dbus_interface_info_lookup_method (iface.info, entry->name) == NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s.%s is not in the XML", name,
                   entry->name);
      return FALSE;
    }
  /* likewise every property a getter, and every getter a property */
  for (guint i = 0;
       vtable != NULL && iface.info->properties != NULL && iface.info->properties[i] != NULL; i++)
    if (find_property (vtable, iface.info->properties[i]->name) == NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s.%s has no getter", name,
                   iface.info->properties[i]->name);
      return FALSE;
    }
  for (const PropertyEntry *entry = vtable != NULL ? vtable->properties : NULL;
       entry != NULL && entry->name != NULL; entry++)
    if (g_dbus_interface_info_lookup_property (iface.info, entry->name) == NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "property %s.%s is not in the XML",
                   name, entry->name);
      return FALSE;
    }
  g_array_append_val (object->interfaces, iface);
  return TRUE;
}

gboolean
server_export (Server *server, const char *path, const InterfaceVTable *const *interfaces,
               gpointer data, GError **error)
{
  Object *object = g_new0 (Object, 1);

  object->server = server;
  object->path = g_strdup (path);
  object->data = data;
  object->interfaces = g_array_new (FALSE, FALSE, sizeof (ObjectInterface));
  for (guint i = 0; interfaces[i] != NULL; i++)
    if (!add_interface (server, object, interfaces[i]->name, interfaces[i], error)) {
      object_free (object);
      return FALSE;
    }
  if (!add_interface (server, object, INTROSPECTABLE, NULL, error)
      || !add_interface (server, object, PROPERTIES, NULL, error)
      || !add_interface (server, object, PEER, NULL, error)) {
    object_free (object);
    return FALSE;
  }
  if (!dbus_connection_register_object_path (server->connection, path, &object_vtable, object)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot register %s", path);
    object_free (object);
    return FALSE;
  }
  g_hash_table_replace (server->objects, object->path, object);
  return TRUE;
}

GVariant *
server_object_interfaces (Server *server, const char *path)
{
  Object *object = g_hash_table_lookup (server->objects, path);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (guint i = 0; object != NULL && i < object->interfaces->len; i++) {
    ObjectInterface *iface = &g_array_index (object->interfaces, ObjectInterface, i);

    if (iface->vtable != NULL)
      g_variant_builder_add (&builder, "{s@a{sv}}", iface->info->name,
                             all_properties (object, iface, NULL));
    else
      g_variant_builder_add (&builder, "{s@a{sv}}", iface->info->name,
                             g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  }
  return g_variant_builder_end (&builder);
}

void
server_unexport (Server *server, const char *path)
{
  if (g_hash_table_contains (server->objects, path)) {
    dbus_connection_unregister_object_path (server->connection, path);
    g_hash_table_remove (server->objects, path);
  }
}

void
server_emit_signal (Server *server, const char *path, const char *interface, const char *signal,
                    GVariant *args)
{
  g_autoptr (GVariant) owned = g_variant_take_ref (args);
  GDBusInterfaceInfo *iface = g_dbus_node_info_lookup_interface (server->node_info, interface);
  GDBusSignalInfo *info
      = iface != NULL ? g_dbus_interface_info_lookup_signal (iface, signal) : NULL;
  g_autofree char *expected = info != NULL ? call_tuple_signature (info->args) : NULL;
  DBusMessage *message;

  if (expected == NULL || !g_variant_is_of_type (owned, G_VARIANT_TYPE (expected))) {
    g_critical ("signal %s.%s does not match the XML", interface, signal);
    return;
  }
  message = dbus_message_new_signal (path, interface, signal);
  if (message != NULL && marshal_append_tuple (message, owned))
    call_send_message (server->connection, message);
  if (message != NULL)
    dbus_message_unref (message);
}

void
server_properties_changed (Server *server, const char *path, const char *interface,
                           const char *const *properties)
{
  Object *object = g_hash_table_lookup (server->objects, path);
  ObjectInterface *iface = object != NULL ? object_find_interface (object, interface) : NULL;
  const char *const no_names[] = { NULL };

  if (iface == NULL || iface->vtable == NULL)
    return;
  server_emit_signal (server, path, PROPERTIES, "PropertiesChanged",
                      g_variant_new ("(s@a{sv}^as)", interface,
                                     all_properties (object, iface, properties), no_names));
}
