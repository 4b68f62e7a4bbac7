/* Unit tests: manifest.ini, SHA256SUMS, member paths and component ids. */
#include "errors.h"
#include "manifest.h"
#include "spill.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static const char good_manifest[] = "[Backup]\n"
                                    "Format=1\n"
                                    "Version=8.1.2.3\n"
                                    "Created=2026-11-20T02:00:00Z\n"
                                    "Process=Nightly\n"
                                    "Hostname=pbx-berlin\n"
                                    "IpAddress=192.0.2.10\n"
                                    "Components=core;cdr-voicemail;announcements\n"
                                    "\n"
                                    "[Component core]\n"
                                    "Label=Core data\n"
                                    "Files=2\n"
                                    "Bytes=123456\n"
                                    "\n"
                                    "[Component cdr-voicemail]\n"
                                    "Label=CDR and voicemails\n"
                                    "Files=1\n"
                                    "Bytes=10\n"
                                    "\n"
                                    "[Component announcements]\n"
                                    "Label=Voicemail announcements\n"
                                    "Files=0\n"
                                    "Bytes=0\n";

#define DIGEST_A "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DIGEST_B "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"

static const char good_sums[]
    = DIGEST_A "  core/db/asterisk.sql\n" DIGEST_B " *core/network.conf\n" DIGEST_A
               "  ./cdr-voicemail/vm/msg0001.wav\n";

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* good_manifest with the first occurrence of `from` replaced by `to`. */
static char *
edited_manifest (const char *from, const char *to)
{
  const char *at = strstr (good_manifest, from);

  g_assert_nonnull (at);
  return g_strdup_printf ("%.*s%s%s", (int) (at - good_manifest), good_manifest, to,
                          at + strlen (from));
}

static char *
manifest_error (const char *data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SarManifest) manifest = sar_manifest_parse (data, strlen (data), &error);

  g_assert_null (manifest);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  g_test_message ("%s", error->message);
  return g_strdup (error->message);
}

static void
test_manifest_parses_good (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SarManifest) manifest
      = sar_manifest_parse (good_manifest, strlen (good_manifest), &error);
  const SarComponent *core;

  g_assert_no_error (error);
  g_assert_cmpuint (manifest->format, ==, 1);
  g_assert_cmpstr (manifest->version, ==, "8.1.2.3");
  g_assert_cmpuint (manifest->parsed_version.part[3], ==, 3);
  g_assert_cmpint (manifest->created, ==, 1795140000);
  g_assert_cmpstr (manifest->process, ==, "Nightly");
  g_assert_cmpstr (manifest->hostname, ==, "pbx-berlin");
  g_assert_cmpstr (manifest->ip_address, ==, "192.0.2.10");
  g_assert_cmpuint (manifest->components->len, ==, 3);
  core = sar_manifest_find_component (manifest, "core");
  g_assert_nonnull (core);
  g_assert_cmpstr (core->label, ==, "Core data");
  g_assert_cmpuint (core->files, ==, 2);
  g_assert_cmpuint (core->bytes, ==, 123456);
  g_assert_null (sar_manifest_find_component (manifest, "nope"));
}

static void
test_manifest_optional_ip_and_offsets (void)
{
  g_autofree char *no_ip = edited_manifest ("IpAddress=192.0.2.10\n", "");
  g_autofree char *v6 = edited_manifest ("192.0.2.10", "2001:db8::1");
  g_autofree char *offset = edited_manifest ("2026-11-20T02:00:00Z", "2026-11-20T03:00:00+01:00");
  g_autoptr (SarManifest) a = sar_manifest_parse (no_ip, strlen (no_ip), NULL);
  g_autoptr (SarManifest) b = sar_manifest_parse (v6, strlen (v6), NULL);
  g_autoptr (SarManifest) c = sar_manifest_parse (offset, strlen (offset), NULL);

  g_assert_nonnull (a);
  g_assert_null (a->ip_address);
  g_assert_nonnull (b);
  g_assert_cmpstr (b->ip_address, ==, "2001:db8::1");
  g_assert_nonnull (c);
  g_assert_cmpint (c->created, ==, 1795140000);
}

static void
test_manifest_round_trip (void)
{
  g_autoptr (SarManifest) first = sar_manifest_parse (good_manifest, strlen (good_manifest), NULL);
  g_autofree char *data = NULL;
  g_autofree char *again = NULL;
  g_autoptr (SarManifest) second = NULL;
  gsize len, len_again;

  g_assert_nonnull (first);
  data = sar_manifest_to_data (first, &len);
  g_assert_cmpstr (data, ==, good_manifest);
  second = sar_manifest_parse (data, len, NULL);
  g_assert_nonnull (second);
  again = sar_manifest_to_data (second, &len_again);
  g_assert_cmpstr (again, ==, data);
}

