/* commands.c: the commands that read: list, inspect, preflight; and cancel. */
#include "commands.h"

#include "cli.h"
#include "messages.h"
#include "output.h"

#include <glib/gi18n.h>
#include <string.h>

/* --- list ----------------------------------------------------------------- */

enum { COL_NAME, COL_PROCESS, COL_CREATED, COL_VERSION, COL_SIZE, COL_STATE, N_COLUMNS };

/* Why a backup is listed as it is: translated from its problem-code, with
 * the service's sentence as details; else the service's sentence. */
static void
print_problem (GVariant *info)
{
  const char *problem = dict_string (info, "problem", NULL);
  const char *code = dict_string (info, "problem-code", NULL);
  const char *sentence = NULL;
  gboolean translated = FALSE;

  if (code != NULL)
    sentence = message_problem (code, &translated);
  if (sentence == NULL || !translated) {
    printf (_ ("    problem: %s\n"), problem != NULL ? problem : _ ("unknown"));
    return;
  }
  printf (_ ("    problem: %s\n"), sentence);
  if (problem != NULL)
    printf (_ ("    details: %s\n"), problem);
}

static void
print_backup_table (GVariant *backups)
{
  /* TRANSLATORS: the headers of the table of backups, in capitals */
  const char *const headers[N_COLUMNS]
      = { C_ ("backups", "NAME"),    C_ ("backups", "PROCESS"), C_ ("backups", "CREATED"),
          C_ ("backups", "VERSION"), C_ ("backups", "SIZE"),    C_ ("backups", "COMPATIBLE") };
  gsize n = g_variant_n_children (backups);
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  int width[N_COLUMNS];
  gboolean any_latest = FALSE;

  for (gsize i = 0; i < n; i++) {
    const char *name;
    g_autoptr (GVariant) info = NULL;

    g_variant_get_child (backups, i, "(&s@a{sv})", &name, &info);
    g_ptr_array_add (cells, g_strdup (name));
    g_ptr_array_add (cells, g_strdup (dict_string (info, "process", "")));
    g_ptr_array_add (cells, format_local_time ((gint64) dict_uint64 (info, "created", 0)));
    g_ptr_array_add (cells, g_strdup (dict_string (info, "version", "")));
    g_ptr_array_add (cells, format_size (dict_uint64 (info, "size", 0)));
    /* TRANSLATORS: the COMPATIBLE column: the backup is not valid, can
     * be restored here, or is too new for this machine */
    g_ptr_array_add (
        cells, g_strdup (!dict_boolean (info, "valid", FALSE)       ? C_ ("compatible", "invalid")
                         : dict_boolean (info, "compatible", FALSE) ? C_ ("compatible", "yes")
                                                                    : C_ ("compatible", "no")));
  }
  table_widths (headers, N_COLUMNS, cells, width);
  fputs ("  ", stdout);
  table_print_row (stdout, headers, N_COLUMNS, width);
  for (gsize i = 0; i < n; i++) {
    g_autoptr (GVariant) info = NULL;
    gboolean latest;

    g_variant_get_child (backups, i, "(&s@a{sv})", NULL, &info);
    latest = dict_boolean (info, "latest", FALSE);
    any_latest |= latest;
    fputs (latest ? "* " : "  ", stdout);
    table_print_row (stdout, (const char *const *) cells->pdata + i * N_COLUMNS, N_COLUMNS, width);
    /* also on valid backups that are never preselected (made in the future) */
    if (!dict_boolean (info, "valid", FALSE) || dict_string (info, "problem", NULL) != NULL)
      print_problem (info);
  }
  if (any_latest)
    printf (_ ("\n* the newest backup that can be restored here: 'restore' without a name "
               "takes it\n"));
}

int
cmd_list (int argc, char **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) backups = NULL;
  int status;

  if (!cli_parse ("list", "", N_ ("Lists the backups, newest first."), entries, TRUE, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 1)
    return cli_usage_error ("list", _ ("unexpected argument \"%s\""), argv[1]);
  if ((bus = cli_connect ("list", &status)) == NULL)
    return status;
  reply = bus_call (bus, SERVICE_PATH, SERVICE_INTERFACE, "List", NULL, BUS_CALL_AUTHORIZE, &error);
  if (reply == NULL)
    return cli_fail ("list", error);
  backups = g_variant_get_child_value (reply, 0);

  if (cli_options.json) {
    g_autoptr (JsonArray) array = json_array_new ();
    g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);

    for (gsize i = 0; i < g_variant_n_children (backups); i++) {
      const char *name;
      g_autoptr (GVariant) info = NULL;
      JsonNode *node;

      g_variant_get_child (backups, i, "(&s@a{sv})", &name, &info);
      node = json_from_dict (info);
      json_object_set_string_member (json_node_get_object (node), "name", name);
      json_array_add_element (array, node);
    }
    json_node_set_array (root, array);
    json_print (root, FALSE);
  } else if (g_variant_n_children (backups) == 0) {
    printf (_ ("No backups.\n"));
  } else {
    print_backup_table (backups);
  }
  return EXIT_OK;
}

