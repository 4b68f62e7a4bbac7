/* Unit tests of loading backupd.conf: good files, the defaults, and every
 * kind of bad value refused with an error naming the file, the group and
 * the key. */
#include "config.h"
#include "errors.h"
#include "sandbox.h"

#include <string.h>

/* config_load of text written to a file of the sandbox; *path: its name. */
static Config *
load_text (Sandbox *sandbox, const char *text, char **path, GError **error)
{
  static guint n;
  g_autofree char *name = g_strdup_printf ("backupd-%u.conf", n++);

  sandbox_write (sandbox->root_fd, name, text);
  *path = g_build_filename (sandbox->root, name, NULL);
  return config_load (*path, TRUE, error);
}

static Config *
load_good (Sandbox *sandbox, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  Config *config = load_text (sandbox, text, &path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  g_assert_cmpstr (config->source, ==, path);
  return config;
}

/* text is refused with "<file>: [group] key: <... why ...>". */
static void
assert_bad (const char *text, const char *group, const char *key, const char *why)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *prefix = NULL;
  Config *config = load_text (sandbox, text, &path, &error);

  g_assert_null (config);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  prefix = key != NULL ? g_strdup_printf ("%s: [%s] %s: ", path, group, key)
                       : g_strdup_printf ("%s: [%s]: ", path, group);
  if (!g_str_has_prefix (error->message, prefix) || strstr (error->message, why) == NULL)
    g_error ("\"%s\" is not \"%s...%s\"", error->message, prefix, why);
}

static void
test_defaults_when_absent (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (sandbox->root, "none.conf", NULL);
  g_autoptr (Config) config = config_load (path, FALSE, &error);
  g_autoptr (Config) defaults = config_new_default ();
  const ConfigComponent *core;

  g_assert_no_error (error);
  g_assert_nonnull (config);
  g_assert_null (config->source);
  g_assert_cmpstr (config->backup_directory, ==, defaults->backup_directory);
  g_assert_cmpstr (config->data_root, ==, "/var/starface");
  g_assert_null (config->stop_command);
  g_assert_null (config->start_command);
  g_assert_null (config->sessions_command);
  g_assert_cmpuint (config->command_timeout, ==, defaults->command_timeout);
  g_assert_cmpuint (config->max_entries, ==, defaults->max_entries);
  g_assert_cmpuint (config->components->len, ==, 3);
  core = config_find_component (config, "core");
  g_assert_nonnull (core);
  g_assert_cmpstr (core->path, ==, "core");
  g_assert_cmpstr (core->ip_settings[0], ==, "network.conf");
  g_assert_null (core->ip_settings[1]);
  g_assert_cmpint (core->uid, ==, -1);
  g_assert_null (core->database);
  g_assert_nonnull (config_find_component (config, "cdr-voicemail"));
  g_assert_nonnull (config_find_component (config, "announcements"));
  g_assert_null (config_find_component (config, "nothing"));
  g_assert_false (config_has_databases (config));
  g_assert_cmpstr (config->database.run_as, ==, "postgres");
  g_assert_cmpuint (config->database.port, ==, 5432);

  /* but must_exist refuses, naming the file */
  g_assert_null (config_load (path, TRUE, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, path));
}

