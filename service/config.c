/* config.c: loading and checking backupd.conf. */
#include "config.h"

#include "errors.h"
#include "manifest.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>

#define GIB (G_GUINT64_CONSTANT (1024) * 1024 * 1024)

static const char *const paths_keys[]
    = { "BackupDirectory", "DataRoot", "VersionFile", "StateDirectory", NULL };
static const char *const pbx_keys[] = { "SessionsCommand", "StopCommand",           "StartCommand",
                                        "CommandTimeout",  "RecoveryRetryInterval", NULL };
static const char *const limits_keys[]
    = { "MaxBackupSize",        "MaxUnpackedSize",   "MaxEntries",
        "MaxConcurrentUploads", "UploadIdleTimeout", "UploadTimeout",
        "FinishedJobLifetime",  "HistoryEntries",    NULL };
static const char *const component_keys[]
    = { "Label", "Path", "IpSettings", "Owner", "Group", "Database", NULL };
static const char *const database_keys[]
    = { "Host", "Port", "RunAs", "LoadAs", "ToolsDirectory", NULL };

static void
config_component_free (ConfigComponent *component)
{
  g_free (component->id);
  g_free (component->label);
  g_free (component->path);
  g_strfreev (component->ip_settings);
  g_free (component->database);
  g_free (component);
}

static void
add_component (Config *config, const char *id, const char *label, const char *ip_settings)
{
  ConfigComponent *component = g_new0 (ConfigComponent, 1);

  component->id = g_strdup (id);
  component->label = g_strdup (label);
  component->path = g_strdup (id);
  component->ip_settings = g_strsplit (ip_settings, ";", -1);
  component->uid = -1;
  component->gid = -1;
  g_ptr_array_add (config->components, component);
}

/* The categories of the STARFACE restore dialog. */
static void
add_default_components (Config *config)
{
  add_component (config, "core", "Core data", "network.conf");
  add_component (config, "cdr-voicemail", "CDR and voicemails", "");
  add_component (config, "announcements", "Voicemail announcements", "");
}

Config *
config_new_default (void)
{
  Config *config = g_new0 (Config, 1);

  config->backup_directory = g_strdup ("/var/lib/starface-backup/backups");
  config->data_root = g_strdup ("/var/starface");
  config->version_file = g_strdup ("/var/starface/fs-interface/version");
  config->state_directory = g_strdup ("/var/lib/starface-backup/state");
  config->max_backup_size = 64 * GIB;
  config->max_unpacked_size = 256 * GIB;
  config->max_entries = 1000000;
  config->max_concurrent_uploads = 2;
  config->command_timeout = 300;
  config->recovery_retry_interval = 60;
  config->upload_idle_timeout = 60;
  config->finished_job_lifetime = 300;
  config->history_entries = 1000;
  config->upload_timeout = 24 * 60 * 60;
  config->components = g_ptr_array_new_with_free_func ((GDestroyNotify) config_component_free);
  add_default_components (config);
  config->database.host = g_strdup ("/var/run/postgresql");
  config->database.port = 5432;
  config->database.run_as = g_strdup ("postgres");
  config->database.run_as_uid = (uid_t) -1; /* resolved when a component needs it */
  config->database.run_as_gid = (gid_t) -1;
  config->database.tools_directory = g_strdup ("/usr/bin");
  return config;
}

void
config_free (Config *config)
{
  if (config == NULL)
    return;
  g_free (config->source);
  g_free (config->backup_directory);
  g_free (config->data_root);
  g_free (config->version_file);
  g_free (config->state_directory);
  g_strfreev (config->sessions_command);
  g_strfreev (config->stop_command);
  g_strfreev (config->start_command);
  g_ptr_array_unref (config->components);
  g_free (config->database.host);
  g_free (config->database.run_as);
  g_free (config->database.load_as);
  g_free (config->database.tools_directory);
  g_free (config);
}

const ConfigComponent *
config_find_component (const Config *config, const char *id)
{
  for (guint i = 0; i < config->components->len; i++) {
    const ConfigComponent *component = config->components->pdata[i];
    if (g_str_equal (component->id, id))
      return component;
  }
  return NULL;
}

gboolean
config_database_name_check (const char *name, GError **error)
{
  gsize len = strlen (name);

  if (len == 0 || len > CONFIG_DATABASE_NAME_MAX) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "a database name has 1 to %d characters",
                 CONFIG_DATABASE_NAME_MAX);
    return FALSE;
  }
  for (gsize i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9'))) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   "a database name is lower-case letters, digits and '_', starting with a "
                   "letter or '_'");
      return FALSE;
    }
  }
  if (g_str_has_suffix (name, CONFIG_DATABASE_STAGING_SUFFIX)
      || g_str_has_suffix (name, CONFIG_DATABASE_PREVIOUS_SUFFIX)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "names ending in %s or %s are the restore's own", CONFIG_DATABASE_STAGING_SUFFIX,
                 CONFIG_DATABASE_PREVIOUS_SUFFIX);
    return FALSE;
  }
  return TRUE;
}

