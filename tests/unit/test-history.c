/* Unit tests of the job history file: durable appends, bounds, damage. */
#include "history.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static char *
new_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("sf-history-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (dir);
}

static GVariant *
record (guint n, const char *result)
{
  GVariantBuilder b;
  g_autofree char *job = g_strdup_printf ("/de/starface/Backup/job/%04x", n);
  g_autofree char *backup = g_strdup_printf ("Nightly_%u.sar", n);
  const char *const components[] = { "core", "cdr-voicemail", NULL };

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "job", g_variant_new_object_path (job));
  g_variant_builder_add (&b, "{sv}", "operation", g_variant_new_string ("restore"));
  g_variant_builder_add (&b, "{sv}", "backup", g_variant_new_string (backup));
  g_variant_builder_add (&b, "{sv}", "components", g_variant_new_strv (components, -1));
  g_variant_builder_add (&b, "{sv}", "uid", g_variant_new_uint32 (1000 + n));
  g_variant_builder_add (&b, "{sv}", "started", g_variant_new_uint64 (1700000000 + n));
  g_variant_builder_add (&b, "{sv}", "finished", g_variant_new_uint64 (1700000001 + n));
  g_variant_builder_add (&b, "{sv}", "result", g_variant_new_string (result));
  g_variant_builder_add (&b, "{sv}", "error-name", g_variant_new_string (""));
  g_variant_builder_add (&b, "{sv}", "error-message",
                         g_variant_new_string ("quotes \" and\nnew lines, ümlauts"));
  return g_variant_builder_end (&b);
}

static guint
uid_of (GVariant *list, gsize i)
{
  g_autoptr (GVariant) entry = g_variant_get_child_value (list, i);
  guint32 uid = 0;

  g_assert_true (g_variant_lookup (entry, "uid", "u", &uid));
  return uid;
}

static guint
file_lines (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, HISTORY_FILE, NULL);
  g_autofree char *contents = NULL;
  guint lines = 0;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  for (const char *p = contents; *p != '\0'; p++)
    lines += *p == '\n';
  return lines;
}

static guint
damaged_files (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while ((name = g_dir_read_name (d)) != NULL)
    n += g_str_has_prefix (name, HISTORY_FILE ".damaged-");
  return n;
}

static void
test_append_and_reopen (void)
{
  g_autofree char *dir = new_dir ();
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (History) h = history_open (dir, 10, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < 3; i++)
      g_assert_true (history_append (h, record (i, "done"), &error));
  }
  {
    g_autoptr (History) h = history_open (dir, 10, &error);
    g_autoptr (GVariant) all = history_list (h, 0);
    g_autoptr (GVariant) one = history_list (h, 1);
    g_autoptr (GVariant) first = NULL;
    g_autoptr (GVariant) expected = g_variant_ref_sink (record (2, "done"));

    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_n_children (all), ==, 3);
    /* newest first, and every value as it was written */
    first = g_variant_get_child_value (all, 0);
    g_assert_true (g_variant_equal (first, expected));
    g_assert_cmpuint (uid_of (all, 2), ==, 1000);
    g_assert_cmpuint (g_variant_n_children (one), ==, 1);
  }
  g_assert_cmpuint (damaged_files (dir), ==, 0);
  remove_dir (dir);
}

static void
test_bounded_after_thousands (void)
{
  g_autofree char *dir = new_dir ();
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (History) h = history_open (dir, 100, &error);
    for (guint i = 0; i < 5000; i++) {
      g_assert_true (history_append (h, record (i, i % 3 ? "done" : "failed"), &error));
      g_assert_cmpuint (file_lines (dir), <=, 200);
    }
  }
  {
    g_autoptr (History) h = history_open (dir, 100, &error);
    g_autoptr (GVariant) all = history_list (h, 0);

    g_assert_cmpuint (g_variant_n_children (all), ==, 100);
    g_assert_cmpuint (uid_of (all, 0), ==, 1000 + 4999);
    g_assert_cmpuint (uid_of (all, 99), ==, 1000 + 4900);
  }
  remove_dir (dir);
}

/* Records appended for later writing are listed at once, written in
 * order, and all of them (no more than the bound) are in the file once
 * the history is freed, mixed with appends that write at once. */
