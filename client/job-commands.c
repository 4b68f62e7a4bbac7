/* job-commands.c: the commands that start jobs: restore and upload. */
#include "commands.h"

#include "cli.h"
#include "follow.h"
#include "marshal.h"
#include "messages.h"
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The backup List() preselects: the newest one that can be restored. */
static char *
find_latest (Bus *bus, GError **error)
{
  g_autoptr (GVariant) reply
      = bus_call (bus, SERVICE_PATH, SERVICE_INTERFACE, "List", NULL, BUS_CALL_AUTHORIZE, error);
  g_autoptr (GVariant) backups = NULL;

  if (reply == NULL)
    return NULL;
  backups = g_variant_get_child_value (reply, 0);
  for (gsize i = 0; i < g_variant_n_children (backups); i++) {
    const char *name;
    g_autoptr (GVariant) info = NULL;

    g_variant_get_child (backups, i, "(&s@a{sv})", &name, &info);
    if (dict_boolean (info, "latest", FALSE))
      return g_strdup (name);
  }
  g_set_error_literal (error, CLIENT_ERROR, EXIT_NOT_FOUND,
                       _ ("There is no backup that can be restored here: none is valid and of the "
                          "installed STARFACE version or older (see 'starface-backup list')"));
  return NULL;
}

/* Why the report's blockers stop the restore, as an exit status. */
static int
blocked_status (GVariant *report)
{
  if (!dict_boolean (report, "compatible", FALSE))
    return EXIT_INVALID;
  if (dict_uint64 (report, "bytes-required", 0) > dict_uint64 (report, "bytes-available", 0))
    return EXIT_NO_SPACE;
  return EXIT_FAILED;
}

/* The last chance to stop: the restore ends every login and call. */
static int
confirm (const char *name)
{
  char answer[64];

  if (!isatty (STDIN_FILENO)) {
    g_printerr (_ ("%s restore: not restoring %s: the restore needs a confirmation, but standard "
                   "input is not a terminal; use --yes to restore without asking\n"),
                PROGRAM, name);
    return EXIT_NEEDS_CONFIRMATION;
  }
  /* TRANSLATORS: the last question before a restore; the answers that
   * confirm it are translated with the context "answer" */
  g_printerr (_ ("Restore %s now? [y/N] "), name);
  if (fgets (answer, sizeof answer, stdin) == NULL || !cli_is_yes (answer)) {
    g_printerr (_ ("Not restored; nothing was changed.\n"));
    return EXIT_CANCELED;
  }
  return EXIT_OK;
}

static void
print_consequences (FILE *out, GVariant *report)
{
  if (dict_boolean (report, "sessions-known", FALSE)) {
    guint32 users = dict_uint32 (report, "logged-in-users", 0);
    guint32 calls = dict_uint32 (report, "active-calls", 0);
    g_autofree char *users_text
        = g_strdup_printf (ngettext ("%u logged-in user", "%u logged-in users", users), users);
    g_autofree char *calls_text
        = g_strdup_printf (ngettext ("%u active call", "%u active calls", calls), calls);

    /* TRANSLATORS: "3 logged-in users" and "2 active calls" */
    fprintf (out, _ ("\n%s and %s will be ended: the PBX stops while the data is swapped.\n"),
             users_text, calls_text);
  } else {
    fprintf (out, _ ("\nThe number of logged-in users and active calls is unknown: all of them "
                     "will be ended, the PBX stops while the data is swapped.\n"));
  }
}

static void
print_restored (FILE *out, const char *name, const JobOutcome *outcome)
{
  const char *previous = dict_string (outcome->details, "pre-restore-backup", NULL);
  guint64 downtime = dict_uint64 (outcome->details, "pbx-downtime-ms", G_MAXUINT64);

  fprintf (out, _ ("Restored %s.\n"), name);
  if (downtime != G_MAXUINT64) {
    g_autofree char *text = format_duration_ms (downtime);

    fprintf (out, _ ("The PBX was down for %s.\n"), text);
  }
  if (previous != NULL)
    fprintf (out,
             _ ("The previous state was saved as %s; to undo this restore run:\n"
                "  %s restore %s\n"),
             previous, PROGRAM, previous);
}

/* Prints the outcome (JSON: with extra members) and returns the status. */
static int
report_outcome (const char *command, const char *operation, const char *name,
                const JobOutcome *outcome, JsonObject *extra)
{
  g_autofree char *what = message_job_title (operation, name, TRUE);

  if (cli_options.json) {
    g_autoptr (JsonNode) root = job_outcome_to_json (outcome, operation, name);
    JsonObject *object = json_node_get_object (root);

    if (extra != NULL) {
      g_autoptr (GList) members = json_object_get_members (extra);

      for (GList *l = members; l != NULL; l = l->next)
        json_object_set_member (object, l->data,
                                json_node_copy (json_object_get_member (extra, l->data)));
    }
    json_print (root, FALSE);
  }
  if (strcmp (outcome->result, "canceled") == 0) {
    /* TRANSLATORS: %s is "the restore of NAME" or "the upload of NAME" */
    g_printerr (_ ("%s %s: %s was canceled\n"), PROGRAM, command, what);
  } else if (strcmp (outcome->result, "done") != 0) {
    g_autofree char *text = cli_error_text (outcome->error_name, outcome->message);

    /* TRANSLATORS: %s is "the restore of NAME" or "the upload of NAME",
     * then why it failed */
    g_printerr (_ ("%s %s: %s failed: %s\n"), PROGRAM, command, what, text);
  }
  return job_outcome_status (outcome);
}

