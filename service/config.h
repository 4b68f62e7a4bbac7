/* config.h: the daemon's configuration (a GKeyFile, see backupd.conf(5)).
 *
 * Every group and key is checked when the file is loaded; an unknown group
 * or key, a relative path, a bad number or an unparsable command is an
 * error naming the file, the group and the key, so a typo never silently
 * falls back to a default.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* set by the build from sysconfdir (/etc with prefix /usr) */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH "/etc/starface-backup/backupd.conf"
#endif

typedef struct {
  char *id;
  char *label;
  char *path;         /* relative to DataRoot */
  char **ip_settings; /* relative to the component's directory; NULL-terminated */
  gint64 uid;         /* owner of restored files, -1: the live directory's owner */
  gint64 gid;         /* group of restored files, -1: the live directory's group */
  char *database;     /* the PostgreSQL database this component also holds, or NULL */
} ConfigComponent;

/* The PBX's PostgreSQL ([Database]); used by components with Database=. */
typedef struct {
  char *host; /* socket directory (absolute) or host name */
  guint port;
  char *run_as;     /* OS user for connections, DDL, pg_dump and reading dumps */
  uid_t run_as_uid; /* resolved when the file is loaded */
  gid_t run_as_gid;
  char *load_as;         /* OS user running pg_restore; NULL: the one named like the owner role */
  char *tools_directory; /* where pg_dump and pg_restore are */
} ConfigDatabase;

typedef struct {
  char *source; /* the file it came from, or NULL for built-in defaults */
  char *backup_directory;
  char *data_root;
  char *version_file;
  char *state_directory;   /* what the daemon keeps across restarts: history, catalog */
  char **sessions_command; /* argv, or NULL when not configured */
  char **stop_command;
  char **start_command;
  guint command_timeout; /* seconds a PBX command may run */
  /* seconds before the first retry of an unresolved restore journal (the
   * wait doubles after each failed attempt, up to an hour) */
  guint recovery_retry_interval;
  guint64 max_backup_size;
  guint64 max_unpacked_size;
  guint64 max_entries;
  guint max_concurrent_uploads;
  guint upload_idle_timeout;   /* seconds a pipe may stay silent */
  guint finished_job_lifetime; /* seconds a finished job stays on the bus */
  guint history_entries;       /* jobs the history keeps */
  guint upload_timeout;        /* seconds an upload may take to arrive */
  GPtrArray *components;       /* ConfigComponent*, in file order */
  ConfigDatabase database;     /* defaults unless [Database] says otherwise */
} Config;

/* Built-in defaults (the paths of a STARFACE installation). */
Config *config_new_default (void);

/* Loads path over the defaults.  If the file does not exist and
 * must_exist is FALSE, the defaults are returned. */
Config *config_load (const char *path, gboolean must_exist, GError **error);

/* A database name a component may give: lower-case letters, digits and
 * '_', starting with a letter or '_', short enough that the names the
 * restore derives from it (CONFIG_DATABASE_STAGING_SUFFIX,
 * CONFIG_DATABASE_PREVIOUS_SUFFIX) fit PostgreSQL's 63 bytes, and not
 * itself one of those. */
#define CONFIG_DATABASE_STAGING_SUFFIX "__sf_restore"
#define CONFIG_DATABASE_PREVIOUS_SUFFIX "__sf_previous"
#define CONFIG_DATABASE_NAME_MAX 50
gboolean config_database_name_check (const char *name, GError **error);

/* Whether any component holds a database. */
gboolean config_has_databases (const Config *config);

const ConfigComponent *config_find_component (const Config *config, const char *id);

void config_free (Config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Config, config_free)
