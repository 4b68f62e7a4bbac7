/* pgdb-tool: the calls of pgdb.h from the command line, for
 * tests/integration/test_pgdb.py.  Not installed.
 *
 *   pgdb-tool --config=FILE [--helper=PATH] [--cancel-after=SECONDS] COMMAND ARG...
 *
 *   info NAME                 the PgdbInfo as JSON
 *   oid NAME                  {"oid": N}
 *   create-like LIKE NAME
 *   rename FROM TO
 *   drop NAME [OID]
 *   load NAME OWNER           the dump from stdin
 *   dump NAME FILE            {"size": N, "sha256": "..."}; FILE - is stdout
 *   check LIVE                the dump from stdin; {"problems": [[code, detail]...]}
 *   check-scan LIVE [superuser|role|extension|language=VALUE]...
 *                             pgdb_check_scan() of that scan
 *
 * Exit status 0, or 1 with the error's message on stderr.
 */
#include "config.h"
#include "errors.h"
#include "pgdb.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static GCancellable *cancellable;
static double cancel_after;

static gpointer
cancel_later (gpointer data)
{
  g_usleep ((gulong) (cancel_after * G_USEC_PER_SEC));
  g_cancellable_cancel (cancellable);
  return NULL;
}

static void
print_json_to (FILE *out, JsonBuilder *builder)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  fprintf (out, "%s\n", text);
}

static void
print_json (JsonBuilder *builder)
{
  print_json_to (stdout, builder);
}

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *key, gint64 value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, value);
}

static void
add_bool (JsonBuilder *b, const char *key, gboolean value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, value);
}

/* Copies stdin into fd until the end or EPIPE (the reader has gone). */
static gboolean
copy_stdin (int fd, gboolean *reader_gone, GError **error)
{
  char buffer[65536];

  *reader_gone = FALSE;
  for (;;) {
    ssize_t n = read (0, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "reading stdin");
    if (n == 0)
      return TRUE;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write (fd, buffer + done, (size_t) (n - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EPIPE) {
        *reader_gone = TRUE;
        return TRUE;
      }
      if (w < 0)
        return backup_error_set_errno (error, errno, "writing into the pipe");
      done += w;
    }
  }
}

/* copy_stdin(), then closes fd. */
static gboolean
feed (int fd, gboolean *reader_gone, GError **error)
{
  gboolean ok = copy_stdin (fd, reader_gone, error);

  close (fd);
  if (*reader_gone)
    fprintf (stderr, "pgdb-tool: pg_restore stopped reading\n");
  return ok;
}

static void
print_problems (GPtrArray *problems, gboolean reader_gone)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "problems");
  json_builder_begin_array (b);
  for (guint i = 0; i < problems->len; i++) {
    const PgdbProblem *p = problems->pdata[i];
    json_builder_begin_array (b);
    json_builder_add_string_value (b, p->code);
    json_builder_add_string_value (b, p->detail);
    json_builder_end_array (b);
  }
  json_builder_end_array (b);
  add_bool (b, "reader_gone", reader_gone);
  json_builder_end_object (b);
  print_json (b);
}