static void
test_append_later (void)
{
  g_autofree char *dir = new_dir ();
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (History) h = history_open (dir, 100, &error);

    g_assert_no_error (error);
    for (guint i = 0; i < 3000; i++) {
      g_autoptr (GVariant) newest = NULL;

      if (i % 7 == 0)
        g_assert_true (history_append (h, record (i, "done"), &error));
      else
        history_append_later (h, record (i, "failed"));
      newest = history_list (h, 1);
      g_assert_cmpuint (uid_of (newest, 0), ==, 1000 + i);
      g_assert_cmpuint (file_lines (dir), <=, 200);
    }
  }
  g_assert_cmpuint (file_lines (dir), >=, 100);
  {
    g_autoptr (History) h = history_open (dir, 100, &error);
    g_autoptr (GVariant) all = history_list (h, 0);

    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_n_children (all), ==, 100);
    for (guint i = 0; i < 100; i++)
      g_assert_cmpuint (uid_of (all, i), ==, 1000 + 2999 - i);
  }
  g_assert_cmpuint (damaged_files (dir), ==, 0);
  remove_dir (dir);
}

static void
write_file (const char *dir, const char *contents, gssize len)
{
  g_autofree char *path = g_build_filename (dir, HISTORY_FILE, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
}

static char *
read_file (const char *dir, gsize *len)
{
  g_autofree char *path = g_build_filename (dir, HISTORY_FILE, NULL);
  char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, len, NULL));
  return contents;
}

/* Writes three records, damages the file with edit(), reopens. */
static GVariant *
reopen_damaged (const char *dir, void (*edit) (char *contents, gsize *len))
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  {
    g_autoptr (History) h = history_open (dir, 10, &error);
    for (guint i = 0; i < 3; i++)
      g_assert_true (history_append (h, record (i, "done"), &error));
  }
  contents = read_file (dir, &len);
  edit (contents, &len);
  write_file (dir, contents, (gssize) len);
  {
    g_autoptr (History) h = history_open (dir, 10, &error);
    g_assert_no_error (error);
    g_assert_true (history_append (h, record (7, "canceled"), &error));
    return history_list (h, 0);
  }
}

static void
cut_in_last_line (char *contents, gsize *len)
{
  *len -= 10;
}

static void
flip_in_second_line (char *contents, gsize *len)
{
  char *second = strchr (contents, '\n') + 1;
  second[100] ^= 0x20;
}

static void
garbage (char *contents, gsize *len)
{
  memset (contents, 0xff, *len);
}

static void
test_damage (gconstpointer data)
{
  void (*edit) (char *, gsize *) = (void (*) (char *, gsize *)) data;
  g_autofree char *dir = new_dir ();
  g_autoptr (GVariant) all = NULL;
  guint kept = edit == cut_in_last_line ? 2 : edit == flip_in_second_line ? 1 : 0;

  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, "*set aside*");
  all = reopen_damaged (dir, edit);
  g_test_assert_expected_messages ();
  /* set aside, started afresh with the records before the damage */
  g_assert_cmpuint (damaged_files (dir), ==, 1);
  g_assert_cmpuint (g_variant_n_children (all), ==, kept + 1);
  g_assert_cmpuint (uid_of (all, 0), ==, 1007);
  if (kept > 0)
    g_assert_cmpuint (uid_of (all, kept), ==, 1000);
  g_assert_cmpuint (file_lines (dir), ==, kept + 1);
  remove_dir (dir);
}

static void
test_not_a_file (void)
{
  g_autofree char *dir = new_dir ();
  g_autofree char *path = g_build_filename (dir, HISTORY_FILE, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, "*set aside*");
  {
    g_autoptr (History) h = history_open (dir, 10, &error);
    g_assert_no_error (error);
    g_assert_true (history_append (h, record (1, "done"), &error));
  }
  g_test_assert_expected_messages ();
  g_assert_cmpuint (file_lines (dir), ==, 1);
  remove_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/history/append-and-reopen", test_append_and_reopen);
  g_test_add_func ("/history/bounded-after-thousands", test_bounded_after_thousands);
  g_test_add_func ("/history/append-later", test_append_later);
  g_test_add_data_func ("/history/damage/cut-in-last-line", cut_in_last_line, test_damage);
  g_test_add_data_func ("/history/damage/flipped-byte", flip_in_second_line, test_damage);
  g_test_add_data_func ("/history/damage/garbage", garbage, test_damage);
  g_test_add_func ("/history/not-a-file", test_not_a_file);
  return g_test_run ();
}
