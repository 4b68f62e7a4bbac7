/* Unit tests: upload names, writer names and quoting. */
#include "errors.h"
#include "names.h"

#include <errno.h>
#include <string.h>

/* 2026-11-20T02:00:00Z */
#define CREATED G_GINT64_CONSTANT (1795140000)

static char *
refused_message (const char *name)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (sar_name_validate (name, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_NAME);
  g_test_message ("%s", error->message);
  return g_strdup (error->message);
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void
test_accepts_valid_names (void)
{
  const char *const good[] = {
    "Nightly_2026-11-20_02-00-00.sar", "a.sar", "backup.tar.sar", "X-1_y.2.sar", "UPPER.sar",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++) {
    g_autoptr (GError) error = NULL;

    g_assert_true (sar_name_validate (good[i], &error));
    g_assert_no_error (error);
  }
}

/* Positions count characters from 1: 'ä' is the 12th character. */
static void
test_refuses_umlaut_name (void)
{
  g_autofree char *message = refused_message ("Sicherung_März.sar");

  g_assert_cmpstr (message, ==,
                   "invalid character 'ä' (U+00E4) at position 12 of \"Sicherung_März.sar\": "
                   "only ASCII letters, digits, '.', '-' and '_' are allowed");
}

static void
test_refuses_space_and_slash (void)
{
  g_autofree char *space = refused_message ("my backup.sar");
  g_autofree char *slash = refused_message ("a/b.sar");
  g_autofree char *dotdot = refused_message ("../x.sar");

  assert_contains (space, "' ' (U+0020) at position 3");
  assert_contains (slash, "'/' (U+002F) at position 2");
  assert_contains (dotdot, "'/' (U+002F) at position 3");
}

static void
test_refuses_control_characters (void)
{
  g_autofree char *tab = refused_message ("a\tb.sar");
  g_autofree char *newline = refused_message ("evil\n.sar");
  g_autofree char *del = refused_message ("a\x7f.sar");

  g_assert_cmpstr (tab, ==,
                   "invalid control character U+0009 at position 2 of \"a\\tb.sar\": only ASCII "
                   "letters, digits, '.', '-' and '_' are allowed");
  assert_contains (newline, "U+000A at position 5");
  assert_contains (del, "U+007F at position 2");
  /* Never the raw character. */
  g_assert_null (strchr (tab, '\t'));
  g_assert_null (strchr (newline, '\n'));
}

static void
test_refuses_invalid_utf8 (void)
{
  g_autofree char *message = refused_message ("ab\xc3(.sar");

  g_assert_cmpstr (message, ==,
                   "invalid byte 0xC3 (not UTF-8) at position 3 of \"ab\\xC3(.sar\": "
                   "only ASCII letters, digits, '.', '-' and '_' are allowed");
}

static void
test_refuses_empty_hidden_and_wrong_suffix (void)
{
  g_autofree char *empty = refused_message ("");
  g_autofree char *hidden = refused_message (".hidden.sar");
  g_autofree char *only_suffix = refused_message (".sar");
  g_autofree char *tar = refused_message ("backup.tar");
  g_autofree char *upper = refused_message ("backup.SAR");
  g_autofree char *none = refused_message (NULL);

  assert_contains (empty, "empty");
  assert_contains (none, "empty");
  assert_contains (hidden, "starts with '.'");
  assert_contains (only_suffix, "starts with '.'");
  assert_contains (tar, "does not end in \".sar\"");
  assert_contains (upper, "does not end in \".sar\"");
}

static void
test_refuses_too_long (void)
{
  g_autofree char *longest = g_strnfill (SAR_NAME_MAX - 4, 'a');
  g_autofree char *ok = g_strconcat (longest, ".sar", NULL);
  g_autofree char *too_long = g_strconcat (longest, "a.sar", NULL);
  g_autofree char *message = NULL;

  g_assert_true (sar_name_validate (ok, NULL));
  message = refused_message (too_long);
  assert_contains (message, "129 characters long; at most 128 are allowed");
}

static void
test_name_for_formats_utc (void)
{
  g_autofree char *name = sar_name_for ("Nightly", CREATED);

  g_assert_cmpstr (name, ==, "Nightly_2026-11-20_02-00-00.sar");
}

static void
test_name_for_replaces_invalid_characters (void)
{
  g_autofree char *umlaut = sar_name_for ("Sicherung März", CREATED);
  g_autofree char *empty = sar_name_for ("", CREATED);
  g_autofree char *null = sar_name_for (NULL, CREATED);
  g_autofree char *hidden = sar_name_for (".x/y", CREATED);
  g_autofree char *long_process = g_strnfill (300, 'p');
  g_autofree char *long_name = sar_name_for (long_process, CREATED);

  g_assert_cmpstr (umlaut, ==, "Sicherung-M-rz_2026-11-20_02-00-00.sar");
  g_assert_cmpstr (empty, ==, "manual_2026-11-20_02-00-00.sar");
  g_assert_cmpstr (null, ==, "manual_2026-11-20_02-00-00.sar");
  g_assert_cmpstr (hidden, ==, "-x-y_2026-11-20_02-00-00.sar");
  g_assert_cmpuint (strlen (long_name), ==, SAR_NAME_MAX);
  g_assert_true (sar_name_validate (umlaut, NULL));
  g_assert_true (sar_name_validate (hidden, NULL));
  g_assert_true (sar_name_validate (long_name, NULL));
}

static void
test_name_parse_round_trip (void)
{
  const char *const processes[] = { "Nightly", "Weekly-NAS", "pre-restore", "a_b_c", "manual" };
  const gint64 times[] = { 0, CREATED, G_GINT64_CONSTANT (253402300799) /* 9999-12-31 */ };

  for (gsize i = 0; i < G_N_ELEMENTS (processes); i++)
    for (gsize j = 0; j < G_N_ELEMENTS (times); j++) {
      g_autofree char *name = sar_name_for (processes[i], times[j]);
      g_autofree char *process = NULL;
      gint64 created = -1;

      g_assert_true (sar_name_parse (name, &process, &created));
      g_assert_cmpstr (process, ==, processes[i]);
      g_assert_cmpint (created, ==, times[j]);
    }
}

static void
test_name_parse_refuses_other_shapes (void)
{
  const char *const bad[] = {
    "backup.sar",
    "_2026-11-20_02-00-00.sar",
    "x_2026-13-01_00-00-00.sar",
    "x_2026-02-30_00-00-00.sar",
    "x_2026-11-20_24-00-00.sar",
    "x_2026-11-20_02-00-60.sar",
    "x_2026-11-20 02-00-00.sar",
    "x_2026-11-20_02-00-00.tar",
    "x-2026-11-20_02-00-00.sar",
    "x_2026-1a-20_02-00-00.sar",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    char *process = (char *) "untouched";
    gint64 created = 42;

    g_test_message ("%s", bad[i]);
    g_assert_false (sar_name_parse (bad[i], &process, &created));
    g_assert_cmpstr (process, ==, "untouched");
    g_assert_cmpint (created, ==, 42);
  }
}

static void
test_quote_escapes (void)
{
  g_autofree char *plain = sar_quote ("März");
  g_autofree char *controls = sar_quote ("a\tb\nc\"d\\e\x01");
  g_autofree char *bad_utf8 = sar_quote ("x\xff");
  g_autofree char *long_text = g_strnfill (200, 'x');
  g_autofree char *cut = sar_quote (long_text);

  g_assert_cmpstr (plain, ==, "\"März\"");
  g_assert_cmpstr (controls, ==, "\"a\\tb\\nc\\\"d\\\\e\\x01\"");
  g_assert_cmpstr (bad_utf8, ==, "\"x\\xFF\"");
  g_assert_true (g_str_has_suffix (cut, "x...\""));
  g_assert_cmpuint (strlen (cut), ==, SAR_QUOTE_MAX + 5);
}

/* Text from the file system on its way to D-Bus, whose strings must be
 * UTF-8: valid text stays as it is, each other byte becomes \xNN. */
static void
test_escape_invalid_utf8 (void)
{
  g_autofree char *valid = sar_escape_invalid ("März \\ \"x\"");
  g_autofree char *invalid = sar_escape_invalid ("Sicherung-\xe4.sar \xc3(\xff");
  g_autofree char *truncated = sar_escape_invalid ("a\xe2\x82");
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (valid, ==, "März \\ \"x\"");
  g_assert_cmpstr (invalid, ==, "Sicherung-\\xE4.sar \\xC3(\\xFF");
  g_assert_cmpstr (truncated, ==, "a\\xE2\\x82");
  g_assert_true (g_utf8_validate (invalid, -1, NULL));

  /* the errors domain code makes are valid UTF-8, whatever they name */
  backup_error_set_errno (&error, ENOENT, "opening /var/starface/core/bad\xff.txt");
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_nonnull (strstr (error->message, "bad\\xFF.txt"));
  g_clear_error (&error);
  backup_error_invalid (&error, "member %s is odd", "\xfe");
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_cmpstr (error->message, ==, "member \\xFE is odd");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/names/validate/accepts-valid", test_accepts_valid_names);
  g_test_add_func ("/names/validate/refuses-umlaut", test_refuses_umlaut_name);
  g_test_add_func ("/names/validate/refuses-space-and-slash", test_refuses_space_and_slash);
  g_test_add_func ("/names/validate/refuses-control-characters", test_refuses_control_characters);
  g_test_add_func ("/names/validate/refuses-invalid-utf8", test_refuses_invalid_utf8);
  g_test_add_func ("/names/validate/refuses-empty-hidden-suffix",
                   test_refuses_empty_hidden_and_wrong_suffix);
  g_test_add_func ("/names/validate/refuses-too-long", test_refuses_too_long);
  g_test_add_func ("/names/name-for/utc", test_name_for_formats_utc);
  g_test_add_func ("/names/name-for/replaces-invalid", test_name_for_replaces_invalid_characters);
  g_test_add_func ("/names/parse/round-trip", test_name_parse_round_trip);
  g_test_add_func ("/names/parse/refuses-other-shapes", test_name_parse_refuses_other_shapes);
  g_test_add_func ("/names/quote/escapes", test_quote_escapes);
  g_test_add_func ("/names/escape-invalid-utf8", test_escape_invalid_utf8);
  return g_test_run ();
}
