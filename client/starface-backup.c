/* starface-backup: the command line client.
 *
 * Each command is one entry of the table below; a command parses its own
 * options and returns the process exit status (exit-status.h).  Global
 * options (--json, --system, --session) may come before the command or
 * among its options.
 */
#include "cli.h"
#include "commands.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  const char *args;
  const char *summary;
  int (*run) (int argc, char **argv);
} Command;

static const Command commands[] = {
  { "list", "", N_ ("list the backups, newest first"), cmd_list },
  { "inspect", "NAME", N_ ("show what a backup holds"), cmd_inspect },
  { "preflight", "NAME", N_ ("show what restoring a backup would do"), cmd_preflight },
  { "restore", "[NAME]", N_ ("restore a backup (default: the newest restorable one)"),
    cmd_restore },
  { "upload", "FILE|-", N_ ("copy a backup file into the backup directory"), cmd_upload },
  { "cancel", "JOB", N_ ("cancel a running job"), cmd_cancel },
  { "monitor", "", N_ ("follow the progress of every job until Ctrl-C"), cmd_monitor },
  { "history", "", N_ ("show what uploads and restores did, newest first"), cmd_history },
  { "pack", "DIR OUT.sar", N_ ("pack a directory of component trees into a backup file"),
    cmd_pack },
};

static void
print_usage (FILE *out)
{
  /* TRANSLATORS: COMMAND and OPTION are placeholders; the options and
   * command names stay as they are */
  fprintf (out, _ ("Usage: %s [--json] [--system|--session] COMMAND [OPTION…]\n\nCommands:\n"),
           PROGRAM);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %-12s %s\n", commands[i].name, commands[i].args,
             _ (commands[i].summary));
  fprintf (out,
           _ ("\nGlobal options:\n"
              "  --json     print data as JSON\n"
              "  --system   use the system bus (default; DBUS_SYSTEM_BUS_ADDRESS is honoured)\n"
              "  --session  use the session bus\n"
              "\nRun '%s COMMAND --help' for a command's options; exit statuses are listed in\n"
              "starface-backup(1).\n"),
           PROGRAM);
}

int
main (int argc, char **argv)
{
  const char *localedir = g_getenv ("STARFACE_BACKUP_LOCALEDIR");

  setlocale (LC_ALL, "");
  /* messages in the user's language, always UTF-8 (as on the bus);
   * STARFACE_BACKUP_LOCALEDIR: translations of a build tree */
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL && *localedir != '\0' ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (!cli_parse_global (&argc, &argv)) {
    print_usage (stderr);
    return EXIT_USAGE;
  }
  if (argc < 2) {
    print_usage (stderr);
    return EXIT_USAGE;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0) {
    print_usage (stdout);
    return EXIT_OK;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("%s %s\n", PROGRAM, PACKAGE_VERSION);
    return EXIT_OK;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  g_printerr (_ ("%s: unknown command \"%s\"\n"), PROGRAM, argv[1]);
  print_usage (stderr);
  return EXIT_USAGE;
}