static void
test_manifest_round_trip_escapes (void)
{
  g_autoptr (SarManifest) manifest
      = sar_manifest_parse (good_manifest, strlen (good_manifest), NULL);
  g_autoptr (SarManifest) parsed = NULL;
  g_autofree char *data = NULL;
  gsize len;

  g_free (manifest->process);
  manifest->process = g_strdup (" Sicherung März; # not a comment ");
  data = sar_manifest_to_data (manifest, &len);
  parsed = sar_manifest_parse (data, len, NULL);
  g_assert_nonnull (parsed);
  g_assert_cmpstr (parsed->process, ==, " Sicherung März; # not a comment ");
}

static void
test_manifest_refuses_missing_keys (void)
{
  const struct {
    const char *line;
    const char *message;
  } cases[] = {
    { "Format=1\n", "manifest.ini: [Backup] Format: missing" },
    { "Version=8.1.2.3\n", "manifest.ini: [Backup] Version: missing" },
    { "Created=2026-11-20T02:00:00Z\n", "manifest.ini: [Backup] Created: missing" },
    { "Process=Nightly\n", "manifest.ini: [Backup] Process: missing" },
    { "Hostname=pbx-berlin\n", "manifest.ini: [Backup] Hostname: missing" },
    { "Components=core;cdr-voicemail;announcements\n",
      "manifest.ini: [Backup] Components: missing" },
    { "Label=Core data\n", "manifest.ini: [Component core] Label: missing" },
    { "Files=2\n", "manifest.ini: [Component core] Files: missing" },
    { "Bytes=123456\n", "manifest.ini: [Component core] Bytes: missing" },
    { "[Component cdr-voicemail]\nLabel=CDR and voicemails\nFiles=1\nBytes=10\n",
      "manifest.ini: [Component cdr-voicemail]: missing" },
    { "[Backup]\n", "manifest.ini: not a key file" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *data = edited_manifest (cases[i].line, "");
    g_autofree char *message = manifest_error (data);

    assert_contains (message, cases[i].message);
  }
}

static void
test_manifest_refuses_bad_values (void)
{
  g_autofree char *many_ids = NULL;
  g_autoptr (GString) ids = g_string_new (NULL);
  g_autofree char *long_process = g_strnfill (129, 'p');
  g_autofree char *process_key = g_strconcat ("Process=", long_process, NULL);
  const struct {
    const char *from;
    const char *to;
    const char *message;
  } cases[] = {
    { "Format=1", "Format=2", "[Backup] Format: unsupported format 2" },
    { "Format=1", "Format=one", "[Backup] Format: \"one\" is not an unsigned decimal integer" },
    { "Version=8.1.2.3", "Version=8.x",
      "manifest.ini: [Backup] Version: \"8.x\" is not a STARFACE version" },
    { "Version=8.1.2.3", "Version=", "[Backup] Version: \"\" is not a STARFACE version" },
    { "2026-11-20T02:00:00Z", "2026-11-20T02:00:00",
      "[Backup] Created: \"2026-11-20T02:00:00\" "
      "is not an ISO 8601 time with a time zone" },
    { "2026-11-20T02:00:00Z", "yesterday", "[Backup] Created: \"yesterday\"" },
    { "2026-11-20T02:00:00Z", "1969-12-31T23:00:00Z", "lies before 1970" },
    { "Process=Nightly", "Process=", "[Backup] Process: empty" },
    { "Process=Nightly", "Process=Night\\tly", "[Backup] Process: control character U+0009" },
    { "Process=Nightly", process_key, "[Backup] Process: 129 bytes long; at most 128" },
    { "Hostname=pbx-berlin", "Hostname=", "[Backup] Hostname: empty" },
    { "192.0.2.10", "192.0.2.300", "[Backup] IpAddress: \"192.0.2.300\" is not an IPv4 or IPv6" },
    { "192.0.2.10", "", "[Backup] IpAddress: \"\" is not" },
    { "Components=core;cdr-voicemail;announcements",
      "Components=", "[Backup] Components: no components listed" },
    { "Components=core;cdr-voicemail;announcements", "Components=core;core",
      "[Backup] Components: component core is listed twice" },
    { "Components=core;cdr-voicemail;announcements", "Components=Core",
      "[Backup] Components: invalid component id \"Core\"" },
    { "Components=core;cdr-voicemail;announcements", "Components=core;../x",
      "invalid component id \"../x\"" },
    { "Components=core;cdr-voicemail;announcements", "Components=core;cdr-voicemail",
      "[Component announcements]: component not listed in [Backup] Components" },
    { "Files=2", "Files=-1", "[Component core] Files: \"-1\" is not an unsigned decimal integer" },
    { "Files=2", "Files=+2", "[Component core] Files: \"+2\" is not" },
    { "Files=2", "Files=2x", "[Component core] Files: \"2x\" is not" },
    { "Files=2", "Files=2 ", "[Component core] Files: \"2 \"" },
    { "Bytes=123456", "Bytes=99999999999999999999", "[Component core] Bytes: \"9999" },
    { "Files=2", "Files=0", "[Component core] Bytes: 123456 bytes in 0 files" },
    { "Label=Core data", "Label=", "[Component core] Label: empty" },
    { "Label=Core data", "Label[de]=Kerndaten", "[Component core]: unknown key \"Label[de]\"" },
    { "Hostname=pbx-berlin", "Hostname=pbx-berlin\nColour=blue",
      "[Backup]: unknown key \"Colour\"" },
    { "[Component core]", "[Extra]\nKey=1\n[Component core]", "[Extra]: unknown group" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *data = edited_manifest (cases[i].from, cases[i].to);
    g_autofree char *message = manifest_error (data);

    assert_contains (message, cases[i].message);
  }

  for (guint i = 0; i <= SAR_COMPONENTS_MAX; i++)
    g_string_append_printf (ids, "c%u;", i);
  many_ids = g_strconcat ("Components=", ids->str, NULL);
  {
    g_autofree char *data
        = edited_manifest ("Components=core;cdr-voicemail;announcements", many_ids);
    g_autofree char *message = manifest_error (data);

    assert_contains (message, "65 components listed; at most 64");
  }
}

static void
test_manifest_refuses_binary (void)
{
  g_autofree char *latin1 = manifest_error ("[Backup]\nProcess=M\xe4rz\n");
  g_autofree char *empty = manifest_error ("");
  g_autoptr (GError) error = NULL;

  assert_contains (latin1, "manifest.ini: not valid UTF-8 (at byte 18)");
  assert_contains (empty, "manifest.ini: [Backup]: missing");
  g_assert_null (sar_manifest_parse ("[Backup]\nFormat=1\0\n", 19, &error));
  assert_contains (error->message, "manifest.ini: contains a NUL byte");
}

/* --- SHA256SUMS --- */

/* Most SHA256SUMS tests run twice, their data the spill's memory limit:
 * the list in memory (as a short one is kept) and in a scratch file from
 * its first byte (as a long one is). */
#define ADD_SUMS_TEST(path, func)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_test_add_data_func ("/checksums/" path, GSIZE_TO_POINTER (SPILL_MEMORY_MAX), func);          \
    g_test_add_data_func ("/checksums/spilled/" path, GSIZE_TO_POINTER (0), func);                 \
  }                                                                                                \
  G_STMT_END

static SarChecksums *
parse_sums (gconstpointer limit, const char *data, gsize len, GError **error)
{
  SarChecksumsParser *parser = sar_checksums_parser_new_limit (GPOINTER_TO_SIZE (limit));
  SarChecksums *sums;

  if (!sar_checksums_parser_feed (parser, data, len, error)) {
    sar_checksums_parser_free (parser);
    return NULL;
  }
  sums = sar_checksums_parser_finish (parser, error);
  if (sums != NULL && sar_checksums_count (sums) > 0)
    g_assert_cmpint (sar_checksums_spilled (sums), ==, GPOINTER_TO_SIZE (limit) == 0);
  return sums;
}

/* The index of path's entry, SAR_CHECKSUMS_UNLISTED if none; digest (if
 * not NULL) its digest. */
static guint
lookup (SarChecksums *sums, const char *path, guint8 *digest)
{
  g_autoptr (GError) error = NULL;
  SarChecksumEntry entry;

  g_assert_true (sar_checksums_lookup (sums, path, &entry, &error));
  g_assert_no_error (error);
  if (digest != NULL && entry.index != SAR_CHECKSUMS_UNLISTED)
    memcpy (digest, entry.digest, sizeof entry.digest);
  return entry.index;
}

static char *
path_of (SarChecksums *sums, guint i)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) path = g_string_new ("left over");

  g_assert_true (sar_checksums_get (sums, i, path, NULL, &error));
  g_assert_no_error (error);
  return g_strdup (path->str);
}

