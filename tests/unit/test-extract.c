/* Unit tests: safe extraction of SAR archives into staging directories.
 *
 * Hostile archives are written member by member with libarchive's writer,
 * one archive per attack, so each test shows exactly what is wrong; good
 * archives come from sar_pack().  Every extraction runs in a sandbox
 * directory that holds an "outside" tree next to the staging directories,
 * and the tests check that nothing outside staging was touched.
 */
#include "errors.h"
#include "extract.h"
#include "sandbox.h"
#include "sar-fixture.h"
#include "tree.h"
#include "sar.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A pax archive, zstd-compressed like the writer's: metadata describing
 * described[], then body[]. */
static int
write_sar (const Member *described, gsize n_described, const Member *body, gsize n_body)
{
  return write_sar_as (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, described,
                       n_described, body, n_body);
}

/* The tree most hand-made archives start from. */
static const Member tree[] = {
  { "core/", 'd', NULL, 0, 0 },
  { "core/db/asterisk.sql", 'f', "select 1;\n", 0, 0 },
  { "core/network.conf", 'f', "ip=192.0.2.10\n", 0, 0 },
  { "cdr-voicemail/vm/msg0001.wav", 'f', "RIFF....WAVE", 0, 0 },
};

/* The tree, then extra members (not described by the metadata). */
static int
write_tree_plus (const Member *extra, gsize n_extra)
{
  g_autofree Member *body = g_new0 (Member, G_N_ELEMENTS (tree) + n_extra);

  memcpy (body, tree, sizeof tree);
  if (n_extra > 0)
    memcpy (body + G_N_ELEMENTS (tree), extra, n_extra * sizeof (Member));
  return write_sar (tree, G_N_ELEMENTS (tree), body, G_N_ELEMENTS (tree) + n_extra);
}

/* --- extracting in the sandbox --- */

static void
target_free (ExtractTarget *target)
{
  close (target->staging_fd);
  g_free ((char *) target->id);
  g_free (target);
}

/* Extracts the components ids (NULL-terminated) of the archive on fd into
 * fresh directories "staging-<id>" of the sandbox. */
static gboolean
sandbox_extract_full (Sandbox *sandbox, int fd, const char *const *ids, const SarLimits *limits,
                      uid_t uid, gid_t gid, GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) targets = g_ptr_array_new_with_free_func ((GDestroyNotify) target_free);
  g_autoptr (SarHeader) header = NULL;
  gboolean ok;

  header = sar_read_header (fd, error);
  g_assert_no_error (error != NULL ? *error : NULL);
  g_assert_nonnull (header);
  rewind_fd (fd);
  for (gsize i = 0; ids[i] != NULL; i++) {
    g_autofree char *name = g_strconcat ("staging-", ids[i], NULL);
    ExtractTarget *target = g_new0 (ExtractTarget, 1);

    g_assert_cmpint (mkdirat (sandbox->root_fd, name, 0700), ==, 0);
    target->id = g_strdup (ids[i]);
    target->staging_fd = openat (sandbox->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    g_assert_cmpint (target->staging_fd, >=, 0);
    target->uid = uid;
    target->gid = gid;
    g_ptr_array_add (targets, target);
  }
  ok = extract_components (fd, header, targets, limits, NULL, NULL, cancellable, error)
       && extract_sync (targets, error);
  close (fd);
  return ok;
}

static gboolean
sandbox_extract (Sandbox *sandbox, int fd, const char *const *ids, GError **error)
{
  return sandbox_extract_full (sandbox, fd, ids, NULL, (uid_t) -1, (gid_t) -1, NULL, error);
}

static const char *const core_only[] = { "core", NULL };
static const char *const both[] = { "core", "cdr-voicemail", NULL };

/* The archive is refused with code, the message naming what is wrong, and
 * nothing outside the staging directories is touched. */
static void
assert_refused_in_sandbox (int fd, const char *const *ids, const SarLimits *limits, int code,
                           const char *message)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_assert_false (
      sandbox_extract_full (sandbox, fd, ids, limits, (uid_t) -1, (gid_t) -1, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, code);
  g_test_message ("%s", error->message);
  assert_contains (error->message, message);

  g_ptr_array_add (names, g_strdup ("outside"));
  for (gsize i = 0; ids[i] != NULL; i++)
    g_ptr_array_add (names, g_strconcat ("staging-", ids[i], NULL));
  g_ptr_array_sort (names, sandbox_compare_names);
  g_ptr_array_add (names, NULL);
  expected = g_strjoinv (" ", (char **) names->pdata);
  sandbox_assert_outside_untouched (sandbox, expected);
}

