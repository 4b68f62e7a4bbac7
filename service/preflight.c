/* preflight.c: the checks before a restore. */
#include "preflight.h"

#include "autofd.h"

#include "catalog.h"
#include "errors.h"
#include "names.h"
#include "restore.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <string.h>
#include <sys/statvfs.h>

#include "pgdb.h"
#include "restore-db.h"
#include <unistd.h>

#define SESSIONS_TIMEOUT 30

void
preflight_report_free (PreflightReport *report)
{
  if (report == NULL)
    return;
  g_free (report->backup);
  sar_header_free (report->header);
  g_free (report->installed_version);
  if (report->components != NULL)
    g_ptr_array_unref (report->components);
  g_free (report->components_key);
  pbx_sessions_clear (&report->sessions);
  if (report->blockers != NULL)
    g_ptr_array_unref (report->blockers);
  if (report->warnings != NULL)
    g_ptr_array_unref (report->warnings);
  g_variant_builder_clear (&report->checks);
  g_free (report);
}

void
preflight_report_add (PreflightReport *report, const char *severity, const char *code,
                      GVariant *args, const char *format, ...)
{
  va_list ap;
  char *text;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_ptr_array_add (g_str_equal (severity, PREFLIGHT_BLOCKER) ? report->blockers : report->warnings,
                   text);
  g_variant_builder_add (&report->checks, "(ss@a{sv})", severity, code, args);
}

GVariant *
preflight_report_checks (PreflightReport *report)
{
  GVariant *checks = g_variant_builder_end (&report->checks);

  /* a builder ended is cleared: start again with what it held */
  g_variant_builder_init (&report->checks, G_VARIANT_TYPE ("a(ssa{sv})"));
  for (gsize i = 0; i < g_variant_n_children (checks); i++) {
    g_autoptr (GVariant) check = g_variant_get_child_value (checks, i);
    g_variant_builder_add_value (&report->checks, check);
  }
  return checks;
}

/* An a{sv} of string arguments: key, value, ..., NULL. */
static GVariant *
string_args (const char *key, ...)
{
  GVariantBuilder args;
  va_list ap;

  g_variant_builder_init (&args, G_VARIANT_TYPE_VARDICT);
  va_start (ap, key);
  for (; key != NULL; key = va_arg (ap, const char *)) {
    const char *value = va_arg (ap, const char *);
    if (value != NULL)
      g_variant_builder_add (&args, "{sv}", key, g_variant_new_string (value));
  }
  va_end (ap);
  return g_variant_builder_end (&args);
}

static GVariant *
space_args (guint64 required, guint64 available)
{
  GVariantBuilder args;

  g_variant_builder_init (&args, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&args, "{sv}", "required", g_variant_new_uint64 (required));
  g_variant_builder_add (&args, "{sv}", "available", g_variant_new_uint64 (available));
  return g_variant_builder_end (&args);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
preflight_components_detail (const char *const *requested)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();

  for (guint i = 0; requested[i] != NULL; i++)
    g_ptr_array_add (ids, (gpointer) requested[i]);
  if (ids->len == 0)
    return g_strdup (PREFLIGHT_ALL_COMPONENTS);
  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return g_strjoinv (",", (char **) ids->pdata);
}

/* Whether requested[index] is one of requested[0..index-1]. */
static gboolean
named_before (const char *const *requested, guint index)
{
  for (guint i = 0; i < index; i++)
    if (g_str_equal (requested[i], requested[index]))
      return TRUE;
  return FALSE;
}

