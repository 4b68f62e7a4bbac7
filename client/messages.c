/* messages.c: the service's codes in the user's language. */
#include "messages.h"

#include "output.h"

#include <glib/gi18n.h>
#include <string.h>

const char *
message_translation (const char *msgid)
{
  const char *text = gettext (msgid);

  return text != msgid ? text : NULL;
}

/* a msgid with a context: gettext's own lookup key, "context\004msgid" */
static const char *
translation_in_context (const char *context, const char *msgid)
{
  const char *text = g_dpgettext2 (NULL, context, msgid);

  return text != msgid ? text : NULL;
}

/* --- stages, operations, results ----------------------------------------- */

/* Every stage the service reports (docs/dbus-api.md): the stage id is the
 * msgid, so that without a translation the id itself is shown. */
static const char *const stages[] = {
  /* TRANSLATORS: the stages of a job, shown beside its progress bar; the
   * first is the stage of every job before its work begins */
  NC_ ("job stage", "starting"),
  /* TRANSLATORS: uploads: the data arrives, is verified, is published */
  NC_ ("job stage", "receiving"),
  NC_ ("job stage", "verifying"),
  NC_ ("job stage", "publishing"),
  /* TRANSLATORS: restores: unpacking beside the live data while the PBX
   * runs, stopping the PBX, swapping the data in, starting the PBX,
   * saving the previous state as a backup, removing the old data */
  NC_ ("job stage", "extracting"),
  NC_ ("job stage", "stopping-pbx"),
  NC_ ("job stage", "activating"),
  NC_ ("job stage", "starting-pbx"),
  NC_ ("job stage", "saving-previous"),
  NC_ ("job stage", "cleanup"),
};

const char *
message_stage (const char *stage)
{
  for (gsize i = 0; i < G_N_ELEMENTS (stages); i++)
    if (strcmp (stages[i], stage) == 0)
      return translation_in_context ("job stage", stages[i]);
  return NULL;
}

const char *
message_operation (const char *operation)
{
  if (strcmp (operation, "upload") == 0)
    return C_ ("operation", "upload");
  if (strcmp (operation, "restore") == 0)
    return C_ ("operation", "restore");
  return operation;
}

const char *
message_result (const char *result)
{
  if (strcmp (result, "done") == 0)
    return C_ ("job result", "done");
  if (strcmp (result, "failed") == 0)
    return C_ ("job result", "failed");
  if (strcmp (result, "canceled") == 0)
    return C_ ("job result", "canceled");
  if (strcmp (result, "running") == 0)
    return C_ ("job result", "running");
  return result;
}

char *
message_job_title (const char *operation, const char *backup, gboolean article)
{
  if (strcmp (operation, "restore") == 0)
    return g_strdup_printf (article ? _ ("the restore of %s") : _ ("restore of %s"), backup);
  if (strcmp (operation, "upload") == 0)
    return g_strdup_printf (article ? _ ("the upload of %s") : _ ("upload of %s"), backup);
  /* TRANSLATORS: an operation the client does not know, and its backup */
  return g_strdup_printf (_ ("%s of %s"), operation, backup);
}

/* --- components ----------------------------------------------------------- */

/* the categories of the STARFACE restore dialog, as the service and the
 * pack command label them */
static const struct {
  const char *id;
  const char *label;
} components[] = {
  { "core", N_ ("Core data") },
  { "cdr-voicemail", N_ ("CDR and voicemails") },
  { "announcements", N_ ("Voicemail announcements") },
};

const char *
message_component (const char *id)
{
  for (gsize i = 0; i < G_N_ELEMENTS (components); i++)
    if (strcmp (components[i].id, id) == 0)
      return message_translation (components[i].label);
  return NULL;
}

const char *
message_component_label (const char *id, const char *label)
{
  for (gsize i = 0; i < G_N_ELEMENTS (components); i++)
    if (strcmp (components[i].id, id) == 0 && strcmp (components[i].label, label) == 0)
      return gettext (components[i].label);
  return label;
}

/* "core (Kerndaten)" with a translation, else the id */
static char *
component_phrase (const char *id)
{
  const char *label = message_component (id);

  return label != NULL ? g_strdup_printf ("%s (%s)", id, label) : g_strdup (id);
}

/* --- Preflight checks ----------------------------------------------------- */

static gboolean
arg_string (GVariant *args, const char *key, const char **out)
{
  return args != NULL && g_variant_lookup (args, key, "&s", out);
}

