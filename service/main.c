/* main.c: starface-backupd [--config=FILE] [--session] [--verbose] */
#include "audit.h"
#include "bus.h"
#include "config.h"
#include "manager.h"
#include "spill.h"

#include <glib-unix.h>
#include <errno.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/stat.h>

/* malloc's defaults suit a process that keeps many threads busy
 * allocating; this one has a handful of threads that allocate little but
 * hold large buffers (archive blocks, compression contexts, read-ahead)
 * for a job.  With an arena per thread, what a job's threads freed stays
 * resident in their arenas, and glibc raises its mmap threshold each time
 * a large block is freed, so later large buffers come from the heaps too
 * and stay there.  One arena, and large blocks always mapped on their
 * own: freeing them gives them back to the system. */
#define MALLOC_ARENAS 1
#define MALLOC_MMAP_THRESHOLD (128 * 1024)

static void
tune_malloc (void)
{
  if (mallopt (M_ARENA_MAX, MALLOC_ARENAS) != 1
      || mallopt (M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) != 1)
    g_debug ("could not tune malloc; its defaults stay");
}

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
bus_lost (gpointer user_data)
{
  g_message ("the bus connection was closed; exiting");
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  gboolean session = FALSE, verbose = FALSE;
  const GOptionEntry entries[]
      = { { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
            "Configuration file (default " CONFIG_DEFAULT_PATH ")", "FILE" },
          { "session", 0, 0, G_OPTION_ARG_NONE, &session,
            "Use the session bus; only callers with this process's uid are served", NULL },
          { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
          { NULL } };
  g_autoptr (GOptionContext) context = g_option_context_new ("- restore STARFACE backups");
  g_autoptr (GError) error = NULL;
  g_autoptr (Config) config = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  DBusConnection *connection;
  Authority *authority;
  Server *server;
  Manager *manager;

  /* before any thread is started */
  tune_malloc ();
  setlocale (LC_ALL, "");
  audit_install_writer ();
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "starface-backupd: %s\n", error->message);
    return 2;
  }
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  config = config_load (config_path != NULL ? config_path : CONFIG_DEFAULT_PATH,
                        config_path != NULL, &error);
  if (config == NULL) {
    fprintf (stderr, "starface-backupd: bad configuration: %s\n", error->message);
    return 1;
  }
  if (g_mkdir_with_parents (config->backup_directory, 0750) < 0) {
    fprintf (stderr, "starface-backupd: cannot create the backup directory %s: %s\n",
             config->backup_directory, g_strerror (errno));
    return 1;
  }
  /* the history, the catalog's cache and scratch files live there (the
   * history cannot be opened without it: the manager says so) */
  if (g_mkdir_with_parents (config->state_directory, 0750) < 0)
    g_warning ("cannot create the state directory %s: %s", config->state_directory,
               g_strerror (errno));
  spill_set_directory (config->state_directory);

  loop = g_main_loop_new (NULL, FALSE);
  connection = bus_connect (session, bus_lost, loop, &error);
  if (connection == NULL) {
    fprintf (stderr, "starface-backupd: %s\n", error->message);
    return 1;
  }
  authority = authority_new (connection, session);
  server = server_new (connection, &error);
  manager = server != NULL ? manager_new (server, config, authority, &error) : NULL;
  if (manager == NULL || !bus_request_name (connection, BACKUP_BUS_NAME, &error)) {
    fprintf (stderr, "starface-backupd: %s\n", error->message);
    return 1;
  }
  g_unix_signal_add (SIGTERM, quit_loop, loop);
  g_unix_signal_add (SIGINT, quit_loop, loop);
  g_message ("serving %s on the %s bus; backups in %s", BACKUP_BUS_NAME,
             session ? "session" : "system", config->backup_directory);

  g_main_loop_run (loop);

  manager_free (manager);
  server_free (server);
  authority_free (authority);
  dbus_connection_close (connection);
  dbus_connection_unref (connection);
  return 0;
}
