/* test-catalog.c: the catalog keeps what it read of each backup file, only
 * for the files there are, and its cache file is input. */
#include "catalog-private.h"

#include "errors.h"
#include "names.h"
#include "sar-fixture.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#define CACHE_HEADER_LEN (8 + SAR_SHA256_SIZE)

typedef struct {
  char *root;
  char *dir;
  char *cache;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->root = g_dir_make_tmp ("test-catalog-XXXXXX", &error);
  g_assert_no_error (error);
  f->dir = g_build_filename (f->root, "backups", NULL);
  f->cache = g_build_filename (f->root, "catalog.cache", NULL);
  g_assert_cmpint (g_mkdir (f->dir, 0700), ==, 0);
}

static void
remove_all (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
      remove_all (path);
    else
      g_unlink (path);
  }
  g_rmdir (dir);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  remove_all (f->root);
  g_free (f->root);
  g_free (f->dir);
  g_free (f->cache);
}

/* A small backup made by the given process: valid, unless bad_sums
 * replaces its SHA256SUMS. */
static GBytes *
backup_with (const char *process, const char *bad_sums)
{
  const Member tree[] = { { "core/", 'd', NULL, 0, 0 }, { "core/a.txt", 'f', "hello\n", 0, 0 } };
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) parts = NULL;
  GByteArray *out = g_byte_array_new ();
  guint8 buffer[4096];
  ssize_t n;
  int fd;

  metadata_for (tree, G_N_ELEMENTS (tree), &manifest, &sums);
  parts = g_strsplit (manifest, "Process=Nightly", 2);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  text = g_strconcat (parts[0], "Process=", process, parts[1], NULL);
  {
    const Member members[] = { { "manifest.ini", 'f', text, 0, 0 },
                               { "SHA256SUMS", 'f', bad_sums != NULL ? bad_sums : sums, 0, 0 },
                               tree[0],
                               tree[1] };
    fd = write_members (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, members,
                        G_N_ELEMENTS (members));
  }
  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_byte_array_append (out, buffer, (guint) n);
  g_assert_cmpint (n, ==, 0);
  close (fd);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
backup_of (const char *process)
{
  return backup_with (process, NULL);
}

static char *
put (const Fixture *f, const char *name, GBytes *content)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (f->dir, name, NULL);
  gsize len;
  const char *data = g_bytes_get_data (content, &len);

  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
  return path;
}

static void
put_file (const Fixture *f, const char *name, const char *process)
{
  g_autoptr (GBytes) content = backup_of (process);
  g_autofree char *path = put (f, name, content);
}

static void
remove_file (const Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->dir, name, NULL);

  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* "name:process,..." of a listing, newest first (all have the same
 * creation time, so by name). */
static char *
summary (Catalog *catalog)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) entries = catalog_list (catalog, NULL, &error);
  GString *out = g_string_new (NULL);

  g_assert_no_error (error);
  for (guint i = 0; i < entries->len; i++) {
    const CatalogEntry *entry = entries->pdata[i];
    g_string_append_printf (out, "%s%s:%s%s", i > 0 ? "," : "", entry->name, entry->process,
                            entry->valid ? "" : "!");
  }
  return g_string_free (out, FALSE);
}

#define assert_listing(catalog, expected)                                                          \
  do {                                                                                             \
    g_autofree char *got_ = summary (catalog);                                                     \
    g_assert_cmpstr (got_, ==, expected);                                                          \
  } while (0)

static void
test_follows_files (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 0);
  g_autofree char *incoming = NULL;
  g_autofree char *target = NULL;
  g_autoptr (GBytes) content = backup_of ("Monthly");

  put_file (f, "A.sar", "Nightly");
  put_file (f, "B.sar", "Weekly");
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  g_assert_cmpuint (catalog_kept (catalog), ==, 2);
  /* unchanged: the same */
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");

  put_file (f, "C.sar", "Yearly");
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly,C.sar:Yearly");
  g_assert_cmpuint (catalog_kept (catalog), ==, 3);

  remove_file (f, "B.sar");
  assert_listing (catalog, "A.sar:Nightly,C.sar:Yearly");
  g_assert_cmpuint (catalog_kept (catalog), ==, 2);

  /* another file renamed over one (a hidden name is not listed) */
  incoming = put (f, ".incoming", content);
  target = g_build_filename (f->dir, "A.sar", NULL);
  g_assert_cmpint (g_rename (incoming, target), ==, 0);
  assert_listing (catalog, "A.sar:Monthly,C.sar:Yearly");
  g_assert_cmpuint (catalog_kept (catalog), ==, 2);

  /* damaged: listed as invalid, and kept as such */
  {
    g_autoptr (GBytes) junk = g_bytes_new_static ("not an archive at all", 21);
    g_autofree char *path = put (f, "C.sar", junk);

    /* created from its mtime, then: the oldest */
    g_assert_cmpint (g_utime (path, &(struct utimbuf){ 0, 0 }), ==, 0);
  }
  assert_listing (catalog, "A.sar:Monthly,C.sar:!");
  g_assert_cmpuint (catalog_kept (catalog), ==, 2);
}

