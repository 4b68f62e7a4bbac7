/* monitor.c: following every job of the service until interrupted. */
#include "commands.h"

#include "cli.h"
#include "follow.h"
#include "marshal.h"
#include "messages.h"
#include "output.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  Bus *bus;
  GMainLoop *loop;
  GHashTable *jobs; /* path -> "restore of NAME", message_job_title() */
  int status;
} Monitor;

/* Starts an event: a JSON object with "event" and "time", or a line
 * beginning with the local time. */
static JsonBuilder *
begin_event (const char *event, const char *path)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *time = g_date_time_format_iso8601 (now);
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, event);
  json_builder_set_member_name (builder, "time");
  json_builder_add_string_value (builder, time);
  if (path != NULL) {
    json_builder_set_member_name (builder, "job");
    json_builder_add_string_value (builder, path);
  }
  return builder;
}

static void
add_string (JsonBuilder *builder, const char *name, const char *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static void end_event (JsonBuilder *builder, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Prints the event: its JSON, or the line format describes. */
static void
end_event (JsonBuilder *builder, const char *format, ...)
{
  json_builder_end_object (builder);
  if (cli_options.json) {
    g_autoptr (JsonNode) root = json_builder_get_root (builder);

    json_print (root, TRUE);
  } else {
    g_autoptr (GDateTime) now = g_date_time_new_now_local ();
    g_autofree char *time = g_date_time_format (now, "%H:%M:%S");
    g_autofree char *text = NULL;
    va_list args;

    va_start (args, format);
    text = g_strdup_vprintf (format, args);
    va_end (args);
    printf ("%s %s\n", time, text);
    fflush (stdout);
  }
  g_object_unref (builder);
}

static const char *
job_title (Monitor *monitor, const char *path)
{
  const char *title = g_hash_table_lookup (monitor->jobs, path);

  return title != NULL ? title : _ ("job");
}

/* Announces a job the first time it is seen. */
static void
know_job (Monitor *monitor, const char *path)
{
  g_autoptr (GVariant) props = NULL;
  JsonBuilder *builder;
  const char *operation, *backup, *state;

  if (g_hash_table_contains (monitor->jobs, path))
    return;
  props = bus_get_all (monitor->bus, path, JOB_INTERFACE, NULL);
  operation = dict_string (props, "Operation", "");
  backup = dict_string (props, "Backup", "");
  state = dict_string (props, "State", "unknown");
  g_hash_table_insert (monitor->jobs, g_strdup (path),
                       message_job_title (operation, backup, FALSE));
  builder = begin_event ("job", path);
  add_string (builder, "operation", operation);
  add_string (builder, "backup", backup);
  add_string (builder, "state", state);
  /* TRANSLATORS: job ID: "restore of NAME" (its state: running, done...) */
  end_event (builder, _ ("job %s: %s (%s)"), bus_job_number (path), job_title (monitor, path),
             message_result (state));
}

static void
know_jobs (Monitor *monitor, GVariant *paths)
{
  for (gsize i = 0; paths != NULL && i < g_variant_n_children (paths); i++) {
    const char *path;

    g_variant_get_child (paths, i, "&o", &path);
    know_job (monitor, path);
  }
}

static void
on_progress (Monitor *monitor, GVariant *args)
{
  const char *path, *stage, *message, *label;
  guint32 percent;
  JsonBuilder *builder;

  g_variant_get (args, "(&ou&s&s)", &path, &percent, &stage, &message);
  know_job (monitor, path);
  builder = begin_event ("progress", path);
  json_builder_set_member_name (builder, "percent");
  json_builder_add_int_value (builder, percent);
  add_string (builder, "stage", stage);
  add_string (builder, "message", message);
  /* the stage in the user's language, or the stage id and the message */
  label = message_stage (stage);
  if (label != NULL) {
    stage = label;
    message = "";
  }
  /* TRANSLATORS: job ID (restore of NAME): percent stage[: message] */
  end_event (builder, _ ("job %s (%s): %3u%% %s%s%s"), bus_job_number (path),
             job_title (monitor, path), percent, stage, *message != '\0' ? ": " : "", message);
}

static void
on_finished (Monitor *monitor, GVariant *args)
{
  const char *path, *result, *name, *message;
  JsonBuilder *builder;
  g_autofree char *text = NULL;

  g_variant_get (args, "(&o&s&s&s)", &path, &result, &name, &message);
  know_job (monitor, path);
  builder = begin_event ("finished", path);
  add_string (builder, "result", result);
  add_string (builder, "error", name);
  add_string (builder, "message", message);
  text = cli_error_text (name, message);
  /* TRANSLATORS: job ID (restore of NAME): result[: why] */
  end_event (builder, _ ("job %s (%s): %s%s%s"), bus_job_number (path), job_title (monitor, path),
             message_result (result), *text != '\0' ? ": " : "", text);
}

static void
on_owner_changed (Monitor *monitor, GVariant *args)
{
  const char *name, *old_owner, *new_owner;

  g_variant_get (args, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (strcmp (name, SERVICE_NAME) != 0)
    return;
  if (*old_owner != '\0') {
    /* job numbers start again with the next instance */
    g_hash_table_remove_all (monitor->jobs);
    end_event (begin_event ("service-stopped", NULL), "%s", _ ("the backup service stopped"));
  }
  if (*new_owner != '\0') {
    g_autoptr (GVariant) props = NULL;
    g_autoptr (GVariant) jobs = NULL;

    end_event (begin_event ("service-started", NULL), "%s", _ ("the backup service started"));
    props = bus_get_all (monitor->bus, SERVICE_PATH, SERVICE_INTERFACE, NULL);
    if (props != NULL)
      jobs = g_variant_lookup_value (props, "Jobs", G_VARIANT_TYPE_OBJECT_PATH_ARRAY);
    know_jobs (monitor, jobs);
  }
}

static void
on_signal (DBusMessage *message, gpointer user_data)
{
  Monitor *monitor = user_data;
  g_autoptr (GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GVariant) args = NULL;

  if (dbus_message_is_signal (message, DBUS_INTERFACE_LOCAL, "Disconnected")) {
    g_printerr (_ ("%s monitor: lost the connection to the bus\n"), PROGRAM);
    monitor->status = EXIT_UNAVAILABLE;
    g_main_loop_quit (monitor->loop);
    return;
  }
  args = marshal_read_message (message, fds);
  if (args == NULL)
    return;
  if (dbus_message_is_signal (message, SERVICE_INTERFACE, "Progress")
      && g_variant_is_of_type (args, G_VARIANT_TYPE ("(ouss)")))
    on_progress (monitor, args);
  else if (dbus_message_is_signal (message, SERVICE_INTERFACE, "Finished")
           && g_variant_is_of_type (args, G_VARIANT_TYPE ("(osss)")))
    on_finished (monitor, args);
  else if (dbus_message_is_signal (message, DBUS_INTERFACE_DBUS, "NameOwnerChanged")
           && g_variant_is_of_type (args, G_VARIANT_TYPE ("(sss)")))
    on_owner_changed (monitor, args);
  else if (dbus_message_is_signal (message, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged")
           && g_strcmp0 (dbus_message_get_path (message), SERVICE_PATH) == 0
           && g_variant_is_of_type (args, G_VARIANT_TYPE ("(sa{sv}as)"))) {
    g_autoptr (GVariant) changed = g_variant_get_child_value (args, 1);
    g_autoptr (GVariant) jobs
        = g_variant_lookup_value (changed, "Jobs", G_VARIANT_TYPE_OBJECT_PATH_ARRAY);

    know_jobs (monitor, jobs);
  }
}

static gboolean
on_interrupt (gpointer user_data)
{
  Monitor *monitor = user_data;

  g_main_loop_quit (monitor->loop);
  return G_SOURCE_CONTINUE;
}

int
cmd_monitor (int argc, char **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr (Bus) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) jobs = NULL;
  Monitor monitor = { NULL, NULL, NULL, EXIT_OK };
  guint interrupt_source, terminate_source;
  int status;

  if (!cli_parse ("monitor", "",
                  N_ ("Shows the progress of every job of the service until interrupted (Ctrl-C)."),
                  entries, TRUE, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 1)
    return cli_usage_error ("monitor", _ ("unexpected argument \"%s\""), argv[1]);
  if ((bus = cli_connect ("monitor", &status)) == NULL)
    return status;
  if (!job_subscribe (bus, &error)
      || !bus_add_match (bus,
                         "type='signal',sender='" SERVICE_NAME "',path='" SERVICE_PATH
                         "',interface='" DBUS_INTERFACE_PROPERTIES
                         "',member='PropertiesChanged',arg0='" SERVICE_INTERFACE "'",
                         &error))
    return cli_fail ("monitor", error);
  /* the service must be there to begin with; later it may come and go */
  props = bus_get_all (bus, SERVICE_PATH, SERVICE_INTERFACE, &error);
  if (props == NULL)
    return cli_fail ("monitor", error);
  jobs = g_variant_lookup_value (props, "Jobs", G_VARIANT_TYPE_OBJECT_PATH_ARRAY);

  monitor.bus = bus;
  monitor.loop = g_main_loop_new (NULL, FALSE);
  monitor.jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  know_jobs (&monitor, jobs);
  bus_set_signal_handler (bus, on_signal, &monitor);
  interrupt_source = g_unix_signal_add (SIGINT, on_interrupt, &monitor);
  terminate_source = g_unix_signal_add (SIGTERM, on_interrupt, &monitor);
  g_main_loop_run (monitor.loop);
  bus_set_signal_handler (bus, NULL, NULL);
  g_source_remove (interrupt_source);
  g_source_remove (terminate_source);
  g_hash_table_unref (monitor.jobs);
  g_main_loop_unref (monitor.loop);
  return monitor.status;
}