static void
test_good (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (Config) config
      = load_good (sandbox, "# a comment\n"
                            "[Paths]\n"
                            "BackupDirectory=/srv/backups\n"
                            "DataRoot = /srv/starface \n"
                            "[Pbx]\n"
                            "StopCommand=/usr/bin/systemctl stop 'starface pbx'\n"
                            "StartCommand=/usr/bin/systemctl start starface\n"
                            "SessionsCommand=/usr/libexec/sessions --count\n"
                            "CommandTimeout=60\n"
                            "RecoveryRetryInterval=5\n"
                            "[Limits]\n"
                            "MaxEntries=10\n"
                            "MaxUnpackedSize=1048576\n"
                            "HistoryEntries=1\n"
                            "[Database]\n"
                            "Host=/run/postgresql\n"
                            "Port=5433\n"
                            "RunAs=nobody\n"
                            "LoadAs=daemon\n"
                            "ToolsDirectory=/usr/lib/postgresql/15/bin\n"
                            "[Component core]\n"
                            "Label=Core data\n"
                            "Path=starface/core\n"
                            "IpSettings=network.conf; etc/hosts\n"
                            "Owner=nobody\n"
                            "Group=1234\n"
                            "Database=asterisk\n"
                            "[Component voicemail]\n"
                            "Database=_vm9\n");
  const ConfigComponent *core, *vm;

  g_assert_cmpstr (config->backup_directory, ==, "/srv/backups");
  g_assert_cmpstr (config->data_root, ==, "/srv/starface");
  /* keys left out keep their defaults */
  g_assert_cmpstr (config->state_directory, ==, "/var/lib/starface-backup/state");
  g_assert_cmpstr (config->stop_command[0], ==, "/usr/bin/systemctl");
  g_assert_cmpstr (config->stop_command[2], ==, "starface pbx");
  g_assert_null (config->stop_command[3]);
  g_assert_cmpstr (config->sessions_command[1], ==, "--count");
  g_assert_cmpuint (config->command_timeout, ==, 60);
  g_assert_cmpuint (config->recovery_retry_interval, ==, 5);
  g_assert_cmpuint (config->max_entries, ==, 10);
  g_assert_cmpuint (config->max_unpacked_size, ==, 1048576);
  g_assert_cmpuint (config->history_entries, ==, 1);
  g_assert_cmpstr (config->database.host, ==, "/run/postgresql");
  g_assert_cmpuint (config->database.port, ==, 5433);
  g_assert_cmpstr (config->database.run_as, ==, "nobody");
  g_assert_cmpuint (config->database.run_as_uid, ==, 65534);
  g_assert_cmpstr (config->database.load_as, ==, "daemon");
  g_assert_cmpstr (config->database.tools_directory, ==, "/usr/lib/postgresql/15/bin");
  /* the file's components replace the built-in ones */
  g_assert_cmpuint (config->components->len, ==, 2);
  g_assert_null (config_find_component (config, "cdr-voicemail"));
  core = config_find_component (config, "core");
  g_assert_cmpstr (core->label, ==, "Core data");
  g_assert_cmpstr (core->path, ==, "starface/core");
  g_assert_cmpstr (core->ip_settings[0], ==, "network.conf");
  g_assert_cmpstr (core->ip_settings[1], ==, "etc/hosts");
  g_assert_null (core->ip_settings[2]);
  g_assert_cmpint (core->uid, ==, 65534);
  g_assert_cmpint (core->gid, ==, 1234);
  g_assert_cmpstr (core->database, ==, "asterisk");
  vm = config_find_component (config, "voicemail");
  g_assert_cmpstr (vm->label, ==, "voicemail");
  g_assert_cmpstr (vm->path, ==, "voicemail");
  g_assert_null (vm->ip_settings[0]);
  g_assert_cmpint (vm->uid, ==, -1);
  g_assert_cmpstr (vm->database, ==, "_vm9");
  g_assert_true (config_has_databases (config));
}

/* RunAs is looked up only when a component has a database. */
static void
test_run_as_only_when_needed (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (Config) config
      = load_good (sandbox, "[Database]\nRunAs=no-such-user-here\n[Component core]\n");

  g_assert_false (config_has_databases (config));
  g_assert_cmpstr (config->database.run_as, ==, "no-such-user-here");
}

static void
test_bad_file (void)
{
  assert_bad ("[Paths]\nDataRoot=/srv\n[Extra]\nKey=1\n", "Extra", NULL, "unknown group");
  assert_bad ("[Paths]\nDataroot=/srv\n", "Paths", "Dataroot", "unknown key");
  assert_bad ("[Pbx]\nStopCommand=/bin/true\nTimeout=3\n", "Pbx", "Timeout", "unknown key");
  assert_bad ("[Limits]\nMaxEntrys=3\n", "Limits", "MaxEntrys", "unknown key");
  assert_bad ("[Database]\nUser=x\n", "Database", "User", "unknown key");
  assert_bad ("[Component core]\nPaht=x\n", "Component core", "Paht", "unknown key");

  /* paths */
  assert_bad ("[Paths]\nDataRoot=var/starface\n", "Paths", "DataRoot", "absolute path");
  assert_bad ("[Paths]\nBackupDirectory=\n", "Paths", "BackupDirectory", "empty value");
  assert_bad ("[Database]\nToolsDirectory=bin\n", "Database", "ToolsDirectory", "absolute path");
  assert_bad ("[Component core]\nPath=/var/starface/core\n", "Component core", "Path",
              "relative path");
  assert_bad ("[Component core]\nPath=../etc\n", "Component core", "Path", "relative path");
  assert_bad ("[Component core]\nPath=a/./b\n", "Component core", "Path", "relative path");
  assert_bad ("[Component core]\nPath=core/\n", "Component core", "Path", "relative path");
  assert_bad ("[Component core]\nIpSettings=network.conf;../../etc/passwd\n", "Component core",
              "IpSettings", "relative path");
  assert_bad ("[Component core]\nIpSettings=/etc/network.conf\n", "Component core", "IpSettings",
              "relative path");

  /* commands */
  assert_bad ("[Pbx]\nStopCommand=systemctl stop starface\n", "Pbx", "StopCommand",
              "absolute path");
  assert_bad ("[Pbx]\nStartCommand=/bin/start 'unclosed\n", "Pbx", "StartCommand", "");

  /* numbers */
  assert_bad ("[Pbx]\nCommandTimeout=0\n", "Pbx", "CommandTimeout", "");
  assert_bad ("[Pbx]\nCommandTimeout=86401\n", "Pbx", "CommandTimeout", "");
  assert_bad ("[Pbx]\nCommandTimeout=ten\n", "Pbx", "CommandTimeout", "");
  assert_bad ("[Pbx]\nRecoveryRetryInterval=-1\n", "Pbx", "RecoveryRetryInterval", "");
  assert_bad ("[Limits]\nMaxEntries=4294967296\n", "Limits", "MaxEntries", "");
  assert_bad ("[Limits]\nMaxBackupSize=1e9\n", "Limits", "MaxBackupSize", "");
  assert_bad ("[Limits]\nMaxConcurrentUploads=65\n", "Limits", "MaxConcurrentUploads", "");
  assert_bad ("[Database]\nPort=65536\n", "Database", "Port", "");
  assert_bad ("[Database]\nPort=0\n", "Database", "Port", "");
  assert_bad ("[Database]\nHost=a host\n", "Database", "Host", "directory or a host name");
  assert_bad ("[Database]\nHost=h' dbname=x\n", "Database", "Host", "directory or a host name");

  /* components */
  assert_bad ("[Component Core]\n", "Component Core", "(group name)", "invalid component id");
  assert_bad ("[Component -x]\n", "Component -x", "(group name)", "invalid component id");
  assert_bad ("[Component ]\n", "Component ", "(group name)", "invalid component id");
  assert_bad ("[Component a]\nPath=data\n[Component b]\nPath=data/b\n", "Component b", "Path",
              "overlaps");
  assert_bad ("[Component a]\nPath=data\n[Component b]\nPath=data\n", "Component b", "Path",
              "overlaps");
  assert_bad ("[Component a]\nOwner=no-such-user-here\n", "Component a", "Owner", "no such user");
  assert_bad ("[Component a]\nGroup=no-such-group-here\n", "Component a", "Group", "no such group");
}