static gboolean
resolve_components (const Config *config, PreflightReport *report, const char *const *requested,
                    GError **error)
{
  const SarManifest *manifest = report->header->manifest;
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();

  report->components = g_ptr_array_new ();
  for (guint i = 0; requested[i] != NULL; i++) {
    const ConfigComponent *cc;
    if (sar_manifest_find_component (manifest, requested[i]) == NULL) {
      g_autofree char *quoted = sar_quote (requested[i]);
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT, "%s has no component %s",
                   report->backup, quoted);
      return FALSE;
    }
    cc = config_find_component (config, requested[i]);
    if (cc == NULL) {
      g_autofree char *quoted = sar_quote (requested[i]);
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT,
                   "This machine has no component %s configured; it cannot be restored here",
                   quoted);
      return FALSE;
    }
    if (named_before (requested, i)) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "Component %s is named twice",
                   requested[i]);
      return FALSE;
    }
  }
  /* in the backup's order, so restores are predictable */
  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *sc = manifest->components->pdata[i];
    const ConfigComponent *cc = config_find_component (config, sc->id);
    gboolean wanted = requested[0] == NULL || g_strv_contains (requested, sc->id);
    if (wanted && cc != NULL) {
      g_ptr_array_add (report->components, (gpointer) cc);
      g_ptr_array_add (ids, sc->id);
    } else if (wanted) {
      preflight_report_add (report, PREFLIGHT_WARNING, "component-not-configured",
                            string_args ("component", sc->id, NULL),
                            "The backup's component %s is not configured on this machine and "
                            "will not be restored",
                            sc->id);
    }
  }
  if (report->components->len == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT,
                 "%s has no component that this machine can restore", report->backup);
    return FALSE;
  }
  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  report->components_key = g_strjoinv (",", (char **) ids->pdata);
  return TRUE;
}

PreflightReport *
preflight_open (const Config *config, const char *backup, const char *const *requested, int *fd,
                GError **error)
{
  g_autoptr (PreflightReport) report = g_new0 (PreflightReport, 1);
  g_autoptr (GError) local = NULL;
  SfVersion installed;
  g_auto (AutoFd) dir_fd = -1;

  g_return_val_if_fail (config != NULL && backup != NULL && requested != NULL && fd != NULL, NULL);
  *fd = -1;
  report->backup = g_strdup (backup);
  report->blockers = g_ptr_array_new_with_free_func (g_free);
  report->warnings = g_ptr_array_new_with_free_func (g_free);
  g_variant_builder_init (&report->checks, G_VARIANT_TYPE ("a(ssa{sv})"));
  dir_fd = open (config->backup_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    backup_error_set_errno (error, errno, "cannot open the backup directory");
    return NULL;
  }
  *fd = catalog_open_backup (dir_fd, backup, error);
  if (*fd < 0)
    return NULL;
  if (fstat (*fd, &report->file) < 0) {
    backup_error_set_errno (error, errno, "cannot examine %s", backup);
    return NULL;
  }
  report->header = sar_read_header (*fd, &local);
  if (report->header == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP, "%s: %s", backup,
                 local->message);
    return NULL;
  }
  if (!resolve_components (config, report, requested, error))
    return NULL;

  if (!sf_version_read_file (config->version_file, &installed, &report->installed_version,
                             &local)) {
    report->installed_version = g_strdup ("");
    preflight_report_add (report, PREFLIGHT_BLOCKER, "version-unknown",
                          string_args ("reason", local->message, NULL),
                          "The installed STARFACE version is unknown (%s)", local->message);
  } else if (sf_version_compare (&report->header->manifest->parsed_version, &installed) > 0) {
    preflight_report_add (report, PREFLIGHT_BLOCKER, "version-newer",
                          string_args ("backup-version", report->header->manifest->version,
                                       "installed-version", report->installed_version, NULL),
                          "The backup was made by STARFACE %s, which is newer than the installed "
                          "%s; only backups of an equal or older version can be restored",
                          report->header->manifest->version, report->installed_version);
  } else {
    report->compatible = TRUE;
  }
  return g_steal_pointer (&report);
}

static guint64
free_bytes (const char *path, dev_t *dev)
{
  struct statvfs vfs;
  struct stat st;

  *dev = stat (path, &st) == 0 ? st.st_dev : 0;
  return statvfs (path, &vfs) == 0 ? (guint64) vfs.f_bavail * vfs.f_frsize : 0;
}