static void
test_keeps_only_the_files_there_are (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 0);
  g_autoptr (GBytes) content = backup_of ("Weekly");

  put_file (f, "Stays.sar", "Nightly");
  assert_listing (catalog, "Stays.sar:Nightly");
  for (guint i = 0; i < 500; i++) {
    g_autofree char *name = g_strdup_printf ("Cycle-%03u.sar", i);
    g_autofree char *path = put (f, name, content);
    g_autofree char *expected = g_strdup_printf ("Cycle-%03u.sar:Weekly,Stays.sar:Nightly", i);

    assert_listing (catalog, expected);
    g_assert_cmpuint (catalog_kept (catalog), ==, 2);
    g_assert_cmpint (g_unlink (path), ==, 0);
    assert_listing (catalog, "Stays.sar:Nightly");
    g_assert_cmpuint (catalog_kept (catalog), ==, 1);
  }
  /* and the file holds that one entry (written when the catalog is freed
   * at the latest) */
  g_clear_pointer (&catalog, catalog_free);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GHashTable) records
        = catalog_cache_load (f->cache, f->dir, 0, g_get_real_time () * 1000, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_hash_table_size (records), ==, 1);
    g_assert_true (g_hash_table_contains (records, "Stays.sar"));
  }
}

static GHashTable *
load (const Fixture *f, GError **error)
{
  return catalog_cache_load (f->cache, f->dir, 0, g_get_real_time () * 1000, error);
}

