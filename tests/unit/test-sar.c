/* Unit tests: reading, verifying and writing SAR archives.
 *
 * Good archives come from sar_pack(); broken ones are written member by
 * member with libarchive's writer, so each test shows exactly what is
 * wrong with its archive.
 */
#include "errors.h"
#include "sar-fixture.h"
#include "sar.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The tree every hand-made archive starts from. */
static const Member tree[] = {
  { "core/", 'd', NULL },
  { "core/db/asterisk.sql", 'f', "select 1;\n" },
  { "core/network.conf", 'f', "ip=192.0.2.10\n" },
  { "core/Ansage März.txt", 'f', "umlaut\n" },
  { "cdr-voicemail/vm/msg0001.wav", 'f', "RIFF....WAVE" },
};

static int
write_tree_plus (const Member *extra, gsize n_extra)
{
  g_autofree Member *body = g_new0 (Member, G_N_ELEMENTS (tree) + n_extra);

  memcpy (body, tree, sizeof tree);
  memcpy (body + G_N_ELEMENTS (tree), extra, n_extra * sizeof (Member));
  return write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree),
                       body, G_N_ELEMENTS (tree) + n_extra);
}

static SarHeader *
verify_ok (int fd)
{
  g_autoptr (GError) error = NULL;
  SarHeader *header = sar_verify (fd, NULL, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (header);
  return header;
}

static void
assert_verify_fails (int fd, const SarLimits *limits, int code, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = sar_verify (fd, limits, NULL, NULL, NULL, &error);

  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, code);
  g_test_message ("%s", error->message);
  assert_contains (error->message, message);
  close (fd);
}

static void
test_handmade_archive_verifies (void)
{
  /* Every compression read: those whose decoder needs a bounded amount of
   * memory, whatever the file says. */
  const int filters[]
      = { ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_BZIP2 };
  const int formats[]
      = { ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FORMAT_TAR_GNUTAR };

  for (gsize i = 0; i < G_N_ELEMENTS (filters); i++)
    for (gsize j = 0; j < G_N_ELEMENTS (formats); j++) {
      int fd = write_sar_as (formats[j], filters[i], tree, G_N_ELEMENTS (tree), tree,
                             G_N_ELEMENTS (tree));
      g_autoptr (SarHeader) header = verify_ok (fd);

      g_assert_cmpuint (sar_checksums_count (header->checksums), ==, 4);
      close (fd);
    }
}

/* Compressions refused with a message naming them, before any decoder
 * runs: xz, lzma and lzip decoders take as much memory as the file's
 * header asks for (a 61 kB file can ask for a 1 GiB dictionary), and the
 * others are not worth reading. */
static void
test_refuses_unbounded_compressions (void)
{
  const struct {
    int filter;
    const char *name;
  } cases[] = {
    { ARCHIVE_FILTER_XZ, "xz" },
    { ARCHIVE_FILTER_LZMA, "lzma" },
    { ARCHIVE_FILTER_LZIP, "lzip" },
    { ARCHIVE_FILTER_LZ4, "lz4" },
    { ARCHIVE_FILTER_COMPRESS, "compress" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *message
        = g_strdup_printf ("not a SAR file: compressed with %s; use zstd or gzip", cases[i].name);
    g_autoptr (GError) error = NULL;
    g_autoptr (SarHeader) header = NULL;
    int fd = write_sar_as (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, cases[i].filter, tree,
                           G_N_ELEMENTS (tree), tree, G_N_ELEMENTS (tree));

    g_test_message ("%s", cases[i].name);
    header = sar_read_header (fd, &error);
    g_assert_null (header);
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    assert_contains (error->message, message);
    rewind_fd (fd);
    assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, message);
  }
}

static void
test_accepts_dot_slash_prefix (void)
{
  const Member body[] = {
    { "./core/", 'd', NULL },
    { "./core/db/asterisk.sql", 'f', "select 1;\n" },
    { "./core/network.conf", 'f', "ip=192.0.2.10\n" },
    { "./core/Ansage März.txt", 'f', "umlaut\n" },
    { "./cdr-voicemail/vm/msg0001.wav", 'f', "RIFF....WAVE" },
  };
  int fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, body, G_N_ELEMENTS (body),
                         body, G_N_ELEMENTS (body));
  g_autoptr (SarHeader) header = verify_ok (fd);

  close (fd);
}

static void
test_refuses_unlisted_member (void)
{
  const Member extra[] = { { "core/extra.txt", 'f', "surprise" } };

  assert_verify_fails (write_tree_plus (extra, 1), NULL, BACKUP_ERROR_INVALID_BACKUP,
                       "member \"core/extra.txt\" is not listed in SHA256SUMS");
}

static void
test_refuses_missing_listed_file (void)
{
  int fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree),
                         tree, G_N_ELEMENTS (tree) - 1);

  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                       "\"cdr-voicemail/vm/msg0001.wav\" is listed in SHA256SUMS but missing "
                       "from the archive");
}

static void
test_refuses_checksum_mismatch (void)
{
  Member body[G_N_ELEMENTS (tree)];
  int fd;

  memcpy (body, tree, sizeof tree);
  body[2].data = "ip=192.0.2.66\n";
  fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree), body,
                     G_N_ELEMENTS (body));
  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                       "member \"core/network.conf\" does not match its SHA-256 checksum");
}

static void
test_refuses_size_not_matching_manifest (void)
{
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  g_auto (GStrv) parts = NULL;
  g_autofree char *edited = NULL;
  Member members[2 + G_N_ELEMENTS (tree)];
  int fd;

  metadata_for (tree, G_N_ELEMENTS (tree), &manifest, &sums);
  parts = g_strsplit (manifest, "Bytes=31", 2);
  edited = g_strjoinv ("Bytes=32", parts);
  members[0] = (Member){ "manifest.ini", 'f', edited };
  members[1] = (Member){ "SHA256SUMS", 'f', sums };
  memcpy (members + 2, tree, sizeof tree);
  fd = write_members (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, members,
                      G_N_ELEMENTS (members));
  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                       "component core holds 3 files with 31 bytes, but manifest.ini says 3 "
                       "files with 32 bytes");

  /* Fewer bytes declared than present: refused before the member is read. */
  g_strfreev (parts);
  g_free (edited);
  parts = g_strsplit (manifest, "Bytes=31", 2);
  edited = g_strjoinv ("Bytes=30", parts);
  members[0].data = edited;
  fd = write_members (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, members,
                      G_N_ELEMENTS (members));
  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                       "makes component core larger than the 30 bytes manifest.ini says");
}

static void
test_refuses_wrong_order (void)
{
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  Member members[2];
  int fd;

  metadata_for (tree, G_N_ELEMENTS (tree), &manifest, &sums);
  members[0] = (Member){ "SHA256SUMS", 'f', sums };
  members[1] = (Member){ "manifest.ini", 'f', manifest };
  fd = write_members (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, members, 2);
  header = sar_read_header (fd, &error);
  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  assert_contains (error->message,
                   "member 1 is \"SHA256SUMS\", expected \"manifest.ini\" (manifest.ini and "
                   "SHA256SUMS must be the first two members, in this order)");
  close (fd);
}