static gboolean
arg_uint64 (GVariant *args, const char *key, guint64 *out)
{
  return args != NULL && g_variant_lookup (args, key, "t", out);
}

static gboolean
arg_uint32 (GVariant *args, const char *key, guint32 *out)
{
  return args != NULL && g_variant_lookup (args, key, "u", out);
}

/* The translation of msgid, or msgid; *translated says which.  As
 * gettext's, its answer is a format of the same arguments. */
static const char *tr (const char *msgid, gboolean *translated) G_GNUC_FORMAT (1);

static const char *
tr (const char *msgid, gboolean *translated)
{
  const char *text = gettext (msgid);

  *translated = text != msgid;
  return text;
}

/* The same for a message with a plural: ngettext's answer for n.  Its
 * name is a keyword of xgettext (po/meson.build, po/check-complete). */
static const char *tr_plural (const char *msgid, const char *msgid_plural, gulong n,
                              gboolean *translated) G_GNUC_FORMAT (1) G_GNUC_FORMAT (2);

static const char *
tr_plural (const char *msgid, const char *msgid_plural, gulong n, gboolean *translated)
{
  const char *text = ngettext (msgid, msgid_plural, n);

  *translated = text != msgid && text != msgid_plural;
  return text;
}

static char *
check_version (const char *code, GVariant *args, gboolean *translated)
{
  const char *backup, *installed, *reason;

  if (strcmp (code, "version-newer") == 0 && arg_string (args, "backup-version", &backup)
      && arg_string (args, "installed-version", &installed))
    return g_strdup_printf (
        tr (N_ ("The backup was made by STARFACE %s, which is newer than the installed "
                "%s; only backups of an equal or older version can be restored"),
            translated),
        backup, installed);
  if (strcmp (code, "version-unknown") == 0 && arg_string (args, "reason", &reason))
    return g_strdup_printf (tr (N_ ("The installed STARFACE version is unknown (%s)"), translated),
                            reason);
  return NULL;
}

static char *
check_space (const char *code, GVariant *args, gboolean *translated)
{
  const char *component, *database;
  guint64 required, available;
  g_autofree char *need = NULL;
  g_autofree char *have = NULL;
  g_autofree char *what = NULL;

  if (!arg_uint64 (args, "required", &required) || !arg_uint64 (args, "available", &available))
    return NULL;
  need = format_size (required);
  have = format_size (available);
  if (strcmp (code, "no-space") == 0)
    return g_strdup_printf (
        tr (N_ ("Not enough disk space: the restore needs %s (the restored data beside "
                "the live data, and a backup of the current state) but %s are free"),
            translated),
        need, have);
  if (strcmp (code, "no-space-backup-directory") == 0)
    return g_strdup_printf (
        tr (N_ ("The backup directory needs up to %s for the backup of the current state "
                "but has %s free"),
            translated),
        need, have);
  if (strcmp (code, "database-no-space") == 0 && arg_string (args, "component", &component)
      && arg_string (args, "database", &database)) {
    what = component_phrase (component);
    return g_strdup_printf (
        tr (N_ ("The database server needs about %s to load the database %s of %s beside "
                "the live database but has %s free"),
            translated),
        need, database, what, have);
  }
  return NULL;
}

static char *
check_undo (const char *code, GVariant *args, gboolean *translated)
{
  const char *component, *limit, *reason;
  guint64 value, maximum;
  g_autofree char *what = NULL;
  g_autofree char *has = NULL;
  g_autofree char *most = NULL;

  if (!arg_string (args, "component", &component))
    return NULL;
  what = component_phrase (component);
  if (strcmp (code, "live-data-unsavable") == 0 && arg_string (args, "reason", &reason)) {
    if (*component == '\0')
      return g_strdup_printf (
          tr (N_ ("The current data cannot be saved as the backup that undoes the "
                  "restore: %s"),
              translated),
          reason);
    return g_strdup_printf (
        tr (N_ ("The current data of %s cannot be saved as the backup that undoes the "
                "restore: %s"),
            translated),
        what, reason);
  }
  if (strcmp (code, "undo-too-large") != 0 || !arg_string (args, "limit", &limit)
      || !arg_uint64 (args, "value", &value) || !arg_uint64 (args, "maximum", &maximum))
    return NULL;
  if (strcmp (limit, "MaxEntries") == 0) {
    has = g_strdup_printf ("%" G_GUINT64_FORMAT, value);
    most = g_strdup_printf ("%" G_GUINT64_FORMAT, maximum);
    return g_strdup_printf (
        tr (N_ ("The backup that undoes the restore would hold %s entries of %s, more "
                "than MaxEntries allows (%s)"),
            translated),
        has, what, most);
  }
  has = format_size (value);
  most = format_size (maximum);
  if (strcmp (limit, "MaxUnpackedSize") == 0)
    return g_strdup_printf (
        tr (N_ ("The backup that undoes the restore would hold %s of %s, more than "
                "MaxUnpackedSize allows (%s)"),
            translated),
        has, what, most);
  if (strcmp (limit, "SHA256SUMS") == 0)
    return g_strdup_printf (
        tr (N_ ("The backup that undoes the restore would need a checksum list of %s for "
                "%s, more than the backup format allows (%s)"),
            translated),
        has, what, most);
  return NULL;
}

