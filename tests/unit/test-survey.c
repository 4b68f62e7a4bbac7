/* Unit tests of sar_pack_survey(): it predicts exactly what sar_pack()
 * writes (members, files, bytes, the size of SHA256SUMS) and refuses what
 * sar_pack() refuses, so Preflight can hold the undo of a restore against
 * the reader's limits before anyone's phone goes down. */
#include "sar-fixture.h"
#include "sar.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static void
put (const char *root, const char *rel, gsize size)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *data = g_malloc0 (size + 1);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  memset (data, 'x', size);
  g_file_set_contents (path, data, (gssize) size, &error);
  g_assert_no_error (error);
}

/* Members written and the size of the SHA256SUMS member, read back. */
static void
read_back (int fd, guint64 *members, guint64 *sums_size)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *entry;

  archive_read_support_filter_all (a);
  archive_read_support_format_all (a);
  rewind_fd (fd);
  g_assert_cmpint (archive_read_open_fd (a, fd, 65536), ==, ARCHIVE_OK);
  *members = 0;
  int ret;

  while ((ret = archive_read_next_header (a, &entry)) == ARCHIVE_OK || ret == ARCHIVE_WARN) {
    const char *name = archive_entry_pathname (entry);

    if (name != NULL && g_str_equal (name, "SHA256SUMS"))
      *sums_size = (guint64) archive_entry_size (entry);
    (*members)++;
  }
  archive_read_free (a);
}

static void
test_prediction_matches_the_writer (void)
{
  g_autofree char *root = g_dir_make_tmp ("sf-survey-XXXXXX", NULL);
  g_autofree char *core = g_build_filename (root, "core", NULL);
  g_autofree char *cdr = g_build_filename (root, "cdr", NULL);
  g_autofree char *long_name = g_strnfill (200, 'n');
  g_autofree char *empty_dirs = g_build_filename (cdr, "no-files", "deeper", NULL);
  g_autoptr (GPtrArray) components = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  SarPackComponent pc[2] = { { "core", "Core data", core }, { "cdr-voicemail", "CDR", cdr } };
  SarPackSpec spec = { .version = "8.1.2.3", .components = components };
  SarPackSurvey survey = { 0 };
  guint64 members = 0, sums = 0, bytes = 0;
  int fd = temp_fd ();

  put (core, "db/asterisk.sql", 1000);
  put (core, "a\xcc\x88rger.txt", 3); /* a decomposed name */
  put (core, "empty", 0);
  put (cdr, "2026/11/calls.csv", 70000);
  put (cdr, long_name, 12);
  g_assert_cmpint (g_mkdir_with_parents (empty_dirs, 0755), ==, 0);
  g_ptr_array_add (components, &pc[0]);
  g_ptr_array_add (components, &pc[1]);

  g_assert_true (sar_pack_survey ("core", core, &survey, NULL, &error));
  g_assert_true (sar_pack_survey ("cdr-voicemail", cdr, &survey, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (sar_pack (&spec, fd, NULL, &error));
  g_assert_no_error (error);
  read_back (fd, &members, &sums);

  bytes = 1000 + 3 + 0 + 70000 + 12;
  g_assert_cmpuint (survey.files, ==, 5);
  g_assert_cmpuint (survey.bytes, ==, bytes);
  /* the two metadata members are the only ones the survey leaves out */
  g_assert_cmpuint (survey.entries + 2, ==, members);
  g_assert_cmpuint (survey.checksum_bytes, ==, sums);
  close (fd);
}

static void
test_refuses_what_the_writer_refuses (void)
{
  g_autofree char *root = g_dir_make_tmp ("sf-survey-XXXXXX", NULL);
  g_autofree char *link = g_build_filename (root, "link", NULL);
  g_autoptr (GError) survey_error = NULL;
  g_autoptr (GError) pack_error = NULL;
  g_autoptr (GPtrArray) components = g_ptr_array_new ();
  SarPackComponent pc = { "core", "Core data", root };
  SarPackSpec spec = { .version = "8.1.2.3", .components = components };
  SarPackSurvey survey = { 0 };
  int fd = temp_fd ();

  put (root, "ok.txt", 5);
  g_assert_cmpint (symlink ("/etc/passwd", link), ==, 0);
  g_ptr_array_add (components, &pc);
  g_assert_false (sar_pack_survey ("core", root, &survey, NULL, &survey_error));
  g_assert_false (sar_pack (&spec, fd, NULL, &pack_error));
  g_assert_cmpstr (survey_error->message, ==, pack_error->message);
  assert_contains (survey_error->message, "symbolic link");
  close (fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/survey/prediction-matches-the-writer", test_prediction_matches_the_writer);
  g_test_add_func ("/survey/refuses-what-the-writer-refuses", test_refuses_what_the_writer_refuses);
  return g_test_run ();
}