static void
test_refuses_special_members (void)
{
  const struct {
    Member member;
    const char *message;
  } cases[] = {
    { { "core/link", 'l', "/etc/passwd" }, "member \"core/link\" is a symbolic link" },
    { { "core/hard", 'h', "core/network.conf" }, "member \"core/hard\" is a hard link" },
    { { "core/fifo", 'p', NULL }, "member \"core/fifo\" is a FIFO" },
    { { "core/null", 'c', NULL }, "member \"core/null\" is a device" },
    { { "core/../etc/x", 'f', "x" }, "unsafe path \"core/../etc/x\"" },
    { { "../x", 'f', "x" }, "unsafe path \"../x\"" },
    { { "/etc/passwd", 'f', "x" }, "unsafe path \"/etc/passwd\": absolute paths" },
    { { "etc/passwd", 'f', "x" }, "member \"etc/passwd\" is not below a component" },
    { { "manifest.ini", 'f', "x" }, "member \"manifest.ini\" is not below a component" },
    { { "core/network.conf", 'f', "ip=192.0.2.10\n" }, "\"core/network.conf\" appears twice" },
    { { "core/network.conf/", 'd', NULL }, "appears as a regular file and as a directory" },
    { { "core/network.conf/x", 'f', "x" }, "lies below \"core/network.conf\", which is a regular" },
    { { "core/db", 'f', "x" }, "appears as a regular file and as a directory" },
    { { "core", 'f', "x" }, "member \"core\" is a regular file, but has the name of a directory" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    assert_verify_fails (write_tree_plus (&cases[i].member, 1), NULL, BACKUP_ERROR_INVALID_BACKUP,
                         cases[i].message);
}

static void
test_refuses_zip (void)
{
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  Member members[2];
  int fd;

  metadata_for (tree, 0, &manifest, &sums);
  members[0] = (Member){ "manifest.ini", 'f', manifest };
  members[1] = (Member){ "SHA256SUMS", 'f', sums };
  fd = write_members (ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, members, 2);
  header = sar_read_header (fd, &error);
  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  g_test_message ("%s", error->message);
  assert_contains (error->message, "not a SAR file");
  close (fd);
}

static void
test_refuses_empty_and_garbage (void)
{
  int fd = temp_fd ();

  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, "not a SAR file");
  fd = temp_fd ();
  g_assert_cmpint (write (fd, "hello, world\n", 13), ==, 13);
  rewind_fd (fd);
  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, "not a SAR file");
}

static void
test_refuses_oversized_metadata (void)
{
  g_autofree char *huge = g_strnfill (SAR_MANIFEST_MAX + 1, '#');
  const Member members[] = { { "manifest.ini", 'f', huge } };
  int fd = write_members (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, members, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = sar_read_header (fd, &error);

  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  assert_contains (error->message, "member \"manifest.ini\" is 65537 bytes long; at most "
                                   "65536 are allowed");
  close (fd);
}

/* manifest.ini with Files= for `files` files below core/ (of 1 byte each). */
static char *
manifest_for_core (guint files)
{
  return g_strdup_printf ("[Backup]\nFormat=1\nVersion=8.1.2.3\nCreated=2026-11-20T02:00:00Z\n"
                          "Process=Nightly\nHostname=pbx\nComponents=core\n\n"
                          "[Component core]\nLabel=Core data\nFiles=%u\nBytes=%u\n",
                          files, files);
}

/* SHA256SUMS may be far larger than manifest.ini: the writer lists every
 * file of a live tree (40,000 files took more than 4 MiB), up to
 * SAR_CHECKSUMS_MAX; one byte more is refused before it is read. */
static void
test_checksums_limit (void)
{
  g_autoptr (GString) sums = g_string_new (NULL);
  g_autofree char *manifest = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  guint files = 0;
  int fd;

  while (sums->len <= 5 * 1024 * 1024)
    g_string_append_printf (sums,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  "
                            "core/voicemail/%u/msg%06u.wav\n",
                            files / 1000, files),
        files++;
  manifest = manifest_for_core (files);
  {
    const Member members[]
        = { { "manifest.ini", 'f', manifest }, { "SHA256SUMS", 'f', sums->str } };

    fd = write_members (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, members, 2);
  }
  header = sar_read_header (fd, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sar_manifest_find_component (header->manifest, "core")->files, ==, files);
  close (fd);

  {
    const Member members[] = { { "manifest.ini", 'f', manifest },
                               { "SHA256SUMS", 'f', NULL, 0, SAR_CHECKSUMS_MAX + 1 } };

    fd = write_members (ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_ZSTD, members, 2);
  }
  g_clear_pointer (&header, sar_header_free);
  header = sar_read_header (fd, &error);
  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  assert_contains (error->message, "member \"SHA256SUMS\" is 67108865 bytes long; at most "
                                   "67108864 are allowed");
  close (fd);
}

/* Inspect's cost must not depend on the archive: a header is read even
 * when everything after the metadata is garbage. */
static void
test_read_header_reads_only_metadata (void)
{
  const char garbage[] = "this is not a tar header, and read_header never looks at it";
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  off_t metadata_end;
  int fd;

  /* Two headers, each followed by its data padded to 512-byte blocks. */
  metadata_for (tree, G_N_ELEMENTS (tree), &manifest, &sums);
  metadata_end
      = 512 + (strlen (manifest) + 511) / 512 * 512 + 512 + (strlen (sums) + 511) / 512 * 512;
  fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree), NULL,
                     0);
  g_assert_cmpint (pwrite (fd, garbage, sizeof garbage, metadata_end), ==, sizeof garbage);

  header = sar_read_header (fd, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (header->manifest->process, ==, "Nightly");
  rewind_fd (fd);
  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, "reading the archive");
}

static void
test_limits (void)
{
  SarLimits entries = { 0, 3 };
  SarLimits bytes = { 30, 0 };
  SarLimits enough = { 31 + 12, 2 + G_N_ELEMENTS (tree) };
  int fd;

  fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree), tree,
                     G_N_ELEMENTS (tree));
  assert_verify_fails (fd, &entries, BACKUP_ERROR_TOO_LARGE, "more than 3 entries");
  fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree), tree,
                     G_N_ELEMENTS (tree));
  assert_verify_fails (fd, &bytes, BACKUP_ERROR_TOO_LARGE, "more than 30 bytes");

  fd = write_sar_as (ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, tree, G_N_ELEMENTS (tree), tree,
                     G_N_ELEMENTS (tree));
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (SarHeader) header = sar_verify (fd, &enough, NULL, NULL, NULL, &error);

    g_assert_no_error (error);
    close (fd);
  }
}

/* Directory entries the metadata does not show still count. */
static void
test_limit_counts_directories (void)
{
  const Member extra[] = { { "core/a/", 'd', NULL }, { "core/b/", 'd', NULL } };
  SarLimits limits = { 0, 7 };

  assert_verify_fails (write_tree_plus (extra, G_N_ELEMENTS (extra)), &limits,
                       BACKUP_ERROR_TOO_LARGE, "more than 7 entries");
}

/* --- packing --- */

static char *
make_tree (void)
{
  g_autoptr (GError) error = NULL;
  char *root = g_dir_make_tmp ("test-sar-tree-XXXXXX", &error);
  g_autofree char *big = g_malloc (3 * 1024 * 1024 + 17);
  const struct {
    const char *path;
    const char *data;
  } files[] = {
    { "core/db/asterisk.sql", "select 1;\n" },
    { "core/network.conf", "ip=192.0.2.10\n" },
    { "core/März.txt", "umlaut\n" },
    { "core/empty", "" },
    { "announcements/greeting.txt", "Hallo\n" },
  };

  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (root, files[i].path, NULL);
    g_autofree char *dir = g_path_get_dirname (path);

    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    g_assert_true (g_file_set_contents (path, files[i].data, -1, &error));
  }
  {
    g_autoptr (GRand) rand = g_rand_new_with_seed (42);

    /* Incompressible, so compressed archives are large too. */
    for (gsize i = 0; i < 3 * 1024 * 1024 + 17; i++)
      big[i] = (char) g_rand_int (rand);
  }
  {
    g_autofree char *dir = g_build_filename (root, "cdr-voicemail", "vm", "2026", NULL);
    g_autofree char *path = g_build_filename (dir, "msg0001.wav", NULL);

    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    g_assert_true (g_file_set_contents (path, big, 3 * 1024 * 1024 + 17, &error));
  }
  return root;
}

