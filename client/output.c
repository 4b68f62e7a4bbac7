/* output.c: formatting, JSON and progress. */
#include "output.h"

#include "messages.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *
dict_string (GVariant *dict, const char *key, const char *fallback)
{
  const char *value;

  if (dict != NULL && g_variant_lookup (dict, key, "&s", &value))
    return value;
  return fallback;
}

guint64
dict_uint64 (GVariant *dict, const char *key, guint64 fallback)
{
  guint64 value;

  if (dict != NULL && g_variant_lookup (dict, key, "t", &value))
    return value;
  return fallback;
}

guint32
dict_uint32 (GVariant *dict, const char *key, guint32 fallback)
{
  guint32 value;

  if (dict != NULL && g_variant_lookup (dict, key, "u", &value))
    return value;
  return fallback;
}

gboolean
dict_boolean (GVariant *dict, const char *key, gboolean fallback)
{
  gboolean value;

  if (dict != NULL && g_variant_lookup (dict, key, "b", &value))
    return value;
  return fallback;
}

char **
dict_dup_strv (GVariant *dict, const char *key)
{
  g_autoptr (GVariant) value = NULL;

  if (dict != NULL)
    value = g_variant_lookup_value (dict, key, G_VARIANT_TYPE_STRING_ARRAY);
  if (value == NULL)
    return g_new0 (char *, 1);
  return g_variant_dup_strv (value, NULL);
}

char *
format_size (guint64 bytes)
{
  return g_format_size (bytes);
}

char *
format_local_time (gint64 unix_seconds)
{
  g_autoptr (GDateTime) time = NULL;

  if (unix_seconds <= 0 || (time = g_date_time_new_from_unix_local (unix_seconds)) == NULL)
    return g_strdup ("-");
  return g_date_time_format (time, "%Y-%m-%d %H:%M:%S");
}

char *
format_duration_ms (guint64 ms)
{
  if (ms < 1000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " ms", ms);
  return g_strdup_printf ("%.1f s", (double) ms / 1000.0);
}

JsonNode *
json_from_dict (GVariant *dict)
{
  return json_gvariant_serialize (dict);
}

void
json_print (JsonNode *node, gboolean compact)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (generator, !compact);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  fputs (text, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

/* --- progress ---------------------------------------------------------- */

#define BAR_WIDTH 30

struct _Progress {
  FILE *out;
  gboolean bar;
  gboolean drawn; /* a bar is on the current line */
  guint percent;
  char *stage;
  char *message;
  char *last_line; /* plain mode: not repeated */
};

Progress *
progress_new (FILE *out)
{
  Progress *progress = g_new0 (Progress, 1);

  progress->out = out;
  progress->bar = isatty (fileno (out));
  progress->stage = g_strdup ("");
  progress->message = g_strdup ("");
  return progress;
}

static int
terminal_columns (FILE *out)
{
  struct winsize size;

  if (ioctl (fileno (out), TIOCGWINSZ, &size) == 0 && size.ws_col > 20)
    return size.ws_col;
  return 80;
}

/* With a translation, the stage's name in the user's language stands for
 * the stage and the service's (English) message; without one, the stage id
 * and the message. */
static void
draw_bar (Progress *progress)
{
  g_autoptr (GString) line = g_string_new ("\r[");
  guint filled = progress->percent * BAR_WIDTH / 100;
  const char *label = message_stage (progress->stage);
  glong room;

  for (guint i = 0; i < BAR_WIDTH; i++)
    g_string_append_c (line, i < filled ? '#' : '-');
  g_string_append_printf (line, "] %3u%% %s", progress->percent,
                          label != NULL ? label : progress->stage);
  if (label == NULL && progress->message[0] != '\0')
    g_string_append_printf (line, ": %s", progress->message);
  /* one line, never wrapping: the next \r must return to its start */
  room = terminal_columns (progress->out) - 1;
  if (g_utf8_strlen (line->str + 1, -1) > room) {
    const char *cut = g_utf8_offset_to_pointer (line->str + 1, room);
    g_string_truncate (line, (gsize) (cut - line->str));
  }
  g_string_append (line, "\033[K");
  fputs (line->str, progress->out);
  fflush (progress->out);
  progress->drawn = TRUE;
}

void
progress_update (Progress *progress, guint percent, const char *stage, const char *message)
{
  if (progress == NULL)
    return;
  progress->percent = MIN (percent, 100);
  if (stage != NULL) {
    g_free (progress->stage);
    progress->stage = g_strdup (stage);
  }
  if (message != NULL) {
    g_free (progress->message);
    progress->message = g_strdup (message);
  }
  if (progress->bar) {
    draw_bar (progress);
  } else {
    /* "percent stage-id text": the id stays for scripts that read it */
    const char *label = message_stage (progress->stage);
    const char *after = label != NULL ? label : progress->message;
    g_autofree char *text = g_strdup_printf ("%u %s%s%s", progress->percent, progress->stage,
                                             after[0] != '\0' ? " " : "", after);

    if (g_strcmp0 (text, progress->last_line) != 0) {
      fprintf (progress->out, "%s\n", text);
      fflush (progress->out);
      g_free (progress->last_line);
      progress->last_line = g_steal_pointer (&text);
    }
  }
}

void
progress_interrupt (Progress *progress)
{
  if (progress == NULL || !progress->drawn)
    return;
  fputs ("\r\033[K", progress->out);
  fflush (progress->out);
  progress->drawn = FALSE;
}

void
progress_free (Progress *progress)
{
  if (progress == NULL)
    return;
  if (progress->drawn) {
    fputc ('\n', progress->out);
    fflush (progress->out);
  }
  g_free (progress->stage);
  g_free (progress->message);
  g_free (progress->last_line);
  g_free (progress);
}

void
print_cell (FILE *out, const char *text, int width)
{
  fputs (text, out);
  for (glong i = g_utf8_strlen (text, -1); i < width; i++)
    fputc (' ', out);
}

void
table_widths (const char *const *headers, int n_columns, GPtrArray *cells, int *width)
{
  for (int c = 0; c < n_columns; c++)
    width[c] = (int) g_utf8_strlen (headers[c], -1);
  for (guint i = 0; i < cells->len; i++)
    width[i % n_columns] = MAX (width[i % n_columns], (int) g_utf8_strlen (cells->pdata[i], -1));
}

void
table_print_row (FILE *out, const char *const *row, int n_columns, const int *width)
{
  for (int c = 0; c < n_columns; c++)
    print_cell (out, row[c], c + 1 < n_columns ? width[c] + 2 : 0);
  fputc ('\n', out);
}

int
fields_width (const char *const *labels, int n)
{
  int width = 0;

  for (int i = 0; i < n; i++)
    width = MAX (width, (int) g_utf8_strlen (labels[i], -1));
  return width + 2;
}

void
print_field (FILE *out, int width, const char *label, const char *value)
{
  print_cell (out, label, width);
  fputs (value, out);
  fputc ('\n', out);
}
