/* exit-status.h: the client's exit statuses, one per error class.
 *
 * The table in exit-status.c is the only place that decides which D-Bus
 * error ends in which status (and what it means for people, in their
 * language); the man page documents the same table.
 * Errors the client reports carry their status as the GError code: errors
 * from the service in a domain named after the D-Bus error
 * (g_quark_to_string (error->domain) is the name), the client's own in
 * CLIENT_ERROR.
 */
#pragma once

#include <glib.h>

typedef enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,              /* anything not listed below */
  EXIT_USAGE = 2,               /* bad command line */
  EXIT_NOT_AUTHORIZED = 3,      /* polkit or the bus said no */
  EXIT_NOT_FOUND = 4,           /* no such backup, component or job */
  EXIT_INVALID = 5,             /* invalid name, backup, token, arguments; version too new */
  EXIT_BUSY = 6,                /* another job is running, or the name exists */
  EXIT_NO_SPACE = 7,            /* not enough disk space, or too large */
  EXIT_CANCELED = 8,            /* canceled, or declined at the prompt */
  EXIT_UNAVAILABLE = 9,         /* the service is not running, or went away */
  EXIT_NEEDS_CONFIRMATION = 10, /* restore without --yes and without a terminal */
} ExitStatus;

#define CLIENT_ERROR (client_error_quark ())
GQuark client_error_quark (void);

/* The exit status for a D-Bus error name (EXIT_FAILED when unknown). */
ExitStatus exit_status_for_dbus_error (const char *name);

/* What an error name means, in the user's language: NULL for an unknown
 * name or when there is no translation (the service's message, English,
 * says it then). */
const char *dbus_error_sentence (const char *name);

/* The D-Bus error name an error came with, or "" for the client's own. */
const char *client_error_dbus_name (const GError *error);

/* A GError for a D-Bus error: domain named after it, code its status. */
void client_error_set_dbus (GError **error, const char *name, const char *message);