static void
remove_tree (const char *root)
{
  g_autofree char *command = g_strdup_printf ("rm -rf '%s'", root);

  g_assert_cmpint (system (command), ==, 0);
}

static void
pack_component_free (SarPackComponent *component)
{
  g_free (component->id);
  g_free (component->label);
  g_free (component->path);
  g_free (component);
}

static GPtrArray *
components_of (const char *root)
{
  const char *const ids[] = { "core", "cdr-voicemail", "announcements" };
  GPtrArray *components = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_component_free);

  for (gsize i = 0; i < G_N_ELEMENTS (ids); i++) {
    SarPackComponent *component = g_new0 (SarPackComponent, 1);

    component->id = g_strdup (ids[i]);
    component->path = g_build_filename (root, ids[i], NULL);
    g_ptr_array_add (components, component);
  }
  return components;
}

static int
pack (const char *root, SarCompression compression, GError **error)
{
  g_autoptr (GPtrArray) components = components_of (root);
  SarPackSpec spec
      = { "8.1.2.3", "Nightly", "pbx-berlin", "192.0.2.10", CREATED, compression, components };
  int fd = temp_fd ();

  if (!sar_pack (&spec, fd, NULL, error)) {
    close (fd);
    return -1;
  }
  rewind_fd (fd);
  return fd;
}

static void
record_progress (guint64 bytes_read, gpointer user_data)
{
  guint64 *last = user_data;

  g_assert_cmpuint (bytes_read, >=, *last);
  *last = bytes_read;
}

static void
test_pack_then_read_and_verify (void)
{
  const SarCompression compressions[]
      = { SAR_COMPRESSION_ZSTD, SAR_COMPRESSION_GZIP, SAR_COMPRESSION_NONE };
  g_autofree char *root = make_tree ();

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (SarHeader) header = NULL;
    g_autoptr (SarHeader) verified = NULL;
    int fd = pack (root, compressions[i], &error);
    const SarComponent *core, *cdr, *announcements;
    SarChecksumEntry listed;
    guint64 progress = 0;
    struct stat st;

    g_assert_no_error (error);
    header = sar_read_header (fd, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (header->manifest->version, ==, "8.1.2.3");
    g_assert_cmpstr (header->manifest->process, ==, "Nightly");
    g_assert_cmpstr (header->manifest->hostname, ==, "pbx-berlin");
    g_assert_cmpstr (header->manifest->ip_address, ==, "192.0.2.10");
    g_assert_cmpint (header->manifest->created, ==, CREATED);
    core = sar_manifest_find_component (header->manifest, "core");
    cdr = sar_manifest_find_component (header->manifest, "cdr-voicemail");
    announcements = sar_manifest_find_component (header->manifest, "announcements");
    g_assert_cmpstr (core->label, ==, "Core data");
    g_assert_cmpuint (core->files, ==, 4);
    g_assert_cmpuint (core->bytes, ==, 10 + 14 + 7);
    g_assert_cmpstr (cdr->label, ==, "CDR and voicemails");
    g_assert_cmpuint (cdr->bytes, ==, 3 * 1024 * 1024 + 17);
    g_assert_cmpstr (announcements->label, ==, "Voicemail announcements");
    g_assert_true (sar_checksums_lookup (header->checksums, "core/März.txt", &listed, NULL));
    g_assert_cmpuint (listed.index, !=, SAR_CHECKSUMS_UNLISTED);

    rewind_fd (fd);
    verified = sar_verify (fd, NULL, record_progress, &progress, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (verified);
    g_assert_cmpint (fstat (fd, &st), ==, 0);
    g_assert_cmpuint (progress, >, 0);
    g_assert_cmpuint (progress, <=, (guint64) st.st_size);
    close (fd);
  }
  remove_tree (root);
}

static GBytes *
read_all (int fd)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  guint8 buffer[65536];
  ssize_t n;

  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_byte_array_append (bytes, buffer, n);
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}

static void
test_pack_is_reproducible (void)
{
  const SarCompression compressions[]
      = { SAR_COMPRESSION_ZSTD, SAR_COMPRESSION_GZIP, SAR_COMPRESSION_NONE };
  g_autofree char *root = make_tree ();

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++) {
    int a = pack (root, compressions[i], NULL);
    int b = pack (root, compressions[i], NULL);
    g_autoptr (GBytes) bytes_a = read_all (a);
    g_autoptr (GBytes) bytes_b = read_all (b);

    g_assert_true (g_bytes_equal (bytes_a, bytes_b));
    close (a);
    close (b);
  }
  remove_tree (root);
}

/* sar_pack_verified() writes what sar_pack() writes (at the same level),
 * and returns what reading it back found; at the fast level, still a SAR
 * file. */
