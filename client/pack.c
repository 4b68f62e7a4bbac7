/* pack.c: the pack command: a directory of component trees -> a .sar file.
 *
 * It uses the service's own writer (sar.h) and needs no bus.
 */
#include "commands.h"

#include "autofd.h"
#include "cli.h"
#include "config.h"
#include "dump.h"
#include "errors.h"
#include "names.h"
#include "sar.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
failed (const char *command, const GError *error)
{
  g_printerr ("%s %s: %s\n", PROGRAM, command, error->message);
  return EXIT_FAILED;
}

/* The temporary output, removed if the user interrupts the command. */
static char interrupted_temp[4096];

static void
remove_temp_on_signal (int signo)
{
  if (interrupted_temp[0] != '\0')
    unlink (interrupted_temp);
  signal (signo, SIG_DFL);
  raise (signo);
}

static void
watch_temp (const char *path)
{
  struct sigaction action = { 0 };

  g_strlcpy (interrupted_temp, path != NULL ? path : "", sizeof interrupted_temp);
  action.sa_handler = path != NULL ? remove_temp_on_signal : SIG_DFL;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, NULL);
  sigaction (SIGTERM, &action, NULL);
  sigaction (SIGHUP, &action, NULL);
}

static gboolean
parse_compression (const char *text, SarCompression *out)
{
  if (text == NULL || strcmp (text, "zstd") == 0)
    *out = SAR_COMPRESSION_ZSTD;
  else if (strcmp (text, "gzip") == 0)
    *out = SAR_COMPRESSION_GZIP;
  else if (strcmp (text, "none") == 0)
    *out = SAR_COMPRESSION_NONE;
  else
    return FALSE;
  return TRUE;
}

/* The product's components first, in the order of its restore dialog. */
static int
compare_component_ids (gconstpointer a, gconstpointer b)
{
  static const char *const known[] = { "core", "cdr-voicemail", "announcements", NULL };
  const char *id_a = *(const char *const *) a;
  const char *id_b = *(const char *const *) b;
  guint rank_a = 0, rank_b = 0;

  while (known[rank_a] != NULL && strcmp (known[rank_a], id_a) != 0)
    rank_a++;
  while (known[rank_b] != NULL && strcmp (known[rank_b], id_b) != 0)
    rank_b++;
  return rank_a != rank_b ? (int) rank_a - (int) rank_b : strcmp (id_a, id_b);
}

/* All sub-directories of dir, or just the named ones, as components. */
static GPtrArray *
find_components (const char *dir, char **only, GError **error)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) components
      = g_ptr_array_new_with_free_func ((GDestroyNotify) sar_pack_component_free);

  if (only != NULL) {
    for (guint i = 0; only[i] != NULL; i++)
      g_ptr_array_add (ids, g_strdup (only[i]));
  } else {
    g_autoptr (GDir) listing = g_dir_open (dir, 0, error);
    const char *name;

    if (listing == NULL)
      return NULL;
    while ((name = g_dir_read_name (listing)) != NULL)
      g_ptr_array_add (ids, g_strdup (name));
    g_ptr_array_sort (ids, compare_component_ids);
  }

  for (guint i = 0; i < ids->len; i++) {
    const char *id = g_ptr_array_index (ids, i);
    g_autofree char *path = g_build_filename (dir, id, NULL);
    SarPackComponent *component;
    struct stat st;

    if (lstat (path, &st) < 0) {
      backup_error_set_errno (error, errno, _ ("component directory %s"), path);
      return NULL;
    }
    if (!S_ISDIR (st.st_mode)) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                   _ ("%s is not a directory: %s must hold one directory per component and "
                      "nothing else"),
                   path, dir);
      return NULL;
    }
    if (!sar_component_id_check (id, error))
      return NULL;
    for (guint j = 0; j < components->len; j++)
      if (strcmp (((SarPackComponent *) g_ptr_array_index (components, j))->id, id) == 0) {
        g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                     _ ("component %s is named twice"), id);
        return NULL;
      }
    component = g_new0 (SarPackComponent, 1);
    component->id = g_strdup (id);
    component->label = g_strdup (sar_default_label (id));
    component->path = g_steal_pointer (&path);
    g_ptr_array_add (components, component);
  }
  if (components->len == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, _ ("%s holds no component directories"),
                 dir);
    return NULL;
  }
  return g_steal_pointer (&components);
}

