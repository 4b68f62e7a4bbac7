/* call.c: a method call from its dispatch to its answer (object.h): what
 * it asks, the file descriptors it brought, and the reply or error that
 * consumes it, checked against the XML's out-arguments. */
#include "call-private.h"

#include "marshal.h"
#include "names.h"

#include <unistd.h>

struct _Call {
  DBusConnection *connection;
  DBusMessage *message;
  GDBusMethodInfo *method;
  GArray *fds;
};

Call *
call_new (DBusConnection *connection, DBusMessage *message, GDBusMethodInfo *method)
{
  Call *call = g_new0 (Call, 1);

  call->connection = dbus_connection_ref (connection);
  call->message = dbus_message_ref (message);
  call->method = method;
  call->fds = g_array_new (FALSE, FALSE, sizeof (int));
  return call;
}

static void
call_free (Call *call)
{
  for (guint i = 0; i < call->fds->len; i++) {
    int fd = g_array_index (call->fds, int, i);
    if (fd >= 0)
      close (fd);
  }
  g_array_unref (call->fds);
  dbus_message_unref (call->message);
  dbus_connection_unref (call->connection);
  g_free (call);
}

const char *
call_get_sender (Call *call)
{
  return dbus_message_get_sender (call->message);
}

const char *
call_get_path (Call *call)
{
  return dbus_message_get_path (call->message);
}

const char *
call_get_member (Call *call)
{
  return dbus_message_get_member (call->message);
}

gboolean
call_allows_interactive_authorization (Call *call)
{
  return dbus_message_get_allow_interactive_authorization (call->message);
}

GArray *
call_get_fds (Call *call)
{
  return call->fds;
}

int
call_steal_fd (Call *call, gint32 handle)
{
  int fd;

  if (handle < 0 || (guint) handle >= call->fds->len)
    return -1;
  fd = g_array_index (call->fds, int, handle);
  g_array_index (call->fds, int, handle) = -1;
  return fd;
}

void
call_send_message (DBusConnection *connection, DBusMessage *message)
{
  if (message == NULL || !dbus_connection_send (connection, message, NULL))
    g_warning ("out of memory while sending a D-Bus message");
}

char *
call_args_signature (GDBusArgInfo **args)
{
  GString *signature = g_string_new (NULL);

  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_string_append (signature, args[i]->signature);
  return g_string_free (signature, FALSE);
}

char *
call_tuple_signature (GDBusArgInfo **args)
{
  g_autofree char *inner = call_args_signature (args);
  return g_strdup_printf ("(%s)", inner);
}

void
call_drop (Call *call)
{
  call_free (call);
}

void
call_return_error (Call *call, const GError *error)
{
  if (!dbus_message_get_no_reply (call->message)) {
    /* D-Bus strings are UTF-8; a message may name a file that is not */
    g_autofree char *message = sar_escape_invalid (error->message);
    DBusMessage *reply
        = dbus_message_new_error (call->message, backup_error_dbus_name (error), message);
    call_send_message (call->connection, reply);
    dbus_message_unref (reply);
  }
  call_free (call);
}

void
call_return_new_error (Call *call, BackupError code, const char *format, ...)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  error = g_error_new_literal (BACKUP_ERROR, code, message);
  call_return_error (call, error);
}

void
call_return (Call *call, GVariant *reply_args)
{
  /* takes over the caller's reference, floating or not */
  g_autoptr (GVariant) args = reply_args != NULL ? g_variant_take_ref (reply_args) : NULL;
  g_autofree char *expected = call_tuple_signature (call->method->out_args);
  DBusMessage *reply;

  if (args == NULL)
    args = g_variant_ref_sink (g_variant_new ("()"));
  if (!g_variant_is_of_type (args, G_VARIANT_TYPE (expected))) {
    g_critical ("reply to %s has type %s, the XML says %s", call->method->name,
                g_variant_get_type_string (args), expected);
    call_return_new_error (call, BACKUP_ERROR_FAILED, "internal error: malformed reply");
    return;
  }
  if (!dbus_message_get_no_reply (call->message)) {
    reply = dbus_message_new_method_return (call->message);
    if (reply != NULL && marshal_append_tuple (reply, args))
      call_send_message (call->connection, reply);
    if (reply != NULL)
      dbus_message_unref (reply);
  }
  call_free (call);
}

void
call_return_arguments (Call *call, DBusMessage *arguments)
{
  g_autofree char *expected = call_args_signature (call->method->out_args);
  DBusMessage *reply;

  if (dbus_message_get_type (arguments) != DBUS_MESSAGE_TYPE_METHOD_RETURN
      || g_strcmp0 (dbus_message_get_signature (arguments), expected) != 0) {
    g_critical ("reply to %s has signature %s, the XML says %s", call->method->name,
                dbus_message_get_signature (arguments), expected);
    call_return_new_error (call, BACKUP_ERROR_FAILED, "internal error: malformed reply");
    return;
  }
  if (!dbus_message_get_no_reply (call->message)) {
    /* the header dbus_message_new_method_return() would make */
    reply = dbus_message_copy (arguments);
    if (reply != NULL
        && (!dbus_message_set_destination (reply, dbus_message_get_sender (call->message))
            || !dbus_message_set_reply_serial (reply, dbus_message_get_serial (call->message)))) {
      dbus_message_unref (reply);
      reply = NULL;
    }
    if (reply != NULL)
      dbus_message_set_no_reply (reply, TRUE);
    call_send_message (call->connection, reply);
    if (reply != NULL)
      dbus_message_unref (reply);
  }
  call_free (call);
}