static void
test_pack_verified (void)
{
  const SarCompression compressions[]
      = { SAR_COMPRESSION_ZSTD, SAR_COMPRESSION_GZIP, SAR_COMPRESSION_NONE };
  g_autofree char *root = make_tree ();

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++) {
    g_autoptr (GPtrArray) components = components_of (root);
    SarPackSpec spec = { "8.1.2.3", "Nightly",       "pbx-berlin", "192.0.2.10",
                         CREATED,   compressions[i], components };
    g_autoptr (GError) error = NULL;
    g_autoptr (SarHeader) header = NULL;
    g_autoptr (SarHeader) fast_header = NULL;
    g_autoptr (GBytes) plain = NULL;
    g_autoptr (GBytes) verified = NULL;
    int a = pack (root, compressions[i], NULL);
    int b = temp_fd ();
    int c = temp_fd ();

    header = sar_pack_verified (&spec, b, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (sar_checksums_count (header->checksums), ==, 6);
    g_assert_cmpuint (sar_manifest_find_component (header->manifest, "cdr-voicemail")->bytes, ==,
                      3 * 1024 * 1024 + 17);
    rewind_fd (b);
    plain = read_all (a);
    verified = read_all (b);
    g_assert_true (g_bytes_equal (plain, verified));

    spec.fast = TRUE;
    fast_header = sar_pack_verified (&spec, c, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (fast_header);
    rewind_fd (c);
    g_clear_pointer (&fast_header, sar_header_free);
    fast_header = verify_ok (c);
    g_assert_cmpuint (sar_checksums_count (fast_header->checksums), ==, 6);
    close (a);
    close (b);
    close (c);
  }
  remove_tree (root);
}

/* What the read-back refuses fails it, saying so; a writer that cannot
 * write fails with its own error, not with the read-back it stopped. */
static void
test_pack_verified_failures (void)
{
  g_autofree char *root = make_tree ();
  g_autoptr (GPtrArray) components = components_of (root);
  SarPackSpec spec = { "8.1.2.3", NULL, NULL, NULL, CREATED, SAR_COMPRESSION_ZSTD, components };
  SarLimits limits = { 1024 * 1024, 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  g_autofree char *path = NULL;
  int fd = temp_fd ();
  int read_only;

  header = sar_pack_verified (&spec, fd, &limits, NULL, &error);
  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE);
  assert_contains (error->message, "does not read back as a restorable backup");
  g_clear_error (&error);

  path = g_build_filename (root, "out.sar", NULL);
  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  read_only = open (path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (read_only, >=, 0);
  header = sar_pack_verified (&spec, read_only, NULL, NULL, &error);
  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  assert_contains (error->message, "writing the backup");
  close (read_only);
  close (fd);
  remove_tree (root);
}

typedef struct {
  char *path;
  gboolean changed;
} ChangeLater;

/* At the first progress of the second pass: a file still to be written
 * gets other data of the same size. */
static void
change_a_later_file (guint64 done, guint64 total, gpointer data)
{
  ChangeLater *change = data;

  if (change->changed)
    return;
  change->changed = TRUE;
  g_assert_true (g_file_set_contents (change->path, "Hallx\n", -1, NULL));
}

/* A file that changes between the passes fails both writers (here its
 * change time tells; where it cannot, the read-back does). */
static void
test_pack_refuses_a_file_changed_between_the_passes (void)
{
  g_autofree char *root = make_tree ();

  for (int verified = 0; verified < 2; verified++) {
    g_autoptr (GPtrArray) components = components_of (root);
    ChangeLater change = { g_build_filename (root, "announcements", "greeting.txt", NULL), FALSE };
    SarPackSpec spec
        = { "8.1.2.3",           NULL,   NULL, NULL, CREATED, SAR_COMPRESSION_ZSTD, components,
            change_a_later_file, &change };
    g_autoptr (GError) error = NULL;
    int fd = temp_fd ();
    gboolean ok;

    /* a new change time, whatever the clock's granularity */
    g_usleep (20 * 1000);
    if (verified) {
      g_autoptr (SarHeader) header = sar_pack_verified (&spec, fd, NULL, NULL, &error);
      ok = header != NULL;
    } else {
      ok = sar_pack (&spec, fd, NULL, &error);
    }
    g_assert_false (ok);
    g_assert_true (change.changed);
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
    assert_contains (error->message, "greeting.txt changed while packing");
    close (fd);
    g_free (change.path);
  }
  remove_tree (root);
}

/* Digests made ahead are taken for files as they were, whatever their
 * tree is called by now (the undo's trees are renamed by the swap), and
 * not for a file that changed since: the archive is the same as without
 * them. */
static void
test_pack_cache (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *moved = g_strconcat (root, "-moved", NULL);
  g_autofree char *changed = NULL;
  g_autoptr (GPtrArray) components = components_of (root);
  g_autoptr (GPtrArray) moved_components = components_of (moved);
  g_autoptr (SarPackCache) cache = sar_pack_cache_start (components, FALSE);
  SarPackSpec spec
      = { "8.1.2.3",       "Nightly", "pbx-berlin", "192.0.2.10", CREATED, SAR_COMPRESSION_ZSTD,
          moved_components };
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) with_cache = NULL;
  g_autoptr (GBytes) without = NULL;
  int fd = temp_fd ();
  int plain;

  sar_pack_cache_pause (cache, TRUE);
  g_assert_cmpint (rename (root, moved), ==, 0);
  sar_pack_cache_wait (cache);
  /* changed after it was hashed: same size, other bytes */
  g_usleep (20 * 1000);
  changed = g_build_filename (moved, "core", "network.conf", NULL);
  g_assert_true (g_file_set_contents (changed, "ip=192.0.2.99\n", -1, NULL));

  spec.cache = cache;
  /* every file but the changed one */
  g_test_expect_message (NULL, G_LOG_LEVEL_DEBUG, "*found and hashed 6 files (5 hashed ahead)*");
  g_assert_true (sar_pack (&spec, fd, NULL, &error));
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  rewind_fd (fd);
  with_cache = read_all (fd);
  plain = pack (moved, SAR_COMPRESSION_ZSTD, NULL);
  without = read_all (plain);
  g_assert_true (g_bytes_equal (with_cache, without));
  rewind_fd (fd);
  g_clear_pointer (&cache, sar_pack_cache_free);
  {
    g_autoptr (SarHeader) header = verify_ok (fd);
  }
  close (plain);
  remove_tree (moved);
}

/* Started held, the thread reads nothing until it is let go: a restore
 * holds it while it extracts (it slowed the extraction down). */
static void
test_pack_cache_held (void)
{
  g_autofree char *root = make_tree ();
  g_autoptr (GPtrArray) components = components_of (root);
  SarPackSpec spec
      = { "8.1.2.3", "Nightly", "pbx-berlin", "192.0.2.10", CREATED, SAR_COMPRESSION_ZSTD,
          components };
  g_autoptr (GError) error = NULL;

  for (guint round = 0; round < 2; round++) {
    g_autoptr (SarPackCache) cache = sar_pack_cache_start (components, TRUE);
    int fd = temp_fd ();

    /* time enough for a thread that was not held to hash six small files */
    g_usleep (200 * 1000);
    if (round == 1)
      sar_pack_cache_wait (cache);
    spec.cache = cache;
    g_test_expect_message (NULL, G_LOG_LEVEL_DEBUG,
                           round == 0 ? "*found and hashed 6 files (0 hashed ahead)*"
                                      : "*found and hashed 6 files (6 hashed ahead)*");
    g_assert_true (sar_pack (&spec, fd, NULL, &error));
    g_test_assert_expected_messages ();
    g_assert_no_error (error);
    close (fd);
  }
  remove_tree (root);
}

/* --- packing many files --- */

#define MANY_TIME 1780000000

static void
set_fixed (const char *path, mode_t mode)
{
  const struct timespec times[2] = { { MANY_TIME, 0 }, { MANY_TIME, 0 } };

  g_assert_cmpint (chmod (path, mode), ==, 0);
  g_assert_cmpint (utimensat (AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), ==, 0);
}

static void
write_fixed (const char *path, guint i)
{
  g_autofree char *data = g_strdup_printf ("file %u\n%*s", i, (int) (i % 53), "");

  g_assert_true (g_file_set_contents (path, data, -1, NULL));
  set_fixed (path, 0644);
}

/* A tree of n files, most in directories of 100, with names that a walk
 * lists in another order than their whole paths sort in ("x", then
 * "x-1", "x.1", while "x/..." sorts after them), every mode and time
 * fixed: the same tree packs to the same bytes, wherever and whenever. */
static char *
make_many_tree (guint n)
{
  g_autoptr (GError) error = NULL;
  char *root = g_dir_make_tmp ("test-sar-many-XXXXXX", &error);
  const char *const odd[] = { "core/x/a", "core/x-1", "core/x.1", "core/x/b/c", "announcements/a" };
  const char *const dirs[] = { "core/x/b", "core/x", "core", "cdr-voicemail", "announcements" };

  g_assert_no_error (error);
  for (guint i = 0; i < n; i++) {
    g_autofree char *path = NULL;

    if (i < G_N_ELEMENTS (odd)) {
      path = g_build_filename (root, odd[i], NULL);
    } else {
      g_autofree char *dir
          = g_strdup_printf ("%s/%s/d%03u", root, i % 3 == 0 ? "cdr-voicemail" : "core", i / 100);

      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      path = g_strdup_printf ("%s/f%05u.txt", dir, i);
    }
    {
      g_autofree char *dir = g_path_get_dirname (path);

      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    }
    write_fixed (path, i);
  }
  /* the directories' times last, after their entries */
  for (guint i = 0; i <= n / 100; i++)
    for (guint j = 0; j < 2; j++) {
      g_autofree char *dir
          = g_strdup_printf ("%s/%s/d%03u", root, j == 0 ? "cdr-voicemail" : "core", i);

      if (g_file_test (dir, G_FILE_TEST_IS_DIR))
        set_fixed (dir, 0755);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++) {
    g_autofree char *dir = g_build_filename (root, dirs[i], NULL);

    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    set_fixed (dir, 0755);
  }
  return root;
}

static char *
digest_of (int fd)
{
  g_autoptr (GBytes) bytes = read_all (fd);

  rewind_fd (fd);
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
}

/* With the digests made ahead: the debug message that counts them is
 * expected. */
static int
pack_with_cache (const char *root, SarPackCache *cache, const char *expected_message)
{
  g_autoptr (GPtrArray) components = components_of (root);
  SarPackSpec spec = {
    "8.1.2.3", "Nightly", "pbx-berlin", "192.0.2.10", CREATED, SAR_COMPRESSION_NONE, components,
  };
  g_autoptr (GError) error = NULL;
  int fd = temp_fd ();

  spec.cache = cache;
  g_test_expect_message (NULL, G_LOG_LEVEL_DEBUG, expected_message);
  g_assert_true (sar_pack (&spec, fd, NULL, &error));
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  rewind_fd (fd);
  return fd;
}

/* Both archives the same bytes, and a good SAR file; closes both. */
static void
assert_same_archive (int cached, int plain)
{
  g_autofree char *digest = digest_of (plain);
  g_autofree char *cached_digest = digest_of (cached);

  g_assert_cmpstr (cached_digest, ==, digest);
  {
    g_autoptr (SarHeader) header = verify_ok (cached);
  }
  close (plain);
  close (cached);
}

/* Thousands of files, so that what the packer and the digests made ahead
 * keep goes to scratch files: the archive is the very bytes the packer
 * wrote when it kept a tree of them in memory (the digest below is of
 * that packer's archive of this tree, commit 913b2e7), taken from the
 * digests made ahead or not. */
static void
test_pack_many_files (void)
{
  g_autofree char *root = make_many_tree (5000);
  g_autoptr (GPtrArray) components = components_of (root);
  g_autoptr (SarPackCache) cache = NULL;
  g_autoptr (GError) error = NULL;
  int plain = pack (root, SAR_COMPRESSION_NONE, &error);
  g_autofree char *digest = NULL;
  int cached;

  g_assert_no_error (error);
  digest = digest_of (plain);
  g_assert_cmpstr (digest, ==, "35236a950c8c1f12a3b15710922e76ba19b466aafdc2885d0ab21561b5a1d517");

  cache = sar_pack_cache_start (components, FALSE);
  sar_pack_cache_wait (cache);
  cached = pack_with_cache (root, cache, "*found and hashed 5000 files (5000 hashed ahead)*");
  assert_same_archive (cached, plain);
  remove_tree (root);
}

/* Files changed, added and removed after their digests were made ahead
 * are hashed (again): the archive is the one packed without them. */
static void
test_pack_cache_after_changes (void)
{
  g_autofree char *root = make_many_tree (5000);
  g_autoptr (GPtrArray) components = components_of (root);
  g_autoptr (SarPackCache) cache = sar_pack_cache_start (components, FALSE);
  g_autoptr (GError) error = NULL;
  int plain, cached;

  sar_pack_cache_wait (cache);
  /* a new change time, whatever the clock's granularity */
  g_usleep (20 * 1000);
  for (guint i = 10; i < 5000; i += 500) {
    g_autofree char *dir
        = g_strdup_printf ("%s/%s/d%03u", root, i % 3 == 0 ? "cdr-voicemail" : "core", i / 100);
    g_autofree char *changed = g_strdup_printf ("%s/f%05u.txt", dir, i);
    g_autofree char *removed = g_strdup_printf ("%s/f%05u.txt", dir, i + 3);
    g_autofree char *added = g_strdup_printf ("%s/f%05ua.txt", dir, i);
    int fd = open (changed, O_WRONLY | O_CLOEXEC);

    /* the same inode, size and times, other bytes: only the change time
     * tells */
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (pwrite (fd, "F", 1, 0), ==, 1);
    close (fd);
    set_fixed (changed, 0644);
    g_assert_cmpint (unlink (removed), ==, 0);
    write_fixed (added, i);
  }
  /* a directory where a file was, and a file where a directory was */
  {
    g_autofree char *was_file = g_build_filename (root, "core", "x.1", NULL);
    g_autofree char *inside = g_build_filename (was_file, "inside", NULL);
    g_autofree char *was_dir = g_build_filename (root, "core", "x", "b", NULL);
    g_autofree char *below = g_build_filename (was_dir, "c", NULL);

    g_assert_cmpint (unlink (was_file), ==, 0);
    g_assert_cmpint (g_mkdir (was_file, 0755), ==, 0);
    write_fixed (inside, 7);
    g_assert_cmpint (unlink (below), ==, 0);
    g_assert_cmpint (rmdir (was_dir), ==, 0);
    write_fixed (was_dir, 8);
  }

  /* 10 changed, 10 removed, 10 added; x.1 and x/b/c removed, x.1/inside
   * and x/b added */
  cached = pack_with_cache (root, cache, "*found and hashed 5000 files (4978 hashed ahead)*");
  plain = pack (root, SAR_COMPRESSION_NONE, &error);
  g_assert_no_error (error);
  assert_same_archive (cached, plain);
  remove_tree (root);
}

static void
cancel_at_first_progress (guint64 done, guint64 total, gpointer data)
{
  g_cancellable_cancel (data);
}

/* Cancelled before it starts, or while it writes, sar_pack() stops with
 * the cancellation (a tree whose records go to scratch files). */
static void
test_pack_cancelled (void)
{
  g_autofree char *root = make_many_tree (1000);
  g_autoptr (GPtrArray) components = components_of (root);

  for (int while_writing = 0; while_writing < 2; while_writing++) {
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();
    SarPackSpec spec = {
      "8.1.2.3", NULL, NULL, NULL, CREATED, SAR_COMPRESSION_ZSTD, components,
    };
    g_autoptr (GError) error = NULL;
    int fd = temp_fd ();

    if (while_writing) {
      spec.progress = cancel_at_first_progress;
      spec.progress_data = cancellable;
    } else {
      g_cancellable_cancel (cancellable);
    }
    g_assert_false (sar_pack (&spec, fd, cancellable, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    close (fd);
  }
  remove_tree (root);
}

/* A file deep in a large tree that changes between the passes is named. */
static void
test_pack_names_a_deep_file_that_changed (void)
{
  g_autofree char *root = make_many_tree (1000);
  g_autoptr (GPtrArray) components = components_of (root);
  ChangeLater change = { g_build_filename (root, "core", "x", "b", "c", NULL), FALSE };
  SarPackSpec spec = {
    "8.1.2.3",           NULL,    NULL, NULL, CREATED, SAR_COMPRESSION_ZSTD, components,
    change_a_later_file, &change,
  };
  g_autoptr (GError) error = NULL;
  int fd = temp_fd ();

  g_usleep (20 * 1000);
  g_assert_false (sar_pack (&spec, fd, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  assert_contains (error->message, "/core/x/b/c changed while packing");
  close (fd);
  g_free (change.path);
  remove_tree (root);
}

#if defined(__SANITIZE_ADDRESS__)
/* libasan's (compiler-rt's allocator_interface.h, which GCC does not ship) */
size_t __sanitizer_get_current_allocated_bytes (void);
#endif

/* What malloc holds now (mmapped blocks included); in a sanitizer build,
 * what its allocator, which replaces malloc's, has handed out. */
static gsize
heap_used (void)
{
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes ();
#else
  struct mallinfo2 info = mallinfo2 ();

  return info.uordblks + info.hblkhd;
#endif
}

static void
sample_heap (guint64 done, guint64 total, gpointer data)
{
  gsize *peak = data;

  *peak = MAX (*peak, heap_used ());
}

/* The memory the digests made ahead hold once made, and the most the
 * packer holds while it writes, over what was held before: for a tree
 * of n files. */
static void
measure_packing (guint n, gsize *cache_held, gsize *pack_peak)
{
  g_autofree char *root = make_many_tree (n);
  g_autoptr (GPtrArray) components = components_of (root);
  g_autoptr (GError) error = NULL;
  SarPackSpec spec = {
    "8.1.2.3", "Nightly", "pbx-berlin", "192.0.2.10", CREATED, SAR_COMPRESSION_NONE, components,
  };
  gsize before, peak = 0;
  int fd = temp_fd ();

  malloc_trim (0);
  before = heap_used ();
  spec.cache = sar_pack_cache_start (components, FALSE);
  sar_pack_cache_wait (spec.cache);
  *cache_held = heap_used () - MIN (before, heap_used ());
  spec.progress = sample_heap;
  spec.progress_data = &peak;
  g_assert_true (sar_pack (&spec, fd, NULL, &error));
  g_assert_no_error (error);
  *pack_peak = peak - MIN (before, peak);
  sar_pack_cache_free (spec.cache);
  close (fd);
  remove_tree (root);
}

/* Neither the digests made ahead nor the packer hold memory for each
 * file: 20 times the files, not more memory (a tree in memory took about
 * 100 bytes a file, the digests made ahead 120). */
static void
test_pack_memory_is_flat (void)
{
  gsize cache_small, cache_large, pack_small, pack_large;

  measure_packing (1000, &cache_small, &pack_small);
  measure_packing (20000, &cache_large, &pack_large);
  g_test_message ("held: digests made ahead %zu / %zu bytes, packer %zu / %zu bytes", cache_small,
                  cache_large, pack_small, pack_large);
  g_assert_cmpuint (cache_large, <, cache_small + 256 * 1024);
  g_assert_cmpuint (pack_large, <, pack_small + 256 * 1024);
}

/* Order, ownership and permission bits of what sar_pack() writes. */
static void
test_pack_members (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *setuid_file = g_build_filename (root, "core", "network.conf", NULL);
  const char *const expected[] = {
    /* Siblings in byte order of their names: 'M' sorts before 'd'. */
    "manifest.ini",
    "SHA256SUMS",
    "core/",
    "core/März.txt",
    "core/db/",
    "core/db/asterisk.sql",
    "core/empty",
    "core/network.conf",
    "cdr-voicemail/",
    "cdr-voicemail/vm/",
    "cdr-voicemail/vm/2026/",
    "cdr-voicemail/vm/2026/msg0001.wav",
    "announcements/",
    "announcements/greeting.txt",
  };
  struct archive *archive = archive_read_new ();
  struct archive_entry *entry;
  locale_t previous;
  gsize i = 0;
  int fd;

  g_assert_cmpint (chmod (setuid_file, 04755), ==, 0);
  fd = pack (root, SAR_COMPRESSION_GZIP, NULL);
  archive_read_support_format_tar (archive);
  archive_read_support_filter_all (archive);
  g_assert_cmpint (archive_read_open_fd (archive, fd, 65536), ==, ARCHIVE_OK);
  previous = sar_locale_push ();
  while (archive_read_next_header (archive, &entry) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname_utf8 (entry);

    g_assert_cmpuint (i, <, G_N_ELEMENTS (expected));
    g_assert_cmpstr (name, ==, expected[i]);
    g_assert_cmpint (archive_entry_uid (entry), ==, 0);
    g_assert_cmpint (archive_entry_gid (entry), ==, 0);
    if (strcmp (name, "core/network.conf") == 0)
      g_assert_cmpint (archive_entry_perm (entry), ==, 0755);
    if (i < 2)
      g_assert_cmpint (archive_entry_mtime (entry), ==, CREATED);
    i++;
  }
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (expected));
  archive_read_free (archive);
  sar_locale_pop (previous);
  close (fd);
  remove_tree (root);
}

static void
test_pack_refuses_symlinks_and_fifos (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *link = g_build_filename (root, "core", "db", "link", NULL);
  g_autofree char *fifo = g_build_filename (root, "announcements", "fifo", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (symlink ("/etc/passwd", link), ==, 0);
  g_assert_cmpint (pack (root, SAR_COMPRESSION_NONE, &error), ==, -1);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  assert_contains (error->message, link);
  assert_contains (error->message, "is a symbolic link");
  g_clear_error (&error);
  g_unlink (link);

  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  g_assert_cmpint (pack (root, SAR_COMPRESSION_NONE, &error), ==, -1);
  assert_contains (error->message, "is a FIFO");
  g_clear_error (&error);
  g_unlink (fifo);

  /* A component directory that is a symlink is not followed either. */
  {
    g_autofree char *core = g_build_filename (root, "core", NULL);
    g_autofree char *moved = g_build_filename (root, "core-real", NULL);

    g_assert_cmpint (rename (core, moved), ==, 0);
    g_assert_cmpint (symlink (moved, core), ==, 0);
    g_assert_cmpint (pack (root, SAR_COMPRESSION_NONE, &error), ==, -1);
    assert_contains (error->message, core);
  }
  remove_tree (root);
}

static void
test_pack_refuses_bad_spec (void)
{
  g_autofree char *root = make_tree ();
  g_autoptr (GPtrArray) components = components_of (root);
  SarPackSpec spec = { NULL, NULL, NULL, NULL, 0, SAR_COMPRESSION_NONE, components };
  g_autoptr (GError) error = NULL;
  int fd = temp_fd ();

  g_assert_false (sar_pack (&spec, fd, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS);
  assert_contains (error->message, "Version");
  g_clear_error (&error);

  spec.version = "8.1";
  spec.process = "Night\nly";
  g_assert_false (sar_pack (&spec, fd, NULL, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS);
  assert_contains (error->message, "Process");
  g_clear_error (&error);

  spec.process = NULL;
  g_free (((SarPackComponent *) g_ptr_array_index (components, 1))->id);
  ((SarPackComponent *) g_ptr_array_index (components, 1))->id = g_strdup ("core");
  g_assert_false (sar_pack (&spec, fd, NULL, &error));
  assert_contains (error->message, "listed twice");
  close (fd);
  remove_tree (root);
}

static void
test_truncated_archive (void)
{
  const SarCompression compressions[] = { SAR_COMPRESSION_ZSTD, SAR_COMPRESSION_NONE };
  g_autofree char *root = make_tree ();

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++) {
    int fd = pack (root, compressions[i], NULL);
    off_t size = lseek (fd, 0, SEEK_END);
    g_autoptr (SarHeader) header = NULL;

    g_assert_cmpint (ftruncate (fd, size / 2), ==, 0);
    /* The metadata is intact: only reading everything finds the damage. */
    rewind_fd (fd);
    header = sar_read_header (fd, NULL);
    g_assert_nonnull (header);
    rewind_fd (fd);
    assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, "");
  }
  remove_tree (root);
}

static void
append (int fd, const void *data, gsize len)
{
  g_assert_cmpint (lseek (fd, 0, SEEK_END), >=, 0);
  g_assert_cmpint (write (fd, data, len), ==, (gssize) len);
  rewind_fd (fd);
}

static off_t
file_size (int fd)
{
  struct stat st;

  g_assert_cmpint (fstat (fd, &st), ==, 0);
  return st.st_size;
}

/* Nothing may follow the tar archive but zeros padding it to the end of
 * its last 10240-byte record, and nothing may follow compressed data but
 * zeros padding the file to the end of its last 10240-byte record (what
 * tar and bsdtar write): no unverified data is kept with a backup. */
static void
test_refuses_data_after_the_end (void)
{
  const SarCompression compressions[]
      = { SAR_COMPRESSION_NONE, SAR_COMPRESSION_GZIP, SAR_COMPRESSION_ZSTD };
  g_autofree char *root = make_tree ();

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++) {
    int fd = pack (root, compressions[i], NULL);
    off_t size = file_size (fd);
    g_autoptr (SarHeader) header = NULL;

    g_test_message ("compression %d, %" G_GINT64_FORMAT " bytes", (int) compressions[i],
                    (gint64) size);
    /* the writer's own output is fine */
    header = verify_ok (fd);
    rewind_fd (fd);
    /* some bytes of something else */
    append (fd, "surprise", 8);
    assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                         compressions[i] == SAR_COMPRESSION_ZSTD ? "" : "follows the end of the");
    /* a hole of 300 MiB (zeros, and no space on disk) */
    fd = pack (root, compressions[i], NULL);
    g_assert_cmpint (ftruncate (fd, size + 300 * 1024 * 1024), ==, 0);
    assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                         compressions[i] == SAR_COMPRESSION_ZSTD ? "" : "10240-byte record");
  }
  remove_tree (root);
}

/* What tar, bsdtar and Python's tarfile write: zeros up to the end of the
 * last 10240-byte record, after the end of the tar archive or after the
 * compressed data.  One byte more is refused. */
static void
test_accepts_padding_to_the_record (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *zeros = g_malloc0 (20480);
  const SarCompression compressions[] = { SAR_COMPRESSION_GZIP, SAR_COMPRESSION_NONE };

  for (gsize i = 0; i < G_N_ELEMENTS (compressions); i++) {
    int fd = pack (root, compressions[i], NULL);
    off_t size = file_size (fd);
    gsize pad = (gsize) ((size + 10239) / 10240 * 10240 - size);
    g_autoptr (SarHeader) header = NULL;

    /* uncompressed, the writer fills its last record itself */
    if (compressions[i] == SAR_COMPRESSION_NONE)
      g_assert_cmpint (pad, ==, 0);
    append (fd, zeros, pad);
    header = verify_ok (fd);
    append (fd, zeros, 1);
    assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, "10240-byte record");
  }
  remove_tree (root);
}

/* A gzip stream holding the tar archive and more: the data after the end
 * of the tar archive is inside the compressed data. */
static void
test_refuses_data_after_the_tar_inside_the_compression (void)
{
  g_autofree char *root = make_tree ();
  int plain = pack (root, SAR_COMPRESSION_NONE, NULL);
  g_autoptr (GBytes) tar = read_all (plain);
  struct archive *archive = archive_write_new ();
  int fd = temp_fd ();
  gsize len;
  const guint8 *data = g_bytes_get_data (tar, &len);

  /* raw: the bytes as they are, gzip-compressed */
  g_assert_cmpint (archive_write_set_format_raw (archive), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_add_filter_gzip (archive), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_set_bytes_in_last_block (archive, 1), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_fd (archive, fd), ==, ARCHIVE_OK);
  {
    struct archive_entry *entry = archive_entry_new ();

    archive_entry_set_pathname (entry, "data");
    archive_entry_set_filetype (entry, AE_IFREG);
    g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
    archive_entry_free (entry);
  }
  g_assert_cmpint (archive_write_data (archive, data, len), ==, (la_ssize_t) len);
  g_assert_cmpint (archive_write_data (archive, "hidden data", 11), ==, 11);
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  rewind_fd (fd);
  assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP,
                       "data follows the end of the tar archive");
  close (plain);
  remove_tree (root);
}

