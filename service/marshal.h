/* marshal.h: GVariant <-> libdbus-1 messages.
 *
 * GVariant and D-Bus share one type system, so handlers work on GVariant
 * values and only this file touches DBusMessageIter.  Unix fds arriving in
 * a message are collected into an array; the GVariant 'h' value is the
 * index into it (as with GUnixFDList).
 */
#pragma once

#include <dbus/dbus.h>
#include <glib.h>

/* All arguments of a message as one tuple.  Received fds are appended to
 * fds (the caller owns and closes them). */
GVariant *marshal_read_message (DBusMessage *message, GArray *fds);

/* Appends the children of a tuple as the message's arguments.  Values of
 * type 'h' cannot be sent (the service never sends fds). */
gboolean marshal_append_tuple (DBusMessage *message, GVariant *tuple);
