/* sar-verify.c: verifying a whole SAR archive against its own metadata:
 * the reader (sar-reader.c) and the tally (sar-tally.c), with every
 * regular file's data hashed. */
#include "sar.h"
#include "sar-private.h"

#include "errors.h"
#include "sha256.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

/* --- verifying --- */

typedef struct {
  SarReader *reader;
  GCancellable *cancellable;
  SarTally tally;
} Verify;

/* Hashes the member's data straight from libarchive's buffers. */
static gboolean
hash_member_data (Verify *verify, const char *quoted, guint64 size, guint8 digest[SAR_SHA256_SIZE],
                  GError **error)
{
  SarSha256 sha;
  guint64 got = 0;

  sar_sha256_init (&sha);
  for (;;) {
    const void *block;
    size_t len;
    la_int64_t offset;
    int ret = archive_read_data_block (sar_reader_archive (verify->reader), &block, &len, &offset);

    if (ret == ARCHIVE_EOF)
      break;
    if (ret != ARCHIVE_OK) {
      g_autofree char *what = g_strdup_printf ("reading member %s", quoted);

      return sar_reader_failed (verify->reader, what, error);
    }
    if (offset < 0 || (guint64) offset != got)
      return backup_error_invalid (
          error, "member %s has holes (a sparse file): sparse files are not supported", quoted);
    if (g_cancellable_set_error_if_cancelled (verify->cancellable, error))
      return FALSE;
    sar_sha256_update (&sha, block, len);
    got += len;
    sar_reader_report (verify->reader, FALSE);
  }
  if (got != size)
    return backup_error_invalid (error, "member %s is truncated", quoted);
  sar_sha256_digest (&sha, digest);
  return TRUE;
}

static gboolean
verify_file (Verify *verify, struct archive_entry *entry, const char *path, const char *quoted,
             guint component, GError **error)
{
  guint64 size;
  guint8 digest[SAR_SHA256_SIZE];
  SarChecksumEntry listed;

  if (!sar_tally_file (&verify->tally, entry, path, quoted, component, &listed, &size, error)
      || !hash_member_data (verify, quoted, size, digest, error))
    return FALSE;
  if (memcmp (digest, listed.digest, sizeof digest) != 0)
    return backup_error_invalid (
        error, "member %s does not match its SHA-256 checksum in " SAR_CHECKSUMS_MEMBER, quoted);
  return TRUE;
}

static gboolean
verify_member (Verify *verify, struct archive_entry *entry, GError **error)
{
  g_autofree char *quoted = NULL;
  guint component;
  g_autofree char *path
      = sar_member_classify (entry, verify->tally.header->manifest, &quoted, &component, error);

  if (path == NULL)
    return FALSE;
  if (archive_entry_filetype (entry) == AE_IFDIR)
    return sar_tally_directory (&verify->tally, path, quoted, error);
  return verify_file (verify, entry, path, quoted, component, error);
}

SarHeader *
sar_verify_stream (const SarSource *source, const SarLimits *limits, SarProgressFunc progress,
                   gpointer progress_data, GCancellable *cancellable, GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push_reading ();
  g_autoptr (SarReader) reader = sar_reader_open (source, TRUE, progress, progress_data, error);
  g_autoptr (SarHeader) header = NULL;
  Verify verify = { reader, cancellable, { 0 } };
  gboolean ok;

  if (reader == NULL)
    return NULL;
  header = sar_reader_read_header (reader, error);
  if (header == NULL)
    return NULL;

  ok = sar_tally_init (&verify.tally, header, limits, error);
  while (ok) {
    struct archive_entry *entry = NULL;

    ok = !g_cancellable_set_error_if_cancelled (cancellable, error)
         && sar_reader_next (reader, &entry, "reading the archive", error);
    if (ok && entry == NULL)
      break;
    ok = ok && sar_tally_entry (&verify.tally, error) && verify_member (&verify, entry, error);
    sar_reader_report (reader, FALSE);
  }
  ok = ok && sar_tally_complete (&verify.tally, error) && sar_reader_finish (reader, error);
  sar_tally_clear (&verify.tally);
  if (!ok)
    return NULL;
  sar_reader_report (reader, TRUE);
  return g_steal_pointer (&header);
}

SarHeader *
sar_verify (int fd, const SarLimits *limits, SarProgressFunc progress, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  SarSource source = { sar_read_fd, NULL, GINT_TO_POINTER (fd) };

  return sar_verify_stream (&source, limits, progress, progress_data, cancellable, error);
}
