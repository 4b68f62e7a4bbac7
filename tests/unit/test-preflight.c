/* Unit tests of Preflight on a sandbox: the version gate, the choice of
 * components, the space numbers and the sessions the PBX reports (a fake
 * SessionsCommand), with no bus. */
#include "errors.h"
#include "preflight.h"
#include "sandbox.h"
#include "sar-fixture.h"

#include <fcntl.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The backup (made by STARFACE 8.1.2.3 on host "pbx", see sar-fixture.c):
 * 7 bytes of core, 5 of cdr-voicemail. */
static const Member backup_tree[] = {
  { "core/", 'd', NULL, 0, 0 },
  { "core/network.conf", 'f', "new-ip\n", 0, 0 },
  { "cdr-voicemail/", 'd', NULL, 0, 0 },
  { "cdr-voicemail/m.wav", 'f', "RIFF.", 0, 0 },
};

typedef struct {
  Sandbox *sandbox;
  Config *config;
} Fixture;

static char *
in_sandbox (const Fixture *f, const char *name)
{
  return g_build_filename (f->sandbox->root, name, NULL);
}

static void
set_installed_version (Fixture *f, const char *version)
{
  g_autofree char *path = in_sandbox (f, "version");

  unlinkat (f->sandbox->root_fd, "version", 0);
  if (version != NULL)
    g_assert_true (g_file_set_contents (path, version, -1, NULL));
}

static void
set_sessions (Fixture *f, const char *script)
{
  char *argv[] = { "/bin/sh", "-c", (char *) script, NULL };

  g_strfreev (f->config->sessions_command);
  f->config->sessions_command = g_strdupv (argv);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  int fd = write_sar_as (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, backup_tree,
                         G_N_ELEMENTS (backup_tree), backup_tree, G_N_ELEMENTS (backup_tree));
  int out;
  char buf[65536];
  ssize_t n;

  (void) data;
  f->sandbox = sandbox_new ();
  g_assert_cmpint (mkdirat (f->sandbox->root_fd, "backups", 0750), ==, 0);
  out = openat (f->sandbox->root_fd, "backups/b1.sar", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                0640);
  g_assert_cmpint (out, >=, 0);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_assert_cmpint (write (out, buf, (size_t) n), ==, n);
  g_assert_cmpint (n, ==, 0);
  close (out);
  close (fd);

  /* live data: 3 bytes in core, 4 in cdr-voicemail */
  g_assert_cmpint (mkdirat (f->sandbox->root_fd, "data", 0755), ==, 0);
  g_assert_cmpint (mkdirat (f->sandbox->root_fd, "data/core", 0755), ==, 0);
  g_assert_cmpint (mkdirat (f->sandbox->root_fd, "data/cdr-voicemail", 0755), ==, 0);
  sandbox_write (f->sandbox->root_fd, "data/core/old", "old");
  sandbox_write (f->sandbox->root_fd, "data/cdr-voicemail/m.wav", "RIFF");

  f->config = config_new_default ();
  g_free (f->config->backup_directory);
  f->config->backup_directory = in_sandbox (f, "backups");
  g_free (f->config->data_root);
  f->config->data_root = in_sandbox (f, "data");
  g_free (f->config->version_file);
  f->config->version_file = in_sandbox (f, "version");
  set_installed_version (f, "8.1.2.3\n");
  set_sessions (f, "echo users=2; echo calls=1");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  config_free (f->config);
  sandbox_free (f->sandbox);
}

/* The report's checks, "severity:code" joined by spaces. */
static char *
codes (PreflightReport *report)
{
  g_autoptr (GVariant) checks = g_variant_ref_sink (preflight_report_checks (report));
  g_autoptr (GString) out = g_string_new (NULL);
  GVariantIter iter;
  const char *severity, *code;

  g_variant_iter_init (&iter, checks);
  while (g_variant_iter_next (&iter, "(&s&s@a{sv})", &severity, &code, NULL))
    g_string_append_printf (out, "%s%s:%s", out->len > 0 ? " " : "", severity, code);
  g_assert_cmpuint (g_variant_n_children (checks), ==,
                    report->blockers->len + report->warnings->len);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* preflight_run succeeds with exactly the checks expected (see codes()). */
static PreflightReport *
run (Fixture *f, const char *const *requested, gboolean ignore_ip, const char *expected)
{
  g_autoptr (GError) error = NULL;
  PreflightReport *report = preflight_run (f->config, "b1.sar", requested, ignore_ip, &error);
  g_autofree char *found = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (report);
  found = codes (report);
  g_assert_cmpstr (found, ==, expected);
  return report;
}

static const char *const all[] = { NULL };

static void
test_good (Fixture *f, gconstpointer data)
{
  g_autoptr (PreflightReport) report = run (f, all, TRUE, "");

  (void) data;
  g_assert_true (report->compatible);
  g_assert_cmpstr (report->installed_version, ==, "8.1.2.3");
  g_assert_cmpuint (report->components->len, ==, 2);
  g_assert_cmpstr (report->components_key, ==, "cdr-voicemail,core");
  /* staging (the backup's 12 bytes) plus the undo (the live 7 bytes) */
  g_assert_cmpuint (report->bytes_required, ==, 12 + 7);
  g_assert_cmpuint (report->bytes_available, >, 0);
  g_assert_true (report->sessions.known);
  g_assert_cmpuint (report->sessions.users, ==, 2);
  g_assert_cmpuint (report->sessions.calls, ==, 1);
  g_assert_cmpuint (report->file.st_size, >, 0);
}

static void
test_one_component (Fixture *f, gconstpointer data)
{
  static const char *const core[] = { "core", NULL };
  g_autoptr (PreflightReport) report = run (f, core, TRUE, "");

  (void) data;
  g_assert_cmpuint (report->components->len, ==, 1);
  g_assert_cmpstr (report->components_key, ==, "core");
  g_assert_cmpuint (report->bytes_required, ==, 7 + 3);
}

static void
test_version_gate (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *installed; /* NULL: no version file */
    gboolean compatible;
    const char *codes;
  } cases[] = {
    { "8.1.2.3", TRUE, "" },
    { "8.1.2.10\n", TRUE, "" },
    { "9", TRUE, "" },
    { "8.1.2.2", FALSE, "blocker:version-newer" },
    { "8.1", FALSE, "blocker:version-newer" },
    { "8.1.x", FALSE, "blocker:version-unknown" },
    { NULL, FALSE, "blocker:version-unknown" },
  };

  (void) data;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (PreflightReport) report = NULL;

    set_installed_version (f, cases[i].installed);
    report = run (f, all, TRUE, cases[i].codes);
    g_assert_cmpint (report->compatible, ==, cases[i].compatible);
  }
}

