/* marshal.c: converting between GVariant and DBusMessageIter. */
#include "marshal.h"

#include <unistd.h>

static GVariant *read_value (DBusMessageIter *iter, GArray *fds);

static GVariant *
read_container (DBusMessageIter *iter, const GVariantType *type, GArray *fds)
{
  DBusMessageIter sub;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, type);
  dbus_message_iter_recurse (iter, &sub);
  while (dbus_message_iter_get_arg_type (&sub) != DBUS_TYPE_INVALID) {
    GVariant *child = read_value (&sub, fds);
    if (child == NULL) {
      g_variant_builder_clear (&builder);
      return NULL;
    }
    g_variant_builder_add_value (&builder, child);
    dbus_message_iter_next (&sub);
  }
  return g_variant_builder_end (&builder);
}

static GVariant *
read_value (DBusMessageIter *iter, GArray *fds)
{
  DBusBasicValue v;
  int type = dbus_message_iter_get_arg_type (iter);

  if (dbus_type_is_basic (type))
    dbus_message_iter_get_basic (iter, &v);

  switch (type) {
  case DBUS_TYPE_BYTE:
    return g_variant_new_byte (v.byt);
  case DBUS_TYPE_BOOLEAN:
    return g_variant_new_boolean (v.bool_val);
  case DBUS_TYPE_INT16:
    return g_variant_new_int16 (v.i16);
  case DBUS_TYPE_UINT16:
    return g_variant_new_uint16 (v.u16);
  case DBUS_TYPE_INT32:
    return g_variant_new_int32 (v.i32);
  case DBUS_TYPE_UINT32:
    return g_variant_new_uint32 (v.u32);
  case DBUS_TYPE_INT64:
    return g_variant_new_int64 (v.i64);
  case DBUS_TYPE_UINT64:
    return g_variant_new_uint64 (v.u64);
  case DBUS_TYPE_DOUBLE:
    return g_variant_new_double (v.dbl);
  case DBUS_TYPE_STRING:
    /* libdbus has already validated UTF-8 */
    return g_variant_new_string (v.str);
  case DBUS_TYPE_OBJECT_PATH:
    return g_variant_new_object_path (v.str);
  case DBUS_TYPE_SIGNATURE:
    return g_variant_new_signature (v.str);
  case DBUS_TYPE_UNIX_FD:
    /* libdbus hands out a duplicate that we now own */
    g_array_append_val (fds, v.fd);
    return g_variant_new_handle ((gint32) (fds->len - 1));
  case DBUS_TYPE_VARIANT: {
    DBusMessageIter sub;
    GVariant *inner;
    dbus_message_iter_recurse (iter, &sub);
    inner = read_value (&sub, fds);
    return inner != NULL ? g_variant_new_variant (inner) : NULL;
  }
  case DBUS_TYPE_ARRAY: {
    char *signature = dbus_message_iter_get_signature (iter);
    GVariant *value = NULL;
    if (g_variant_type_string_is_valid (signature))
      value = read_container (iter, G_VARIANT_TYPE (signature), fds);
    dbus_free (signature);
    return value;
  }
  case DBUS_TYPE_STRUCT:
    return read_container (iter, G_VARIANT_TYPE_TUPLE, fds);
  case DBUS_TYPE_DICT_ENTRY:
    return read_container (iter, G_VARIANT_TYPE_DICT_ENTRY, fds);
  default:
    return NULL;
  }
}

GVariant *
marshal_read_message (DBusMessage *message, GArray *fds)
{
  DBusMessageIter iter;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_TUPLE);
  if (dbus_message_iter_init (message, &iter)) {
    do {
      GVariant *value = read_value (&iter, fds);
      if (value == NULL) {
        g_variant_builder_clear (&builder);
        return NULL;
      }
      g_variant_builder_add_value (&builder, value);
    } while (dbus_message_iter_next (&iter));
  }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gboolean append_value (DBusMessageIter *iter, GVariant *value);

static gboolean
append_children (DBusMessageIter *iter, int dbus_type, const char *contained_signature,
                 GVariant *value)
{
  DBusMessageIter sub;
  GVariantIter children;
  GVariant *child;
  gboolean ok = TRUE;

  if (!dbus_message_iter_open_container (iter, dbus_type, contained_signature, &sub))
    return FALSE;
  g_variant_iter_init (&children, value);
  while (ok && (child = g_variant_iter_next_value (&children)) != NULL) {
    ok = append_value (&sub, child);
    g_variant_unref (child);
  }
  if (!ok) {
    dbus_message_iter_abandon_container (iter, &sub);
    return FALSE;
  }
  return dbus_message_iter_close_container (iter, &sub);
}