static gboolean
fsync_directory (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int ret;

  if (fd < 0)
    return backup_error_set_errno (error, errno, _ ("opening %s"), dir);
  ret = fsync (fd);
  close (fd);
  if (ret < 0)
    return backup_error_set_errno (error, errno, _ ("syncing %s"), dir);
  return TRUE;
}

/* --database COMPONENT=DBNAME: the dump of each goes beside its tree, made
 * with the [Database] settings of the daemon's configuration. */
static gboolean
add_databases (GPtrArray *components, char **databases, const char *config_path, const char *dir,
               GError **error)
{
  g_autoptr (Config) config = NULL;
  g_auto (AutoFd) dir_fd = -1;

  if (databases == NULL)
    return TRUE;
  config = config_load (config_path != NULL ? config_path : CONFIG_DEFAULT_PATH,
                        config_path != NULL, error);
  if (config == NULL)
    return FALSE;
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return backup_error_set_errno (error, errno, _ ("opening %s"), dir);
  for (guint i = 0; databases[i] != NULL; i++) {
    const char *equals = strchr (databases[i], '=');
    g_autofree char *id = equals != NULL ? g_strndup (databases[i], equals - databases[i]) : NULL;
    SarPackComponent *component = NULL;

    for (guint j = 0; id != NULL && j < components->len; j++)
      if (strcmp (((SarPackComponent *) g_ptr_array_index (components, j))->id, id) == 0)
        component = g_ptr_array_index (components, j);
    if (component == NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   _ ("--database %s: expected COMPONENT=DATABASE, with COMPONENT one of the "
                      "component directories packed"),
                   databases[i]);
      return FALSE;
    }
    if (component->database != NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   _ ("--database: component %s is given a database twice"), id);
      return FALSE;
    }
    if (!config_database_name_check (equals + 1, error)) {
      g_prefix_error (error, "--database %s: ", databases[i]);
      (*error)->code = BACKUP_ERROR_INVALID_ARGS;
      return FALSE;
    }
    if (!dump_for_pack (component, &config->database, equals + 1, NULL, dir_fd, NULL, error))
      return FALSE;
  }
  return TRUE;
}

/* Moves temp to path, refusing to replace an existing file unless force. */
static gboolean
publish (const char *temp, const char *path, gboolean force, GError **error)
{
  if (force) {
    if (rename (temp, path) < 0)
      return backup_error_set_errno (error, errno, _ ("renaming %s to %s"), temp, path);
  } else if (renameat2 (AT_FDCWD, temp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
    if (errno == EEXIST) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_ALREADY_EXISTS,
                   _ ("%s already exists; use --force to replace it"), path);
      return FALSE;
    }
    /* File systems without RENAME_NOREPLACE: link() does not replace. */
    if (errno != EINVAL || link (temp, path) < 0)
      return backup_error_set_errno (error, errno, _ ("renaming %s to %s"), temp, path);
    unlink (temp);
  }
  return TRUE;
}

