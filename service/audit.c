/* audit.c: the audit records (see audit.h). */
#include "audit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define AUDIT_DOMAIN "starface-backupd"

static const struct {
  const char *id;
  const char *kind;
} kinds[] = {
  { AUDIT_ID_ALLOWED, "authorization-allowed" },
  { AUDIT_ID_DENIED, "authorization-denied" },
  { AUDIT_ID_JOB_STARTED, "job-started" },
  { AUDIT_ID_JOB_FINISHED, "job-finished" },
};

static const char *
kind_of (const char *message_id)
{
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (g_str_equal (kinds[i].id, message_id))
      return kinds[i].kind;
  return NULL;
}

/* key=value, the value in double quotes with escapes when it holds
 * anything but plain characters */
static void
append_field (GString *line, const char *key, const char *value, gssize length)
{
  g_autofree char *text = length < 0 ? g_strdup (value) : g_strndup (value, (gsize) length);
  gboolean plain = text[0] != '\0';

  for (const char *p = text; *p != '\0' && plain; p++)
    plain = g_ascii_isalnum (*p) || strchr ("-_./:,@*", *p) != NULL;
  g_string_append_printf (line, " %s=", key);
  if (plain) {
    g_string_append (line, text);
  } else {
    g_autofree char *escaped = g_strescape (text, NULL);
    g_string_append_printf (line, "\"%s\"", escaped);
  }
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *kind = NULL;
  g_autoptr (GString) line = NULL;

  if (g_log_writer_is_journald (fileno (stderr)))
    return g_log_writer_journald (level, fields, n_fields, user_data);
  for (gsize i = 0; i < n_fields && kind == NULL; i++)
    if (g_str_equal (fields[i].key, "MESSAGE_ID") && fields[i].length < 0)
      kind = kind_of (fields[i].value);
  if (kind == NULL)
    return g_log_writer_default (level, fields, n_fields, user_data);

  line = g_string_new ("AUDIT ");
  g_string_append (line, kind);
  for (gsize i = 0; i < n_fields; i++) {
    const char *key = fields[i].key;
    if (g_str_equal (key, "MESSAGE") || g_str_equal (key, "GLIB_DOMAIN")
        || g_str_equal (key, "PRIORITY") || g_str_has_prefix (key, "CODE_"))
      continue;
    append_field (line, key, fields[i].value, fields[i].length);
  }
  g_string_append_c (line, '\n');
  fputs (line->str, stderr);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

void
audit_install_writer (void)
{
  g_log_set_writer_func (writer, NULL, NULL);
}

/* A record: MESSAGE and the fields, as key, value pairs (values owned). */
typedef struct {
  GPtrArray *pairs;
} Record;

static void
record_add (Record *record, const char *key, char *value)
{
  g_ptr_array_add (record->pairs, (gpointer) key);
  g_ptr_array_add (record->pairs, value);
}

static void
record_log (Record *record, const char *message_id)
{
  gsize n = 0, max = record->pairs->len / 2 + 2;
  g_autofree GLogField *fields = g_new0 (GLogField, max);

  fields[n++] = (GLogField){ "MESSAGE_ID", message_id, -1 };
  fields[n++] = (GLogField){ "GLIB_DOMAIN", AUDIT_DOMAIN, -1 };
  for (guint i = 0; i + 1 < record->pairs->len; i += 2)
    fields[n++] = (GLogField){ record->pairs->pdata[i], record->pairs->pdata[i + 1], -1 };
  g_log_structured_array (G_LOG_LEVEL_MESSAGE, fields, n);
  for (guint i = 1; i < record->pairs->len; i += 2)
    g_free (record->pairs->pdata[i]);
  g_ptr_array_unref (record->pairs);
}

static char *
uid_text (uid_t uid)
{
  return uid == (uid_t) -1 ? g_strdup ("unknown") : g_strdup_printf ("%u", (guint) uid);
}

static char *
join (const char *const *strings)
{
  return strings != NULL && strings[0] != NULL ? g_strjoinv (",", (char **) strings)
                                               : g_strdup ("*");
}

void
audit_authorization (const char *action, const char *sender, uid_t uid, const char *backup,
                     const char *components, gboolean allowed, const char *reason,
                     const char *message)
{
  Record record = { g_ptr_array_new () };
  g_autofree char *who = uid_text (uid);

  record_add (&record, "MESSAGE",
              g_strdup_printf ("%s %s for uid %s (%s)%s%s", action, allowed ? "allowed" : "refused",
                               who, reason, message != NULL ? ": " : "",
                               message != NULL ? message : ""));
  record_add (&record, "SF_ACTION", g_strdup (action));
  record_add (&record, "SF_RESULT", g_strdup (allowed ? "allowed" : "denied"));
  record_add (&record, "SF_REASON", g_strdup (reason));
  record_add (&record, "SF_CALLER_UID", g_strdup (who));
  record_add (&record, "SF_BUS_NAME", g_strdup (sender != NULL ? sender : ""));
  if (backup != NULL)
    record_add (&record, "SF_BACKUP", g_strdup (backup));
  if (components != NULL)
    record_add (&record, "SF_COMPONENTS", g_strdup (components));
  record_log (&record, allowed ? AUDIT_ID_ALLOWED : AUDIT_ID_DENIED);
}

void
audit_job_started (const char *job, const char *operation, const char *backup,
                   const char *const *components, const char *sender, uid_t uid)
{
  Record record = { g_ptr_array_new () };
  g_autofree char *who = uid_text (uid);

  record_add (&record, "MESSAGE",
              g_strdup_printf ("%s started: %s of %s for uid %s", job, operation, backup, who));
  record_add (&record, "SF_JOB", g_strdup (job));
  record_add (&record, "SF_OPERATION", g_strdup (operation));
  record_add (&record, "SF_BACKUP", g_strdup (backup));
  record_add (&record, "SF_COMPONENTS", join (components));
  record_add (&record, "SF_CALLER_UID", g_strdup (who));
  record_add (&record, "SF_BUS_NAME", g_strdup (sender != NULL ? sender : ""));
  record_log (&record, AUDIT_ID_JOB_STARTED);
}

void
audit_job_finished (const char *job, const char *operation, const char *backup,
                    const char *const *components, uid_t uid, const char *result,
                    const char *error_name, const char *error_message)
{
  Record record = { g_ptr_array_new () };
  g_autofree char *who = uid_text (uid);

  record_add (&record, "MESSAGE",
              g_strdup_printf ("%s %s: %s of %s for uid %s%s%s", job, result, operation, backup,
                               who, error_message[0] != '\0' ? ": " : "", error_message));
  record_add (&record, "SF_JOB", g_strdup (job));
  record_add (&record, "SF_OPERATION", g_strdup (operation));
  record_add (&record, "SF_BACKUP", g_strdup (backup));
  record_add (&record, "SF_COMPONENTS", join (components));
  record_add (&record, "SF_CALLER_UID", g_strdup (who));
  record_add (&record, "SF_RESULT", g_strdup (result));
  if (error_name[0] != '\0')
    record_add (&record, "SF_ERROR_NAME", g_strdup (error_name));
  record_log (&record, AUDIT_ID_JOB_FINISHED);
}