static void
test_cache_is_used_for_identical_files_only (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) records = NULL;
  CatalogRecord *record;

  put_file (f, "A.sar", "Nightly");
  put_file (f, "B.sar", "Weekly");
  {
    g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
  /* a new catalog takes the file's word for what it has not read */
  records = load (f, &error);
  g_assert_no_error (error);
  record = g_hash_table_lookup (records, "B.sar");
  g_free (record->process);
  record->process = g_strdup ("FromTheCache");
  g_assert_true (catalog_cache_save (f->cache, f->dir, records, &error));
  g_assert_no_error (error);
  {
    g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:FromTheCache");
  }
  /* but not for a file whose identity differs by a nanosecond */
  record->stamp.ctime_nsec = (record->stamp.ctime_nsec + 1) % 1000000000;
  g_assert_true (catalog_cache_save (f->cache, f->dir, records, &error));
  {
    g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
  /* nor when it was written for another directory */
  record->stamp.ctime_nsec = (record->stamp.ctime_nsec + 999999999) % 1000000000;
  g_assert_true (catalog_cache_save (f->cache, f->dir, records, &error));
  {
    g_autofree char *other = g_strconcat (f->dir, "/", NULL);
    g_autoptr (Catalog) catalog = catalog_new (other, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
}

/* A cache of the two files as they are, with one record changed. */
typedef void (*Spoil) (CatalogRecord *record);

static void
spoil_version (CatalogRecord *r)
{
  g_free (r->version);
  r->version = g_strdup ("8.x");
}
static void
spoil_name (CatalogRecord *r)
{
  g_free (r->name);
  r->name = g_strdup ("../B.sar");
}
static void
spoil_name_hidden (CatalogRecord *r)
{
  g_free (r->name);
  r->name = g_strdup (".B.sar");
}
static void
spoil_name_space (CatalogRecord *r)
{
  g_free (r->name);
  r->name = g_strdup ("B x.sar");
}
static void
mark_invalid (CatalogRecord *r)
{
  r->valid = FALSE;
  r->problem = g_strdup ("broken");
}
static void
spoil_process_empty (CatalogRecord *r)
{
  g_free (r->process);
  r->process = g_strdup ("");
}
static void
spoil_hostname_control (CatalogRecord *r)
{
  g_free (r->hostname);
  r->hostname = g_strdup ("pbx\033[2J");
}
static void
spoil_nsec (CatalogRecord *r)
{
  r->stamp.mtime_nsec = 1000000000;
}
static void
spoil_size (CatalogRecord *r)
{
  r->stamp.size = G_MAXUINT64;
}
static void
spoil_ctime_negative (CatalogRecord *r)
{
  r->stamp.ctime_sec = -1;
}
static void
spoil_long_process (CatalogRecord *r)
{
  g_free (r->process);
  r->process = g_strnfill (300, 'x');
}

static void
test_hostile_cache_is_refused_whole (Fixture *f, gconstpointer data)
{
  const Spoil spoils[] = { spoil_version,     spoil_name,          spoil_name_hidden,
                           spoil_name_space,  spoil_process_empty, spoil_hostname_control,
                           spoil_nsec,        spoil_size,          spoil_ctime_negative,
                           spoil_long_process };
  g_autoptr (GError) error = NULL;

  put_file (f, "A.sar", "Nightly");
  put_file (f, "B.sar", "Weekly");
  {
    g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
  for (guint i = 0; i < G_N_ELEMENTS (spoils); i++) {
    g_autoptr (GHashTable) records = load (f, &error);
    g_autoptr (GHashTable) refused = NULL;
    g_autoptr (Catalog) catalog = NULL;
    CatalogRecord *a, *b;

    g_assert_no_error (error);
    a = g_hash_table_lookup (records, "A.sar");
    g_free (a->process);
    a->process = g_strdup ("FromTheCache");
    b = g_hash_table_lookup (records, "B.sar");
    spoils[i](b);
    g_assert_true (catalog_cache_save (f->cache, f->dir, records, &error));
    g_assert_no_error (error);
    refused = load (f, &error);
    g_assert_null (refused);
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
    g_clear_error (&error);
    catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
  /* an invalid entry as the writer writes it (without the version and the
   * rest of a valid one's fields, which an invalid entry may not have: the
   * integration tests write such a file by hand) is taken */
  {
    g_autoptr (GHashTable) records = load (f, &error);
    g_autoptr (GHashTable) taken = NULL;

    g_assert_no_error (error);
    mark_invalid (g_hash_table_lookup (records, "B.sar"));
    g_assert_true (catalog_cache_save (f->cache, f->dir, records, &error));
    taken = load (f, &error);
    g_assert_no_error (error);
    g_assert_false (((CatalogRecord *) g_hash_table_lookup (taken, "B.sar"))->valid);
  }
}

/* Re-signs a cache file's data, so the checksum lets it through. */
static void
write_signed (const char *path, const guint8 *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *out = g_malloc (len);
  SarSha256 sha;

  memcpy (out, data, len);
  sar_sha256_init (&sha);
  sar_sha256_update (&sha, out + CACHE_HEADER_LEN, len - CACHE_HEADER_LEN);
  sar_sha256_digest (&sha, out + 8);
  g_file_set_contents (path, (const char *) out, (gssize) len, &error);
  g_assert_no_error (error);
}

/* Every truncation and every flipped bit: refused (the checksum), and the
 * same with the checksum made to fit: refused or, where the change leaves
 * a file this code could have written, taken; never a crash (run it under
 * ASan). */
static void
test_damaged_cache_is_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *good = NULL;
  gsize len;
  guint taken = 0;

  put_file (f, "A.sar", "Nightly");
  put_file (f, "B.sar", "Weekly");
  {
    g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
  g_file_get_contents (f->cache, &good, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, >, CACHE_HEADER_LEN);

  for (gsize cut = 0; cut < len; cut++) {
    g_autoptr (GHashTable) records = NULL;

    g_file_set_contents (f->cache, good, (gssize) cut, &error);
    g_assert_no_error (error);
    records = load (f, &error);
    g_assert_null (records);
    g_clear_error (&error);
  }
  for (gsize at = 0; at < len; at++)
    for (guint bit = 0; bit < 8; bit++) {
      g_autofree guint8 *copy = g_memdup2 (good, len);
      g_autoptr (GHashTable) records = NULL;

      copy[at] ^= (guint8) (1u << bit);
      g_file_set_contents (f->cache, (const char *) copy, (gssize) len, &error);
      g_assert_no_error (error);
      records = load (f, &error);
      g_assert_null (records);
      g_clear_error (&error);

      if (at < CACHE_HEADER_LEN)
        continue;
      write_signed (f->cache, copy, len);
      records = load (f, &error);
      if (records == NULL) {
        g_clear_error (&error);
        continue;
      }
      taken++;
      /* whatever was taken passed the checks: names a backup can have */
      {
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init (&iter, records);
        while (g_hash_table_iter_next (&iter, NULL, &value)) {
          const CatalogRecord *r = value;
          g_assert_true (sar_name_validate (r->name, NULL));
          g_assert_true (r->valid ? r->problem == NULL : r->problem != NULL);
        }
      }
    }
  g_test_message ("%u of %zu re-signed one-bit changes were taken", taken, 8 * len);
  /* too large to be read at all */
  g_assert_cmpint (truncate (f->cache, CATALOG_CACHE_MAX + 1), ==, 0);
  g_assert_null (load (f, &error));
  g_assert_nonnull (strstr (error->message, "larger than"));
  g_clear_error (&error);
  /* and the catalog lists right after all that */
  {
    g_autoptr (Catalog) catalog = NULL;

    g_file_set_contents (f->cache, "garbage", -1, &error);
    catalog = catalog_new (f->dir, f->cache, 0);
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  }
}

static void
test_settling_files_are_read_every_time (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, f->cache, 3600);

  put_file (f, "A.sar", "Nightly");
  assert_listing (catalog, "A.sar:Nightly");
  g_assert_cmpuint (catalog_kept (catalog), ==, 0);
  /* read again, and the same: the same listing, not made anew */
  {
    g_autoptr (GPtrArray) first = catalog_list (catalog, NULL, NULL);
    g_autoptr (GPtrArray) second = catalog_list (catalog, NULL, NULL);

    g_assert_true (first == second);
  }
  put_file (f, "A.sar", "Weekly");
  assert_listing (catalog, "A.sar:Weekly");
  g_assert_cmpuint (catalog_kept (catalog), ==, 0);
  g_clear_pointer (&catalog, catalog_free);
  g_assert_false (g_file_test (f->cache, G_FILE_TEST_EXISTS));
}

/* Writes content over the file in place (same inode, no rename). */
static void
overwrite (const char *path, GBytes *content)
{
  gsize len;
  const char *data = g_bytes_get_data (content, &len);
  int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, data, len), ==, (gssize) len);
  g_assert_cmpint (close (fd), ==, 0);
}

/* With the directory watched, an unchanged directory is not read again,
 * and every change through it is still seen at the next listing. */
static void
test_watch_sees_every_change (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 0);
  g_autoptr (GBytes) monthly = backup_of ("Monthly");
  g_autoptr (GBytes) yearly = backup_of ("Yearly");
  g_autofree char *a = g_build_filename (f->dir, "A.sar", NULL);
  g_autofree char *b = g_build_filename (f->dir, "B.sar", NULL);
  g_autofree char *elsewhere = g_build_filename (f->root, "B-elsewhere.sar", NULL);
  g_autofree char *moved = g_build_filename (f->root, "backups.old", NULL);
  gboolean watching;
  guint64 scans;

  put_file (f, "A.sar", "Nightly");
  put_file (f, "B.sar", "Weekly");
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  watching = catalog_watching (catalog);
  if (!watching)
    g_test_message ("%s cannot be watched here: every listing reads it", f->dir);
  scans = catalog_scan_count (catalog);
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, watching ? scans : scans + 1);

  /* an upload's temporary (hidden) and another file name: not read */
  {
    g_autoptr (GBytes) junk = g_bytes_new_static ("partial", 7);
    g_autofree char *hidden = put (f, ".upload-XXXX", junk);
    g_autofree char *other = put (f, "notes.txt", junk);
  }
  scans = catalog_scan_count (catalog);
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, watching ? scans : scans + 1);

  /* written in place, the same inode */
  overwrite (a, monthly);
  assert_listing (catalog, "A.sar:Monthly,B.sar:Weekly");

  /* written through another link, outside the directory (the directory
   * is told nothing of it, but the file's own watch is) */
  g_assert_cmpint (link (b, elsewhere), ==, 0);
  assert_listing (catalog, "A.sar:Monthly,B.sar:Weekly");
  scans = catalog_scan_count (catalog);
  assert_listing (catalog, "A.sar:Monthly,B.sar:Weekly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, watching ? scans : scans + 1);
  overwrite (elsewhere, yearly);
  assert_listing (catalog, "A.sar:Monthly,B.sar:Yearly");

  /* the directory itself replaced at its path */
  g_assert_cmpint (g_rename (f->dir, moved), ==, 0);
  g_assert_cmpint (g_mkdir (f->dir, 0700), ==, 0);
  put_file (f, "C.sar", "Nightly");
  assert_listing (catalog, "C.sar:Nightly");
  remove_all (moved);
  g_unlink (elsewhere);
}