static gboolean
has_below (SarChecksums *sums, const char *dir)
{
  g_autoptr (GError) error = NULL;
  gboolean below = -1;

  g_assert_true (sar_checksums_has_below (sums, dir, strlen (dir), &below, &error));
  g_assert_no_error (error);
  return below;
}

static void
test_checksums_parse_good (gconstpointer limit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SarChecksums) sums = parse_sums (limit, good_sums, strlen (good_sums), &error);
  g_autofree char *first = NULL;
  g_autoptr (GString) path = g_string_new (NULL);
  SarChecksumEntry entry;
  guint8 digest[32];

  g_assert_no_error (error);
  g_assert_cmpuint (sar_checksums_count (sums), ==, 3);
  g_assert_cmpuint (lookup (sums, "core/network.conf", digest), ==, 1);
  g_assert_cmpuint (digest[0], ==, 0x9f);
  g_assert_cmpuint (digest[31], ==, 0x08);
  /* The "./" prefix is dropped. */
  g_assert_cmpuint (lookup (sums, "cdr-voicemail/vm/msg0001.wav", NULL), ==, 2);
  g_assert_true (sar_checksums_get (sums, 1, path, &entry, NULL));
  g_assert_cmpstr (path->str, ==, "core/network.conf");
  g_assert_cmpuint (entry.index, ==, 1);
  g_assert_cmpmem (entry.digest, 32, digest, 32);
  g_assert_cmpstr (first = path_of (sums, 0), ==, "core/db/asterisk.sql");
  g_assert_cmpuint (lookup (sums, "core/db", NULL), ==, SAR_CHECKSUMS_UNLISTED);
  g_assert_cmpuint (lookup (sums, "core/network.con", NULL), ==, SAR_CHECKSUMS_UNLISTED);
  g_assert_cmpuint (lookup (sums, "core/network.conf/x", NULL), ==, SAR_CHECKSUMS_UNLISTED);
  g_assert_cmpuint (lookup (sums, "", NULL), ==, SAR_CHECKSUMS_UNLISTED);
  g_assert_true (has_below (sums, "core/db"));
  g_assert_true (has_below (sums, "core"));
  g_assert_false (has_below (sums, "core/d"));
  g_assert_false (has_below (sums, "core/network.conf"));
}

