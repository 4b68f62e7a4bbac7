/* history.c: the history command: what uploads and restores did. */
#include "commands.h"

#include "connection.h"
#include "cli.h"
#include "messages.h"
#include "output.h"

#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

enum { COL_FINISHED, COL_OPERATION, COL_BACKUP, COL_RESULT, COL_UID, COL_DOWNTIME, N_COLUMNS };

static void
print_history_table (GVariant *entries)
{
  /* TRANSLATORS: the headers of the history table, in capitals; the last
   * column says how long the PBX was down */
  const char *const headers[N_COLUMNS]
      = { C_ ("history", "FINISHED"), C_ ("history", "OPERATION"), C_ ("history", "BACKUP"),
          C_ ("history", "RESULT"),   C_ ("history", "UID"),       C_ ("history", "PBX DOWN") };
  gsize n = g_variant_n_children (entries);
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  int width[N_COLUMNS];

  for (gsize i = 0; i < n; i++) {
    g_autoptr (GVariant) entry = g_variant_get_child_value (entries, i);
    guint32 uid = dict_uint32 (entry, "uid", G_MAXUINT32);
    guint64 down = dict_uint64 (entry, "pbx-downtime-ms", G_MAXUINT64);

    g_ptr_array_add (cells, format_local_time ((gint64) dict_uint64 (entry, "finished", 0)));
    g_ptr_array_add (cells, g_strdup (message_operation (dict_string (entry, "operation", ""))));
    g_ptr_array_add (cells, g_strdup (dict_string (entry, "backup", "")));
    g_ptr_array_add (cells, g_strdup (message_result (dict_string (entry, "result", ""))));
    g_ptr_array_add (cells, uid == G_MAXUINT32 ? g_strdup ("-") : g_strdup_printf ("%u", uid));
    g_ptr_array_add (cells, down == G_MAXUINT64 ? g_strdup ("-") : format_duration_ms (down));
  }
  table_widths (headers, N_COLUMNS, cells, width);
  table_print_row (stdout, headers, N_COLUMNS, width);
  for (gsize i = 0; i < n; i++) {
    g_autoptr (GVariant) entry = g_variant_get_child_value (entries, i);
    const char *message = dict_string (entry, "error-message", "");
    const char *undo = dict_string (entry, "pre-restore-backup", NULL);

    table_print_row (stdout, (const char *const *) cells->pdata + i * N_COLUMNS, N_COLUMNS, width);
    if (message[0] != '\0') {
      g_autofree char *text = cli_error_text (dict_string (entry, "error-name", ""), message);
      g_autofree char *indented = NULL;
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

      indented = g_strjoinv ("\n    ", lines);
      printf ("    %s\n", indented);
    }
    if (undo != NULL)
      /* TRANSLATORS: the command that undoes a restore: "restore" and the
       * name stay as they are */
      printf (_ ("    undo: restore %s\n"), undo);
  }
}

int
cmd_history (int argc, char **argv)
{
  int limit = 20;
  const GOptionEntry entries[]
      = { { "limit", 'n', 0, G_OPTION_ARG_INT, &limit,
            N_ ("Show the newest N entries (default 20; 0: all that are kept)"), "N" },
          { NULL } };
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) list = NULL;
  int status;

  if (!cli_parse ("history", "", N_ ("Shows what uploads and restores did, newest first."), entries,
                  TRUE, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 1)
    return cli_usage_error ("history", _ ("unexpected argument \"%s\""), argv[1]);
  if (limit < 0)
    return cli_usage_error ("history", _ ("--limit must be 0 or more, not %d"), limit);
  if ((bus = cli_connect ("history", &status)) == NULL)
    return status;
  reply = bus_call (bus, SERVICE_PATH, SERVICE_INTERFACE, "GetHistory",
                    g_variant_new ("(u)", (guint32) limit), BUS_CALL_AUTHORIZE, &error);
  if (reply == NULL)
    return cli_fail ("history", error);
  list = g_variant_get_child_value (reply, 0);

  if (cli_options.json) {
    g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
    g_autoptr (JsonArray) array = json_array_new ();

    for (gsize i = 0; i < g_variant_n_children (list); i++) {
      g_autoptr (GVariant) entry = g_variant_get_child_value (list, i);
      json_array_add_element (array, json_from_dict (entry));
    }
    json_node_set_array (root, array);
    json_print (root, FALSE);
  } else if (g_variant_n_children (list) == 0) {
    printf (_ ("No uploads or restores yet.\n"));
  } else {
    print_history_table (list);
  }
  return EXIT_OK;
}
