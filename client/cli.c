/* cli.c: global options, option parsing and error reporting. */
#include "cli.h"

#include <glib/gi18n.h>
#include <string.h>

CliOptions cli_options;

static gboolean
set_system (const char *name, const char *value, gpointer data, GError **error)
{
  cli_options.session = FALSE;
  return TRUE;
}

static const GOptionEntry global_entries[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &cli_options.json,
    N_ ("Print data as JSON (see starface-backup(1))"), NULL },
  { "system", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, set_system,
    N_ ("Use the system bus (the default)"), NULL },
  { "session", 0, 0, G_OPTION_ARG_NONE, &cli_options.session, N_ ("Use the session bus"), NULL },
  { NULL },
};

gboolean
cli_parse_global (int *argc, char ***argv)
{
  while (*argc > 1 && (*argv)[1][0] == '-' && strcmp ((*argv)[1], "-") != 0) {
    const char *arg = (*argv)[1];

    if (strcmp (arg, "--json") == 0)
      cli_options.json = TRUE;
    else if (strcmp (arg, "--system") == 0)
      cli_options.session = FALSE;
    else if (strcmp (arg, "--session") == 0)
      cli_options.session = TRUE;
    else if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0
             || strcmp (arg, "--version") == 0)
      return TRUE; /* main() answers these */
    else {
      g_printerr (_ ("%s: unknown option %s\n"), PROGRAM, arg);
      return FALSE;
    }
    (*argc)--;
    (*argv)++;
  }
  return TRUE;
}

int
cli_usage_error (const char *command, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("%s %s: %s\n", PROGRAM, command, message);
  g_printerr (_ ("Try '%s %s --help'.\n"), PROGRAM, command);
  return EXIT_USAGE;
}

char *
cli_error_text (const char *dbus_name, const char *message)
{
  const char *sentence = *dbus_name != '\0' ? dbus_error_sentence (dbus_name) : NULL;

  if (sentence == NULL)
    return g_strdup (message);
  if (*message == '\0' || strcmp (message, dbus_name) == 0)
    return g_strdup (sentence);
  /* TRANSLATORS: what an error means, then (on the next line) the
   * service's own message, which is in English */
  return g_strdup_printf (_ ("%s\n  Details: %s"), sentence, message);
}

int
cli_fail (const char *command, const GError *error)
{
  g_autofree char *text = cli_error_text (client_error_dbus_name (error), error->message);

  g_printerr ("%s %s: %s\n", PROGRAM, command, text);
  return error->code > EXIT_OK && error->code <= EXIT_NEEDS_CONFIRMATION ? error->code
                                                                         : EXIT_FAILED;
}

gboolean
cli_is_yes (const char *answer)
{
  g_autofree char *text = g_strstrip (g_strdup (answer));
  g_autofree char *folded = g_utf8_casefold (text, -1);
  /* TRANSLATORS: the short and the long answer that confirm a question
   * ending in [y/N]; "y" and "yes" are understood as well */
  const char *const words[] = { "y", "yes", C_ ("answer", "y"), C_ ("answer", "yes") };

  for (gsize i = 0; i < G_N_ELEMENTS (words); i++) {
    g_autofree char *word = g_utf8_casefold (words[i], -1);

    if (*text != '\0' && strcmp (folded, word) == 0)
      return TRUE;
  }
  return FALSE;
}

gboolean
cli_parse (const char *command, const char *args, const char *summary, const GOptionEntry *entries,
           gboolean bus_command, int *argc, char ***argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (args);
  g_autoptr (GError) error = NULL;
  g_autofree char *prgname = g_strdup_printf ("%s %s", PROGRAM, command);

  /* The usage line then reads "starface-backup pack [OPTION…] DIR OUT.sar". */
  (*argv)[0] = prgname;
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, entries, NULL);
  /* in the same list, so that "--help" shows them */
  if (bus_command)
    g_option_context_add_main_entries (context, global_entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error)) {
    cli_usage_error (command, "%s", error->message);
    return FALSE;
  }
  (*argv)[0] = (char *) command;
  return TRUE;
}

Bus *
cli_connect (const char *command, int *status)
{
  g_autoptr (GError) error = NULL;
  Bus *bus = bus_open (cli_options.session, &error);

  if (bus == NULL)
    *status = cli_fail (command, error);
  return bus;
}

FILE *
cli_human (void)
{
  return cli_options.json ? stderr : stdout;
}