/* Starts the job with the call; follows it to its end. */
static JobOutcome *
run_job (Bus *bus, DBusMessage *call, const char *operation, const char *name, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (Progress) progress = NULL;
  g_autofree char *what = message_job_title (operation, name, TRUE);
  const char *path;

  if (!job_subscribe (bus, error))
    return NULL;
  reply = bus_send (bus, call, BUS_CALL_AUTHORIZE, error);
  if (reply == NULL)
    return NULL;
  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(o)"))) {
    g_set_error (error, CLIENT_ERROR, EXIT_FAILED, _ ("The service answered %s with %s"),
                 dbus_message_get_member (call), g_variant_get_type_string (reply));
    return NULL;
  }
  g_variant_get (reply, "(&o)", &path);
  fprintf (cli_human (),
           strcmp (operation, "restore") == 0 ? _ ("The restore of %s runs as job %s.\n")
                                              : _ ("The upload of %s runs as job %s.\n"),
           name, bus_job_number (path));
  fflush (cli_human ());
  progress = progress_new (cli_human ());
  return job_follow (bus, path, what, progress, error);
}

static DBusMessage *
new_call (const char *method, GVariant *args)
{
  g_autoptr (GVariant) owned = g_variant_ref_sink (args);
  DBusMessage *message
      = dbus_message_new_method_call (SERVICE_NAME, SERVICE_PATH, SERVICE_INTERFACE, method);

  if (message == NULL || !marshal_append_tuple (message, owned))
    g_error ("out of memory building a call to %s", method);
  return message;
}

int
cmd_restore (int argc, char **argv)
{
  g_auto (GStrv) component_options = NULL;
  gboolean ignore_ip = FALSE, yes = FALSE;
  const GOptionEntry entries[] = {
    { "component", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &component_options,
      N_ ("Only these components (comma-separated, repeatable; default: all)"), "ID,..." },
    { "ignore-ip", 0, 0, G_OPTION_ARG_NONE, &ignore_ip, N_ ("Keep this machine's network settings"),
      NULL },
    { "yes", 'y', 0, G_OPTION_ARG_NONE, &yes, N_ ("Do not ask for confirmation"), NULL },
    { NULL },
  };
  g_autoptr (GPtrArray) components = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) report = NULL;
  g_autoptr (JobOutcome) outcome = NULL;
  g_autoptr (JsonObject) extra = NULL;
  g_autoptr (GVariant) restored = NULL;
  g_autofree char *name = NULL;
  g_autoptr (GPtrArray) blockers = NULL;
  DBusMessage *call;
  GVariantBuilder options;
  FILE *human;
  gboolean quiet;
  int status;

  if (!cli_parse ("restore", "[NAME]",
                  N_ ("Restores a backup (default: the newest one that can be restored here).\n"
                      "Every logged-in user and active call is ended while the PBX is stopped."),
                  entries, TRUE, &argc, &argv))
    return EXIT_USAGE;
  /* --json and --yes may come after the command: only known now */
  human = cli_human ();
  /* scripts that asked for JSON and confirmed need no commentary */
  quiet = cli_options.json && yes;
  if (argc > 2)
    return cli_usage_error ("restore", _ ("expected at most one backup NAME"));
  if (!components_from_options ("restore", component_options, components))
    return EXIT_USAGE;
  g_ptr_array_add (components, NULL);
  if ((bus = cli_connect ("restore", &status)) == NULL)
    return status;

  if (argc == 2) {
    name = g_strdup (argv[1]);
  } else {
    if ((name = find_latest (bus, &error)) == NULL)
      return cli_fail ("restore", error);
    if (!quiet)
      fprintf (human, _ ("The newest backup that can be restored here is %s.\n\n"), name);
  }

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (ignore_ip)
    g_variant_builder_add (&options, "{sv}", "ignore-ip", g_variant_new_boolean (TRUE));
  reply = bus_call (bus, SERVICE_PATH, SERVICE_INTERFACE, "Preflight",
                    g_variant_new ("(s^asa{sv})", name, (char **) components->pdata, &options),
                    BUS_CALL_AUTHORIZE, &error);
  if (reply == NULL)
    return cli_fail ("restore", error);
  report = g_variant_get_child_value (reply, 0);
  if (!quiet)
    print_preflight_report (human, name, report);
  blockers = message_findings (report, "blocker");
  if (blockers->len > 0) {
    g_printerr (_ ("%s restore: %s cannot be restored:\n"), PROGRAM, name);
    for (guint i = 0; i < blockers->len; i++)
      g_printerr ("  - %s\n", (const char *) blockers->pdata[i]);
    return blocked_status (report);
  }
  if (!quiet)
    print_consequences (human, report);
  fflush (human);
  if (!yes && (status = confirm (name)) != EXIT_OK)
    return status;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "token",
                         g_variant_new_string (dict_string (report, "token", "")));
  if (ignore_ip)
    g_variant_builder_add (&options, "{sv}", "ignore-ip", g_variant_new_boolean (TRUE));
  call = new_call ("Restore",
                   g_variant_new ("(s^asa{sv})", name, (char **) components->pdata, &options));
  outcome = run_job (bus, call, "restore", name, &error);
  dbus_message_unref (call);
  if (outcome == NULL)
    return cli_fail ("restore", error);

  if (strcmp (outcome->result, "done") == 0 && !quiet)
    print_restored (human, name, outcome);
  extra = json_object_new ();
  restored = g_variant_lookup_value (report, "components", G_VARIANT_TYPE_STRING_ARRAY);
  if (restored != NULL)
    json_object_set_member (extra, "components", json_gvariant_serialize (restored));
  json_object_set_member (extra, "preflight", preflight_report_to_json (name, report));
  return report_outcome ("restore", "restore", name, outcome, extra);
}