static void
test_verify_cancelled (void)
{
  g_autofree char *root = make_tree ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  int fd = pack (root, SAR_COMPRESSION_NONE, NULL);

  g_cancellable_cancel (cancellable);
  header = sar_verify (fd, NULL, NULL, NULL, cancellable, &error);
  g_assert_null (header);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  close (fd);
  remove_tree (root);
}

/* Data whose magic selects a libarchive filter that runs an external
 * program (grzip and lrzip always; lzop without liblzo2).  A stand-in for
 * each program on PATH records whether anything ran it. */
/* A source whose data never ends: once it is all out, a read waits until
 * it is interrupted. */
typedef struct {
  GBytes *data;
  gsize offset;
  GMutex lock;
  GCond cond;
  gboolean interrupted;
} EndlessStream;

static gssize
endless_read (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  EndlessStream *stream = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (stream->data, &len);
  gsize n = MIN (size, len - stream->offset);

  if (n == 0) {
    g_mutex_lock (&stream->lock);
    while (!stream->interrupted)
      g_cond_wait (&stream->cond, &stream->lock);
    g_mutex_unlock (&stream->lock);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "interrupted");
    return -1;
  }
  memcpy (buffer, data + stream->offset, n);
  stream->offset += n;
  return (gssize) n;
}