static void
test_bad_database (void)
{
  g_autofree char *long_name = g_strnfill (CONFIG_DATABASE_NAME_MAX + 1, 'a');
  g_autofree char *too_long = g_strdup_printf ("[Component a]\nDatabase=%s\n", long_name);

  assert_bad ("[Component a]\nDatabase=Asterisk\n", "Component a", "Database", "lower-case");
  assert_bad ("[Component a]\nDatabase=9asterisk\n", "Component a", "Database", "lower-case");
  assert_bad ("[Component a]\nDatabase=aster-isk\n", "Component a", "Database", "lower-case");
  assert_bad ("[Component a]\nDatabase=asterisk;drop\n", "Component a", "Database", "lower-case");
  assert_bad (too_long, "Component a", "Database", "1 to 50 characters");
  assert_bad ("[Component a]\nDatabase=asterisk__sf_restore\n", "Component a", "Database",
              "the restore's own");
  assert_bad ("[Component a]\nDatabase=asterisk__sf_previous\n", "Component a", "Database",
              "the restore's own");
  assert_bad ("[Database]\nRunAs=nobody\n[Component a]\nDatabase=asterisk\n[Component b]\n"
              "Database=asterisk\n",
              "Component b", "Database", "the same database");
  assert_bad ("[Database]\nRunAs=no-such-user-here\n[Component a]\nDatabase=asterisk\n", "Database",
              "RunAs", "no such user");
  assert_bad ("[Database]\nRunAs=root\n[Component a]\nDatabase=asterisk\n", "Database", "RunAs",
              "must not be root");
  assert_bad ("[Database]\nLoadAs=no-such-user-here\n", "Database", "LoadAs", "no such user");
}

/* The name rules on their own: the longest name, every allowed character. */
static void
test_database_name_check (void)
{
  g_autofree char *longest = g_strnfill (CONFIG_DATABASE_NAME_MAX, 'a');
  g_autofree char *staging = g_strconcat (longest, CONFIG_DATABASE_STAGING_SUFFIX, NULL);
  g_autofree char *previous = g_strconcat (longest, CONFIG_DATABASE_PREVIOUS_SUFFIX, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (config_database_name_check (longest, &error));
  g_assert_no_error (error);
  /* what the restore derives from it fits PostgreSQL's 63 bytes */
  g_assert_cmpuint (strlen (staging), <=, 63);
  g_assert_cmpuint (strlen (previous), <=, 63);
  g_assert_true (config_database_name_check ("_", NULL));
  g_assert_true (config_database_name_check ("a_0123456789z", NULL));
  g_assert_true (config_database_name_check ("__sf_restorex", NULL));
  g_assert_false (config_database_name_check ("", &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_false (config_database_name_check ("__sf_restore", NULL));
  g_assert_false (config_database_name_check ("a b", NULL));
  g_assert_false (config_database_name_check ("\xc3\xa4", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults-when-absent", test_defaults_when_absent);
  g_test_add_func ("/config/good", test_good);
  g_test_add_func ("/config/run-as-only-when-needed", test_run_as_only_when_needed);
  g_test_add_func ("/config/bad-file", test_bad_file);
  g_test_add_func ("/config/bad-database", test_bad_database);
  g_test_add_func ("/config/database-name-check", test_database_name_check);
  return g_test_run ();
}