static void
test_checksums_empty_and_unterminated (gconstpointer limit)
{
  g_autoptr (SarChecksums) empty = parse_sums (limit, "", 0, NULL);
  g_autoptr (SarChecksums) unterminated
      = parse_sums (limit, DIGEST_A "  core/a", strlen (DIGEST_A "  core/a"), NULL);

  g_assert_nonnull (empty);
  g_assert_cmpuint (sar_checksums_count (empty), ==, 0);
  g_assert_cmpuint (lookup (empty, "core/a", NULL), ==, SAR_CHECKSUMS_UNLISTED);
  g_assert_false (has_below (empty, "core"));
  g_assert_nonnull (unterminated);
  g_assert_cmpuint (sar_checksums_count (unterminated), ==, 1);
  g_assert_cmpuint (lookup (unterminated, "core/a", NULL), ==, 0);
}

static void
test_checksums_round_trip (gconstpointer limit)
{
  g_autoptr (SarChecksums) sums = parse_sums (limit, good_sums, strlen (good_sums), NULL);
  g_autoptr (SarChecksums) again = NULL;
  g_autofree char *data = NULL;
  gsize len;

  data = sar_checksums_to_data (sums, &len, NULL);
  g_assert_cmpstr (data, ==,
                   DIGEST_A "  core/db/asterisk.sql\n"
                            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                            "  core/network.conf\n" DIGEST_A "  cdr-voicemail/vm/msg0001.wav\n");
  again = parse_sums (limit, data, len, NULL);
  g_assert_nonnull (again);
  g_assert_cmpuint (sar_checksums_count (again), ==, 3);
}

