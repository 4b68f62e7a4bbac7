/* follow.c: following one job: signals, Ctrl-C, the service going away. */
#include "follow.h"

#include "cli.h"
#include "exit-status.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* How often the job's State is read in case its Finished signal is lost. */
#define POLL_INTERVAL_SECONDS 5

typedef struct {
  Bus *bus;
  const char *path;
  const char *what;
  Progress *progress;
  GMainLoop *loop;
  JobOutcome *outcome;
  GError *error;
  gboolean prompting;
  gboolean cancel_sent;
  guint stdin_source;
} Follow;

void
job_outcome_free (JobOutcome *outcome)
{
  if (outcome == NULL)
    return;
  g_free (outcome->path);
  g_free (outcome->result);
  g_free (outcome->error_name);
  g_free (outcome->message);
  if (outcome->details != NULL)
    g_variant_unref (outcome->details);
  g_free (outcome);
}

static JobOutcome *
outcome_new (const char *path, const char *result, const char *error_name, const char *message)
{
  JobOutcome *outcome = g_new0 (JobOutcome, 1);

  outcome->path = g_strdup (path);
  outcome->result = g_strdup (result);
  outcome->error_name = g_strdup (error_name);
  outcome->message = g_strdup (message);
  return outcome;
}

gboolean
job_subscribe (Bus *bus, GError **error)
{
  return bus_add_match (bus,
                        "type='signal',sender='" SERVICE_NAME "',path='" SERVICE_PATH
                        "',interface='" SERVICE_INTERFACE "'",
                        error)
         && bus_add_match (bus,
                           "type='signal',sender='" DBUS_SERVICE_DBUS "',path='" DBUS_PATH_DBUS
                           "',interface='" DBUS_INTERFACE_DBUS
                           "',member='NameOwnerChanged',arg0='" SERVICE_NAME "'",
                           error);
}

static void
stop (Follow *follow)
{
  g_main_loop_quit (follow->loop);
}

static void
on_signal (DBusMessage *message, gpointer user_data)
{
  Follow *follow = user_data;
  const char *job = NULL, *stage = NULL, *text = NULL, *result = NULL, *name = NULL;
  const char *old_owner = NULL, *new_owner = NULL;
  dbus_uint32_t percent = 0;

  if (follow->outcome != NULL || follow->error != NULL)
    return;
  if (dbus_message_is_signal (message, DBUS_INTERFACE_LOCAL, "Disconnected")) {
    /* TRANSLATORS: %s (job %s): "the restore of NAME (job 5c1e0d9a3b7f2e14)" */
    g_set_error (&follow->error, CLIENT_ERROR, EXIT_UNAVAILABLE,
                 _ ("Lost the connection to the bus while %s (job %s) was running; "
                    "its outcome is unknown"),
                 follow->what, bus_job_number (follow->path));
    stop (follow);
  } else if (dbus_message_is_signal (message, DBUS_INTERFACE_DBUS, "NameOwnerChanged")
             && dbus_message_get_args (message, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                       &old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID)
             && strcmp (name, SERVICE_NAME) == 0
             && strcmp (old_owner, bus_service_owner (follow->bus)) == 0) {
    g_set_error (&follow->error, CLIENT_ERROR, EXIT_UNAVAILABLE,
                 _ ("The backup service went away while %s (job %s) was running; see its "
                    "log (journalctl -u starface-backupd) for what became of it"),
                 follow->what, bus_job_number (follow->path));
    stop (follow);
  } else if (dbus_message_is_signal (message, SERVICE_INTERFACE, "Progress")
             && dbus_message_get_args (message, NULL, DBUS_TYPE_OBJECT_PATH, &job, DBUS_TYPE_UINT32,
                                       &percent, DBUS_TYPE_STRING, &stage, DBUS_TYPE_STRING, &text,
                                       DBUS_TYPE_INVALID)
             && strcmp (job, follow->path) == 0) {
    if (!follow->prompting)
      progress_update (follow->progress, percent, stage, text);
  } else if (dbus_message_is_signal (message, SERVICE_INTERFACE, "Finished")
             && dbus_message_get_args (message, NULL, DBUS_TYPE_OBJECT_PATH, &job, DBUS_TYPE_STRING,
                                       &result, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &text,
                                       DBUS_TYPE_INVALID)
             && strcmp (job, follow->path) == 0) {
    follow->outcome = outcome_new (job, result, name, text);
    stop (follow);
  }
}

/* The outcome from the job's properties, when its signal did not come. */
static void
check_state (Follow *follow)
{
  g_autoptr (GVariant) props = NULL;
  const char *state;

  props = bus_get_all (follow->bus, follow->path, JOB_INTERFACE, NULL);
  /* The service sends Finished before any reply that shows the job
   * ended, so a Finished that was sent is queued by now: it wins. */
  bus_dispatch_pending (follow->bus);
  if (follow->outcome != NULL || follow->error != NULL)
    return;
  state = dict_string (props, "State", "running");
  if (strcmp (state, "running") == 0) {
    if (props != NULL && !follow->prompting)
      progress_update (follow->progress, dict_uint32 (props, "Percent", 0),
                       dict_string (props, "Stage", ""), "");
    return;
  }
  follow->outcome = outcome_new (
      follow->path, state,
      strcmp (state, "done") == 0       ? ""
      : strcmp (state, "canceled") == 0 ? "de.starface.Backup.Error.Canceled"
                                        : "de.starface.Backup.Error.Failed",
      strcmp (state, "done") == 0 ? "" : _ ("The job ended before its outcome could be received"));
  stop (follow);
}