/* --- inspect -------------------------------------------------------------- */

enum { F_NAME, F_VERSION, F_CREATED, F_PROCESS, F_HOST, F_SIZE, F_COMPONENTS, N_FIELDS };

static void
print_components (GVariant *components)
{
  gsize n = components != NULL ? g_variant_n_children (components) : 0;
  g_autoptr (GPtrArray) counts = g_ptr_array_new_with_free_func (g_free);
  int count_width = 0;

  for (gsize i = 0; i < n; i++) {
    g_autoptr (GVariant) component = NULL;
    guint32 files;

    g_variant_get_child (components, i, "(&s@a{sv})", NULL, &component);
    files = dict_uint32 (component, "files", 0);
    g_ptr_array_add (counts, g_strdup_printf (ngettext ("%6u file", "%6u files", files), files));
    count_width = MAX (count_width, (int) g_utf8_strlen (counts->pdata[i], -1));
  }
  for (gsize i = 0; i < n; i++) {
    const char *id;
    g_autoptr (GVariant) component = NULL;
    g_autofree char *bytes = NULL;

    g_variant_get_child (components, i, "(&s@a{sv})", &id, &component);
    bytes = format_size (dict_uint64 (component, "bytes", 0));
    fputs ("  ", stdout);
    print_cell (stdout, id, 16);
    fputc (' ', stdout);
    print_cell (stdout, message_component_label (id, dict_string (component, "label", "")), 26);
    fputc (' ', stdout);
    print_cell (stdout, counts->pdata[i], count_width);
    printf (" %10s\n", bytes);
    if (*dict_string (component, "database", "") != '\0') {
      g_autofree char *dump = format_size (dict_uint64 (component, "database-bytes", 0));

      /* TRANSLATORS: below a component in "inspect": the PostgreSQL database it carries */
      printf (_ ("                   and the database %s (a dump of %s)\n"),
              dict_string (component, "database", ""), dump);
    }
  }
}

static void
print_inspection (GVariant *info)
{
  const char *labels[N_FIELDS] = { _ ("Name:"), _ ("Version:"), _ ("Created:"),   _ ("Process:"),
                                   _ ("Host:"), _ ("Size:"),    _ ("Components:") };
  int width = fields_width (labels, N_FIELDS);
  g_autofree char *created = format_local_time ((gint64) dict_uint64 (info, "created", 0));
  g_autofree char *size = format_size (dict_uint64 (info, "size", 0));
  g_autofree char *version = NULL;
  g_autofree char *host = NULL;
  g_autoptr (GVariant) components
      = g_variant_lookup_value (info, "components", G_VARIANT_TYPE ("a(sa{sv})"));
  const char *ip = dict_string (info, "ip-address", NULL);

  /* TRANSLATORS: the backup's version, the installed one, and whether
   * the backup can be restored here */
  version = g_strdup_printf (_ ("%s (installed: %s; %s)"), dict_string (info, "version", ""),
                             dict_string (info, "installed-version", _ ("unknown")),
                             dict_boolean (info, "compatible", FALSE)
                                 ? _ ("can be restored here")
                                 : _ ("too new to be restored here"));
  host = ip != NULL ? g_strdup_printf ("%s (%s)", dict_string (info, "hostname", ""), ip)
                    : g_strdup (dict_string (info, "hostname", ""));
  print_field (stdout, width, labels[F_NAME], dict_string (info, "name", ""));
  print_field (stdout, width, labels[F_VERSION], version);
  print_field (stdout, width, labels[F_CREATED], created);
  print_field (stdout, width, labels[F_PROCESS], dict_string (info, "process", ""));
  print_field (stdout, width, labels[F_HOST], host);
  print_field (stdout, width, labels[F_SIZE], size);
  printf ("%s\n", labels[F_COMPONENTS]);
  print_components (components);
}

static JsonNode *
inspection_to_json (GVariant *info)
{
  g_autoptr (GVariant) components
      = g_variant_lookup_value (info, "components", G_VARIANT_TYPE ("a(sa{sv})"));
  JsonNode *root = json_from_dict (info);
  JsonArray *array = json_array_new ();

  /* objects with an "id", not [id, {...}] pairs */
  for (gsize i = 0; components != NULL && i < g_variant_n_children (components); i++) {
    const char *id;
    g_autoptr (GVariant) component = NULL;
    JsonNode *node;

    g_variant_get_child (components, i, "(&s@a{sv})", &id, &component);
    node = json_from_dict (component);
    json_object_set_string_member (json_node_get_object (node), "id", id);
    json_array_add_element (array, node);
  }
  json_object_set_array_member (json_node_get_object (root), "components", array);
  return root;
}