/* With the directory watched, a file that has not settled (its last
 * change lies less than the settle time back) does not make every listing
 * read the directory again: a change to it, even in the same clock step
 * (same size, same times), is reported by the watch all the same. */
static void
test_watch_holds_unsettled_files (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 3600);
  g_autoptr (GBytes) monthly = backup_of ("Monthly");
  g_autofree char *a = g_build_filename (f->dir, "A.sar", NULL);
  guint64 scans;

  put_file (f, "A.sar", "Nightly");
  put_file (f, "B.sar", "Weekly");
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  if (!catalog_watching (catalog)) {
    g_test_skip ("the test directory cannot be watched here");
    return;
  }
  g_assert_cmpuint (catalog_kept (catalog), ==, 0);
  scans = catalog_scan_count (catalog);
  for (guint i = 0; i < 3; i++)
    assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans);

  /* written in place with as many bytes, right away */
  overwrite (a, monthly);
  assert_listing (catalog, "A.sar:Monthly,B.sar:Weekly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans + 1);
  assert_listing (catalog, "A.sar:Monthly,B.sar:Weekly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans + 1);
}

/* With the directory watched, a few new files named by events are read
 * with a stat each, without reading the directory; what a stat cannot
 * settle (not a regular file, many names, a file's own watch) still makes
 * the listing read it whole. */
static void
test_watch_updates_named_files (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 0);
  g_autoptr (GBytes) yearly = backup_of ("Yearly");
  g_autofree char *link_path = g_build_filename (f->dir, "L.sar", NULL);
  guint64 scans;

  put_file (f, "A.sar", "Nightly");
  assert_listing (catalog, "A.sar:Nightly");
  if (!catalog_watching (catalog)) {
    g_test_skip ("the test directory cannot be watched here");
    return;
  }
  scans = catalog_scan_count (catalog);

  /* new files, renamed into place (an upload) or written under their name */
  put_file (f, "B.sar", "Weekly");
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly");
  {
    g_autofree char *incoming = put (f, ".incoming", yearly);
    g_autofree char *target = g_build_filename (f->dir, "C.sar", NULL);

    g_assert_cmpint (g_rename (incoming, target), ==, 0);
  }
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly,C.sar:Yearly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans);
  g_assert_cmpuint (catalog_kept (catalog), ==, 3);

  /* one that is not a valid backup: a record too */
  {
    g_autoptr (GBytes) junk = g_bytes_new_static ("not an archive at all", 21);
    g_autofree char *path = put (f, "D.sar", junk);
  }
  assert_listing (catalog, "D.sar:!,A.sar:Nightly,B.sar:Weekly,C.sar:Yearly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans);

  /* gone: its own watch tells, and the directory is read */
  remove_file (f, "D.sar");
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly,C.sar:Yearly");
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans + 1);
  scans = catalog_scan_count (catalog);

  /* a symbolic link: a problem only a scan lists */
  g_assert_cmpint (symlink ("A.sar", link_path), ==, 0);
  {
    g_autofree char *got = summary (catalog);

    g_assert_true (g_str_has_suffix (got, ",L.sar:!"));
  }
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans + 1);
  g_assert_cmpint (g_unlink (link_path), ==, 0);
  assert_listing (catalog, "A.sar:Nightly,B.sar:Weekly,C.sar:Yearly");
  scans = catalog_scan_count (catalog);

  /* more names than a listing looks at one by one */
  for (guint i = 0; i < 20; i++) {
    g_autofree char *name = g_strdup_printf ("M-%02u.sar", i);

    put_file (f, name, "Monthly");
  }
  {
    g_autoptr (GPtrArray) entries = catalog_list (catalog, NULL, NULL);

    g_assert_cmpuint (entries->len, ==, 23);
  }
  g_assert_cmpuint (catalog_scan_count (catalog), ==, scans + 1);
}

