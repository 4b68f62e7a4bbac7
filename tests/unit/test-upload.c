/* Unit tests of uploads: the source checks, receiving from a file and from
 * a pipe with the progress the domain code computes, refusals that leave
 * nothing behind, and the sweep of temporaries. */
#include "errors.h"
#include "progress-record.h"
#include "sar-fixture.h"
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-upload-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autoptr (GDir) d = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (f->dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (f->dir);
  g_free (f->dir);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The names in the directory, sorted, joined by spaces. */
static char *
listing (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* A valid backup whose one file is size bytes that compress badly, so the
 * archive is about that large. */
static int
backup_fd (gsize size)
{
  g_autofree char *data = g_malloc (size + 1);
  GRand *rand = g_rand_new_with_seed (12);

  for (gsize i = 0; i < size; i++)
    data[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[g_rand_int (rand)
                                                                                 % 64];
  data[size] = '\0';
  g_rand_free (rand);
  {
    const Member tree[] = { { "core/", 'd', NULL, 0, 0 }, { "core/a.txt", 'f', data, 0, 0 } };

    return write_sar_as (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, tree,
                         G_N_ELEMENTS (tree), tree, G_N_ELEMENTS (tree));
  }
}

/* Stages in order, each at least once, percent never down and below 100,
 * publishing last at 99; returns the last percent of receiving. */
static guint
assert_progress (const Seen *seen)
{
  static const char *const order[] = { "receiving", "verifying", "publishing" };
  guint stage = 0, last_receiving = 0;

  g_assert_cmpuint (seen->percents->len, >=, 3);
  for (guint i = 0; i < seen->percents->len; i++) {
    const char *name = seen->stages->pdata[i];

    while (stage < G_N_ELEMENTS (order) && !g_str_equal (name, order[stage]))
      stage++;
    g_assert_cmpuint (stage, <, G_N_ELEMENTS (order));
    g_assert_cmpuint (seen_percent (seen, i), <=, 99);
    if (i > 0)
      g_assert_cmpuint (seen_percent (seen, i), >=, seen_percent (seen, i - 1));
    if (stage == 0) {
      last_receiving = seen_percent (seen, i);
      g_assert_true (g_str_has_suffix (seen->messages->pdata[i], " received"));
    } else if (stage == 1) {
      g_assert_true (g_str_has_suffix (seen->messages->pdata[i], " verified"));
    }
  }
  g_assert_cmpstr (seen->stages->pdata[0], ==, "receiving");
  g_assert_cmpstr (seen->stages->pdata[seen->stages->len - 1], ==, "publishing");
  g_assert_cmpuint (seen_percent (seen, seen->percents->len - 1), ==, 99);
  return last_receiving;
}

static UploadRequest
request_for (const Fixture *f, const char *name, int fd, guint64 size)
{
  UploadRequest request = {
    .directory = f->dir,
    .name = name,
    .source_fd = fd,
    .source_size = size,
    .max_size = G_MAXUINT64,
    .idle_timeout_seconds = 30,
  };

  return request;
}

static void
test_check_source (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fds[2];
  guint64 size = 1;
  int fd;

  fd = open (f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_false (upload_check_source (fd, &size, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS);
  assert_contains (error->message, "directory");
  close (fd);
  g_clear_error (&error);

  fd = temp_fd ();
  g_assert_cmpint (write (fd, "abc", 3), ==, 3);
  g_assert_true (upload_check_source (fd, &size, &error));
  g_assert_cmpuint (size, ==, 3);
  close (fd);

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  g_assert_true (upload_check_source (fds[0], &size, &error));
  g_assert_cmpuint (size, ==, 0);
  g_assert_false (upload_check_source (fds[1], &size, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS);
  assert_contains (error->message, "writing only");
  close (fds[0]);
  close (fds[1]);
}

/* From a regular file: receiving moves the bar up to 95 %, the rest of the
 * verification to 99 %. */
static void
test_from_file (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *names = NULL;
  int fd = backup_fd (6 * 1024 * 1024);
  struct stat st;
  UploadRequest request;
  Seen seen;

  g_assert_cmpint (fstat (fd, &st), ==, 0);
  request = request_for (f, "Manual.sar", fd, (guint64) st.st_size);
  seen_init (&seen);
  g_assert_true (upload_run (&request, seen_record, &seen, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (assert_progress (&seen), ==, 95);
  /* more than one report while receiving (the copy goes in chunks) */
  g_assert_cmpuint (seen_percent (&seen, 0), <, 95);
  names = listing (f->dir);
  g_assert_cmpstr (names, ==, "Manual.sar");
  seen_clear (&seen);
  close (fd);
}

typedef struct {
  int from;
  int to;
} Feed;

static gpointer
feed_thread (gpointer data)
{
  Feed *feed = data;
  char buffer[65536];
  ssize_t n;

  while ((n = read (feed->from, buffer, sizeof buffer)) > 0)
    g_assert_cmpint (write (feed->to, buffer, (gsize) n), ==, n);
  close (feed->to);
  return NULL;
}

/* From a pipe, whose size is unknown: only verification moves the bar. */
static void
test_from_pipe (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *names = NULL;
  int fds[2];
  Feed feed;
  GThread *feeder;
  UploadRequest request;
  Seen seen;

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  feed.from = backup_fd (256 * 1024);
  feed.to = fds[1];
  feeder = g_thread_new ("feed", feed_thread, &feed);
  request = request_for (f, "Piped.sar", fds[0], 0);
  seen_init (&seen);
  g_assert_true (upload_run (&request, seen_record, &seen, NULL, &error));
  g_assert_no_error (error);
  g_thread_join (feeder);
  g_assert_cmpuint (assert_progress (&seen), ==, 0);
  names = listing (f->dir);
  g_assert_cmpstr (names, ==, "Piped.sar");
  seen_clear (&seen);
  close (fds[0]);
  close (feed.from);
}

/* A damaged upload fails and leaves no file; an existing backup is not
 * replaced without replace. */
static void
test_refusals_leave_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "Old.sar", NULL);
  g_autofree char *names = NULL;
  g_autofree char *content = NULL;
  int fd = temp_fd ();
  UploadRequest request;

  g_assert_cmpint (write (fd, "not an archive at all", 21), ==, 21);
  rewind_fd (fd);
  request = request_for (f, "Bad.sar", fd, 21);
  g_assert_false (upload_run (&request, NULL, NULL, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  close (fd);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, "old", -1, NULL));
  fd = backup_fd (1024);
  request = request_for (f, "Old.sar", fd, 0);
  g_assert_false (upload_run (&request, NULL, NULL, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_ALREADY_EXISTS);
  g_assert_true (g_file_get_contents (path, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "old");
  names = listing (f->dir);
  g_assert_cmpstr (names, ==, "Old.sar");
  close (fd);
}

static void
test_sweep_temporaries (Fixture *f, gconstpointer data)
{
  const char *const files[] = { UPLOAD_TEMP_PREFIX "A.sar-abc123", "Keep.sar", ".other" };
  g_autofree char *names = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (f->dir, files[i], NULL);
    g_assert_true (g_file_set_contents (path, "x", -1, NULL));
  }
  upload_sweep_temporaries (f->dir);
  names = listing (f->dir);
  g_assert_cmpstr (names, ==, ".other Keep.sar");
  /* a directory that cannot be opened is no error */
  upload_sweep_temporaries ("/nonexistent/test-upload");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/upload/check-source", Fixture, NULL, fixture_set_up, test_check_source,
              fixture_tear_down);
  g_test_add ("/upload/from-file", Fixture, NULL, fixture_set_up, test_from_file,
              fixture_tear_down);
  g_test_add ("/upload/from-pipe", Fixture, NULL, fixture_set_up, test_from_pipe,
              fixture_tear_down);
  g_test_add ("/upload/refusals-leave-nothing", Fixture, NULL, fixture_set_up,
              test_refusals_leave_nothing, fixture_tear_down);
  g_test_add ("/upload/sweep-temporaries", Fixture, NULL, fixture_set_up, test_sweep_temporaries,
              fixture_tear_down);
  return g_test_run ();
}