gboolean
config_has_databases (const Config *config)
{
  for (guint i = 0; i < config->components->len; i++)
    if (((const ConfigComponent *) config->components->pdata[i])->database != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
bad_value (GError **error, const char *file, const char *group, const char *key, const char *why)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s: [%s] %s: %s", file, group, key, why);
  return FALSE;
}

static gboolean
check_known_keys (GKeyFile *kf, const char *file, const char *group, const char *const *known,
                  GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known, keys[i]))
      return bad_value (error, file, group, keys[i], "unknown key");
  return TRUE;
}

/* A string value that must be non-empty; absent keys leave *out alone. */
static gboolean
get_string (GKeyFile *kf, const char *file, const char *group, const char *key, char **out,
            GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *value = NULL;

  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  value = g_key_file_get_string (kf, group, key, &local);
  if (value == NULL)
    return bad_value (error, file, group, key, local->message);
  g_strstrip (value);
  if (value[0] == '\0')
    return bad_value (error, file, group, key, "empty value");
  g_free (*out);
  *out = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
get_absolute_path (GKeyFile *kf, const char *file, const char *group, const char *key, char **out,
                   GError **error)
{
  if (!get_string (kf, file, group, key, out, error))
    return FALSE;
  /* a key left out keeps *out as it was (a default, or NULL) */
  if (*out != NULL && !g_path_is_absolute (*out))
    return bad_value (error, file, group, key, "must be an absolute path");
  return TRUE;
}

static gboolean
get_command (GKeyFile *kf, const char *file, const char *group, const char *key, char ***out,
             GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) argv = NULL;

  if (!get_string (kf, file, group, key, &text, error))
    return FALSE;
  if (text == NULL)
    return TRUE;
  if (!g_shell_parse_argv (text, NULL, &argv, &local))
    return bad_value (error, file, group, key, local->message);
  if (!g_path_is_absolute (argv[0]))
    return bad_value (error, file, group, key, "the program must be given as an absolute path");
  g_strfreev (*out);
  *out = g_steal_pointer (&argv);
  return TRUE;
}

static gboolean
get_size (GKeyFile *kf, const char *file, const char *group, const char *key, guint64 max,
          guint64 *out, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  guint64 value;

  if (!get_string (kf, file, group, key, &text, error))
    return FALSE;
  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, 1, max, &value, &local))
    return bad_value (error, file, group, key, local->message);
  *out = value;
  return TRUE;
}

static gboolean
relative_path_ok (const char *path)
{
  return sar_path_check (path, NULL) && !g_str_has_suffix (path, "/");
}

/* A user or group given by name or number; resolved once, at load. */
static gboolean
get_id (GKeyFile *kf, const char *file, const char *group, const char *key, gboolean is_user,
        gint64 *out, GError **error)
{
  g_autofree char *text = NULL;
  guint64 number;

  if (!get_string (kf, file, group, key, &text, error))
    return FALSE;
  if (text == NULL)
    return TRUE;
  if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32 - 1, &number, NULL)) {
    *out = (gint64) number;
    return TRUE;
  }
  if (is_user) {
    struct passwd *pw = getpwnam (text);
    if (pw == NULL)
      return bad_value (error, file, group, key, "no such user");
    *out = pw->pw_uid;
  } else {
    struct group *gr = getgrnam (text);
    if (gr == NULL)
      return bad_value (error, file, group, key, "no such group");
    *out = gr->gr_gid;
  }
  return TRUE;
}