static void
test_settled (void)
{
  CatalogStamp s = { 0 };
  const gint64 second = 1000000000;

  s.ctime_sec = 100;
  s.ctime_nsec = 500;
  g_assert_false (catalog_stamp_settled (&s, 2, 101 * second + 500));
  g_assert_false (catalog_stamp_settled (&s, 2, 102 * second + 499));
  g_assert_true (catalog_stamp_settled (&s, 2, 102 * second + 500));
  g_assert_true (catalog_stamp_settled (&s, 0, 100 * second + 500));
  g_assert_false (catalog_stamp_settled (&s, 0, 100 * second + 499));
  s.ctime_sec = G_MAXINT64;
  g_assert_false (catalog_stamp_settled (&s, 0, G_MAXINT64));
  s.ctime_sec = G_MININT64;
  g_assert_true (catalog_stamp_settled (&s, 2, 0));
}

/* Inspect of name: its process, or "!<error code>" */
static char *
inspected (Catalog *catalog, const char *name, gboolean *checksums)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CatalogEntry) entry = catalog_inspect (catalog, name, NULL, &error);

  if (entry == NULL) {
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    return g_strdup ("!");
  }
  *checksums = entry->header->checksums != NULL;
  return g_strdup (entry->header->manifest->process);
}

#define assert_inspect(catalog, name, expected, read_whole)                                        \
  do {                                                                                             \
    guint64 reads_ = catalog_inspect_reads (catalog);                                              \
    gboolean checksums_ = (read_whole);                                                            \
    g_autofree char *got_ = inspected (catalog, name, &checksums_);                                \
    g_assert_cmpstr (got_, ==, expected);                                                          \
    g_assert_cmpuint (catalog_inspect_reads (catalog), ==, reads_ + ((read_whole) ? 1 : 0));       \
    /* a header read whole has its checksums (a failing one, none) */                              \
    g_assert_true (checksums_ == (read_whole));                                                    \
  } while (0)

