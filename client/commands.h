/* commands.h: the client's commands, one function each (see cli.h). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

int cmd_list (int argc, char **argv);
int cmd_inspect (int argc, char **argv);
int cmd_preflight (int argc, char **argv);
int cmd_restore (int argc, char **argv);
int cmd_upload (int argc, char **argv);
int cmd_cancel (int argc, char **argv);
int cmd_monitor (int argc, char **argv);
int cmd_pack (int argc, char **argv);
int cmd_history (int argc, char **argv);

/* Shared by preflight and restore. */

/* "-c core,cdr -c announcements" -> { "core", "cdr", "announcements" };
 * FALSE (message printed) on an empty or repeated id. */
gboolean components_from_options (const char *command, char **options, GPtrArray *out);
/* The report of Preflight() for people. */
void print_preflight_report (FILE *out, const char *name, GVariant *report);
/* The report as the JSON object of the preflight command. */
JsonNode *preflight_report_to_json (const char *name, GVariant *report);