static gboolean
on_poll (gpointer user_data)
{
  check_state (user_data);
  return G_SOURCE_CONTINUE;
}

static void
request_cancel (Follow *follow)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  progress_interrupt (follow->progress);
  reply = bus_call (follow->bus, follow->path, JOB_INTERFACE, "Cancel", NULL, BUS_CALL_AUTHORIZE,
                    &error);
  if (reply == NULL) {
    g_autofree char *text = cli_error_text (client_error_dbus_name (error), error->message);

    g_printerr (_ ("%s: could not cancel %s: %s\n"), PROGRAM, follow->what, text);
    return;
  }
  g_printerr (_ ("%s: canceling %s (job %s)…\n"), PROGRAM, follow->what,
              bus_job_number (follow->path));
  follow->cancel_sent = TRUE;
}

static void
end_prompt (Follow *follow)
{
  follow->prompting = FALSE;
  if (follow->stdin_source != 0) {
    g_source_remove (follow->stdin_source);
    follow->stdin_source = 0;
  }
}

static gboolean
on_answer (int fd, GIOCondition condition, gpointer user_data)
{
  Follow *follow = user_data;
  char answer[256];
  ssize_t n = read (fd, answer, sizeof answer - 1);

  follow->stdin_source = 0;
  end_prompt (follow);
  if (n > 0) {
    answer[n] = '\0';
    if (cli_is_yes (answer)) {
      request_cancel (follow);
      return G_SOURCE_REMOVE;
    }
  }
  g_printerr (_ ("%s: %s goes on\n"), PROGRAM, follow->what);
  return G_SOURCE_REMOVE;
}

static gboolean
on_interrupt (gpointer user_data)
{
  Follow *follow = user_data;

  if (follow->prompting) {
    /* a second Ctrl-C at the question means yes */
    g_printerr ("\n");
    end_prompt (follow);
    request_cancel (follow);
  } else if (follow->cancel_sent) {
    g_set_error (&follow->error, CLIENT_ERROR, EXIT_CANCELED,
                 _ ("Stopped waiting for %s (job %s) to end"), follow->what,
                 bus_job_number (follow->path));
    stop (follow);
  } else if (isatty (STDIN_FILENO)) {
    progress_interrupt (follow->progress);
    g_printerr (_ ("Cancel %s (job %s)? [y/N] "), follow->what, bus_job_number (follow->path));
    follow->prompting = TRUE;
    follow->stdin_source = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP, on_answer, follow);
  } else {
    request_cancel (follow);
  }
  return G_SOURCE_CONTINUE;
}

JobOutcome *
job_follow (Bus *bus, const char *path, const char *what, Progress *progress, GError **error)
{
  Follow follow = { bus, path, what, progress, NULL, NULL, NULL, FALSE, FALSE, 0 };
  g_autoptr (GVariant) props = NULL;
  guint interrupt_source, poll_source;

  follow.loop = g_main_loop_new (NULL, FALSE);
  bus_set_signal_handler (bus, on_signal, &follow);
  interrupt_source = g_unix_signal_add (SIGINT, on_interrupt, &follow);
  poll_source = g_timeout_add_seconds (POLL_INTERVAL_SECONDS, on_poll, &follow);
  check_state (&follow);
  if (follow.outcome == NULL && follow.error == NULL)
    g_main_loop_run (follow.loop);
  end_prompt (&follow);
  g_source_remove (poll_source);
  g_source_remove (interrupt_source);
  bus_set_signal_handler (bus, NULL, NULL);
  g_main_loop_unref (follow.loop);
  signal (SIGINT, SIG_DFL);

  if (follow.error != NULL) {
    progress_interrupt (progress);
    g_propagate_error (error, follow.error);
    return NULL;
  }
  if (strcmp (follow.outcome->result, "done") == 0)
    progress_update (progress, 100, NULL, NULL);
  props = bus_get_all (bus, path, JOB_INTERFACE, NULL);
  follow.outcome->details
      = props != NULL ? g_variant_lookup_value (props, "Details", G_VARIANT_TYPE_VARDICT) : NULL;
  if (follow.outcome->details == NULL)
    follow.outcome->details = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  return follow.outcome;
}

int
job_outcome_status (const JobOutcome *outcome)
{
  if (strcmp (outcome->result, "done") == 0)
    return EXIT_OK;
  if (strcmp (outcome->result, "canceled") == 0)
    return EXIT_CANCELED;
  return exit_status_for_dbus_error (outcome->error_name);
}

JsonNode *
job_outcome_to_json (const JobOutcome *outcome, const char *operation, const char *backup)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "job");
  json_builder_add_string_value (builder, outcome->path);
  json_builder_set_member_name (builder, "operation");
  json_builder_add_string_value (builder, operation);
  json_builder_set_member_name (builder, "backup");
  json_builder_add_string_value (builder, backup);
  json_builder_set_member_name (builder, "result");
  json_builder_add_string_value (builder, outcome->result);
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, outcome->error_name);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, outcome->message);
  json_builder_set_member_name (builder, "details");
  json_builder_add_value (builder, json_from_dict (outcome->details));
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}