static void
assert_refused (Fixture *f, const char *const *requested, gint code, const char *why)
{
  g_autoptr (GError) error = NULL;
  int fd = -1;

  g_assert_null (preflight_open (f->config, "b1.sar", requested, &fd, &error));
  if (fd >= 0)
    close (fd); /* the caller's, even on failure */
  g_assert_error (error, BACKUP_ERROR, code);
  if (strstr (error->message, why) == NULL)
    g_error ("\"%s\" does not say %s", error->message, why);
  g_clear_error (&error);
  g_assert_null (preflight_run (f->config, "b1.sar", requested, FALSE, &error));
  g_assert_error (error, BACKUP_ERROR, code);
}

static void
test_components_refused (Fixture *f, gconstpointer data)
{
  static const char *const unknown[] = { "core", "nope", NULL };
  static const char *const not_in_backup[] = { "announcements", NULL };
  static const char *const twice[] = { "core", "cdr-voicemail", "core", NULL };
  static const char *const core_only[] = { "core", NULL };
  g_autoptr (PreflightReport) report = NULL;
  ConfigComponent *core;

  (void) data;
  assert_refused (f, unknown, BACKUP_ERROR_UNKNOWN_COMPONENT, "has no component \"nope\"");
  assert_refused (f, not_in_backup, BACKUP_ERROR_UNKNOWN_COMPONENT, "has no component");
  assert_refused (f, twice, BACKUP_ERROR_INVALID_ARGS, "named twice");

  /* in the backup, but not configured here: refused when named, a warning
   * when every component is asked for */
  core = (ConfigComponent *) config_find_component (f->config, "core");
  g_free (core->id);
  core->id = g_strdup ("core-elsewhere");
  assert_refused (f, core_only, BACKUP_ERROR_UNKNOWN_COMPONENT, "no component \"core\" configured");
  report = run (f, all, TRUE, "warning:component-not-configured");
  g_assert_cmpstr (report->components_key, ==, "cdr-voicemail");
}

static void
test_backup_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fd = -1;

  (void) data;
  g_assert_null (preflight_open (f->config, "none.sar", all, &fd, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (preflight_open (f->config, "../data", all, &fd, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_NAME);
  g_clear_error (&error);
  sandbox_write (f->sandbox->root_fd, "backups/junk.sar", "not an archive");
  g_assert_null (preflight_open (f->config, "junk.sar", all, &fd, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  if (fd >= 0)
    close (fd);
}

/* Live data the undo could not hold, and limits it would exceed. */
static void
test_live_data_blockers (Fixture *f, gconstpointer data)
{
  (void) data;
  f->config->max_unpacked_size = 6;
  preflight_report_free (run (f, all, TRUE, "blocker:undo-too-large"));
  f->config->max_unpacked_size = 0;
  g_assert_cmpint (symlinkat ("/etc/passwd", f->sandbox->root_fd, "data/core/link"), ==, 0);
  preflight_report_free (run (f, all, TRUE, "blocker:live-data-unsavable"));
}

static void
test_sessions (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *script; /* NULL: no SessionsCommand */
    gboolean known;
  } cases[] = {
    { "echo users=0; echo calls=0", TRUE },
    { "echo calls=3; echo noise; echo users=1", TRUE },
    { "echo users=1", FALSE },
    { "echo users=1; echo calls=1; exit 1", FALSE },
    { "echo users=x; echo calls=1", FALSE },
    { NULL, FALSE },
  };

  (void) data;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (PreflightReport) report = NULL;

    if (cases[i].script != NULL) {
      set_sessions (f, cases[i].script);
    } else {
      g_strfreev (f->config->sessions_command);
      f->config->sessions_command = NULL;
    }
    report = run (f, all, TRUE, cases[i].known ? "" : "warning:sessions-unknown");
    g_assert_cmpint (report->sessions.known, ==, cases[i].known);
  }
}

/* A backup from another host is a warning unless IgnoreIp. */
static void
test_other_host (Fixture *f, gconstpointer data)
{
  (void) data;
  if (g_ascii_strcasecmp (g_get_host_name (), "pbx") == 0) {
    g_test_skip ("this machine is called pbx");
    return;
  }
  preflight_report_free (run (f, all, FALSE, "warning:other-host"));
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "C.UTF-8");
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func)                                                                            \
  g_test_add ("/preflight/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("good", test_good);
  ADD ("one-component", test_one_component);
  ADD ("version-gate", test_version_gate);
  ADD ("components-refused", test_components_refused);
  ADD ("backup-refused", test_backup_refused);
  ADD ("live-data-blockers", test_live_data_blockers);
  ADD ("sessions", test_sessions);
  ADD ("other-host", test_other_host);
#undef ADD
  return g_test_run ();
}