static void
endless_interrupt (gpointer user_data)
{
  EndlessStream *stream = user_data;

  g_mutex_lock (&stream->lock);
  stream->interrupted = TRUE;
  g_cond_broadcast (&stream->cond);
  g_mutex_unlock (&stream->lock);
}

/* The read-ahead thread waits for more data that does not come, while the
 * data it has already handed over is damaged: the verification fails with
 * what is wrong, at once, by interrupting that read. */
static void
test_verify_stream_stops_a_waiting_read (void)
{
  g_autofree char *root = make_tree ();
  int fd = pack (root, SAR_COMPRESSION_NONE, NULL);
  g_autoptr (GBytes) packed = read_all (fd);
  gsize len = g_bytes_get_size (packed);
  guint8 *damaged = g_memdup2 (g_bytes_get_data (packed, NULL), len);
  EndlessStream stream = { NULL };
  SarSource source = { endless_read, endless_interrupt, &stream };
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;

  /* a byte in the middle of the 3 MiB file */
  damaged[len / 2] ^= 0xff;
  stream.data = g_bytes_new_take (damaged, len);
  g_mutex_init (&stream.lock);
  g_cond_init (&stream.cond);
  header = sar_verify_stream (&source, NULL, NULL, NULL, NULL, &error);
  g_assert_null (header);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
  assert_contains (error->message, "msg0001.wav");
  assert_contains (error->message, "SHA-256");
  g_assert_true (stream.interrupted);
  g_mutex_clear (&stream.lock);
  g_cond_clear (&stream.cond);
  g_bytes_unref (stream.data);
  close (fd);
  remove_tree (root);
}