static char *
check_other (const char *code, GVariant *args, gboolean *translated)
{
  const char *backup, *reason, *hostname, *ip, *here, *component;
  g_autofree char *what = NULL;

  if (strcmp (code, "restore-unresolved") == 0 && arg_string (args, "backup", &backup)
      && arg_string (args, "reason", &reason))
    return g_strdup_printf (
        tr (N_ ("An earlier restore of %s is not resolved yet (%s); the service tries "
                "again by itself"),
            translated),
        backup, reason);
  if (strcmp (code, "other-host") == 0 && arg_string (args, "hostname", &hostname)
      && arg_string (args, "this-host", &here)) {
    if (arg_string (args, "ip-address", &ip))
      return g_strdup_printf (
          tr (N_ ("The backup was taken on host %s, IP address %s, not on this machine "
                  "(%s); consider --ignore-ip to keep this machine's network settings"),
              translated),
          hostname, ip, here);
    return g_strdup_printf (
        tr (N_ ("The backup was taken on host %s, not on this machine (%s); consider "
                "--ignore-ip to keep this machine's network settings"),
            translated),
        hostname, here);
  }
  if (strcmp (code, "component-not-configured") == 0
      && arg_string (args, "component", &component)) {
    what = component_phrase (component);
    return g_strdup_printf (
        tr (N_ ("The backup's component %s is not configured on this machine and will "
                "not be restored"),
            translated),
        what);
  }
  if (strcmp (code, "sessions-unknown") == 0 && arg_string (args, "reason", &reason))
    return g_strdup_printf (
        tr (N_ ("The number of logged-in users and active calls could not be determined "
                "(%s); the restore ends all of them"),
            translated),
        reason);
  return NULL;
}

/* A component's database: the server, the live database, its sessions,
 * a backup and a machine that disagree on whether there is one. */
static char *
check_database (const char *code, GVariant *args, gboolean *translated)
{
  const char *component, *database, *reason, *owner, *name;
  guint32 sessions;
  g_autofree char *what = NULL;

  if (!arg_string (args, "component", &component) || !arg_string (args, "database", &database))
    return NULL;
  what = component_phrase (component);
  if (strcmp (code, "database-unreachable") == 0 && arg_string (args, "reason", &reason))
    return g_strdup_printf (
        tr (N_ ("The database server cannot be reached to restore the database %s of %s (%s)"),
            translated),
        database, what, reason);
  if (strcmp (code, "database-missing") == 0)
    return g_strdup_printf (
        tr (N_ ("The database %s of %s does not exist on the database server"), translated),
        database, what);
  if (strcmp (code, "database-owner-superuser") == 0 && arg_string (args, "owner", &owner))
    return g_strdup_printf (
        tr (N_ ("The database %s of %s is owned by %s, a superuser role; a dump from a backup "
                "is never loaded as a superuser"),
            translated),
        database, what, owner);
  if (strcmp (code, "database-previous-exists") == 0 && arg_string (args, "name", &name))
    return g_strdup_printf (
        tr (N_ ("An earlier restore of the database %s of %s left the database %s behind, "
                "which may hold the only copy of earlier data; save or drop it first"),
            translated),
        database, what, name);
  if (strcmp (code, "database-sessions") == 0 && arg_uint32 (args, "sessions", &sessions))
    return g_strdup_printf (
        /* TRANSLATORS: sessions are connections to the database server */
        tr_plural ("%u session is open on the database %s of %s; the restore ends it "
                   "while the PBX is stopped",
                   "%u sessions are open on the database %s of %s; the restore ends them "
                   "while the PBX is stopped",
                   sessions, translated),
        sessions, database, what);
  if (strcmp (code, "database-not-in-backup") == 0)
    return g_strdup_printf (
        tr (N_ ("The backup holds no database for %s: only its files are restored, the "
                "database %s stays as it is"),
            translated),
        what, database);
  if (strcmp (code, "database-not-configured") == 0)
    return g_strdup_printf (
        tr (N_ ("The backup holds the database %s for %s, but this machine configures no "
                "database for it: only its files are restored"),
            translated),
        database, what);
  return NULL;
}

