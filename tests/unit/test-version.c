/* Unit tests: STARFACE version parsing and comparison. */
#include "errors.h"
#include "version.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static SfVersion
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  SfVersion version;

  g_assert_true (sf_version_parse (text, &version, &error));
  g_assert_no_error (error);
  return version;
}

static void
test_parse_four_parts (void)
{
  SfVersion version = parse_ok ("8.1.2.3");

  g_assert_cmpuint (version.n_parts, ==, 4);
  g_assert_cmpuint (version.part[0], ==, 8);
  g_assert_cmpuint (version.part[1], ==, 1);
  g_assert_cmpuint (version.part[2], ==, 2);
  g_assert_cmpuint (version.part[3], ==, 3);
}

static void
test_parse_short_versions (void)
{
  g_assert_cmpuint (parse_ok ("8").n_parts, ==, 1);
  g_assert_cmpuint (parse_ok ("8.1").n_parts, ==, 2);
  g_assert_cmpuint (parse_ok ("0.0.0.0").n_parts, ==, 4);
  g_assert_cmpuint (parse_ok ("999999999").part[0], ==, 999999999);
  g_assert_cmpuint (parse_ok ("08.01").part[1], ==, 1);
}

static void
test_parse_refuses_malformed (void)
{
  const char *const bad[] = {
    "",          "8.", ".8",  "8..1",         "8.1.2.3.4", "+8",
    "-8",        " 8", "8 ",  "8.x",          "8.1a",      "1000000000",
    "8.1.2.3\n", "v8", "8,1", "\xef\xbc\x98", "8.-1",      "8.1.2.99999999999999999999",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    SfVersion version = { { 42, 42, 42, 42 }, 42 };

    g_test_message ("parsing \"%s\"", bad[i]);
    g_assert_false (sf_version_parse (bad[i], &version, &error));
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    g_assert_nonnull (strstr (error->message, "is not a STARFACE version"));
    /* The output is untouched on failure. */
    g_assert_cmpuint (version.n_parts, ==, 42);
  }
}

static void
test_parse_error_names_the_text (void)
{
  g_autoptr (GError) error = NULL;
  SfVersion version;

  g_assert_false (sf_version_parse ("8.x", &version, &error));
  g_assert_true (g_str_has_prefix (error->message, "\"8.x\" is not a STARFACE version"));
}

static int
compare (const char *a, const char *b)
{
  SfVersion va = parse_ok (a);
  SfVersion vb = parse_ok (b);

  return sf_version_compare (&va, &vb);
}

static void
test_compare_is_numeric (void)
{
  g_assert_cmpint (compare ("8.1.10.0", "8.1.9.9"), >, 0);
  g_assert_cmpint (compare ("8.1.9.9", "8.1.10.0"), <, 0);
  g_assert_cmpint (compare ("10", "9.9.9.9"), >, 0);
  g_assert_cmpint (compare ("8.1.2.3", "8.1.2.3"), ==, 0);
  g_assert_cmpint (compare ("8.1.2.3", "8.1.2.4"), <, 0);
}

static void
test_compare_pads_with_zeros (void)
{
  g_assert_cmpint (compare ("8.1", "8.1.0.0"), ==, 0);
  g_assert_cmpint (compare ("8.1.0.0", "8.1"), ==, 0);
  g_assert_cmpint (compare ("8", "8.0.0.1"), <, 0);
  g_assert_cmpint (compare ("8.0.0.1", "8"), >, 0);
}

static char *
write_temp (const char *contents)
{
  g_autoptr (GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("test-version-XXXXXX", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  return path;
}

static void
test_read_file_takes_first_line_trimmed (void)
{
  g_autofree char *path = write_temp ("  8.1.2.3 \nsecond line\n");
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  SfVersion version;

  g_assert_true (sf_version_read_file (path, &version, &text, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (text, ==, "8.1.2.3");
  g_assert_cmpuint (version.part[3], ==, 3);
  g_unlink (path);
}

static void
test_read_file_errors (void)
{
  g_autofree char *path = write_temp ("garbage\n");
  g_autoptr (GError) error = NULL;
  SfVersion version;

  g_assert_false (sf_version_read_file (path, &version, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_unlink (path);

  g_assert_false (sf_version_read_file (path, &version, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/version/parse/four-parts", test_parse_four_parts);
  g_test_add_func ("/version/parse/short-versions", test_parse_short_versions);
  g_test_add_func ("/version/parse/refuses-malformed", test_parse_refuses_malformed);
  g_test_add_func ("/version/parse/error-names-the-text", test_parse_error_names_the_text);
  g_test_add_func ("/version/compare/numeric", test_compare_is_numeric);
  g_test_add_func ("/version/compare/pads-with-zeros", test_compare_pads_with_zeros);
  g_test_add_func ("/version/read-file/first-line-trimmed",
                   test_read_file_takes_first_line_trimmed);
  g_test_add_func ("/version/read-file/errors", test_read_file_errors);
  return g_test_run ();
}