static void
test_refuses_filters_that_run_programs (void)
{
  static const struct {
    const char *program;
    const char *magic;
    gsize len;
  } cases[] = {
    { "lrzip", "LRZI\0\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24 },
    { "grzip", "GRZipII\0\x02\x04:)\0\0\0\0\0\0\0\0\0\0\0\0", 24 },
    { "lzop", "\x89LZO\0\r\n\x1a\n\x10\x30\x20\xa0\x09\x40\x01\x05\x03\0\0\x01\0\0\0", 24 },
  };
  g_autofree char *bin = g_dir_make_tmp ("test-sar-bin-XXXXXX", NULL);
  g_autofree char *marker = g_build_filename (bin, "ran", NULL);
  g_autofree char *old_path = g_strdup (g_getenv ("PATH"));

  g_assert_nonnull (bin);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *program = g_build_filename (bin, cases[i].program, NULL);
    g_autofree char *script
        = g_strdup_printf ("#!/bin/sh\necho %s >> '%s'\ncat\n", cases[i].program, marker);

    g_assert_true (g_file_set_contents (program, script, -1, NULL));
    g_assert_cmpint (chmod (program, 0755), ==, 0);
  }
  g_setenv ("PATH", bin, TRUE);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (SarHeader) header = NULL;
    int fd = temp_fd ();
    char padding[4096] = { 0 };

    g_test_message ("%s", cases[i].program);
    g_assert_cmpint (write (fd, cases[i].magic, cases[i].len), ==, (gssize) cases[i].len);
    g_assert_cmpint (write (fd, padding, sizeof padding), ==, sizeof padding);
    rewind_fd (fd);
    header = sar_read_header (fd, &error);
    g_assert_null (header);
    g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP);
    rewind_fd (fd);
    assert_verify_fails (fd, NULL, BACKUP_ERROR_INVALID_BACKUP, "not a SAR file");
  }

  g_setenv ("PATH", old_path, TRUE);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  remove_tree (bin);
}

