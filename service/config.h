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
} ConfigComponent;

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
} Config;

/* Built-in defaults (the paths of a STARFACE installation). */
Config *config_new_default (void);

/* Loads path over the defaults.  If the file does not exist and
 * must_exist is FALSE, the defaults are returned. */
Config *config_load (const char *path, gboolean must_exist, GError **error);

const ConfigComponent *config_find_component (const Config *config, const char *id);

void config_free (Config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Config, config_free)