int
cmd_inspect (int argc, char **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) info = NULL;
  int status;

  if (!cli_parse ("inspect", "NAME", N_ ("Shows what a backup holds."), entries, TRUE, &argc,
                  &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return cli_usage_error ("inspect", _ ("expected one backup NAME"));
  if ((bus = cli_connect ("inspect", &status)) == NULL)
    return status;
  reply = bus_call (bus, SERVICE_PATH, SERVICE_INTERFACE, "Inspect", g_variant_new ("(s)", argv[1]),
                    BUS_CALL_AUTHORIZE, &error);
  if (reply == NULL)
    return cli_fail ("inspect", error);
  info = g_variant_get_child_value (reply, 0);
  if (cli_options.json) {
    g_autoptr (JsonNode) root = inspection_to_json (info);

    json_print (root, FALSE);
  } else {
    print_inspection (info);
  }
  return EXIT_OK;
}

/* --- preflight ------------------------------------------------------------ */

gboolean
components_from_options (const char *command, char **options, GPtrArray *out)
{
  for (guint i = 0; options != NULL && options[i] != NULL; i++) {
    g_auto (GStrv) ids = g_strsplit (options[i], ",", -1);

    for (guint j = 0; ids[j] != NULL; j++) {
      const char *id = g_strstrip (ids[j]);

      if (*id == '\0') {
        cli_usage_error (command, _ ("--component: empty component id in \"%s\""), options[i]);
        return FALSE;
      }
      for (guint k = 0; k < out->len; k++)
        if (strcmp (out->pdata[k], id) == 0) {
          cli_usage_error (command, _ ("--component: %s is named twice"), id);
          return FALSE;
        }
      g_ptr_array_add (out, g_strdup (id));
    }
  }
  return TRUE;
}

static void
print_findings (FILE *out, const char *title, GPtrArray *findings)
{
  if (findings->len == 0)
    return;
  fprintf (out, "%s\n", title);
  for (guint i = 0; i < findings->len; i++)
    fprintf (out, "  - %s\n", (const char *) findings->pdata[i]);
}

/* "core, announcements", with their labels in another language than
 * English: "core (Kerndaten), announcements (Voicemail-Ansagen)" */
static char *
component_list (char **ids)
{
  g_autoptr (GString) text = g_string_new ("");

  for (guint i = 0; ids[i] != NULL; i++) {
    const char *label = message_component (ids[i]);

    g_string_append_printf (text, "%s%s", i > 0 ? ", " : "", ids[i]);
    if (label != NULL)
      g_string_append_printf (text, " (%s)", label);
  }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

enum { P_BACKUP, P_VERSION, P_COMPONENTS, P_SPACE, P_USERS, P_CALLS, N_PREFLIGHT_FIELDS };

void
print_preflight_report (FILE *out, const char *name, GVariant *report)
{
  const char *labels[N_PREFLIGHT_FIELDS]
      = { _ ("Backup:"),     _ ("Version check:"),   _ ("Components:"),
          _ ("Disk space:"), _ ("Logged-in users:"), _ ("Active calls:") };
  int width = fields_width (labels, N_PREFLIGHT_FIELDS);
  g_auto (GStrv) components = dict_dup_strv (report, "components");
  g_autoptr (GPtrArray) warnings = message_findings (report, "warning");
  g_autoptr (GPtrArray) blockers = message_findings (report, "blocker");
  g_autofree char *joined = component_list (components);
  g_autofree char *required = format_size (dict_uint64 (report, "bytes-required", 0));
  g_autofree char *available = format_size (dict_uint64 (report, "bytes-available", 0));
  g_autofree char *version = NULL;
  g_autofree char *space = NULL;
  g_autofree char *users = NULL;
  g_autofree char *calls = NULL;

  /* TRANSLATORS: the backup's version, the installed one, and the verdict */
  version = g_strdup_printf (
      _ ("backup %s, installed %s: %s"), dict_string (report, "backup-version", "?"),
      dict_string (report, "installed-version", "?"),
      dict_boolean (report, "compatible", FALSE) ? _ ("compatible")
                                                 : _ ("NOT compatible (backup is newer)"));
  space = g_strdup_printf (_ ("%s needed, %s available"), required, available);
  if (dict_boolean (report, "sessions-known", FALSE)) {
    users = g_strdup_printf ("%u", dict_uint32 (report, "logged-in-users", 0));
    calls = g_strdup_printf ("%u", dict_uint32 (report, "active-calls", 0));
  } else {
    users = g_strdup (_ ("unknown"));
    calls = g_strdup (_ ("unknown"));
  }
  print_field (out, width, labels[P_BACKUP], name);
  print_field (out, width, labels[P_VERSION], version);
  print_field (out, width, labels[P_COMPONENTS], joined);
  print_field (out, width, labels[P_SPACE], space);
  print_field (out, width, labels[P_USERS], users);
  print_field (out, width, labels[P_CALLS], calls);
  print_findings (out, _ ("Warnings:"), warnings);
  print_findings (out, _ ("Blockers:"), blockers);
}

JsonNode *
preflight_report_to_json (const char *name, GVariant *report)
{
  JsonNode *root = json_from_dict (report);

  json_object_set_string_member (json_node_get_object (root), "backup", name);
  return root;
}

int
cmd_preflight (int argc, char **argv)
{
  g_auto (GStrv) component_options = NULL;
  gboolean ignore_ip = FALSE;
  const GOptionEntry entries[] = {
    { "component", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &component_options,
      N_ ("Only these components (comma-separated, repeatable; default: all)"), "ID,..." },
    { "ignore-ip", 0, 0, G_OPTION_ARG_NONE, &ignore_ip, N_ ("Keep this machine's network settings"),
      NULL },
    { NULL },
  };
  g_autoptr (GPtrArray) components = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) report = NULL;
  GVariantBuilder options;
  int status;

  if (!cli_parse ("preflight", "NAME",
                  N_ ("Shows what restoring a backup would do, without doing it."), entries, TRUE,
                  &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return cli_usage_error ("preflight", _ ("expected one backup NAME"));
  if (!components_from_options ("preflight", component_options, components))
    return EXIT_USAGE;
  if ((bus = cli_connect ("preflight", &status)) == NULL)
    return status;
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (ignore_ip)
    g_variant_builder_add (&options, "{sv}", "ignore-ip", g_variant_new_boolean (TRUE));
  g_ptr_array_add (components, NULL);
  reply = bus_call (bus, SERVICE_PATH, SERVICE_INTERFACE, "Preflight",
                    g_variant_new ("(s^asa{sv})", argv[1], (char **) components->pdata, &options),
                    BUS_CALL_AUTHORIZE, &error);
  if (reply == NULL)
    return cli_fail ("preflight", error);
  report = g_variant_get_child_value (reply, 0);
  if (cli_options.json) {
    g_autoptr (JsonNode) root = preflight_report_to_json (argv[1], report);

    json_print (root, FALSE);
  } else {
    g_auto (GStrv) blockers = dict_dup_strv (report, "blockers");

    print_preflight_report (stdout, argv[1], report);
    printf (blockers[0] == NULL ? _ ("\nA restore of %s can start.\n")
                                : _ ("\nA restore of %s cannot start.\n"),
            argv[1]);
  }
  return EXIT_OK;
}

/* --- cancel --------------------------------------------------------------- */

/* A job's id: the last element of its path (16 hexadecimal digits from
 * this service, but any valid path element is passed on). */
static gboolean
is_job_id (const char *text)
{
  if (*text == '\0')
    return FALSE;
  for (; *text != '\0'; text++)
    if (!g_ascii_isalnum (*text) && *text != '_')
      return FALSE;
  return TRUE;
}

int
cmd_cancel (int argc, char **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *path = NULL;
  int status;

  if (!cli_parse ("cancel", "JOB",
                  N_ ("Cancels a running job, given as its id or its object path."), entries, TRUE,
                  &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return cli_usage_error ("cancel", _ ("expected one JOB"));
  if (is_job_id (argv[1]))
    path = g_strconcat (JOB_PATH_PREFIX, argv[1], NULL);
  else if (g_str_has_prefix (argv[1], JOB_PATH_PREFIX)
           && is_job_id (argv[1] + strlen (JOB_PATH_PREFIX)))
    path = g_strdup (argv[1]);
  else
    return cli_usage_error ("cancel",
                            _ ("\"%s\" is not a job: give its id (5c1e0d9a3b7f2e14) or its path "
                               "(%s5c1e0d9a3b7f2e14)"),
                            argv[1], JOB_PATH_PREFIX);
  if ((bus = cli_connect ("cancel", &status)) == NULL)
    return status;
  reply = bus_call (bus, path, JOB_INTERFACE, "Cancel", NULL, BUS_CALL_AUTHORIZE, &error);
  if (reply == NULL)
    return cli_fail ("cancel", error);
  fprintf (cli_human (), _ ("Job %s is being canceled.\n"), bus_job_number (path));
  return EXIT_OK;
}