static void
test_checksums_refuse_bad_lines (gconstpointer limit)
{
  const struct {
    const char *data;
    const char *message;
  } cases[] = {
    { "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g  core/a\n",
      "SHA256SUMS: line 1: expected \"<64 hex digits>  <path>\"" },
    { "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85  core/a\n", "line 1" },
    { DIGEST_A " core/a\n", "line 1: expected" },
    { DIGEST_A "\tcore/a\n", "line 1: expected" },
    { DIGEST_A "  core/a\n" DIGEST_A "\n", "line 2: expected" },
    { DIGEST_A "  core/a\n\n", "line 2: expected" },
    { DIGEST_A "  core/a\r\n", "line 1: unsafe path \"core/a\\r\": control character U+000D" },
    { "\\" DIGEST_A "  core/a\\\\b\n", "line 1: expected" },
    { DIGEST_A "  core/a\n" DIGEST_A "  core/b\n" DIGEST_A "  ./core/a\n",
      "line 3: \"core/a\" is listed twice (also on line 1)" },
    /* the first line that repeats one is named, with the line it repeats */
    { DIGEST_A "  core/a\n" DIGEST_A "  core/b\n" DIGEST_A "  core/b\n" DIGEST_A "  core/a\n",
      "line 3: \"core/b\" is listed twice (also on line 2)" },
    { DIGEST_A "  core/a\n" DIGEST_A "  core/a\n" DIGEST_A "  core/a\n",
      "line 2: \"core/a\" is listed twice (also on line 1)" },
    /* a path listed twice is named before a file with files below it */
    { DIGEST_A "  core/a\n" DIGEST_A "  core/a/b\n" DIGEST_A "  core/c\n" DIGEST_A "  core/c\n",
      "line 4: \"core/c\" is listed twice (also on line 3)" },
    { DIGEST_A "  /etc/passwd\n", "line 1: unsafe path \"/etc/passwd\": absolute paths" },
    { DIGEST_A "  ../x\n", "line 1: unsafe path \"../x\": \"..\" components are not allowed" },
    { DIGEST_A "  core/../../x\n", "\"..\" components" },
    { DIGEST_A "  a/./b\n", "line 1: unsafe path \"a/./b\": \".\" components are not allowed" },
    { DIGEST_A "  a//b\n", "empty path component" },
    { DIGEST_A "  a\\b\n", "backslashes are not allowed" },
    { DIGEST_A "  core/dir/\n", "line 1: \"core/dir/\" names a directory" },
    { DIGEST_A "  core/a\n" DIGEST_A "  core/a/b\n",
      "line 1: \"core/a\" is listed as a file, but other listed files lie below it" },
    /* the file is named, on whichever line it is; the first such file */
    { DIGEST_A "  core/x/y/z\n" DIGEST_A "  core/b/c\n" DIGEST_A "  core/b\n" DIGEST_A
               "  core/x/y\n",
      "line 3: \"core/b\" is listed as a file, but other listed files lie below it" },
    { DIGEST_A "  core/x/y/z\n" DIGEST_A "  core/x\n",
      "line 2: \"core/x\" is listed as a file, but other listed files lie below it" },
    { DIGEST_A "  core/a\0\n", "contains a NUL byte" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    gsize len = strlen (cases[i].data);
    g_autoptr (SarChecksums) sums = NULL;

    /* One case holds a NUL byte: its length is known. */
    if (strstr (cases[i].message, "NUL") != NULL)
      len = strlen (cases[i].data) + 2;
    sums = parse_sums (limit, cases[i].data, len, &error);
    g_assert_null (sums);
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    g_test_message ("%s", error->message);
    assert_contains (error->message, cases[i].message);
  }
}

/* A path of line i (0-based) of the big list: paths share directories the
 * way a PBX's voicemail tree does, and some names sort around '/' ("a",
 * "a-b", "a.b", "a/b"). */
static char *
big_path (guint i)
{
  static const char *const tails[] = { "msg", "msg-x", "msg.x", "msg0" };

  return g_strdup_printf ("cdr-voicemail/voicemail/%u/%u/%s%u.wav", i / 1000, i / 10 % 100,
                          tails[i % 4], i);
}

static void
digest_of_line (guint i, guint8 digest[32])
{
  for (guint j = 0; j < 32; j++)
    digest[j] = (guint8) (i * 31 + j * 7);
}

static GString *
big_sums (guint lines)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < lines; i++) {
    g_autofree char *path = big_path (i);
    guint8 digest[32];

    digest_of_line (i, digest);
    for (guint j = 0; j < 32; j++)
      g_string_append_printf (text, "%02x", digest[j]);
    g_string_append_printf (text, "  %s\n", path);
  }
  return text;
}

/* Every line found by its path, with its digest, and in file order; and
 * as many paths of the same shape, and the first bytes of each path, that
 * are not listed (the hash table keeps 12 bits of a path's hash beside its
 * line number: only reading the line back, and its length, tell such a
 * path from a listed one). */
static void
check_big_lookups (SarChecksums *sums, guint lines)
{
  g_autoptr (GString) path = g_string_new (NULL);

  g_assert_cmpuint (sar_checksums_count (sums), ==, lines);
  for (guint i = 0; i < lines; i++) {
    g_autofree char *expected = big_path (i);
    g_autofree char *absent = big_path (lines + i);
    SarChecksumEntry entry;
    guint8 digest[32], found[32];

    digest_of_line (i, digest);
    g_assert_cmpuint (lookup (sums, expected, found), ==, i);
    g_assert_cmpmem (found, 32, digest, 32);
    g_assert_true (sar_checksums_get (sums, i, path, &entry, NULL));
    g_assert_cmpstr (path->str, ==, expected);
    g_assert_cmpuint (entry.index, ==, i);
    g_assert_cmpmem (entry.digest, 32, digest, 32);
    g_assert_cmpuint (lookup (sums, absent, NULL), ==, SAR_CHECKSUMS_UNLISTED);
    /* the path's first bytes: a listed path starts with them */
    expected[strlen (expected) - 1] = '\0';
    g_assert_cmpuint (lookup (sums, expected, NULL), ==, SAR_CHECKSUMS_UNLISTED);
  }
}

/* Lookups, order, duplicates and file/directory clashes in a list of
 * 200,000 lines. */