/* The dump in the backup, as the service checked it against the live
 * database; detail and reason are the service's own words. */
static char *
check_dump (const char *code, GVariant *args, gboolean *translated)
{
  const char *reason, *component, *detail;
  g_autofree char *what = NULL;

  if (strcmp (code, "database-dump-unreadable") == 0 && arg_string (args, "reason", &reason))
    return g_strdup_printf (
        tr (N_ ("The database dump in the backup cannot be read or checked (%s)"), translated),
        reason);
  if (!arg_string (args, "component", &component) || !arg_string (args, "detail", &detail))
    return NULL;
  what = component_phrase (component);
  if (strcmp (code, "database-dump-superuser") == 0)
    return g_strdup_printf (
        tr (N_ ("The database dump of %s needs a superuser, and a dump from a backup is never "
                "loaded as one: %s"),
            translated),
        what, detail);
  if (strcmp (code, "database-role-missing") == 0)
    return g_strdup_printf (
        tr (N_ ("The database dump of %s names the role %s, which the database server does "
                "not have"),
            translated),
        what, detail);
  if (strcmp (code, "database-extension-missing") == 0)
    return g_strdup_printf (
        tr (N_ ("The database dump of %s needs the extension %s, which is not installed in "
                "the live database"),
            translated),
        what, detail);
  return NULL;
}

char *
message_check (const char *code, GVariant *args, gboolean *translated)
{
  char *text;

  *translated = FALSE;
  if (args != NULL && !g_variant_is_of_type (args, G_VARIANT_TYPE_VARDICT))
    return NULL;
  if ((text = check_version (code, args, translated)) != NULL
      || (text = check_space (code, args, translated)) != NULL
      || (text = check_undo (code, args, translated)) != NULL
      || (text = check_database (code, args, translated)) != NULL
      || (text = check_dump (code, args, translated)) != NULL)
    return text;
  return check_other (code, args, translated);
}

/* The service adds each check and its English sentence together, so the
 * k-th check of a severity is the k-th sentence of its list. */
GPtrArray *
message_findings (GVariant *report, const char *severity)
{
  gboolean blocker = strcmp (severity, "blocker") == 0;
  g_auto (GStrv) english = dict_dup_strv (report, blocker ? "blockers" : "warnings");
  g_autoptr (GVariant) checks
      = g_variant_lookup_value (report, "checks", G_VARIANT_TYPE ("a(ssa{sv})"));
  GPtrArray *findings = g_ptr_array_new_with_free_func (g_free);
  guint n_english = g_strv_length (english), k = 0;

  for (gsize i = 0; checks != NULL && i < g_variant_n_children (checks); i++) {
    const char *check_severity, *code;
    g_autoptr (GVariant) args = NULL;
    g_autofree char *sentence = NULL;
    gboolean translated = FALSE;

    g_variant_get_child (checks, i, "(&s&s@a{sv})", &check_severity, &code, &args);
    if (strcmp (check_severity, severity) != 0)
      continue;
    sentence = message_check (code, args, &translated);
    if (k < n_english && !translated)
      g_ptr_array_add (findings, g_strdup (english[k]));
    else if (sentence != NULL)
      g_ptr_array_add (findings, g_steal_pointer (&sentence));
    else
      g_ptr_array_add (findings, g_strdup (code));
    k++;
  }
  for (; k < n_english; k++)
    g_ptr_array_add (findings, g_strdup (english[k]));
  return findings;
}

/* --- List problems -------------------------------------------------------- */

const char *
message_problem (const char *code, gboolean *translated)
{
  static const struct {
    const char *code;
    const char *sentence;
  } problems[] = {
    { "invalid-backup", N_ ("This is not a valid backup") },
    { "unreadable", N_ ("The file cannot be read") },
    { "name-not-utf8",
      N_ ("The file name is not valid UTF-8: rename the file to restore or inspect it") },
    { "created-in-future",
      N_ ("Created in the future (more than a day ahead of this machine's clock): it is "
          "never preselected") },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (problems); i++)
    if (strcmp (problems[i].code, code) == 0) {
      const char *text = gettext (problems[i].sentence);

      *translated = text != problems[i].sentence;
      return text;
    }
  *translated = FALSE;
  return NULL;
}