/* ... and no fd is left open (fd, the archive, is closed). */
static void
assert_refused (int fd, const char *const *ids, const SarLimits *limits, int code,
                const char *message)
{
  guint before = count_open_fds ();

  assert_refused_in_sandbox (fd, ids, limits, code, message);
  g_assert_cmpuint (count_open_fds (), ==, before - 1);
}

static void
assert_invalid (const Member *extra, gsize n_extra, const char *message)
{
  assert_refused (write_tree_plus (extra, n_extra), both, NULL, BACKUP_ERROR_INVALID_BACKUP,
                  message);
}

/* --- hostile archives --- */

static void
test_refuses_absolute_path (void)
{
  const Member evil[] = { { "/etc/cron.d/evil", 'f', "* * * * * root sh\n", 0, 0 } };

  assert_invalid (evil, 1, "unsafe path \"/etc/cron.d/evil\": absolute paths are not allowed");
}

static void
test_refuses_dot_dot_escape (void)
{
  const Member escape[] = { { "../escape", 'f', "x", 0, 0 } };
  const Member nested[] = { { "core/../../x", 'f', "x", 0, 0 } };

  assert_invalid (escape, 1, "unsafe path \"../escape\"");
  assert_invalid (nested, 1, "unsafe path \"core/../../x\"");
}

static void
test_refuses_symlink (void)
{
  const Member link[] = { { "core/link", 'l', "/etc/passwd", 0, 0 } };

  assert_invalid (link, 1, "member \"core/link\" is a symbolic link");
}

static void
test_refuses_hardlink (void)
{
  const Member link[] = { { "core/hard", 'h', "core/network.conf", 0, 0 } };

  assert_invalid (link, 1, "member \"core/hard\" is a hard link");
}

static void
test_refuses_device_and_fifo (void)
{
  const Member device[] = { { "core/null", 'c', NULL, 0, 0 } };
  const Member fifo[] = { { "core/fifo", 'p', NULL, 0, 0 } };

  assert_invalid (device, 1, "member \"core/null\" is a device");
  assert_invalid (fifo, 1, "member \"core/fifo\" is a FIFO");
}

/* The classic: a symlink to /etc, then a file "through" it.  Refused at
 * the symlink, before anything is written through it. */
static void
test_refuses_file_below_planted_symlink (void)
{
  const Member body[] = {
    { "core/a", 'l', "../../outside", 0, 0 },
    { "core/a/passwd", 'f', "pwned\n", 0, 0 },
  };
  const Member described[] = { { "core/a/passwd", 'f', "pwned\n", 0, 0 } };

  assert_refused (write_sar (described, 1, body, 2), core_only, NULL, BACKUP_ERROR_INVALID_BACKUP,
                  "member \"core/a\" is a symbolic link");
}

/* Data after the end of the archive: refused by the extraction as by the
 * verification, and nothing is left outside staging. */
static void
test_refuses_data_after_the_end (void)
{
  int fd = write_sar_as (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, tree,
                         G_N_ELEMENTS (tree), tree, G_N_ELEMENTS (tree));

  g_assert_cmpint (lseek (fd, 0, SEEK_END), >, 0);
  g_assert_cmpint (write (fd, "trailer", 7), ==, 7);
  rewind_fd (fd);
  assert_refused (fd, both, NULL, BACKUP_ERROR_INVALID_BACKUP, "follows the end of the");
}

static void
test_refuses_sparse_file (void)
{
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  const Member described[] = { { "core/sparse", 'f', "abcd", 0, 0 } };
  SarLocale previous = sar_locale_push ();
  struct archive *archive = archive_write_new ();
  struct archive_entry *entry = archive_entry_new ();
  int fd = temp_fd ();
  Member metadata[2];

  metadata_for (described, 1, &manifest, &sums);
  metadata[0] = (Member){ "manifest.ini", 'f', manifest, 0, 0 };
  metadata[1] = (Member){ "SHA256SUMS", 'f', sums, 0, 0 };
  archive_write_set_format_pax (archive);
  archive_write_open_fd (archive, fd);
  write_member (archive, &metadata[0]);
  write_member (archive, &metadata[1]);
  archive_entry_set_pathname_utf8 (entry, "core/sparse");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  archive_entry_set_size (entry, 4);
  archive_entry_sparse_add_entry (entry, 0, 2);
  archive_entry_sparse_add_entry (entry, 1024, 2);
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  archive_write_data (archive, "abcd", 4);
  archive_entry_free (entry);
  archive_write_close (archive);
  archive_write_free (archive);
  sar_locale_pop (previous);
  rewind_fd (fd);

  assert_refused (fd, core_only, NULL, BACKUP_ERROR_INVALID_BACKUP,
                  "member \"core/sparse\" is a sparse file");
}