/* Inspect reads only the manifest of a file the catalog read whole and
 * found valid, and only while it is that very file; what it says is what
 * a whole read says. */
static void
test_inspect_uses_what_is_kept (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 0);
  g_autoptr (GBytes) bad = backup_with ("Weekly", "not a checksum line\n");
  g_autoptr (GBytes) good = backup_of ("Monthly");
  g_autofree char *path = NULL;

  put_file (f, "A.sar", "Nightly");
  /* not listed yet: read whole, once */
  assert_inspect (catalog, "A.sar", "Nightly", TRUE);
  assert_inspect (catalog, "A.sar", "Nightly", FALSE);
  assert_listing (catalog, "A.sar:Nightly");
  assert_inspect (catalog, "A.sar", "Nightly", FALSE);

  /* another file renamed over it, its SHA256SUMS damaged: read whole */
  {
    g_autofree char *incoming = put (f, ".incoming", bad);

    path = g_build_filename (f->dir, "A.sar", NULL);
    g_assert_cmpint (g_rename (incoming, path), ==, 0);
  }
  assert_inspect (catalog, "A.sar", "!", TRUE);
  assert_inspect (catalog, "A.sar", "!", FALSE);
  /* listed invalid: fails as listed, without a read */
  assert_listing (catalog, "A.sar:!");
  assert_inspect (catalog, "A.sar", "!", FALSE);

  /* the same inode written anew (a valid backup now): read whole */
  {
    gsize len;
    const char *bytes = g_bytes_get_data (good, &len);
    int fd = open (path, O_WRONLY | O_TRUNC);

    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (write (fd, bytes, len), ==, (gssize) len);
    g_assert_cmpint (close (fd), ==, 0);
  }
  assert_inspect (catalog, "A.sar", "Monthly", TRUE);
  assert_listing (catalog, "A.sar:Monthly");
  assert_inspect (catalog, "A.sar", "Monthly", FALSE);

  /* written anew in place again, damaged (same size, so only the times
   * tell): read whole */
  {
    gsize len;
    g_autofree guint8 *bytes = g_memdup2 (g_bytes_get_data (good, &len), g_bytes_get_size (good));
    int fd;

    /* past the clock step of the last write (this catalog trusts files at
     * once; the daemon's waits CATALOG_SETTLE_SECONDS) */
    g_usleep (50 * 1000);
    fd = open (path, O_WRONLY);

    /* the SHA256SUMS member's data starts in the archive's fourth block */
    memcpy (bytes + 3 * 512, "zz", 2);
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (write (fd, bytes, len), ==, (gssize) len);
    g_assert_cmpint (close (fd), ==, 0);
  }
  assert_inspect (catalog, "A.sar", "!", TRUE);
  assert_inspect (catalog, "A.sar", "!", FALSE);

  /* gone */
  remove_file (f, "A.sar");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (CatalogEntry) entry = catalog_inspect (catalog, "A.sar", NULL, &error);

    g_assert_null (entry);
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_NOT_FOUND);
  }
}