static void
test_checksums_big (void)
{
  const guint lines = 200000;
  g_autoptr (GString) text = big_sums (lines);
  g_autoptr (GError) error = NULL;
  g_autoptr (SarChecksums) sums = sar_checksums_parse (text->str, text->len, &error);

  g_assert_no_error (error);
  g_assert_true (sar_checksums_spilled (sums));
  check_big_lookups (sums, lines);
  g_assert_cmpuint (lookup (sums, "cdr-voicemail/voicemail/7", NULL), ==, SAR_CHECKSUMS_UNLISTED);
  g_assert_cmpuint (lookup (sums, "cdr-voicemail/voicemail/7/3/msg7032.wa", NULL), ==,
                    SAR_CHECKSUMS_UNLISTED);
  g_assert_true (has_below (sums, "cdr-voicemail/voicemail/7"));
  g_assert_true (has_below (sums, "cdr-voicemail"));
  g_assert_true (has_below (sums, "cdr-voicemail/voicemail/199/99"));
  g_assert_false (has_below (sums, "cdr-voicemail/voicemail/7/3/msg7032.wav"));
  g_assert_false (has_below (sums, "cdr-voicemail/voicemail/7/3/msg"));
  g_assert_false (has_below (sums, "cdr-voicemail/voicemail/200"));
  g_assert_false (has_below (sums, "core"));

  /* a path listed again at the end */
  {
    g_autofree char *again = big_path (4711);
    g_autofree char *message = NULL;
    g_autoptr (SarChecksums) refused = NULL;

    g_string_append_printf (text, DIGEST_A "  ./%s\n", again);
    refused = sar_checksums_parse (text->str, text->len, &error);
    g_assert_null (refused);
    message
        = g_strdup_printf ("line %u: \"%s\" is listed twice (also on line 4712)", lines + 1, again);
    assert_contains (error->message, message);
    g_clear_error (&error);
    g_string_truncate (text, text->len - strlen (again) - 69);
  }
  /* a file where other files' directory is: the file's line is named */
  {
    g_autoptr (SarChecksums) refused = NULL;

    g_string_append (text, DIGEST_A "  cdr-voicemail/voicemail/150/4\n");
    refused = sar_checksums_parse (text->str, text->len, &error);
    g_assert_null (refused);
    assert_contains (error->message,
                     "line 200001: \"cdr-voicemail/voicemail/150/4\" is listed as a file, but "
                     "other listed files lie below it");
  }
}

/* 100,000 lines, fed in pieces as the reader does: the list's memory is
 * its index, a few bytes a line (the paths and digests are in the
 * spill's file), where an entry of 40 bytes and a copy of its path took
 * about 95. */
static void
test_checksums_memory (void)
{
  const guint lines = 100000;
  g_autoptr (GString) text = big_sums (lines);
  g_autoptr (GError) error = NULL;
  SarChecksumsParser *parser = sar_checksums_parser_new ();
  g_autoptr (SarChecksums) sums = NULL;
  gsize bytes;

  for (gsize at = 0; at < text->len; at += 4093)
    g_assert_true (
        sar_checksums_parser_feed (parser, text->str + at, MIN (4093, text->len - at), &error));
  sums = sar_checksums_parser_finish (parser, &error);
  g_assert_no_error (error);
  g_assert_true (sar_checksums_spilled (sums));
  bytes = sar_checksums_index_bytes (sums);
  g_test_message ("%u lines (%" G_GSIZE_FORMAT " bytes of text): an index of %" G_GSIZE_FORMAT
                  " bytes, %.1f a line",
                  lines, text->len, bytes, (double) bytes / lines);
  g_assert_cmpuint (bytes, <=, 11 * lines);
  check_big_lookups (sums, lines);
}

/* The descriptor of the one scratch file open in dir. */
static int
scratch_fd (const char *dir)
{
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  int found = -1;

  for (const char *name; (name = g_dir_read_name (fds)) != NULL;) {
    g_autofree char *link = g_build_filename ("/proc/self/fd", name, NULL);
    g_autofree char *target = g_file_read_link (link, NULL);

    if (target != NULL && g_str_has_prefix (target, dir) && target[strlen (dir)] == '/') {
      g_assert_cmpint (found, ==, -1);
      found = atoi (name);
    }
  }
  g_assert_cmpint (found, >=, 0);
  return found;
}

/* A list whose scratch file can no longer be read: every lookup, read
 * and scan fails with the reason (the caller fails the verification
 * with it), none aborts or answers wrongly. */