typedef struct {
  GBytes *data;
  gsize offset;
  gsize fail_at; /* 0: never */
  guint calls;
} Stream;

/* Hands out odd-sized pieces, or fails once fail_at bytes are out. */
static gssize
stream_read (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  Stream *stream = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (stream->data, &len);
  gsize n = MIN (MIN (size, 1001), len - stream->offset);

  stream->calls++;
  if (stream->fail_at != 0 && stream->offset >= stream->fail_at) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "the sender went away");
    return -1;
  }
  memcpy (buffer, data + stream->offset, n);
  stream->offset += n;
  return (gssize) n;
}

static void
test_verify_stream (void)
{
  g_autofree char *root = make_tree ();
  int fd = pack (root, SAR_COMPRESSION_ZSTD, NULL);
  g_autoptr (GBytes) data = read_all (fd);
  g_autoptr (GError) error = NULL;
  g_autoptr (SarHeader) header = NULL;
  guint64 last = 0;
  Stream stream = { data, 0, 0, 0 };
  SarSource source = { stream_read, NULL, &stream };

  header = sar_verify_stream (&source, NULL, record_progress, &last, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (header);
  g_assert_cmpuint (stream.calls, >, 1);
  g_assert_cmpuint (last, ==, stream.offset);

  /* A failing read fails the verification with the reader's own error. */
  g_clear_pointer (&header, sar_header_free);
  stream = (Stream){ data, 0, g_bytes_get_size (data) / 2, 0 };
  header = sar_verify_stream (&source, NULL, NULL, NULL, NULL, &error);
  g_assert_null (header);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_assert_cmpstr (error->message, ==, "the sender went away");
  close (fd);
  remove_tree (root);
}

static void
test_default_labels (void)
{
  g_assert_cmpstr (sar_default_label ("core"), ==, "Core data");
  g_assert_cmpstr (sar_default_label ("cdr-voicemail"), ==, "CDR and voicemails");
  g_assert_cmpstr (sar_default_label ("announcements"), ==, "Voicemail announcements");
  g_assert_cmpstr (sar_default_label ("fax"), ==, "fax");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sar/verify/handmade", test_handmade_archive_verifies);
  g_test_add_func ("/sar/verify/refuses-unbounded-compressions",
                   test_refuses_unbounded_compressions);
  g_test_add_func ("/sar/verify/dot-slash-prefix", test_accepts_dot_slash_prefix);
  g_test_add_func ("/sar/verify/refuses-unlisted-member", test_refuses_unlisted_member);
  g_test_add_func ("/sar/verify/refuses-missing-file", test_refuses_missing_listed_file);
  g_test_add_func ("/sar/verify/refuses-checksum-mismatch", test_refuses_checksum_mismatch);
  g_test_add_func ("/sar/verify/refuses-size-mismatch", test_refuses_size_not_matching_manifest);
  g_test_add_func ("/sar/verify/refuses-special-members", test_refuses_special_members);
  g_test_add_func ("/sar/verify/limits", test_limits);
  g_test_add_func ("/sar/verify/limit-counts-directories", test_limit_counts_directories);
  g_test_add_func ("/sar/verify/truncated", test_truncated_archive);
  g_test_add_func ("/sar/verify/cancelled", test_verify_cancelled);
  g_test_add_func ("/sar/verify/refuses-data-after-the-end", test_refuses_data_after_the_end);
  g_test_add_func ("/sar/verify/accepts-padding-to-the-record", test_accepts_padding_to_the_record);
  g_test_add_func ("/sar/verify/refuses-data-after-the-tar-inside-the-compression",
                   test_refuses_data_after_the_tar_inside_the_compression);
  g_test_add_func ("/sar/verify/stream", test_verify_stream);
  g_test_add_func ("/sar/verify/stream-stops-a-waiting-read",
                   test_verify_stream_stops_a_waiting_read);
  g_test_add_func ("/sar/verify/refuses-filters-that-run-programs",
                   test_refuses_filters_that_run_programs);
  g_test_add_func ("/sar/header/refuses-wrong-order", test_refuses_wrong_order);
  g_test_add_func ("/sar/header/refuses-zip", test_refuses_zip);
  g_test_add_func ("/sar/header/refuses-empty-and-garbage", test_refuses_empty_and_garbage);
  g_test_add_func ("/sar/header/refuses-oversized-metadata", test_refuses_oversized_metadata);
  g_test_add_func ("/sar/header/checksums-limit", test_checksums_limit);
  g_test_add_func ("/sar/header/reads-only-metadata", test_read_header_reads_only_metadata);
  g_test_add_func ("/sar/pack/read-and-verify", test_pack_then_read_and_verify);
  g_test_add_func ("/sar/pack/reproducible", test_pack_is_reproducible);
  g_test_add_func ("/sar/pack/verified", test_pack_verified);
  g_test_add_func ("/sar/pack/cache", test_pack_cache);
  g_test_add_func ("/sar/pack/cache-held", test_pack_cache_held);
  g_test_add_func ("/sar/pack/many-files", test_pack_many_files);
  g_test_add_func ("/sar/pack/cache-after-changes", test_pack_cache_after_changes);
  g_test_add_func ("/sar/pack/memory-is-flat", test_pack_memory_is_flat);
  g_test_add_func ("/sar/pack/cancelled", test_pack_cancelled);
  g_test_add_func ("/sar/pack/names-a-deep-file-that-changed",
                   test_pack_names_a_deep_file_that_changed);
  g_test_add_func ("/sar/pack/verified-failures", test_pack_verified_failures);
  g_test_add_func ("/sar/pack/refuses-a-file-changed-between-the-passes",
                   test_pack_refuses_a_file_changed_between_the_passes);
  g_test_add_func ("/sar/pack/members", test_pack_members);
  g_test_add_func ("/sar/pack/refuses-symlinks-and-fifos", test_pack_refuses_symlinks_and_fifos);
  g_test_add_func ("/sar/pack/refuses-bad-spec", test_pack_refuses_bad_spec);
  g_test_add_func ("/sar/pack/default-labels", test_default_labels);
  return g_test_run ();
}
