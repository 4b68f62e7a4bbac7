/* cli.h: what every command shares: the global options, option parsing,
 * reporting errors and connecting to the service.
 *
 * A command is a function int (int argc, char **argv) with argv[0] its
 * name; it parses its own options and returns the exit status.
 */
#pragma once

#include "connection.h"
#include "exit-status.h"

#include <glib.h>
#include <stdio.h>

#define PROGRAM "starface-backup"

typedef struct {
  gboolean json;    /* print data as JSON on stdout */
  gboolean session; /* the session bus instead of the system bus */
} CliOptions;

extern CliOptions cli_options;

/* Consumes the global options in front of the command; FALSE on an
 * unknown one (message printed).  Afterwards argv[1] is the command. */
gboolean cli_parse_global (int *argc, char ***argv);

/* Parses a command's options (plus --json, --system and --session when
 * bus_command); prints the message and returns FALSE on error.  summary
 * and the entries' descriptions are translated (mark them with N_()). */
gboolean cli_parse (const char *command, const char *args, const char *summary,
                    const GOptionEntry *entries, gboolean bus_command, int *argc, char ***argv);

int cli_usage_error (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Prints the error and returns its exit status (its code, see connection.h). */
int cli_fail (const char *command, const GError *error);
/* An error for people: the service's message; in another language than
 * English, what the error name means, then the message as details. */
char *cli_error_text (const char *dbus_name, const char *message);

/* Whether an answer to a [y/N] question is yes ("y", "yes", or the same
 * in the user's language). */
gboolean cli_is_yes (const char *answer);

/* Connects to the chosen bus; NULL after printing why (*status set). */
Bus *cli_connect (const char *command, int *status);

/* Where human-readable text goes: stdout, or stderr when stdout is JSON. */
FILE *cli_human (void);