static void
test_refuses_duplicate_file (void)
{
  const Member again[] = { { "core/network.conf", 'f', "ip=192.0.2.10\n", 0, 0 } };

  assert_invalid (again, 1, "member \"core/network.conf\" appears twice");
}

static void
test_refuses_unlisted_and_missing_files (void)
{
  const Member unlisted[] = { { "core/extra", 'f', "x", 0, 0 } };

  assert_invalid (unlisted, 1, "member \"core/extra\" is not listed in SHA256SUMS");
  /* The tree without its last file. */
  assert_refused (write_sar (tree, G_N_ELEMENTS (tree), tree, G_N_ELEMENTS (tree) - 1), both, NULL,
                  BACKUP_ERROR_INVALID_BACKUP,
                  "\"cdr-voicemail/vm/msg0001.wav\" is listed in SHA256SUMS but missing");
}

/* The very last file is bad: everything before it was written, and
 * still nothing outside staging changed. */
static void
test_refuses_checksum_mismatch_in_last_file (void)
{
  Member body[G_N_ELEMENTS (tree)];

  memcpy (body, tree, sizeof tree);
  body[G_N_ELEMENTS (tree) - 1].data = "RIFF..XXWAVE";
  assert_refused (write_sar (tree, G_N_ELEMENTS (tree), body, G_N_ELEMENTS (tree)), both, NULL,
                  BACKUP_ERROR_INVALID_BACKUP,
                  "member \"cdr-voicemail/vm/msg0001.wav\" does not match its SHA-256 checksum");
}

/* Members of components not chosen are not written, but still checked. */
static void
test_refuses_hostile_member_of_unchosen_component (void)
{
  const Member link[] = { { "cdr-voicemail/link", 'l', "/etc", 0, 0 } };
  const Member bad[] = { { "cdr-voicemail/unlisted", 'f', "x", 0, 0 } };

  assert_refused (write_tree_plus (link, 1), core_only, NULL, BACKUP_ERROR_INVALID_BACKUP,
                  "member \"cdr-voicemail/link\" is a symbolic link");
  assert_refused (write_tree_plus (bad, 1), core_only, NULL, BACKUP_ERROR_INVALID_BACKUP,
                  "member \"cdr-voicemail/unlisted\" is not listed");
}

static void
test_refuses_over_entry_limit (void)
{
  const Member extra[] = { { "core/a/", 'd', NULL, 0, 0 }, { "core/b/", 'd', NULL, 0, 0 } };
  SarLimits entries = { 0, 7 };
  SarLimits declared = { 0, 4 };

  /* 2 metadata + 4 tree + 2 directories = 8 members. */
  assert_refused (write_tree_plus (extra, G_N_ELEMENTS (extra)), both, &entries,
                  BACKUP_ERROR_TOO_LARGE, "more than 7 entries");
  /* SHA256SUMS alone lists too many: refused before the trees. */
  assert_refused (write_tree_plus (NULL, 0), both, &declared, BACKUP_ERROR_TOO_LARGE,
                  "more than 4 entries");
}

static void
test_refuses_over_byte_limit (void)
{
  const Member big[] = { { "core/big", 'f', NULL, 0, 8 * 1024 * 1024 } };
  SarLimits limits = { 1024 * 1024, 0 };

  assert_refused (write_sar (big, 1, big, 1), core_only, &limits, BACKUP_ERROR_TOO_LARGE,
                  "more than 1048576 bytes of unpacked data");
}

/* A member far larger than SHA256SUMS and the manifest say is stopped
 * before its data is read: nothing of it reaches the disk. */