static gboolean
load_component (GKeyFile *kf, const char *file, const char *group, Config *config, GError **error)
{
  const char *id = group + strlen ("Component ");
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) ip_settings = NULL;
  ConfigComponent *component;

  if (!sar_component_id_check (id, &local))
    return bad_value (error, file, group, "(group name)", local->message);
  if (config_find_component (config, id) != NULL)
    return bad_value (error, file, group, "(group name)", "component declared twice");
  if (!check_known_keys (kf, file, group, component_keys, error))
    return FALSE;

  component = g_new0 (ConfigComponent, 1);
  component->id = g_strdup (id);
  component->uid = -1;
  component->gid = -1;
  g_ptr_array_add (config->components, component);
  if (!get_id (kf, file, group, "Owner", TRUE, &component->uid, error)
      || !get_id (kf, file, group, "Group", FALSE, &component->gid, error))
    return FALSE;
  if (!get_string (kf, file, group, "Label", &component->label, error)
      || !get_string (kf, file, group, "Path", &component->path, error)
      || !get_string (kf, file, group, "Database", &component->database, error))
    return FALSE;
  if (component->database != NULL && !config_database_name_check (component->database, &local))
    return bad_value (error, file, group, "Database", local->message);
  if (component->label == NULL)
    component->label = g_strdup (id);
  if (component->path == NULL)
    component->path = g_strdup (id);
  if (!relative_path_ok (component->path))
    return bad_value (error, file, group, "Path",
                      "must be a relative path below DataRoot without '.' or '..'");

  if (g_key_file_has_key (kf, group, "IpSettings", NULL)) {
    ip_settings = g_key_file_get_string_list (kf, group, "IpSettings", NULL, &local);
    if (ip_settings == NULL)
      return bad_value (error, file, group, "IpSettings", local->message);
    for (guint i = 0; ip_settings[i] != NULL; i++) {
      g_strstrip (ip_settings[i]);
      if (!relative_path_ok (ip_settings[i]))
        return bad_value (error, file, group, "IpSettings",
                          "each entry must be a relative path inside the component");
    }
  }
  component->ip_settings
      = ip_settings != NULL ? g_steal_pointer (&ip_settings) : g_new0 (char *, 1);
  return TRUE;
}

static gboolean
load_database (GKeyFile *kf, const char *file, const char *group, Config *config, GError **error)
{
  ConfigDatabase *db = &config->database;
  guint64 port = db->port;
  g_autofree char *host = NULL;
  g_autofree char *run_as = NULL;
  g_autofree char *load_as = NULL;
  g_autofree char *tools = g_strdup (db->tools_directory); /* the default, unless given */

  if (!check_known_keys (kf, file, group, database_keys, error)
      || !get_string (kf, file, group, "Host", &host, error)
      || !get_size (kf, file, group, "Port", 65535, &port, error)
      || !get_string (kf, file, group, "RunAs", &run_as, error)
      || !get_string (kf, file, group, "LoadAs", &load_as, error)
      || !get_absolute_path (kf, file, group, "ToolsDirectory", &tools, error))
    return FALSE;
  if (port == 0)
    return bad_value (error, file, group, "Port", "must be a port number");
  if (host != NULL) {
    if (strchr (host, ' ') != NULL || strchr (host, '\'') != NULL || strchr (host, '\\') != NULL
        || strchr (host, '=') != NULL)
      return bad_value (error, file, group, "Host", "must be a directory or a host name");
    g_free (db->host);
    db->host = g_steal_pointer (&host);
  }
  if (run_as != NULL) {
    g_free (db->run_as);
    db->run_as = g_steal_pointer (&run_as);
  }
  if (load_as != NULL) {
    if (getpwnam (load_as) == NULL)
      return bad_value (error, file, group, "LoadAs", "no such user");
    g_free (db->load_as);
    db->load_as = g_steal_pointer (&load_as);
  }
  g_free (db->tools_directory);
  db->tools_directory = g_steal_pointer (&tools);
  db->port = (guint) port;
  return TRUE;
}

/* RunAs is needed (and must exist) only when a component has a database. */
static gboolean
check_databases (Config *config, const char *file, GError **error)
{
  struct passwd *pw;

  for (guint i = 0; i < config->components->len; i++) {
    const ConfigComponent *a = config->components->pdata[i];
    for (guint j = i + 1; a->database != NULL && j < config->components->len; j++) {
      const ConfigComponent *b = config->components->pdata[j];
      if (b->database != NULL && g_str_equal (a->database, b->database)) {
        g_autofree char *group = g_strconcat ("Component ", b->id, NULL);
        return bad_value (error, file, group, "Database", "the same database as another component");
      }
    }
  }
  if (!config_has_databases (config))
    return TRUE;
  pw = getpwnam (config->database.run_as);
  if (pw == NULL)
    return bad_value (error, file, "Database", "RunAs", "no such user");
  if (pw->pw_uid == 0)
    return bad_value (error, file, "Database", "RunAs", "must not be root");
  config->database.run_as_uid = pw->pw_uid;
  config->database.run_as_gid = pw->pw_gid;
  return TRUE;
}

