/* Unit tests of scratch data: the same bytes back, in memory or in a
 * file, whatever the sizes and order of appends and reads. */
#include "errors.h"
#include "spill.h"

#include <glib/gstdio.h>
#include <string.h>

/* Bytes that differ from offset to offset (and from run to run). */
static guint8
byte_at (guint64 offset, guint32 seed)
{
  guint64 x = (offset + 1) * 0x9E3779B97F4A7C15ull ^ seed;

  return (guint8) (x >> 29);
}

static void
append_pattern (Spill *spill, guint64 from, gsize len, guint32 seed)
{
  g_autofree guint8 *data = g_malloc (len + 1);
  g_autoptr (GError) error = NULL;
  guint64 offset = G_MAXUINT64;

  for (gsize i = 0; i < len; i++)
    data[i] = byte_at (from + i, seed);
  g_assert_true (spill_append (spill, data, len, &offset, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (offset, ==, from);
}

static void
assert_pattern (Spill *spill, guint64 from, gsize len, guint32 seed)
{
  g_autofree guint8 *data = g_malloc (len + 1);
  g_autoptr (GError) error = NULL;

  g_assert_true (spill_read (spill, from, data, len, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < len; i++)
    if (data[i] != byte_at (from + i, seed))
      g_error ("byte %" G_GUINT64_FORMAT " differs", from + i);
}

/* Appends of every size, across the memory limit and the buffers; then
 * reads in order, backwards and at random, each checked. */
static void
test_round_trip (gconstpointer data)
{
  gsize memory_max = GPOINTER_TO_SIZE (data);
  g_autoptr (Spill) spill = spill_new_limit (memory_max);
  guint32 seed = g_test_rand_int ();
  const gsize sizes[]
      = { 1, 7, 100, SPILL_BUFFER - 3, 5, SPILL_BUFFER, 2 * SPILL_BUFFER + 11, 0, 40 };
  guint64 size = 0;

  for (guint round = 0; round < 3; round++)
    for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++) {
      append_pattern (spill, size, sizes[i], seed);
      size += sizes[i];
      /* what was just appended reads back at once, from the buffer */
      assert_pattern (spill, size - sizes[i], sizes[i], seed);
    }
  g_assert_cmpuint (spill_size (spill), ==, size);
  g_assert_true (spill_in_file (spill) == (size > memory_max));

  for (guint64 at = 0; at < size; at += 333)
    assert_pattern (spill, at, (gsize) MIN (333, size - at), seed);
  for (guint64 at = size; at > 1000; at -= 1000)
    assert_pattern (spill, at - 1000, 1000, seed);
  for (guint i = 0; i < 2000; i++) {
    guint64 at = (guint64) g_test_rand_int_range (0, (gint32) size);
    guint64 want = (guint64) g_test_rand_int_range (0, 3 * SPILL_BUFFER);
    gsize len = (gsize) MIN (want, size - at);

    assert_pattern (spill, at, len, seed);
  }
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* The file is made in the directory set, and leaves no name there. */
static void
test_directory (void)
{
  g_autofree char *dir = g_dir_make_tmp ("spill-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autoptr (GError) error = NULL;
  Spill *spill;

  spill_set_directory (dir);
  spill = spill_new_limit (10);
  append_pattern (spill, 0, 5, 1);
  g_assert_false (spill_in_file (spill));
  append_pattern (spill, 5, 100, 1);
  g_assert_true (spill_in_file (spill));
  g_assert_cmpuint (count_entries (dir), ==, 0);
  assert_pattern (spill, 0, 105, 1);
  spill_free (spill);

  /* a directory that is not there: an error, not a crash */
  spill_set_directory (missing);
  spill = spill_new_limit (10);
  g_assert_false (spill_append (spill, "0123456789abcdef", 16, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, missing));
  spill_free (spill);
  spill_set_directory (NULL);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/spill/round-trip/memory", GSIZE_TO_POINTER (G_MAXSIZE), test_round_trip);
  g_test_add_data_func ("/spill/round-trip/file", GSIZE_TO_POINTER (0), test_round_trip);
  g_test_add_data_func ("/spill/round-trip/both", GSIZE_TO_POINTER (SPILL_MEMORY_MAX),
                        test_round_trip);
  g_test_add_func ("/spill/directory", test_directory);
  return g_test_run ();
}
