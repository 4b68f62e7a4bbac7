/* sar-fixture.c: hand-made archives for the unit tests. */
#include "sar-fixture.h"

#include "sar.h"

#include <archive_entry.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

int
temp_fd (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("test-sar-XXXXXX", &path, &error);

  g_assert_no_error (error);
  g_unlink (path);
  return fd;
}

void
rewind_fd (int fd)
{
  g_assert_cmpint (lseek (fd, 0, SEEK_SET), ==, 0);
}

static gsize
member_size (const Member *member)
{
  if (member->type != 'f')
    return 0;
  return member->data != NULL ? strlen (member->data) : member->size;
}

void
write_member (struct archive *archive, const Member *member)
{
  struct archive_entry *entry = archive_entry_new ();
  gsize len = member_size (member);

  /* The bytes as they are: libarchive composes (NFC) a name given as
   * UTF-8 on its way into a header.  (The locale is UTF-8.) */
  archive_entry_set_pathname (entry, member->path);
  if (member->mode != 0)
    archive_entry_set_perm (entry, member->mode);
  else
    archive_entry_set_perm (entry, member->type == 'd' ? 0755 : 0644);
  archive_entry_set_mtime (entry, CREATED, 0);
  archive_entry_set_size (entry, len);
  switch (member->type) {
  case 'f':
    archive_entry_set_filetype (entry, AE_IFREG);
    break;
  case 'd':
    archive_entry_set_filetype (entry, AE_IFDIR);
    break;
  case 'l':
    archive_entry_set_filetype (entry, AE_IFLNK);
    archive_entry_set_symlink (entry, member->data);
    break;
  case 'h':
    archive_entry_set_filetype (entry, AE_IFREG);
    archive_entry_set_hardlink (entry, member->data);
    break;
  case 'p':
    archive_entry_set_filetype (entry, AE_IFIFO);
    break;
  case 'c':
    archive_entry_set_filetype (entry, AE_IFCHR);
    archive_entry_set_rdev (entry, makedev (1, 3));
    break;
  default:
    g_assert_not_reached ();
  }
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  if (member->data != NULL && len > 0) {
    g_assert_cmpint (archive_write_data (archive, member->data, len), ==, (la_ssize_t) len);
  } else if (len > 0) {
    g_autofree char *zeros = g_malloc0 (1024 * 1024);

    for (gsize done = 0; done < len;) {
      gsize n = MIN (len - done, 1024 * 1024);

      g_assert_cmpint (archive_write_data (archive, zeros, n), ==, (la_ssize_t) n);
      done += n;
    }
  }
  archive_entry_free (entry);
}

int
write_members (int format, int filter, const Member *members, gsize n)
{
  g_auto (SarLocale) previous = sar_locale_push ();
  struct archive *archive = archive_write_new ();
  int fd = temp_fd ();

  g_assert_cmpint (archive_write_set_format (archive, format), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_add_filter (archive, filter), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_fd (archive, fd), ==, ARCHIVE_OK);
  for (gsize i = 0; i < n; i++)
    write_member (archive, &members[i]);
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  rewind_fd (fd);
  return fd;
}

static char *
digest_of (const Member *member)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = member_size (member);

  if (member->data != NULL) {
    g_checksum_update (checksum, (const guchar *) member->data, len);
  } else {
    g_autofree guchar *zeros = g_malloc0 (1024 * 1024);

    for (gsize done = 0; done < len; done += MIN (len - done, 1024 * 1024))
      g_checksum_update (checksum, zeros, MIN (len - done, 1024 * 1024));
  }
  return g_strdup (g_checksum_get_string (checksum));
}

void
metadata_for (const Member *described, gsize n, char **manifest, char **sums)
{
  const char *const ids[] = { "core", "cdr-voicemail" };
  guint64 count[2] = { 0 }, bytes[2] = { 0 };
  GString *list = g_string_new (NULL);

  for (gsize i = 0; i < n; i++) {
    const char *path = described[i].path;

    if (described[i].type != 'f')
      continue;
    if (g_str_has_prefix (path, "./"))
      path += 2;
    for (guint c = 0; c < G_N_ELEMENTS (ids); c++) {
      g_autofree char *prefix = g_strconcat (ids[c], "/", NULL);
      g_autofree char *digest = NULL;

      if (!g_str_has_prefix (path, prefix))
        continue;
      count[c]++;
      bytes[c] += member_size (&described[i]);
      digest = digest_of (&described[i]);
      g_string_append_printf (list, "%s  %s\n", digest, path);
    }
  }
  *sums = g_string_free (list, FALSE);
  *manifest = g_strdup_printf ("[Backup]\nFormat=1\nVersion=8.1.2.3\n"
                               "Created=2026-11-20T02:00:00Z\nProcess=Nightly\n"
                               "Hostname=pbx\nComponents=core;cdr-voicemail\n\n"
                               "[Component core]\nLabel=Core data\nFiles=%" G_GUINT64_FORMAT
                               "\nBytes=%" G_GUINT64_FORMAT "\n\n"
                               "[Component cdr-voicemail]\nLabel=CDR\nFiles=%" G_GUINT64_FORMAT
                               "\nBytes=%" G_GUINT64_FORMAT "\n",
                               count[0], bytes[0], count[1], bytes[1]);
}

int
write_sar_as (int format, int filter, const Member *described, gsize n_described,
              const Member *body, gsize n_body)
{
  g_autofree char *manifest = NULL;
  g_autofree char *sums = NULL;
  g_autofree Member *members = g_new0 (Member, n_body + 2);

  metadata_for (described, n_described, &manifest, &sums);
  members[0] = (Member){ "manifest.ini", 'f', manifest, 0, 0 };
  members[1] = (Member){ "SHA256SUMS", 'f', sums, 0, 0 };
  if (n_body > 0)
    memcpy (members + 2, body, n_body * sizeof (Member));
  return write_members (format, filter, members, n_body + 2);
}