static void
test_checksums_read_error (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-manifest-XXXXXX", NULL);
  g_autoptr (GString) text = big_sums (5000);
  g_autoptr (GString) path = g_string_new (NULL);
  g_autoptr (SarManifest) manifest
      = sar_manifest_parse (good_manifest, strlen (good_manifest), NULL);
  g_autoptr (SarChecksums) sums = NULL;
  g_autofree char *first = big_path (0);
  g_autofree char *middle = big_path (2000); /* in the file, not in the read buffer */
  GError *errors[6] = { NULL };
  SarChecksumEntry entry;
  gboolean below;
  int unreadable = open ("/dev/null", O_WRONLY | O_CLOEXEC);

  spill_set_directory (dir);
  sums = sar_checksums_parse (text->str, text->len, NULL);
  spill_set_directory (NULL);
  g_assert_true (sar_checksums_spilled (sums));
  g_assert_cmpuint (lookup (sums, first, NULL), ==, 0);
  /* the file's descriptor now one that cannot be read */
  g_assert_cmpint (dup2 (unreadable, scratch_fd (dir)), >=, 0);
  close (unreadable);

  g_assert_false (sar_checksums_lookup (sums, middle, &entry, &errors[0]));
  g_assert_false (sar_checksums_get (sums, 0, path, &entry, &errors[1]));
  g_assert_false (
      sar_checksums_has_below (sums, "cdr-voicemail/voicemail/0", 25, &below, &errors[2]));
  g_assert_null (sar_checksums_to_data (sums, NULL, &errors[3]));
  g_assert_false (sar_checksums_match_manifest (sums, manifest, &errors[4]));
  g_assert_false (sar_checksums_lookup (sums, first, &entry, &errors[5]));
  for (guint i = 0; i < G_N_ELEMENTS (errors); i++) {
    g_assert_nonnull (errors[i]);
    assert_contains (errors[i]->message, "cannot read a scratch file");
    g_clear_error (&errors[i]);
  }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* Paths that sort next to each other byte by byte, but not as paths. */
static void
test_checksums_clash_next_to_similar_names (gconstpointer limit)
{
  const char *data = DIGEST_A "  core/a/x\n" DIGEST_A "  core/a-b\n" DIGEST_A
                              "  core/a.b\n" DIGEST_A "  core/a\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (SarChecksums) sums = parse_sums (limit, data, strlen (data), &error);

  g_assert_null (sums);
  assert_contains (error->message, "line 4: \"core/a\" is listed as a file");
  g_clear_error (&error);
  data = DIGEST_A "  core/a-b\n" DIGEST_A "  core/a.b\n" DIGEST_A "  core/a\n" DIGEST_A
                  "  core/a0/x\n";
  sums = parse_sums (limit, data, strlen (data), &error);
  g_assert_no_error (error);
  g_assert_true (has_below (sums, "core/a0"));
  g_assert_false (has_below (sums, "core/a"));
  g_assert_false (has_below (sums, "core/a-b"));
}

static void
test_checksums_match_manifest (void)
{
  g_autoptr (SarManifest) manifest
      = sar_manifest_parse (good_manifest, strlen (good_manifest), NULL);
  g_autoptr (SarChecksums) sums = sar_checksums_parse (good_sums, strlen (good_sums), NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (sar_checksums_match_manifest (sums, manifest, &error));
  g_assert_no_error (error);
}

static void
assert_mismatch (const char *sums_data, const char *message)
{
  g_autoptr (SarManifest) manifest
      = sar_manifest_parse (good_manifest, strlen (good_manifest), NULL);
  g_autoptr (SarChecksums) sums = sar_checksums_parse (sums_data, strlen (sums_data), NULL);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (sums);
  g_assert_false (sar_checksums_match_manifest (sums, manifest, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  g_test_message ("%s", error->message);
  assert_contains (error->message, message);
}

static void
test_checksums_mismatch_manifest (void)
{
  assert_mismatch (DIGEST_A "  core/a\n" DIGEST_A "  cdr-voicemail/b\n",
                   "SHA256SUMS lists 1 files below \"core/\", but manifest.ini [Component core] "
                   "Files is 2");
  assert_mismatch ("", "SHA256SUMS lists 0 files below \"core/\"");
  assert_mismatch (DIGEST_A "  core/a\n" DIGEST_A "  core/b\n" DIGEST_A "  etc/passwd\n",
                   "SHA256SUMS: \"etc/passwd\" is not below a component listed in manifest.ini");
  assert_mismatch (DIGEST_A "  core\n", "SHA256SUMS: \"core\" is not below a component directory");
}

/* --- paths and ids --- */

static void
test_path_check (void)
{
  const char *const good[]
      = { "core", "core/", "core/db/x.sql", "core/März.txt", "a/.hidden", "a/..b", "a/b c" };
  const char *const bad[] = { "",     "/abs", "../x",   "a/../b",  "a/.",        "./a",
                              "a//b", "a\\b", "a/\x01", "a/\xc3(", "a/\xc2\x85", "a//" };
  g_autoptr (GString) deep = g_string_new ("a");
  g_autofree char *long_path = g_strnfill (SAR_PATH_MAX + 1, 'x');

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (sar_path_check (good[i], NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;

    g_assert_false (sar_path_check (bad[i], &error));
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    g_test_message ("%s", error->message);
  }
  g_assert_false (sar_path_check (NULL, NULL));
  g_assert_false (sar_path_check (long_path, NULL));

  for (guint i = 1; i < SAR_PATH_DEPTH_MAX; i++)
    g_string_append (deep, "/a");
  g_assert_true (sar_path_check (deep->str, NULL));
  g_string_append (deep, "/a");
  g_assert_false (sar_path_check (deep->str, NULL));
}

/* No file system here takes a name of more than 255 bytes (NAME_MAX): such
 * a path is refused when the backup is read, not when it is restored. */
static void
test_path_component_length (void)
{
  g_autofree char *longest = g_strnfill (SAR_PATH_COMPONENT_MAX, 'x');
  g_autofree char *too_long = g_strnfill (SAR_PATH_COMPONENT_MAX + 1, 'x');
  g_autofree char *umlauts = NULL;
  g_autofree char *good = g_strconcat ("core/", longest, "/x", NULL);
  g_autofree char *bad = g_strconcat ("core/", too_long, "/x", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) u = g_string_new (NULL);

  g_assert_true (sar_path_check (good, NULL));
  g_assert_false (sar_path_check (bad, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  assert_contains (error->message, "256 bytes long");
  assert_contains (error->message, "at most 255");
  g_clear_error (&error);

  /* bytes, not characters: 128 umlauts are 256 bytes */
  for (guint i = 0; i < 128; i++)
    g_string_append (u, "ä");
  umlauts = g_strconcat ("core/", u->str, NULL);
  g_assert_false (sar_path_check (umlauts, &error));
  g_clear_error (&error);

  /* a SHA256SUMS line naming such a path is refused too */
  {
    g_autofree char *line = g_strconcat (DIGEST_A "  ", bad, "\n", NULL);
    g_autoptr (SarChecksums) sums = sar_checksums_parse (line, strlen (line), &error);

    g_assert_null (sums);
    assert_contains (error->message, "SHA256SUMS: line 1");
    assert_contains (error->message, "at most 255");
  }
}

static void
test_component_id_check (void)
{
  const char *const good[] = { "core", "cdr-voicemail", "a", "0", "x-", "a1-b2" };
  const char *const bad[] = { "", "Core", "-x", "a_b", "a.b", "a/b", "ä", "a b" };
  g_autofree char *longest = g_strnfill (64, 'a');
  g_autofree char *too_long = g_strnfill (65, 'a');

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (sar_component_id_check (good[i], NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;

    g_assert_false (sar_component_id_check (bad[i], &error));
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT);
  }
  g_assert_true (sar_component_id_check (longest, NULL));
  g_assert_false (sar_component_id_check (too_long, NULL));
  g_assert_false (sar_component_id_check (NULL, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/manifest/parse/good", test_manifest_parses_good);
  g_test_add_func ("/manifest/parse/optional-ip-and-offsets",
                   test_manifest_optional_ip_and_offsets);
  g_test_add_func ("/manifest/round-trip", test_manifest_round_trip);
  g_test_add_func ("/manifest/round-trip-escapes", test_manifest_round_trip_escapes);
  g_test_add_func ("/manifest/refuses/missing-keys", test_manifest_refuses_missing_keys);
  g_test_add_func ("/manifest/refuses/bad-values", test_manifest_refuses_bad_values);
  g_test_add_func ("/manifest/refuses/binary", test_manifest_refuses_binary);
  ADD_SUMS_TEST ("parse/good", test_checksums_parse_good);
  ADD_SUMS_TEST ("parse/empty-and-unterminated", test_checksums_empty_and_unterminated);
  ADD_SUMS_TEST ("round-trip", test_checksums_round_trip);
  ADD_SUMS_TEST ("refuses/bad-lines", test_checksums_refuse_bad_lines);
  g_test_add_func ("/checksums/big", test_checksums_big);
  g_test_add_func ("/checksums/memory", test_checksums_memory);
  g_test_add_func ("/checksums/read-error", test_checksums_read_error);
  ADD_SUMS_TEST ("refuses/clash-next-to-similar-names", test_checksums_clash_next_to_similar_names);
  g_test_add_func ("/checksums/match-manifest/good", test_checksums_match_manifest);
  g_test_add_func ("/checksums/match-manifest/mismatch", test_checksums_mismatch_manifest);
  g_test_add_func ("/paths/check", test_path_check);
  g_test_add_func ("/paths/component-length", test_path_component_length);
  g_test_add_func ("/paths/component-id", test_component_id_check);
  return g_test_run ();
}