static gboolean
check_overlapping_components (const Config *config, const char *file, GError **error)
{
  for (guint i = 0; i < config->components->len; i++) {
    const ConfigComponent *a = config->components->pdata[i];
    for (guint j = 0; j < config->components->len; j++) {
      const ConfigComponent *b = config->components->pdata[j];
      g_autofree char *prefix = g_strconcat (a->path, "/", NULL);
      if (i != j && (g_str_equal (a->path, b->path) || g_str_has_prefix (b->path, prefix))) {
        g_autofree char *group = g_strconcat ("Component ", b->id, NULL);
        return bad_value (error, file, group, "Path",
                          "overlaps the directory of another component");
      }
    }
  }
  return TRUE;
}

Config *
config_load (const char *path, gboolean must_exist, GError **error)
{
  g_autoptr (Config) config = config_new_default ();
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;
  gboolean have_components = FALSE;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local)) {
    if (!must_exist && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return g_steal_pointer (&config);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s: %s", path, local->message);
    return NULL;
  }
  config->source = g_strdup (path);

  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    const char *group = groups[i];

    if (g_str_equal (group, "Paths")) {
      if (!check_known_keys (kf, path, group, paths_keys, error)
          || !get_absolute_path (kf, path, group, "BackupDirectory", &config->backup_directory,
                                 error)
          || !get_absolute_path (kf, path, group, "DataRoot", &config->data_root, error)
          || !get_absolute_path (kf, path, group, "VersionFile", &config->version_file, error)
          || !get_absolute_path (kf, path, group, "StateDirectory", &config->state_directory,
                                 error))
        return NULL;
    } else if (g_str_equal (group, "Pbx")) {
      guint64 timeout = config->command_timeout;
      guint64 retry = config->recovery_retry_interval;
      if (!check_known_keys (kf, path, group, pbx_keys, error)
          || !get_command (kf, path, group, "SessionsCommand", &config->sessions_command, error)
          || !get_command (kf, path, group, "StopCommand", &config->stop_command, error)
          || !get_command (kf, path, group, "StartCommand", &config->start_command, error)
          || !get_size (kf, path, group, "CommandTimeout", 86400, &timeout, error)
          || !get_size (kf, path, group, "RecoveryRetryInterval", 86400, &retry, error))
        return NULL;
      if (retry == 0) {
        bad_value (error, path, group, "RecoveryRetryInterval", "must be at least 1");
        return NULL;
      }
      config->command_timeout = (guint) timeout;
      config->recovery_retry_interval = (guint) retry;
    } else if (g_str_equal (group, "Limits")) {
      guint64 uploads = config->max_concurrent_uploads;
      guint64 idle = config->upload_idle_timeout;
      guint64 lifetime = config->finished_job_lifetime;
      guint64 history = config->history_entries;
      guint64 deadline = config->upload_timeout;
      if (!check_known_keys (kf, path, group, limits_keys, error)
          || !get_size (kf, path, group, "MaxBackupSize", G_MAXINT64, &config->max_backup_size,
                        error)
          || !get_size (kf, path, group, "MaxUnpackedSize", G_MAXINT64, &config->max_unpacked_size,
                        error)
          || !get_size (kf, path, group, "MaxEntries", G_MAXUINT32, &config->max_entries, error)
          || !get_size (kf, path, group, "MaxConcurrentUploads", 64, &uploads, error)
          || !get_size (kf, path, group, "UploadIdleTimeout", 86400, &idle, error)
          || !get_size (kf, path, group, "UploadTimeout", 7 * 86400, &deadline, error)
          || !get_size (kf, path, group, "FinishedJobLifetime", 86400, &lifetime, error)
          || !get_size (kf, path, group, "HistoryEntries", 100000, &history, error))
        return NULL;
      if (history == 0) {
        bad_value (error, path, group, "HistoryEntries", "must be at least 1");
        return NULL;
      }
      config->history_entries = (guint) history;
      config->max_concurrent_uploads = (guint) uploads;
      config->upload_idle_timeout = (guint) idle;
      config->finished_job_lifetime = (guint) lifetime;
      config->upload_timeout = (guint) deadline;
    } else if (g_str_equal (group, "Database")) {
      if (!load_database (kf, path, group, config, error))
        return NULL;
    } else if (g_str_has_prefix (group, "Component ")) {
      if (!have_components) {
        /* Components in the file replace the built-in set as a whole. */
        g_ptr_array_set_size (config->components, 0);
        have_components = TRUE;
      }
      if (!load_component (kf, path, group, config, error))
        return NULL;
    } else {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s: [%s]: unknown group", path,
                   group);
      return NULL;
    }
  }
  if (!check_overlapping_components (config, path, error) || !check_databases (config, path, error))
    return NULL;
  return g_steal_pointer (&config);
}