static gboolean
run (const ConfigDatabase *db, char **args, int n, GError **error)
{
  const char *command = args[0];

  if (g_str_equal (command, "info") && n == 2) {
    g_auto (PgdbInfo) info = { 0 };
    g_autoptr (JsonBuilder) b = json_builder_new ();
    if (!pgdb_info (db, args[1], &info, cancellable, error))
      return FALSE;
    json_builder_begin_object (b);
    add_bool (b, "exists", info.exists);
    add_int (b, "oid", info.oid);
    add_string (b, "owner", info.owner);
    add_bool (b, "owner_superuser", info.owner_superuser);
    add_bool (b, "owner_can_login", info.owner_can_login);
    add_string (b, "encoding", info.encoding);
    add_string (b, "collate", info.collate);
    add_string (b, "ctype", info.ctype);
    add_int (b, "sessions", info.sessions);
    add_int (b, "size", (gint64) info.size);
    add_string (b, "data_directory", info.data_directory);
    json_builder_end_object (b);
    print_json (b);
    return TRUE;
  }
  if (g_str_equal (command, "oid") && n == 2) {
    guint32 oid;
    g_autoptr (JsonBuilder) b = json_builder_new ();
    if (!pgdb_oid (db, args[1], &oid, cancellable, error))
      return FALSE;
    json_builder_begin_object (b);
    add_int (b, "oid", oid);
    json_builder_end_object (b);
    print_json (b);
    return TRUE;
  }
  if (g_str_equal (command, "create-like") && n == 3)
    return pgdb_create_like (db, args[1], args[2], cancellable, error);
  if (g_str_equal (command, "rename") && n == 3)
    return pgdb_rename (db, args[1], args[2], cancellable, error);
  if (g_str_equal (command, "drop") && (n == 2 || n == 3)) {
    guint64 oid = 0;
    if (n == 3 && !g_ascii_string_to_unsigned (args[2], 10, 0, G_MAXUINT32, &oid, error))
      return FALSE;
    return pgdb_drop (db, args[1], (guint32) oid, cancellable, error);
  }
  if (g_str_equal (command, "load") && n == 3) {
    int fd = -1;
    gboolean gone;
    g_autoptr (GError) feed_error = NULL;
    PgdbLoad *load = pgdb_load_start (db, args[1], args[2], &fd, error);
    if (load == NULL)
      return FALSE;
    if (!feed (fd, &gone, &feed_error)) {
      pgdb_load_abort (load);
      g_propagate_error (error, g_steal_pointer (&feed_error));
      return FALSE;
    }
    return pgdb_load_finish (load, cancellable, error);
  }
  if (g_str_equal (command, "dump") && n == 3) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    guint8 digest[SAR_SHA256_SIZE];
    char sha256[2 * SAR_SHA256_SIZE + 1];
    guint64 size;
    gboolean to_stdout = g_str_equal (args[2], "-");
    int fd = to_stdout ? 1 : open (args[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    gboolean ok;
    if (fd < 0)
      return backup_error_set_errno (error, errno, "%s", args[2]);
    ok = pgdb_dump (db, args[1], fd, &size, digest, cancellable, error);
    if (!to_stdout)
      close (fd);
    if (!ok)
      return FALSE;
    for (guint i = 0; i < SAR_SHA256_SIZE; i++)
      g_snprintf (sha256 + 2 * i, 3, "%02x", digest[i]);
    json_builder_begin_object (b);
    add_int (b, "size", (gint64) size);
    add_string (b, "sha256", sha256);
    json_builder_end_object (b);
    /* with the dump on stdout, the answer goes to stderr */
    print_json_to (to_stdout ? stderr : stdout, b);
    return TRUE;
  }
  if (g_str_equal (command, "check") && n == 2) {
    g_autoptr (GPtrArray) problems
        = g_ptr_array_new_with_free_func ((GDestroyNotify) pgdb_problem_free);
    g_autoptr (GError) feed_error = NULL;
    int fd = -1;
    gboolean gone;
    PgdbCheck *check = pgdb_check_start (db, &fd, error);
    if (check == NULL)
      return FALSE;
    if (!feed (fd, &gone, &feed_error)) {
      pgdb_check_abort (check);
      g_propagate_error (error, g_steal_pointer (&feed_error));
      return FALSE;
    }
    if (!pgdb_check_finish (check, args[1], problems, cancellable, error))
      return FALSE;
    print_problems (problems, gone);
    return TRUE;
  }
  if (g_str_equal (command, "check-scan") && n >= 2) {
    g_autoptr (GPtrArray) problems
        = g_ptr_array_new_with_free_func ((GDestroyNotify) pgdb_problem_free);
    PgdbScan scan
        = { g_ptr_array_new (), g_ptr_array_new (), g_ptr_array_new (), g_ptr_array_new () };
    gboolean ok = TRUE;
    for (int i = 2; i < n && ok; i++) {
      const char *eq = strchr (args[i], '=');
      g_autofree char *kind = eq != NULL ? g_strndup (args[i], (gsize) (eq - args[i])) : NULL;
      GPtrArray *into = kind == NULL                      ? NULL
                        : g_str_equal (kind, "superuser") ? scan.superuser
                        : g_str_equal (kind, "role")      ? scan.roles
                        : g_str_equal (kind, "extension") ? scan.extensions
                        : g_str_equal (kind, "language")  ? scan.languages
                                                          : NULL;
      if (into == NULL) {
        g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "bad scan item %s", args[i]);
        ok = FALSE;
      } else {
        g_ptr_array_add (into, (gpointer) (eq + 1));
      }
    }
    ok = ok && pgdb_check_scan (db, args[1], &scan, problems, cancellable, error);
    g_ptr_array_unref (scan.superuser);
    g_ptr_array_unref (scan.roles);
    g_ptr_array_unref (scan.extensions);
    g_ptr_array_unref (scan.languages);
    if (ok)
      print_problems (problems, FALSE);
    return ok;
  }
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "bad usage: %s with %d arguments", command,
               n - 1);
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *helper = NULL;
  const GOptionEntry entries[]
      = { { "config", 0, 0, G_OPTION_ARG_FILENAME, &config_path, "configuration", "FILE" },
          { "helper", 0, 0, G_OPTION_ARG_FILENAME, &helper, "starface-backupd-pg", "PATH" },
          { "cancel-after", 0, 0, G_OPTION_ARG_DOUBLE, &cancel_after, "cancel after", "SECONDS" },
          { NULL } };
  g_autoptr (GOptionContext) context = g_option_context_new ("COMMAND ARG...");
  g_autoptr (GError) error = NULL;
  g_autoptr (Config) config = NULL;
  GThread *canceller = NULL;
  gboolean ok;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc < 2 || config_path == NULL) {
    fprintf (stderr, "pgdb-tool: %s\n", error != NULL ? error->message : "bad usage");
    return 2;
  }
  config = config_load (config_path, TRUE, &error);
  if (config == NULL) {
    fprintf (stderr, "pgdb-tool: %s\n", error->message);
    return 2;
  }
  if (helper != NULL)
    pgdb_set_helper (helper);
  cancellable = g_cancellable_new ();
  if (cancel_after > 0)
    canceller = g_thread_new ("cancel", cancel_later, NULL);
  ok = run (&config->database, argv + 1, argc - 1, &error);
  if (canceller != NULL)
    g_thread_join (canceller);
  g_object_unref (cancellable);
  pgdb_set_helper (NULL);
  if (!ok) {
    fprintf (stderr, "pgdb-tool: %s\n", error->message);
    return 1;
  }
  return 0;
}