/* The file to upload, opened for reading; fd 0 for "-". */
static int
open_upload_source (const char *file, GError **error)
{
  struct stat st;
  int fd;

  if (strcmp (file, "-") == 0)
    return STDIN_FILENO;
  fd = open (file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int errsv = errno;

    g_set_error (error, CLIENT_ERROR, errsv == ENOENT ? EXIT_NOT_FOUND : EXIT_FAILED,
                 _ ("Cannot open %s: %s"), file, g_strerror (errsv));
    return -1;
  }
  if (fstat (fd, &st) == 0 && S_ISDIR (st.st_mode)) {
    g_set_error (error, CLIENT_ERROR, EXIT_INVALID, _ ("%s is a directory, not a backup file"),
                 file);
    close (fd);
    return -1;
  }
  return fd;
}

int
cmd_upload (int argc, char **argv)
{
  g_autofree char *name = NULL;
  gboolean replace = FALSE;
  const GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &name,
      N_ ("Name in the backup directory (default: the file's name; required for -)"), "NAME" },
    { "replace", 0, 0, G_OPTION_ARG_NONE, &replace, N_ ("Replace a backup of the same name"),
      NULL },
    { NULL },
  };
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JobOutcome) outcome = NULL;
  GVariantBuilder options;
  g_autoptr (GVariant) tail = NULL;
  DBusMessage *call;
  int status, fd;

  if (!cli_parse ("upload", "FILE|-",
                  N_ ("Copies a backup file (or standard input: -) into the backup directory."),
                  entries, TRUE, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return cli_usage_error ("upload", _ ("expected one FILE (or - for standard input)"));
  if (strcmp (argv[1], "-") == 0) {
    if (name == NULL)
      return cli_usage_error ("upload", _ ("--name is required when reading standard input"));
    if (isatty (STDIN_FILENO))
      return cli_usage_error ("upload", _ ("standard input is a terminal, not a backup file"));
  } else if (name == NULL) {
    name = g_path_get_basename (argv[1]);
  }
  if ((fd = open_upload_source (argv[1], &error)) < 0)
    return cli_fail ("upload", error);
  if ((bus = cli_connect ("upload", &status)) == NULL) {
    if (fd != STDIN_FILENO)
      close (fd);
    return status;
  }

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (replace)
    g_variant_builder_add (&options, "{sv}", "replace", g_variant_new_boolean (TRUE));
  /* (s h a{sv}): marshal cannot send fds, so the fd goes in between */
  call = new_call ("Upload", g_variant_new ("(s)", name));
  tail = g_variant_ref_sink (g_variant_new ("(a{sv})", &options));
  if (!dbus_message_append_args (call, DBUS_TYPE_UNIX_FD, &fd, DBUS_TYPE_INVALID)
      || !marshal_append_tuple (call, tail))
    g_error ("out of memory building the Upload call");
  /* the message holds its own duplicate */
  if (fd != STDIN_FILENO)
    close (fd);
  outcome = run_job (bus, call, "upload", name, &error);
  dbus_message_unref (call);
  if (outcome == NULL)
    return cli_fail ("upload", error);
  if (strcmp (outcome->result, "done") == 0 && !cli_options.json)
    printf (_ ("Uploaded %s.\n"), name);
  return report_outcome ("upload", "upload", name, outcome, NULL);
}