static gboolean
append_basic (DBusMessageIter *iter, int dbus_type, const void *v)
{
  return dbus_message_iter_append_basic (iter, dbus_type, v);
}

static gboolean
append_value (DBusMessageIter *iter, GVariant *value)
{
  const GVariantType *type = g_variant_get_type (value);

  switch (g_variant_classify (value)) {
  case G_VARIANT_CLASS_BOOLEAN: {
    dbus_bool_t b = g_variant_get_boolean (value);
    return append_basic (iter, DBUS_TYPE_BOOLEAN, &b);
  }
  case G_VARIANT_CLASS_BYTE: {
    guint8 v = g_variant_get_byte (value);
    return append_basic (iter, DBUS_TYPE_BYTE, &v);
  }
  case G_VARIANT_CLASS_INT16: {
    gint16 v = g_variant_get_int16 (value);
    return append_basic (iter, DBUS_TYPE_INT16, &v);
  }
  case G_VARIANT_CLASS_UINT16: {
    guint16 v = g_variant_get_uint16 (value);
    return append_basic (iter, DBUS_TYPE_UINT16, &v);
  }
  case G_VARIANT_CLASS_INT32: {
    gint32 v = g_variant_get_int32 (value);
    return append_basic (iter, DBUS_TYPE_INT32, &v);
  }
  case G_VARIANT_CLASS_UINT32: {
    guint32 v = g_variant_get_uint32 (value);
    return append_basic (iter, DBUS_TYPE_UINT32, &v);
  }
  case G_VARIANT_CLASS_INT64: {
    gint64 v = g_variant_get_int64 (value);
    return append_basic (iter, DBUS_TYPE_INT64, &v);
  }
  case G_VARIANT_CLASS_UINT64: {
    guint64 v = g_variant_get_uint64 (value);
    return append_basic (iter, DBUS_TYPE_UINT64, &v);
  }
  case G_VARIANT_CLASS_DOUBLE: {
    double v = g_variant_get_double (value);
    return append_basic (iter, DBUS_TYPE_DOUBLE, &v);
  }
  case G_VARIANT_CLASS_STRING: {
    const char *s = g_variant_get_string (value, NULL);
    return append_basic (iter, DBUS_TYPE_STRING, &s);
  }
  case G_VARIANT_CLASS_OBJECT_PATH: {
    const char *s = g_variant_get_string (value, NULL);
    return append_basic (iter, DBUS_TYPE_OBJECT_PATH, &s);
  }
  case G_VARIANT_CLASS_SIGNATURE: {
    const char *s = g_variant_get_string (value, NULL);
    return append_basic (iter, DBUS_TYPE_SIGNATURE, &s);
  }
  case G_VARIANT_CLASS_VARIANT: {
    g_autoptr (GVariant) inner = g_variant_get_variant (value);
    g_autofree char *sig = g_variant_type_dup_string (g_variant_get_type (inner));
    DBusMessageIter sub;
    if (!dbus_message_iter_open_container (iter, DBUS_TYPE_VARIANT, sig, &sub))
      return FALSE;
    if (!append_value (&sub, inner)) {
      dbus_message_iter_abandon_container (iter, &sub);
      return FALSE;
    }
    return dbus_message_iter_close_container (iter, &sub);
  }
  case G_VARIANT_CLASS_ARRAY: {
    g_autofree char *sig = g_variant_type_dup_string (g_variant_type_element (type));
    return append_children (iter, DBUS_TYPE_ARRAY, sig, value);
  }
  case G_VARIANT_CLASS_TUPLE:
    return append_children (iter, DBUS_TYPE_STRUCT, NULL, value);
  case G_VARIANT_CLASS_DICT_ENTRY:
    return append_children (iter, DBUS_TYPE_DICT_ENTRY, NULL, value);
  case G_VARIANT_CLASS_HANDLE:
  case G_VARIANT_CLASS_MAYBE:
  default:
    return FALSE;
  }
}

gboolean
marshal_append_tuple (DBusMessage *message, GVariant *tuple)
{
  DBusMessageIter iter;
  GVariantIter children;
  GVariant *child;
  gboolean ok = TRUE;

  g_return_val_if_fail (g_variant_is_of_type (tuple, G_VARIANT_TYPE_TUPLE), FALSE);
  dbus_message_iter_init_append (message, &iter);
  g_variant_iter_init (&children, tuple);
  while (ok && (child = g_variant_iter_next_value (&children)) != NULL) {
    ok = append_value (&iter, child);
    g_variant_unref (child);
  }
  return ok;
}