/* Packs into a hidden temporary file beside path, then publishes it. */
static gboolean
pack_to (const SarPackSpec *spec, const char *path, gboolean force, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *temp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  gboolean ok;
  int fd;

  fd = g_mkstemp_full (temp, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    return backup_error_set_errno (error, errno, _ ("creating a temporary file in %s"), dir);
  watch_temp (temp);
  ok = sar_pack (spec, fd, NULL, error);
  if (ok && fsync (fd) < 0)
    ok = backup_error_set_errno (error, errno, _ ("writing %s"), temp);
  if (close (fd) < 0 && ok)
    ok = backup_error_set_errno (error, errno, _ ("writing %s"), temp);
  ok = ok && publish (temp, path, force, error);
  if (!ok)
    unlink (temp);
  watch_temp (NULL);
  return ok && fsync_directory (dir, error);
}

int
cmd_pack (int argc, char **argv)
{
  g_autofree char *version = NULL;
  g_autofree char *process = NULL;
  g_autofree char *hostname = NULL;
  g_autofree char *ip_address = NULL;
  g_autofree char *created_text = NULL;
  g_autofree char *compression_text = NULL;
  g_auto (GStrv) only = NULL;
  g_auto (GStrv) databases = NULL;
  g_autofree char *config_path = NULL;
  gboolean force = FALSE;
  const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_STRING, &version,
      N_ ("STARFACE version the data comes from (required)"), "V" },
    { "process", 0, 0, G_OPTION_ARG_STRING, &process, N_ ("Backup process name (default: manual)"),
      "P" },
    { "hostname", 0, 0, G_OPTION_ARG_STRING, &hostname, N_ ("Host name (default: this host's)"),
      "H" },
    { "ip-address", 0, 0, G_OPTION_ARG_STRING, &ip_address, N_ ("IP address of the PBX"), "A" },
    { "created", 0, 0, G_OPTION_ARG_STRING, &created_text,
      N_ ("Creation time, ISO 8601 with time zone (default: now)"), "TIME" },
    { "compression", 0, 0, G_OPTION_ARG_STRING, &compression_text,
      N_ ("zstd (default), gzip or none"), "METHOD" },
    { "component", 0, 0, G_OPTION_ARG_STRING_ARRAY, &only,
      N_ ("Pack only this sub-directory of DIR (repeatable)"), "ID" },
    { "database", 0, 0, G_OPTION_ARG_STRING_ARRAY, &databases,
      N_ ("Add the dump of PostgreSQL database DB to component ID (repeatable)"), "ID=DB" },
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &config_path,
      N_ ("The daemon's configuration, for its [Database] settings"), "FILE" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, N_ ("Replace an existing backup file"), NULL },
    { NULL },
  };
  g_autoptr (GPtrArray) components = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  SarPackSpec spec = { 0 };

  if (!cli_parse ("pack", "DIR OUT.sar",
                  N_ ("Packs DIR, which holds one directory per component, into a backup file.\n"
                      "If OUT.sar is a directory, the file is named after the process and time."),
                  entries, FALSE, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 3)
    return cli_usage_error ("pack", _ ("expected DIR and OUT.sar"));
  if (version == NULL)
    return cli_usage_error ("pack",
                            _ ("--version is required: the STARFACE version the data comes from"));
  if (!parse_compression (compression_text, &spec.compression))
    return cli_usage_error ("pack", _ ("unknown compression \"%s\": use zstd, gzip or none"),
                            compression_text);
  if (only != NULL)
    for (guint i = 0; only[i] != NULL; i++)
      if (!sar_component_id_check (only[i], &error))
        return cli_usage_error ("pack", "--component: %s", error->message);
  if (created_text != NULL) {
    g_autoptr (GDateTime) created = g_date_time_new_from_iso8601 (created_text, NULL);

    if (created == NULL)
      return cli_usage_error ("pack",
                              _ ("--created: \"%s\" is not an ISO 8601 time with a time zone, "
                                 "such as 2026-11-20T02:00:00Z"),
                              created_text);
    spec.created = g_date_time_to_unix (created);
  } else {
    spec.created = g_get_real_time () / G_USEC_PER_SEC;
  }

  spec.version = version;
  spec.process = process != NULL ? process : "manual";
  spec.hostname = hostname;
  spec.ip_address = ip_address;
  if (g_file_test (argv[2], G_FILE_TEST_IS_DIR)) {
    g_autofree char *name = sar_name_for (spec.process, spec.created);

    out = g_build_filename (argv[2], name, NULL);
  } else {
    g_autofree char *base = g_path_get_basename (argv[2]);

    if (!sar_name_validate (base, &error))
      return cli_usage_error ("pack", "%s", error->message);
    out = g_strdup (argv[2]);
  }
  if (!force && g_file_test (out, G_FILE_TEST_EXISTS)) {
    g_autofree char *message
        = g_strdup_printf (_ ("%s already exists; use --force to replace it"), out);

    g_printerr ("%s pack: %s\n", PROGRAM, message);
    return EXIT_FAILED;
  }

  components = find_components (argv[1], only, &error);
  if (components == NULL)
    return failed ("pack", error);
  spec.components = components;
  {
    g_autofree char *out_dir = g_path_get_dirname (out);

    if (!add_databases (components, databases, config_path, out_dir, &error)) {
      if (g_error_matches (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS))
        return cli_usage_error ("pack", "%s", error->message);
      return failed ("pack", error);
    }
  }
  if (!pack_to (&spec, out, force, &error)) {
    /* The spec is checked by the reader's rules only when packing. */
    if (g_error_matches (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS))
      return cli_usage_error ("pack", "%s", error->message);
    return failed ("pack", error);
  }
  g_print ("%s\n", out);
  return EXIT_OK;
}