/* A file that had not settled when the catalog read it (a change in the
 * same clock step could leave the same times) is read whole by Inspect. */
static void
test_inspect_reads_unsettled_files_whole (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 3600);

  put_file (f, "A.sar", "Nightly");
  assert_listing (catalog, "A.sar:Nightly");
  assert_inspect (catalog, "A.sar", "Nightly", TRUE);
  assert_inspect (catalog, "A.sar", "Nightly", TRUE);
}

/* What Inspect keeps of files it read is bounded, whatever is inspected. */
static void
test_inspect_keeps_little (Fixture *f, gconstpointer data)
{
  g_autoptr (Catalog) catalog = catalog_new (f->dir, NULL, 0);
  g_autoptr (GBytes) content = backup_of ("Weekly");

  for (guint i = 0; i < 1000; i++) {
    g_autofree char *name = g_strdup_printf ("I-%04u.sar", i);
    g_autofree char *path = put (f, name, content);

    assert_inspect (catalog, name, "Weekly", TRUE);
    assert_inspect (catalog, name, "Weekly", FALSE);
    g_assert_cmpuint (catalog_inspect_kept (catalog), <=, 64);
    g_assert_cmpint (g_unlink (path), ==, 0);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/catalog/follows-files", Fixture, NULL, fixture_set_up, test_follows_files,
              fixture_tear_down);
  g_test_add ("/catalog/keeps-only-the-files-there-are", Fixture, NULL, fixture_set_up,
              test_keeps_only_the_files_there_are, fixture_tear_down);
  g_test_add ("/catalog/cache/used-for-identical-files-only", Fixture, NULL, fixture_set_up,
              test_cache_is_used_for_identical_files_only, fixture_tear_down);
  g_test_add ("/catalog/cache/hostile-refused-whole", Fixture, NULL, fixture_set_up,
              test_hostile_cache_is_refused_whole, fixture_tear_down);
  g_test_add ("/catalog/cache/damaged-refused", Fixture, NULL, fixture_set_up,
              test_damaged_cache_is_refused, fixture_tear_down);
  g_test_add ("/catalog/settling-files-read-every-time", Fixture, NULL, fixture_set_up,
              test_settling_files_are_read_every_time, fixture_tear_down);
  g_test_add ("/catalog/watch-sees-every-change", Fixture, NULL, fixture_set_up,
              test_watch_sees_every_change, fixture_tear_down);
  g_test_add ("/catalog/watch-holds-unsettled-files", Fixture, NULL, fixture_set_up,
              test_watch_holds_unsettled_files, fixture_tear_down);
  g_test_add ("/catalog/watch-updates-named-files", Fixture, NULL, fixture_set_up,
              test_watch_updates_named_files, fixture_tear_down);
  g_test_add_func ("/catalog/settled", test_settled);
  g_test_add ("/catalog/inspect/uses-what-is-kept", Fixture, NULL, fixture_set_up,
              test_inspect_uses_what_is_kept, fixture_tear_down);
  g_test_add ("/catalog/inspect/reads-unsettled-files-whole", Fixture, NULL, fixture_set_up,
              test_inspect_reads_unsettled_files_whole, fixture_tear_down);
  g_test_add ("/catalog/inspect/keeps-little", Fixture, NULL, fixture_set_up,
              test_inspect_keeps_little, fixture_tear_down);
  return g_test_run ();
}