static void
check_space (const Config *config, PreflightReport *report)
{
  guint64 staging = 0, previous = 0, backup_free;
  dev_t data_dev, backup_dev;
  g_autofree char *need = NULL;
  g_autofree char *have = NULL;

  g_autoptr (GError) local = NULL;
  RestoreLiveProblem problem = { 0 };

  for (guint i = 0; i < report->components->len; i++) {
    const ConfigComponent *cc = report->components->pdata[i];
    staging += sar_manifest_find_component (report->header->manifest, cc->id)->bytes;
  }
  /* everything that could fail once the PBX runs on the restored data */
  if (!restore_check_live_data (config, report->components, &previous, &problem, NULL, &local)) {
    GVariantBuilder args;

    g_variant_builder_init (&args, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (
        &args, "{sv}", "component",
        g_variant_new_string (problem.component != NULL ? problem.component : ""));
    if (problem.limit != NULL) {
      g_variant_builder_add (&args, "{sv}", "limit", g_variant_new_string (problem.limit));
      g_variant_builder_add (&args, "{sv}", "value", g_variant_new_uint64 (problem.value));
      g_variant_builder_add (&args, "{sv}", "maximum", g_variant_new_uint64 (problem.maximum));
    } else {
      g_variant_builder_add (
          &args, "{sv}", "reason",
          g_variant_new_string (problem.reason != NULL ? problem.reason : local->message));
    }
    preflight_report_add (report, PREFLIGHT_BLOCKER,
                          problem.limit != NULL ? "undo-too-large" : "live-data-unsavable",
                          g_variant_builder_end (&args), "%s", local->message);
  }
  restore_live_problem_clear (&problem);
  report->bytes_available = free_bytes (config->data_root, &data_dev);
  backup_free = free_bytes (config->backup_directory, &backup_dev);
  /* the pre-restore backup is compressed, but may not compress at all */
  if (data_dev == backup_dev) {
    report->bytes_required = staging + previous;
  } else {
    report->bytes_required = staging;
    if (previous > backup_free) {
      g_autofree char *a = g_format_size (previous);
      g_autofree char *b = g_format_size (backup_free);
      preflight_report_add (report, PREFLIGHT_BLOCKER, "no-space-backup-directory",
                            space_args (previous, backup_free),
                            "The backup directory needs up to %s for the backup of the current "
                            "state but has %s free",
                            a, b);
    }
  }
  if (report->bytes_required > report->bytes_available) {
    need = g_format_size (report->bytes_required);
    have = g_format_size (report->bytes_available);
    preflight_report_add (report, PREFLIGHT_BLOCKER, "no-space",
                          space_args (report->bytes_required, report->bytes_available),
                          "Not enough disk space: the restore needs %s (the restored data beside "
                          "the live data, and a backup of the current state) but %s are free",
                          need, have);
  }
}

static gboolean
address_is_local (const char *address)
{
  struct ifaddrs *list, *ifa;
  gboolean found = FALSE;
  char text[INET6_ADDRSTRLEN];

  if (getifaddrs (&list) < 0)
    return FALSE;
  for (ifa = list; ifa != NULL && !found; ifa = ifa->ifa_next) {
    const void *addr = NULL;
    if (ifa->ifa_addr == NULL)
      continue;
    if (ifa->ifa_addr->sa_family == AF_INET)
      addr = &((struct sockaddr_in *) (void *) ifa->ifa_addr)->sin_addr;
    else if (ifa->ifa_addr->sa_family == AF_INET6)
      addr = &((struct sockaddr_in6 *) (void *) ifa->ifa_addr)->sin6_addr;
    if (addr != NULL && inet_ntop (ifa->ifa_addr->sa_family, addr, text, sizeof text) != NULL)
      found = g_str_equal (text, address);
  }
  freeifaddrs (list);
  return found;
}

static void
check_origin (PreflightReport *report, gboolean ignore_ip)
{
  const SarManifest *manifest = report->header->manifest;
  const char *here = g_get_host_name ();
  gboolean other_host = g_ascii_strcasecmp (manifest->hostname, here) != 0;
  gboolean other_ip = manifest->ip_address != NULL && !address_is_local (manifest->ip_address);

  if ((other_host || other_ip) && !ignore_ip)
    preflight_report_add (report, PREFLIGHT_WARNING, "other-host",
                          string_args ("hostname", manifest->hostname, "this-host", here,
                                       "ip-address", manifest->ip_address, NULL),
                          "The backup was taken on host %s%s%s, not on this machine (%s); "
                          "consider ignore-ip to keep this machine's network settings",
                          manifest->hostname, manifest->ip_address ? ", IP address " : "",
                          manifest->ip_address ? manifest->ip_address : "", here);
}

/* --- databases --- */

static void
add_db_check (PreflightReport *report, const char *severity, const char *code, const char *id,
              const char *database, const char *key, const char *value, const char *text)
{
  preflight_report_add (report, severity, code,
                        string_args ("component", id, "database", database, key, value, NULL), "%s",
                        text);
}

/* One component's database: reachable, there, loadable by its owner,
 * room for the load, sessions that the swap will end. */
static gboolean
check_database (const Config *config, PreflightReport *report, const ConfigComponent *cc,
                const SarComponent *component)
{
  g_autoptr (GError) local = NULL;
  g_auto (PgdbInfo) info = { 0 };
  g_autofree char *previous = restore_db_previous_name (cc->database);
  g_autofree char *text = NULL;
  guint32 left = 0;
  guint64 need, have;
  dev_t dev;

  if (!pgdb_info (&config->database, cc->database, &info, NULL, &local)
      || !pgdb_oid (&config->database, previous, &left, NULL, &local)) {
    text = g_strdup_printf ("The database server cannot be reached to restore %s (%s)",
                            cc->database, local->message);
    add_db_check (report, PREFLIGHT_BLOCKER, "database-unreachable", cc->id, cc->database, "reason",
                  local->message, text);
    return FALSE;
  }
  if (!info.exists) {
    text = g_strdup_printf ("The database %s of %s does not exist on the server", cc->database,
                            cc->id);
    add_db_check (report, PREFLIGHT_BLOCKER, "database-missing", cc->id, cc->database, NULL, NULL,
                  text);
    return FALSE;
  }
  if (info.owner_superuser) {
    text = g_strdup_printf ("The database %s is owned by %s, a superuser role; a dump from a "
                            "backup is never loaded as a superuser",
                            cc->database, info.owner);
    add_db_check (report, PREFLIGHT_BLOCKER, "database-owner-superuser", cc->id, cc->database,
                  "owner", info.owner, text);
  }
  if (left != 0) {
    text = g_strdup_printf ("The database %s, left by an earlier restore, exists; save or drop it "
                            "first",
                            previous);
    add_db_check (report, PREFLIGHT_BLOCKER, "database-previous-exists", cc->id, cc->database,
                  "name", previous, text);
  }
  /* the restored database is about as large as the live one, and at least
   * as large as its dump */
  need = MAX (component->database_bytes, info.size);
  have = info.data_directory != NULL ? free_bytes (info.data_directory, &dev) : G_MAXUINT64;
  if (need > have) {
    g_autofree char *a = g_format_size (need);
    g_autofree char *b = g_format_size (have);
    GVariantBuilder args;

    g_variant_builder_init (&args, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&args, "{sv}", "component", g_variant_new_string (cc->id));
    g_variant_builder_add (&args, "{sv}", "database", g_variant_new_string (cc->database));
    g_variant_builder_add (&args, "{sv}", "required", g_variant_new_uint64 (need));
    g_variant_builder_add (&args, "{sv}", "available", g_variant_new_uint64 (have));
    preflight_report_add (report, PREFLIGHT_BLOCKER, "database-no-space",
                          g_variant_builder_end (&args),
                          "The database server needs about %s to load %s beside the live "
                          "database but has %s free",
                          a, cc->database, b);
  }
  if (info.sessions > 0) {
    GVariantBuilder args;

    g_variant_builder_init (&args, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&args, "{sv}", "component", g_variant_new_string (cc->id));
    g_variant_builder_add (&args, "{sv}", "database", g_variant_new_string (cc->database));
    g_variant_builder_add (&args, "{sv}", "sessions", g_variant_new_uint32 (info.sessions));
    preflight_report_add (report, PREFLIGHT_WARNING, "database-sessions",
                          g_variant_builder_end (&args),
                          "%u session(s) are open on the database %s; the restore ends them "
                          "while the PBX is stopped",
                          info.sessions, cc->database);
  }
  return TRUE;
}

static void
check_databases (const Config *config, PreflightReport *report, int fd)
{
  g_autoptr (GPtrArray) problems
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pgdb_problem_free);
  g_autoptr (GError) local = NULL;
  gboolean any = FALSE, checkable = TRUE;

  for (guint i = 0; i < report->components->len; i++) {
    const ConfigComponent *cc = report->components->pdata[i];
    const SarComponent *component = sar_manifest_find_component (report->header->manifest, cc->id);
    g_autofree char *text = NULL;

    if (component->database != NULL && cc->database == NULL) {
      text = g_strdup_printf ("The backup holds the database %s for %s, but this machine "
                              "configures no database for it: only its files are restored",
                              component->database, cc->id);
      add_db_check (report, PREFLIGHT_WARNING, "database-not-configured", cc->id,
                    component->database, NULL, NULL, text);
    } else if (component->database == NULL && cc->database != NULL) {
      text = g_strdup_printf ("The backup holds no database for %s: the database %s stays as it "
                              "is",
                              cc->id, cc->database);
      add_db_check (report, PREFLIGHT_WARNING, "database-not-in-backup", cc->id, cc->database, NULL,
                    NULL, text);
    } else if (component->database != NULL) {
      /* the dumps are checked against a server that answers */
      checkable = check_database (config, report, cc, component) && checkable;
      any = TRUE;
    }
  }
  if (!any || !checkable)
    return;
  if (!restore_db_check_dumps (config, fd, report->header, report->components, problems, NULL,
                               &local)) {
    g_autofree char *text = g_strdup_printf (
        "The database dump in the backup cannot be checked (%s)", local->message);

    preflight_report_add (report, PREFLIGHT_BLOCKER, "database-dump-unreadable",
                          string_args ("reason", local->message, NULL), "%s", text);
    return;
  }
  for (guint i = 0; i < problems->len; i++) {
    const PgdbProblem *problem = problems->pdata[i];

    preflight_report_add (
        report, PREFLIGHT_BLOCKER, problem->code,
        string_args ("component", problem->component, "detail", problem->detail, NULL),
        "The database dump of %s cannot be loaded without a superuser or "
        "without what the server lacks: %s (%s)",
        problem->component, problem->detail, problem->code);
  }
}

PreflightReport *
preflight_run (const Config *config, const char *backup, const char *const *requested,
               gboolean ignore_ip, GError **error)
{
  g_auto (AutoFd) fd = -1;
  g_autoptr (PreflightReport) report = preflight_open (config, backup, requested, &fd, error);

  if (report == NULL)
    return NULL;
  check_space (config, report);
  check_databases (config, report, fd);
  check_origin (report, ignore_ip);
  pbx_query_sessions (config->sessions_command, SESSIONS_TIMEOUT, &report->sessions);
  if (!report->sessions.known)
    preflight_report_add (report, PREFLIGHT_WARNING, "sessions-unknown",
                          string_args ("reason", report->sessions.problem, NULL),
                          "The number of logged-in users and active calls could not be "
                          "determined (%s); the restore ends all of them",
                          report->sessions.problem);
  return g_steal_pointer (&report);
}