static void
test_refuses_decompression_bomb (void)
{
  const Member described[] = { { "core/bomb", 'f', "small", 0, 0 } };
  const Member body[] = { { "core/bomb", 'f', NULL, 0, 256 * 1024 * 1024 } };
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *staging = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_false (sandbox_extract (sandbox, write_sar (described, 1, body, 1), core_only, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  assert_contains (error->message, "member \"core/bomb\" makes component core larger than the 5 "
                                   "bytes manifest.ini says");
  staging = sandbox_list (sandbox->root_fd, "staging-core");
  g_assert_cmpstr (staging, ==, "");
  g_test_message ("refused after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);
}

static void
test_refuses_unknown_component (void)
{
  const char *const ids[] = { "fax", NULL };
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;

  g_assert_false (sandbox_extract (sandbox, write_tree_plus (NULL, 0), ids, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT);
  assert_contains (error->message, "\"fax\"");
}

static void
test_cancelled (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;

  g_cancellable_cancel (cancellable);
  g_assert_false (sandbox_extract_full (sandbox, write_tree_plus (NULL, 0), both, NULL, (uid_t) -1,
                                        (gid_t) -1, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* --- modes and owners --- */

static mode_t
mode_at (Sandbox *sandbox, const char *path)
{
  struct stat st;

  g_assert_cmpint (fstatat (sandbox->root_fd, path, &st, AT_SYMLINK_NOFOLLOW), ==, 0);
  return st.st_mode;
}

static void
test_strips_setuid_and_applies_directory_modes_last (void)
{
  const Member members[] = {
    { "core/", 'd', NULL, 0750, 0 },
    { "core/bin/", 'd', NULL, 01777, 0 },
    { "core/bin/tool", 'f', "#!/bin/sh\n", 06755, 0 },
    { "core/ro/", 'd', NULL, 0555, 0 },
    { "core/ro/inside", 'f', "written before its directory became read-only\n", 0400, 0 },
    { "core/implicit/deeper/file", 'f', "x", 0600, 0 },
  };
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (sandbox_extract (
      sandbox, write_sar (members, G_N_ELEMENTS (members), members, G_N_ELEMENTS (members)),
      core_only, &error));
  g_assert_no_error (error);
  /* The staging directory itself is the caller's: "core/" does not change it. */
  g_assert_cmpint (mode_at (sandbox, "staging-core"), ==, S_IFDIR | 0700);
  g_assert_cmpint (mode_at (sandbox, "staging-core/bin"), ==, S_IFDIR | 0777);
  g_assert_cmpint (mode_at (sandbox, "staging-core/bin/tool"), ==, S_IFREG | 0755);
  g_assert_cmpint (mode_at (sandbox, "staging-core/ro"), ==, S_IFDIR | 0555);
  g_assert_cmpint (mode_at (sandbox, "staging-core/ro/inside"), ==, S_IFREG | 0400);
  g_assert_cmpint (mode_at (sandbox, "staging-core/implicit"), ==, S_IFDIR | 0755);
  g_assert_cmpint (mode_at (sandbox, "staging-core/implicit/deeper"), ==, S_IFDIR | 0755);
  g_assert_cmpint (mode_at (sandbox, "staging-core/implicit/deeper/file"), ==, S_IFREG | 0600);
}

static void
assert_owner (Sandbox *sandbox, const char *path, uid_t uid, gid_t gid)
{
  struct stat st;

  g_assert_cmpint (fstatat (sandbox->root_fd, path, &st, AT_SYMLINK_NOFOLLOW), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, uid);
  g_assert_cmpuint (st.st_gid, ==, gid);
}

static void
test_applies_owner (void)
{
  g_autoptr (Sandbox) sandbox = NULL;
  g_autoptr (GError) error = NULL;

  if (geteuid () != 0) {
    g_test_skip ("setting another owner needs root");
    return;
  }
  sandbox = sandbox_new ();
  g_assert_true (sandbox_extract_full (sandbox, write_tree_plus (NULL, 0), core_only, NULL, 12345,
                                       23456, NULL, &error));
  g_assert_no_error (error);
  assert_owner (sandbox, "staging-core", 0, 0); /* the caller's */
  assert_owner (sandbox, "staging-core/db", 12345, 23456);
  assert_owner (sandbox, "staging-core/db/asterisk.sql", 12345, 23456);
  assert_owner (sandbox, "staging-core/network.conf", 12345, 23456);
}

/* --- good archives --- */

static void
write_source_file (const char *root, const char *path, const char *data, gsize len, mode_t mode)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *full = g_build_filename (root, path, NULL);
  g_autofree char *dir = g_path_get_dirname (full);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (full, data, len, &error));
  g_assert_cmpint (chmod (full, mode), ==, 0);
}

static char *
make_source_tree (void)
{
  g_autoptr (GError) error = NULL;
  char *root = g_dir_make_tmp ("test-extract-src-XXXXXX", &error);
  g_autofree char *big = g_malloc (3 * 1024 * 1024 + 17);
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  g_autofree char *private_dir = NULL;

  g_assert_no_error (error);
  for (gsize i = 0; i < 3 * 1024 * 1024 + 17; i++)
    big[i] = (char) g_rand_int (rand);
  write_source_file (root, "core/db/asterisk.sql", "select 1;\n", 10, 0640);
  write_source_file (root, "core/network.conf", "ip=192.0.2.10\n", 14, 0644);
  write_source_file (root, "core/Ansage März.txt", "umlaut\n", 7, 0644);
  write_source_file (root, "core/empty", "", 0, 0600);
  write_source_file (root, "core/private/key", "secret\n", 7, 0400);
  write_source_file (root, "cdr-voicemail/vm/2026/msg0001.wav", big, 3 * 1024 * 1024 + 17, 0644);
  write_source_file (root, "announcements/greeting.txt", "Hallo\n", 6, 0644);
  private_dir = g_build_filename (root, "core", "private", NULL);
  g_assert_cmpint (chmod (private_dir, 0500), ==, 0);
  return root;
}

static void
pack_component_free (SarPackComponent *component)
{
  g_free (component->id);
  g_free (component->label);
  g_free (component->path);
  g_free (component);
}

static int
pack (const char *root)
{
  const char *const ids[] = { "core", "cdr-voicemail", "announcements" };
  g_autoptr (GPtrArray) components
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_component_free);
  g_autoptr (GError) error = NULL;
  SarPackSpec spec
      = { "8.1.2.3", "Nightly", "pbx-berlin", NULL, CREATED, SAR_COMPRESSION_ZSTD, components };
  int fd = temp_fd ();

  for (gsize i = 0; i < G_N_ELEMENTS (ids); i++) {
    SarPackComponent *component = g_new0 (SarPackComponent, 1);

    component->id = g_strdup (ids[i]);
    component->path = g_build_filename (root, ids[i], NULL);
    g_ptr_array_add (components, component);
  }
  g_assert_true (sar_pack (&spec, fd, NULL, &error));
  g_assert_no_error (error);
  rewind_fd (fd);
  return fd;
}

/* Same names, types, permission bits and bytes, all the way down. */
static void
assert_same_tree (const char *expected, const char *actual)
{
  g_autoptr (GDir) dir = g_dir_open (expected, 0, NULL);
  g_autoptr (GDir) other = g_dir_open (actual, 0, NULL);
  guint count = 0, other_count = 0;
  const char *name;

  g_assert_nonnull (dir);
  g_assert_nonnull (other);
  while ((name = g_dir_read_name (other)) != NULL)
    other_count++;
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *a = g_build_filename (expected, name, NULL);
    g_autofree char *b = g_build_filename (actual, name, NULL);
    struct stat sa, sb;

    count++;
    g_assert_cmpint (lstat (a, &sa), ==, 0);
    if (lstat (b, &sb) < 0)
      g_error ("%s is missing", b);
    g_assert_cmpint (sb.st_mode, ==, sa.st_mode & (S_IFMT | 0777));
    if (S_ISDIR (sa.st_mode)) {
      assert_same_tree (a, b);
    } else {
      g_autofree char *da = NULL;
      g_autofree char *db = NULL;
      gsize la, lb;

      g_assert_true (g_file_get_contents (a, &da, &la, NULL));
      g_assert_true (g_file_get_contents (b, &db, &lb, NULL));
      g_assert_cmpmem (da, la, db, lb);
    }
  }
  g_assert_cmpuint (count, ==, other_count);
}

static void
record_progress (guint64 bytes_read, gpointer user_data)
{
  guint64 *last = user_data;

  g_assert_cmpuint (bytes_read, >=, *last);
  *last = bytes_read;
}

static void
test_round_trip (void)
{
  const char *const all[] = { "core", "cdr-voicemail", "announcements", NULL };
  g_autofree char *source = make_source_tree ();
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GPtrArray) targets = g_ptr_array_new_with_free_func ((GDestroyNotify) target_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  int fd = pack (source);
  guint fds_before = count_open_fds ();
  guint64 progress = 0;
  struct stat st;

  header = sar_read_header (fd, &error);
  g_assert_no_error (error);
  rewind_fd (fd);
  for (gsize i = 0; all[i] != NULL; i++) {
    g_autofree char *name = g_strconcat ("staging-", all[i], NULL);
    ExtractTarget *target = g_new0 (ExtractTarget, 1);

    g_assert_cmpint (mkdirat (sandbox->root_fd, name, 0700), ==, 0);
    target->id = g_strdup (all[i]);
    target->staging_fd = openat (sandbox->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    target->uid = (uid_t) -1;
    target->gid = (gid_t) -1;
    g_ptr_array_add (targets, target);
  }
  g_assert_true (
      extract_components (fd, header, targets, NULL, record_progress, &progress, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fstat (fd, &st), ==, 0);
  g_assert_cmpuint (progress, >, 0);
  g_assert_cmpuint (progress, <=, (guint64) st.st_size);
  close (fd);
  g_ptr_array_set_size (targets, 0);
  g_assert_cmpuint (count_open_fds (), ==, fds_before - 1);

  for (gsize i = 0; all[i] != NULL; i++) {
    g_autofree char *expected = g_build_filename (source, all[i], NULL);
    g_autofree char *name = g_strconcat ("staging-", all[i], NULL);
    g_autofree char *actual = g_build_filename (sandbox->root, name, NULL);

    assert_same_tree (expected, actual);
    g_assert_cmpint (mode_at (sandbox, name), ==, S_IFDIR | 0700); /* the caller's */
  }
  sandbox_remove_path (source);
}

/* Many files of all sizes in many directories: operations and
 * data cross the boundaries of the buffers between reader and writer at
 * every place, and every byte, name and mode arrives. */
static void
test_round_trip_many_files (void)
{
  const char *const all[] = { "core", "cdr-voicemail", "announcements", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *source = g_dir_make_tmp ("test-extract-many-XXXXXX", &error);
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GPtrArray) targets = g_ptr_array_new_with_free_func ((GDestroyNotify) target_free);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree char *data = g_malloc (700 * 1024);
  g_autoptr (SarHeader) header = NULL;
  int fd;

  g_assert_no_error (error);
  for (gsize i = 0; i < 700 * 1024; i++)
    data[i] = (char) g_rand_int (rand);
  for (guint i = 0; i < 1200; i++) {
    /* mostly small, now and then larger than a buffer */
    gsize len = i % 97 == 0 ? 600 * 1024 + i : (gsize) g_rand_int_range (rand, 0, 5000);
    g_autofree char *path = g_strdup_printf (
        "%s/d%02u/sub%u/f%04u-%s.dat", all[i % 3], i % 37, i % 2, i,
        "a-name-long-enough-that-paths-fill-the-buffers-of-operations-at-odd-places");

    write_source_file (source, path, data + (i * 13) % 1024, len, i % 5 == 0 ? 0600 : 0644);
  }
  fd = pack (source);
  header = sar_read_header (fd, &error);
  g_assert_no_error (error);
  rewind_fd (fd);
  for (gsize i = 0; all[i] != NULL; i++) {
    g_autofree char *name = g_strconcat ("staging-", all[i], NULL);
    ExtractTarget *target = g_new0 (ExtractTarget, 1);

    g_assert_cmpint (mkdirat (sandbox->root_fd, name, 0700), ==, 0);
    target->id = g_strdup (all[i]);
    target->staging_fd = openat (sandbox->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    target->uid = (uid_t) -1;
    target->gid = (gid_t) -1;
    g_ptr_array_add (targets, target);
  }
  g_assert_true (extract_components (fd, header, targets, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  close (fd);
  for (gsize i = 0; all[i] != NULL; i++) {
    g_autofree char *expected = g_build_filename (source, all[i], NULL);
    g_autofree char *name = g_strconcat ("staging-", all[i], NULL);
    g_autofree char *actual = g_build_filename (sandbox->root, name, NULL);

    assert_same_tree (expected, actual);
  }
  sandbox_remove_path (source);
}

/* Names in Unicode's decomposed form (NFD: "A" + U+0308 for "Ä", as macOS
 * writes them) next to the composed form (NFC) of the same name, which is
 * another name byte for byte, and U+212A KELVIN SIGN, whose composed form
 * is the ASCII "K". */
#define NFD_DIR "A\xcc\x88rger"  /* "Ärger", decomposed */
#define NFC_DIR "\xc3\x84rger"   /* "Ärger", composed */
#define NFD_FILE "a\xcc\x88.txt" /* "ä.txt", decomposed */
#define NFD_EMPTY                                                                                  \
  "o\xcc\x88"                                                                                      \
  "de"                            /* "öde", decomposed: an empty directory */
#define KELVIN "\xe2\x84\xaa.txt" /* U+212A ".txt" */

static char *
make_nfd_tree (void)
{
  g_autoptr (GError) error = NULL;
  char *root = g_dir_make_tmp ("test-extract-nfd-XXXXXX", &error);
  g_autofree char *empty = g_build_filename (root, "core", NFD_EMPTY, NULL);

  g_assert_no_error (error);
  write_source_file (root, "core/" NFD_DIR "/" NFD_FILE, "decomposed\n", 11, 0644);
  write_source_file (root, "core/" NFC_DIR "/x", "composed\n", 9, 0644);
  write_source_file (root, "core/" KELVIN, "kelvin\n", 7, 0644);
  write_source_file (root, "cdr-voicemail/x", "x\n", 2, 0644);
  write_source_file (root, "announcements/x", "x\n", 2, 0644);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0750), ==, 0);
  return root;
}

static void
extract_all (Sandbox *sandbox, int fd)
{
  const char *const all[] = { "core", "cdr-voicemail", "announcements", NULL };
  g_autoptr (GError) error = NULL;

  g_assert_true (sandbox_extract (sandbox, fd, all, &error));
  g_assert_no_error (error);
}

/* Writer, reader and extraction keep every name byte for byte: the
 * pre-restore backup of a live tree holding such names is readable, and
 * restoring it recreates exactly those names. */
static void
test_round_trip_nfd_names (void)
{
  g_autofree char *source = make_nfd_tree ();
  g_autofree char *expected = g_build_filename (source, "core", NULL);
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autofree char *actual = g_build_filename (sandbox->root, "staging-core", NULL);
  g_autoptr (GError) error = NULL;
  int fd = pack (source);
  g_autoptr (SarHeader) header = sar_verify (fd, NULL, NULL, NULL, NULL, &error);
  SarChecksumEntry listed;

  g_assert_no_error (error);
  g_assert_true (
      sar_checksums_lookup (header->checksums, "core/" NFD_DIR "/" NFD_FILE, &listed, NULL));
  g_assert_cmpuint (listed.index, !=, SAR_CHECKSUMS_UNLISTED);
  g_assert_true (sar_checksums_lookup (header->checksums, "core/" KELVIN, &listed, NULL));
  g_assert_cmpuint (listed.index, !=, SAR_CHECKSUMS_UNLISTED);
  rewind_fd (fd);
  extract_all (sandbox, fd);
  assert_same_tree (expected, actual);
  sandbox_remove_path (source);
}

/* Other tools write such names into pax headers as UTF-8 (which
 * libarchive would compose, NFC, when it reads them for a UTF-8 locale),
 * or into ustar headers as bytes: either way they are accepted, match
 * SHA256SUMS byte for byte and are extracted under exactly those names. */
static void
test_accepts_nfd_names_from_other_writers (void)
{
  const Member body[] = {
    { "core/", 'd', NULL, 0, 0 },
    { "core/" NFD_DIR "/", 'd', NULL, 0750, 0 },
    { "core/" NFD_DIR "/" NFD_FILE, 'f', "decomposed\n", 0, 0 },
    { "core/" KELVIN, 'f', "kelvin\n", 0, 0 },
    { "cdr-voicemail/vm/msg0001.wav", 'f', "RIFF....WAVE", 0, 0 },
  };
  const int formats[] = { ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FORMAT_TAR_USTAR };

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++) {
    int fd = write_sar_as (formats[i], ARCHIVE_FILTER_NONE, body, G_N_ELEMENTS (body), body,
                           G_N_ELEMENTS (body));
    g_autoptr (GError) error = NULL;
    g_autoptr (SarHeader) header = sar_verify (fd, NULL, NULL, NULL, NULL, &error);
    g_autoptr (Sandbox) sandbox = sandbox_new ();
    g_autofree char *listing = NULL;
    g_autofree char *inner = NULL;

    g_assert_no_error (error);
    g_assert_nonnull (header);
    rewind_fd (fd);
    {
      const char *const ids[] = { "core", "cdr-voicemail", NULL };

      g_assert_true (sandbox_extract (sandbox, fd, ids, &error));
      g_assert_no_error (error);
    }
    listing = sandbox_list (sandbox->root_fd, "staging-core");
    g_assert_cmpstr (listing, ==, NFD_DIR " " KELVIN);
    inner = sandbox_list (sandbox->root_fd, "staging-core/" NFD_DIR);
    g_assert_cmpstr (inner, ==, NFD_FILE);
    g_assert_cmpint (mode_at (sandbox, "staging-core/" NFD_DIR), ==, S_IFDIR | 0750);
  }
}

static void
test_skips_unchosen_components (void)
{
  const char *const announcements[] = { "announcements", NULL };
  g_autofree char *source = make_source_tree ();
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = g_build_filename (source, "announcements", NULL);
  g_autofree char *actual = g_build_filename (sandbox->root, "staging-announcements", NULL);

  g_assert_true (sandbox_extract (sandbox, pack (source), announcements, &error));
  g_assert_no_error (error);
  assert_same_tree (expected, actual);
  sandbox_assert_outside_untouched (sandbox, "outside staging-announcements");
  sandbox_remove_path (source);
}

/* Members may start with one "./" as "tar -C dir ." writes them. */
static void
test_accepts_dot_slash_prefix (void)
{
  const Member members[] = {
    { "./core/", 'd', NULL, 0, 0 },
    { "./core/a/b.txt", 'f', "b\n", 0, 0 },
  };
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (sandbox_extract (sandbox, write_sar (members, 2, members, 2), core_only, &error));
  g_assert_no_error (error);
  g_assert_cmpint (mode_at (sandbox, "staging-core/a/b.txt"), ==, S_IFREG | 0644);
}

/* The sync says which staging tree it could not sync. */
static void
test_sync_failure_names_the_component (void)
{
  g_autoptr (GPtrArray) targets = g_ptr_array_new_with_free_func (g_free);
  ExtractTarget *target = g_new0 (ExtractTarget, 1);
  g_autoptr (GError) error = NULL;

  target->id = "cdr-voicemail";
  target->staging_fd = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (target->staging_fd, >=, 0);
  g_ptr_array_add (targets, target);
  g_assert_true (extract_sync (targets, &error));
  g_assert_no_error (error);
  close (target->staging_fd); /* now a closed descriptor */
  g_assert_false (extract_sync (targets, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "syncing cdr-voicemail"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/extract/refuses/absolute-path", test_refuses_absolute_path);
  g_test_add_func ("/extract/refuses/dot-dot", test_refuses_dot_dot_escape);
  g_test_add_func ("/extract/refuses/symlink", test_refuses_symlink);
  g_test_add_func ("/extract/refuses/hardlink", test_refuses_hardlink);
  g_test_add_func ("/extract/refuses/device-and-fifo", test_refuses_device_and_fifo);
  g_test_add_func ("/extract/refuses/file-below-planted-symlink",
                   test_refuses_file_below_planted_symlink);
  g_test_add_func ("/extract/refuses/sparse-file", test_refuses_sparse_file);
  g_test_add_func ("/extract/refuses/data-after-the-end", test_refuses_data_after_the_end);
  g_test_add_func ("/extract/refuses/duplicate-file", test_refuses_duplicate_file);
  g_test_add_func ("/extract/refuses/unlisted-and-missing",
                   test_refuses_unlisted_and_missing_files);
  g_test_add_func ("/extract/refuses/checksum-mismatch-in-last-file",
                   test_refuses_checksum_mismatch_in_last_file);
  g_test_add_func ("/extract/refuses/hostile-member-of-unchosen-component",
                   test_refuses_hostile_member_of_unchosen_component);
  g_test_add_func ("/extract/refuses/entry-limit", test_refuses_over_entry_limit);
  g_test_add_func ("/extract/refuses/byte-limit", test_refuses_over_byte_limit);
  g_test_add_func ("/extract/refuses/decompression-bomb", test_refuses_decompression_bomb);
  g_test_add_func ("/extract/refuses/unknown-component", test_refuses_unknown_component);
  g_test_add_func ("/extract/cancelled", test_cancelled);
  g_test_add_func ("/extract/modes/strips-setuid-directories-last",
                   test_strips_setuid_and_applies_directory_modes_last);
  g_test_add_func ("/extract/owner", test_applies_owner);
  g_test_add_func ("/extract/round-trip", test_round_trip);
  g_test_add_func ("/extract/sync/names-the-component", test_sync_failure_names_the_component);
  g_test_add_func ("/extract/round-trip-many-files", test_round_trip_many_files);
  g_test_add_func ("/extract/round-trip-nfd-names", test_round_trip_nfd_names);
  g_test_add_func ("/extract/nfd-names-from-other-writers",
                   test_accepts_nfd_names_from_other_writers);
  g_test_add_func ("/extract/skips-unchosen-components", test_skips_unchosen_components);
  g_test_add_func ("/extract/dot-slash-prefix", test_accepts_dot_slash_prefix);
  return g_test_run ();
}
