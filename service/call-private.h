/* call-private.h: what the dispatch (object.c) knows of calls beyond
 * object.h: it makes them, and shares their way of sending. */
#pragma once

#include "object.h"

/* A call of method, as it arrived; its fds are filled by the dispatch. */
Call *call_new (DBusConnection *connection, DBusMessage *message, GDBusMethodInfo *method);
/* The call's received file descriptors (int, -1 once stolen). */
GArray *call_get_fds (Call *call);

/* Sends message (NULL: out of memory), logging a failure. */
void call_send_message (DBusConnection *connection, DBusMessage *message);
/* The signatures of args concatenated ("sas"), and as a tuple ("(sas)"). */
char *call_args_signature (GDBusArgInfo **args);
char *call_tuple_signature (GDBusArgInfo **args);
