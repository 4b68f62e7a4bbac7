/* output.h: how the client shows things: sizes, times, a{sv} lookups,
 * JSON, and the one progress reporter (a bar on a terminal, plain
 * "percent stage message" lines otherwise; with a translation the stage's
 * name in the user's language takes the place of the service's English
 * message).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

/* Lookups in an a{sv} with a default when the key is absent or of
 * another type. */
const char *dict_string (GVariant *dict, const char *key, const char *fallback);
guint64 dict_uint64 (GVariant *dict, const char *key, guint64 fallback);
guint32 dict_uint32 (GVariant *dict, const char *key, guint32 fallback);
gboolean dict_boolean (GVariant *dict, const char *key, gboolean fallback);
/* A copy; an empty vector when absent. */
char **dict_dup_strv (GVariant *dict, const char *key);

/* Prints text padded with spaces to width characters (not bytes). */
void print_cell (FILE *out, const char *text, int width);

/* Lines of "Label:  value" with the values in one column: the width of
 * the widest label and two spaces. */
int fields_width (const char *const *labels, int n);
void print_field (FILE *out, int width, const char *label, const char *value);

/* A table: cells holds n_columns strings per row, row after row; width
 * gets each column's width (the widest of its header and cells). */
void table_widths (const char *const *headers, int n_columns, GPtrArray *cells, int *width);
/* One row (or the headers), columns two spaces apart, then a newline. */
void table_print_row (FILE *out, const char *const *row, int n_columns, const int *width);

/* "1.2 MB" */
char *format_size (guint64 bytes);
/* "2026-11-20 03:00:00" in local time; "-" for 0 */
char *format_local_time (gint64 unix_seconds);
/* "1.234 s" or "850 ms" */
char *format_duration_ms (guint64 ms);

/* An a{sv} as a JSON object (variants unwrapped, integers as numbers). */
JsonNode *json_from_dict (GVariant *dict);
/* Prints node to stdout: pretty, or on one line when compact. */
void json_print (JsonNode *node, gboolean compact);

typedef struct _Progress Progress;

/* Reports on out: a redrawn bar when out is a terminal. */
Progress *progress_new (FILE *out);
/* stage or message NULL: unchanged. */
void progress_update (Progress *progress, guint percent, const char *stage, const char *message);
/* Clears the bar's line so other text can be printed; the next update
 * draws it again. */
void progress_interrupt (Progress *progress);
/* Ends the bar's line. */
void progress_free (Progress *progress);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Progress, progress_free)
