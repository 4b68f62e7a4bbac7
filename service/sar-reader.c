/* sar-reader.c: reading SAR archives with libarchive: the locale every
 * libarchive user switches to, the reader (decoder, read-ahead, tar
 * reader), the metadata members (sar_read_header()) and the rules every
 * later member obeys.  The tally is in sar-tally.c, verification in
 * sar-verify.c. */
#include "sar.h"
#include "sar-private.h"

#include "errors.h"
#include "names.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Raw input is read in chunks of this size, so memory does not grow with
 * the archive.  Without read-ahead, small enough that the chunk, the
 * decompressor's buffers and the data being hashed stay in the CPU's L2
 * cache: verifying in one thread is about a quarter faster than with 256
 * KiB chunks. */
#define IO_CHUNK (64 * 1024)
#define PROGRESS_STEP (1024 * 1024)
/* Read-ahead (sar_reader_open() with ahead): a thread of its own reads
 * and decompresses into AHEAD_BUFFERS buffers of at most AHEAD_CHUNK
 * bytes of the tar stream (a block of the decoder each: zstd's are 128
 * KiB), so it is never more than 512 KiB ahead of the reader (8 buffers
 * were no faster, with extraction's batches of 512 KiB after them: 2 GB
 * into tmpfs, medians of 5 rounds). */
#define AHEAD_CHUNK (128 * 1024)
#define AHEAD_BUFFERS 4
/* ... which reads its input in chunks of this size (fewer reads; the
 * cache no longer has to hold the chunk while it is hashed). */
#define AHEAD_INPUT_CHUNK (256 * 1024)
/* tar writes in records of 20 blocks, and pads the last one with zeros
 * (so do bsdtar and Python's tarfile); bsdtar pads compressed data written
 * to a pipe the same way. */
#define RECORD (20 * 512)

SarLocale
sar_locale_push (void)
{
  static gsize utf8 = 0;

  if (g_once_init_enter (&utf8)) {
    locale_t locale = newlocale (LC_ALL_MASK, "C.UTF-8", (locale_t) 0);

    g_once_init_leave (&utf8, locale != (locale_t) 0 ? (gsize) locale : 1);
  }
  if (utf8 == 1)
    return NULL;
  return uselocale ((locale_t) utf8);
}

SarLocale
sar_locale_push_reading (void)
{
  static gsize c = 0;

  if (g_once_init_enter (&c)) {
    locale_t locale = newlocale (LC_ALL_MASK, "C", (locale_t) 0);

    g_once_init_leave (&c, locale != (locale_t) 0 ? (gsize) locale : 1);
  }
  if (c == 1)
    return NULL;
  return uselocale ((locale_t) c);
}

void
sar_locale_pop (SarLocale previous)
{
  if (previous != NULL)
    uselocale (previous);
}

/* The compressions read: those whose decoder needs a bounded amount of
 * memory whatever the file says (gzip: a 32 KiB window; bzip2: at most
 * 900 kB blocks, about 3.7 MB; zstd: libzstd refuses windows over
 * 128 MiB).  xz, lzma and lzip decoders take as much memory as the file's
 * header asks for, and libarchive sets them no limit: they are refused,
 * and so are the rest (lz4, compress, lzop, grzip, lrzip).
 *
 * libarchive may implement a filter itself or by running an external
 * program (gzip without zlib, ...), depending on how it was built; it says
 * which when a filter is enabled (ARCHIVE_WARN: "will use an external
 * program").  A root daemon must not run programs on uploaded data, so
 * only the filters that are in-process in this libarchive are enabled. */
static const struct {
  const char *name;
  int (*enable) (struct archive *archive);
} compression_filters[] = {
  { "gzip", archive_read_support_filter_gzip },
  { "zstd", archive_read_support_filter_zstd },
  { "bzip2", archive_read_support_filter_bzip2 },
};

/* How the compressions that are not read begin, so that such a file is
 * refused by name (no decoder for them is ever enabled).  lzma ("alone")
 * files have no magic; see looks_like_lzma(). */
static const struct {
  const char *name;
  const char *magic;
  gsize len;
} refused_compressions[] = {
  { "xz",
    "\xfd"
    "7zXZ\0",
    6 },
  { "lzip", "LZIP", 4 },
  { "lz4", "\x04\x22\x4d\x18", 4 },
  { "lz4", "\x02\x21\x4c\x18", 4 }, /* legacy frames */
  { "compress", "\x1f\x9d", 2 },
  { "lzop", "\x89LZO\0\r\n\x1a\n", 9 },
  { "grzip", "GRZipII\0\x02\x04:)", 12 },
  { "lrzip", "LRZI", 4 },
};
#define SNIFF_LEN 13

/* Bit i set: compression_filters[i] runs in-process.  Asked once, of a
 * throw-away reader, since enabling a filter cannot be undone. */
static guint
in_process_filters (void)
{
  static gsize mask = 0;

  G_STATIC_ASSERT (G_N_ELEMENTS (compression_filters) < 8 * sizeof (gsize) - 1);
  if (g_once_init_enter (&mask)) {
    gsize found = 1u << G_N_ELEMENTS (compression_filters); /* never 0 */

    for (guint i = 0; i < G_N_ELEMENTS (compression_filters); i++) {
      struct archive *probe = archive_read_new ();

      if (compression_filters[i].enable (probe) == ARCHIVE_OK)
        found |= (gsize) 1 << i;
      else
        g_debug ("not reading %s-compressed archives: %s", compression_filters[i].name,
                 archive_error_string (probe));
      archive_read_free (probe);
    }
    g_once_init_leave (&mask, found);
  }
  return (guint) mask;
}

/* An lzma ("alone") header: properties byte lc/lp/pb (below 9*5*5), a
 * dictionary size of 2^n or 2^n + 2^(n-1), and an uncompressed size that
 * is unknown (all ones) or plausible. */
static gboolean
looks_like_lzma (const guint8 *p)
{
  guint32 dict = (guint32) p[1] | (guint32) p[2] << 8 | (guint32) p[3] << 16 | (guint32) p[4] << 24;
  guint64 size = 0;

  for (int i = 12; i >= 5; i--)
    size = size << 8 | p[i];
  if (p[0] >= 9 * 5 * 5 || dict < 4096)
    return FALSE;
  while ((dict & 1) == 0)
    dict >>= 1;
  if (dict != 1 && dict != 3)
    return FALSE;
  return size == G_MAXUINT64 || size < G_GUINT64_CONSTANT (1) << 40;
}

/* The name of a compression that is not read, if the data starts like
 * one. */
static const char *
refused_compression (const guint8 *data, gsize len)
{
  for (gsize i = 0; i < G_N_ELEMENTS (refused_compressions); i++)
    if (len >= refused_compressions[i].len
        && memcmp (data, refused_compressions[i].magic, refused_compressions[i].len) == 0)
      return refused_compressions[i].name;
  if (len >= SNIFF_LEN && looks_like_lzma (data))
    return "lzma";
  return NULL;
}

/* The archive that decompresses: libarchive's "raw" format (the data as
 * it is) behind the compression filters we allow. */
static struct archive *
decoder_new (void)
{
  struct archive *archive = archive_read_new ();
  guint filters = in_process_filters ();

  archive_read_support_format_raw (archive);
  for (guint i = 0; i < G_N_ELEMENTS (compression_filters); i++)
    if (filters & (1u << i))
      compression_filters[i].enable (archive);
  return archive;
}

void
sar_header_free (SarHeader *header)
{
  if (header == NULL)
    return;
  sar_manifest_free (header->manifest);
  sar_checksums_free (header->checksums);
  g_free (header);
}

/* --- reading --- */

/* Two libarchive readers in a row: the decoder turns the input into the
 * tar stream, and the tar reader (tar formats only, no filters) reads
 * that stream block by block from the decoder, without copying.  Between
 * the two, every byte of the tar stream passes through our hands, so we
 * know where the tar archive ends and what follows it.
 *
 * With read-ahead, the decoder runs in a thread of its own (from the
 * opening of the tar reader until it has no more, or is stopped) and
 * hands the tar stream over in buffers of its own; the fields marked
 * "input" are then the thread's until it is joined. */
typedef enum {
  AHEAD_DATA,
  AHEAD_END,    /* the decoder has no more; the thread ends */
  AHEAD_FAILED, /* decoding failed (errnum, why); the thread ends */
} AheadKind;

typedef struct {
  AheadKind kind;
  gsize len;
  guint64 input_bytes; /* input read when this was decoded, for progress */
  int errnum;
  char *why;
  guint8 data[AHEAD_CHUNK];
} Ahead;

static void
ahead_free (Ahead *ahead)
{
  g_free (ahead->why);
  g_free (ahead);
}

struct _SarReader {
  SarSource source;
  GError *read_error;   /* why read failed */
  GError **input_error; /* input: where a failing read says why */
  guint8 *buffer;       /* input */
  gsize chunk;          /* its size */
  guint64 bytes_read;   /* input: input bytes, compressed */
  guint64 bytes_seen;   /* of those, what the reader has had (for progress) */
  guint64 bytes_reported;
  SarProgressFunc progress;
  gpointer progress_data;
  gboolean sniffed;      /* the start of the data was looked at */
  guint64 input_nonzero; /* input: input bytes up to the last one that is not zero */

  struct archive *decoder; /* input */
  struct archive *tar;
  guint64 decoded;         /* bytes of the tar stream handed to the tar reader */
  guint64 decoded_nonzero; /* ... up to the last one that is not zero */
  gboolean decoded_end;    /* the decoder has no more */

  /* read-ahead */
  GThread *ahead_thread;   /* while it runs */
  GAsyncQueue *ahead_full; /* Ahead*, thread -> reader */
  GAsyncQueue *ahead_free; /* Ahead*, reader -> thread */
  Ahead *ahead_current;    /* what the tar reader reads now */
  GError *ahead_error;     /* the thread's failing read */
  gint ahead_stop;         /* atomic: the reader stopped early */
};

/* The length of block without the zeros at its end. */
static gsize
without_trailing_zeros (const guint8 *block, gsize len)
{
  while (len >= 8) {
    guint64 word;

    memcpy (&word, block + len - 8, 8);
    if (word != 0)
      break;
    len -= 8;
  }
  while (len > 0 && block[len - 1] == 0)
    len--;
  return len;
}

/* Keeps count of a block of n bytes at *offset, and of where its last
 * byte that is not zero lies. */
static void
count_block (const guint8 *block, gsize n, guint64 *offset, guint64 *nonzero)
{
  gsize data = without_trailing_zeros (block, n);

  if (data > 0)
    *nonzero = *offset + data;
  *offset += n;
}

static gssize
read_some (SarReader *reader, guint8 *buffer, gsize size)
{
  GError **error = reader->input_error;
  gssize n;

  g_clear_error (error);
  n = reader->source.read (buffer, size, reader->source.data, error);
  if (n < 0 && *error == NULL)
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "reading the backup failed");
  return n;
}

/* The first bytes: at least SNIFF_LEN unless the data is shorter, and not
 * a compression that is refused. */
static gssize
read_start (SarReader *reader)
{
  gsize got = 0;
  const char *refused;

  while (got < SNIFF_LEN) {
    gssize n = read_some (reader, reader->buffer + got, reader->chunk - got);

    if (n < 0)
      return -1;
    if (n == 0)
      break;
    got += (gsize) n;
  }
  refused = refused_compression (reader->buffer, got);
  if (refused != NULL) {
    g_set_error (reader->input_error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP,
                 "not a SAR file: compressed with %s; use zstd or gzip (%s)", refused,
                 g_str_equal (refused, "xz") || g_str_equal (refused, "lzma")
                         || g_str_equal (refused, "lzip")
                     ? "its decoder would take as much memory as the file asks for"
                     : "not supported");
    return -1;
  }
  return (gssize) got;
}

static la_ssize_t
source_read (struct archive *archive, void *data, const void **buffer)
{
  SarReader *reader = data;
  gssize n;

  if (!reader->sniffed) {
    reader->sniffed = TRUE;
    n = read_start (reader);
  } else {
    n = read_some (reader, reader->buffer, reader->chunk);
  }
  if (n < 0) {
    archive_set_error (archive, EIO, "%s", (*reader->input_error)->message);
    return -1;
  }
  count_block (reader->buffer, (gsize) n, &reader->bytes_read, &reader->input_nonzero);
  if (reader->ahead_thread == NULL)
    reader->bytes_seen = reader->bytes_read;
  *buffer = reader->buffer;
  return n;
}

/* The next block from the decoder: ARCHIVE_OK with *block and *len,
 * ARCHIVE_EOF at the end, or a failure (the decoder's error says why). */
static int
decoder_next (SarReader *reader, const void **block, size_t *len)
{
  la_int64_t offset;
  int ret = archive_read_data_block (reader->decoder, block, len, &offset);

  return ret == ARCHIVE_WARN ? ARCHIVE_OK : ret;
}

static const char *
decoder_why (SarReader *reader)
{
  const char *why = archive_error_string (reader->decoder);

  return why != NULL ? why : "the data cannot be decompressed";
}

/* The read-ahead thread: decodes into free buffers until the end, a
 * failure or a stop; its last buffer says which.  Each block of the
 * decoder goes out at once, so data that has arrived never waits for more
 * (an upload's next bytes may be long in coming). */
static gpointer
ahead_thread (gpointer data)
{
  SarReader *reader = data;

  for (;;) {
    const void *block = NULL;
    size_t left = 0;
    Ahead *ahead;
    int ret = g_atomic_int_get (&reader->ahead_stop) ? ARCHIVE_EOF
                                                     : decoder_next (reader, &block, &left);

    while (ret == ARCHIVE_OK && left > 0) {
      ahead = g_async_queue_pop (reader->ahead_free);
      ahead->kind = AHEAD_DATA;
      ahead->len = MIN (left, AHEAD_CHUNK);
      ahead->input_bytes = reader->bytes_read;
      memcpy (ahead->data, block, ahead->len);
      block = (const guint8 *) block + ahead->len;
      left -= ahead->len;
      g_async_queue_push (reader->ahead_full, ahead);
    }
    if (ret == ARCHIVE_OK)
      continue;
    ahead = g_async_queue_pop (reader->ahead_free);
    ahead->len = 0;
    ahead->input_bytes = reader->bytes_read;
    if (ret == ARCHIVE_EOF) {
      ahead->kind = AHEAD_END;
    } else {
      ahead->kind = AHEAD_FAILED;
      ahead->errnum = archive_errno (reader->decoder);
      g_free (ahead->why);
      ahead->why = g_strdup (decoder_why (reader));
    }
    g_async_queue_push (reader->ahead_full, ahead);
    return NULL;
  }
}

static gboolean
ahead_start (SarReader *reader, GError **error)
{
  g_autoptr (GError) local = NULL;

  reader->ahead_full = g_async_queue_new_full ((GDestroyNotify) ahead_free);
  reader->ahead_free = g_async_queue_new_full ((GDestroyNotify) ahead_free);
  for (guint i = 0; i < AHEAD_BUFFERS; i++)
    g_async_queue_push (reader->ahead_free, g_new0 (Ahead, 1));
  reader->input_error = &reader->ahead_error;
  reader->ahead_thread = g_thread_try_new ("sar-decode", ahead_thread, reader, &local);
  if (reader->ahead_thread == NULL) {
    reader->input_error = &reader->read_error;
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot start decompressing: %s",
                 local->message);
    return FALSE;
  }
  return TRUE;
}

/* After the thread's last buffer, or to stop it early: the input is the
 * reader's again. */
static void
ahead_join (SarReader *reader)
{
  if (reader->ahead_thread == NULL)
    return;
  g_thread_join (g_steal_pointer (&reader->ahead_thread));
  reader->input_error = &reader->read_error;
  reader->bytes_seen = reader->bytes_read;
}

/* Stops the thread wherever it is: a read waiting for data is interrupted,
 * buffers are taken and given back until its last one. */
static void
ahead_stop (SarReader *reader)
{
  if (reader->ahead_thread == NULL)
    return;
  g_atomic_int_set (&reader->ahead_stop, TRUE);
  if (reader->source.interrupt != NULL)
    reader->source.interrupt (reader->source.data);
  for (;;) {
    Ahead *ahead = g_async_queue_pop (reader->ahead_full);
    gboolean last = ahead->kind != AHEAD_DATA;

    g_async_queue_push (reader->ahead_free, ahead);
    if (last)
      break;
  }
  ahead_join (reader);
  /* a read the stop made fail is not why the reader failed */
  g_clear_error (&reader->ahead_error);
}

/* The next buffer of the thread: the previous one goes back. */
static la_ssize_t
ahead_next (SarReader *reader, struct archive *archive, const void **buffer)
{
  Ahead *ahead;

  if (reader->ahead_current != NULL)
    g_async_queue_push (reader->ahead_free, g_steal_pointer (&reader->ahead_current));
  ahead = g_async_queue_pop (reader->ahead_full);
  reader->bytes_seen = ahead->input_bytes;
  if (ahead->kind == AHEAD_DATA) {
    reader->ahead_current = ahead;
    *buffer = ahead->data;
    return (la_ssize_t) ahead->len;
  }
  /* the thread's last buffer: it ends */
  ahead_join (reader);
  if (ahead->kind == AHEAD_END) {
    reader->decoded_end = TRUE;
  } else {
    /* the thread's failing read is the reader's now */
    g_clear_error (&reader->read_error);
    reader->read_error = g_steal_pointer (&reader->ahead_error);
    archive_set_error (archive, ahead->errnum, "%s", ahead->why);
  }
  g_async_queue_push (reader->ahead_free, ahead);
  return reader->decoded_end ? 0 : -1;
}

/* The next block of the tar stream from the decoder: its length, 0 at the
 * end, -1 when decoding fails (archive's error then says why). */
static la_ssize_t
decode_block (SarReader *reader, struct archive *archive, const void **buffer)
{
  const void *block;
  size_t len;
  la_ssize_t n;
  int ret;

  if (reader->decoded_end)
    return 0;
  if (reader->ahead_full != NULL) {
    /* blocks of ours, not the decoder's */
    n = ahead_next (reader, archive, buffer);
    if (n > 0)
      count_block (*buffer, (gsize) n, &reader->decoded, &reader->decoded_nonzero);
    return n;
  }
  ret = decoder_next (reader, &block, &len);
  if (ret == ARCHIVE_EOF) {
    reader->decoded_end = TRUE;
    return 0;
  }
  if (ret != ARCHIVE_OK) {
    archive_set_error (archive, archive_errno (reader->decoder), "%s", decoder_why (reader));
    return -1;
  }
  count_block (block, len, &reader->decoded, &reader->decoded_nonzero);
  *buffer = block;
  return (la_ssize_t) len;
}

/* The tar reader's input: the decoder's output, block by block. */
static la_ssize_t
decoded_read (struct archive *archive, void *data, const void **buffer)
{
  return decode_block (data, archive, buffer);
}

void
sar_reader_free (SarReader *reader)
{
  if (reader == NULL)
    return;
  ahead_stop (reader);
  if (reader->ahead_current != NULL)
    ahead_free (reader->ahead_current);
  g_clear_pointer (&reader->ahead_full, g_async_queue_unref);
  g_clear_pointer (&reader->ahead_free, g_async_queue_unref);
  if (reader->tar != NULL)
    archive_read_free (reader->tar);
  if (reader->decoder != NULL)
    archive_read_free (reader->decoder);
  g_clear_error (&reader->read_error);
  g_free (reader->buffer);
  g_free (reader);
}

struct archive *
sar_reader_archive (SarReader *reader)
{
  return reader->tar;
}

/* Turns a libarchive failure into a GError: a failing read is reported as
 * it failed, anything else means the data is not a readable archive. */
gboolean
sar_reader_failed (SarReader *reader, const char *what, GError **error)
{
  const char *why = archive_error_string (reader->tar != NULL ? reader->tar : reader->decoder);

  if (reader->read_error != NULL) {
    g_propagate_error (error, g_steal_pointer (&reader->read_error));
    return FALSE;
  }
  return backup_error_invalid (error, "%s: %s", what, why != NULL ? why : "unknown error");
}

gboolean
sar_reader_next (SarReader *reader, struct archive_entry **entry, const char *what, GError **error)
{
  g_autofree char *quoted = NULL;
  int ret = archive_read_next_header (reader->tar, entry);

  if (ret == ARCHIVE_EOF) {
    *entry = NULL;
    return TRUE;
  }
  /* ARCHIVE_WARN: a name libarchive could not convert for the locale (see
   * sar_locale_push_reading()); ARCHIVE_RETRY (a damaged header) is a
   * failure. */
  if (ret == ARCHIVE_OK || ret == ARCHIVE_WARN)
    return TRUE;
  if (reader->read_error != NULL || archive_error_string (reader->tar) != NULL)
    return sar_reader_failed (reader, what, error);
  /* libarchive fails without a word mostly where it reads the map of a
   * sparse file (GNU's formats); the entry holds what it had read. */
  quoted = sar_quote (*entry != NULL ? archive_entry_pathname (*entry) : NULL);
  return backup_error_invalid (error,
                               "%s: the header of member %s is damaged, or it describes a sparse "
                               "file (sparse files are not supported)",
                               what, quoted);
}

SarReader *
sar_reader_open (const SarSource *source, gboolean ahead, SarProgressFunc progress,
                 gpointer progress_data, GError **error)
{
  g_autoptr (SarReader) reader = g_new0 (SarReader, 1);
  struct archive_entry *entry;

  reader->source = *source;
  reader->input_error = &reader->read_error;
  reader->progress = progress;
  reader->progress_data = progress_data;
  reader->chunk = ahead ? AHEAD_INPUT_CHUNK : IO_CHUNK;
  reader->buffer = g_malloc (reader->chunk);
  reader->decoder = decoder_new ();
  if (archive_read_open (reader->decoder, reader, NULL, source_read, NULL) != ARCHIVE_OK
      || archive_read_next_header (reader->decoder, &entry) != ARCHIVE_OK) {
    sar_reader_failed (reader, "not a SAR file", error);
    return NULL;
  }
  if (ahead && !ahead_start (reader, error))
    return NULL;
  /* Tar only (ustar, pax, GNU), and no filter: the decoder did that. */
  reader->tar = archive_read_new ();
  archive_read_support_format_tar (reader->tar);
  if (archive_read_open (reader->tar, reader, NULL, decoded_read, NULL) != ARCHIVE_OK) {
    sar_reader_failed (reader, "not a SAR file", error);
    return NULL;
  }
  return g_steal_pointer (&reader);
}

gssize
sar_read_fd (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  int fd = GPOINTER_TO_INT (user_data);
  ssize_t n;

  do
    n = read (fd, buffer, size);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    backup_error_set_errno (error, errno, "reading the backup");
  return n;
}

static guint64
round_to_record (guint64 n)
{
  return (n + RECORD - 1) / RECORD * RECORD;
}

gboolean
sar_reader_finish (SarReader *reader, GError **error)
{
  /* what the tar reader took: up to and with its end-of-archive blocks */
  guint64 tar_end = (guint64) archive_filter_bytes (reader->tar, 0);
  guint64 compressed_end;

  /* The rest of the tar stream: zeros up to the end of the record, or
   * nothing.  Read no further than that. */
  while (reader->decoded_nonzero <= tar_end && reader->decoded <= round_to_record (tar_end)) {
    const void *block;
    la_ssize_t n = decode_block (reader, reader->tar, &block);

    if (n < 0)
      return sar_reader_failed (reader, "reading the end of the archive", error);
    if (n == 0)
      break;
  }
  if (reader->decoded_nonzero > tar_end)
    return backup_error_invalid (
        error,
        "data follows the end of the tar archive (at byte %" G_GUINT64_FORMAT
        " of the tar stream); only zeros up to the end of its last 10240-byte record may",
        reader->decoded_nonzero);
  if (reader->decoded > round_to_record (tar_end))
    return backup_error_invalid (
        error, "more zeros follow the end of the tar archive than fill its last 10240-byte record");
  /* the read-ahead ended with the decoder, which has no more: the decoder
   * is ours again */
  ahead_stop (reader);
  if (archive_filter_count (reader->decoder) < 2)
    return TRUE;

  /* Compressed: what follows the compressed data in the file, likewise. */
  compressed_end = (guint64) archive_filter_bytes (reader->decoder, -1);
  while (reader->input_nonzero <= compressed_end
         && reader->bytes_read <= round_to_record (compressed_end)) {
    gssize n = read_some (reader, reader->buffer, reader->chunk);

    if (n < 0) {
      g_propagate_error (error, g_steal_pointer (&reader->read_error));
      return FALSE;
    }
    if (n == 0)
      break;
    count_block (reader->buffer, (gsize) n, &reader->bytes_read, &reader->input_nonzero);
  }
  if (reader->input_nonzero > compressed_end)
    return backup_error_invalid (
        error,
        "data follows the end of the compressed data (at byte %" G_GUINT64_FORMAT
        " of the file); only zeros up to the end of its last 10240-byte record may",
        reader->input_nonzero);
  if (reader->bytes_read > round_to_record (compressed_end))
    return backup_error_invalid (
        error,
        "more zeros follow the end of the compressed data than fill its last 10240-byte record");
  return TRUE;
}

SarReader *
sar_reader_open_fd (int fd, gboolean ahead, SarProgressFunc progress, gpointer progress_data,
                    GError **error)
{
  SarSource source = { sar_read_fd, NULL, GINT_TO_POINTER (fd) };

  return sar_reader_open (&source, ahead, progress, progress_data, error);
}

void
sar_reader_report (SarReader *reader, gboolean force)
{
  if (reader->progress == NULL)
    return;
  if (!force && reader->bytes_seen - reader->bytes_reported < PROGRESS_STEP)
    return;
  reader->bytes_reported = reader->bytes_seen;
  reader->progress (reader->bytes_seen, reader->progress_data);
}

char *
sar_member_path (struct archive_entry *entry)
{
  /* the bytes of the header (see sar_locale_push_reading()) */
  const char *name = archive_entry_pathname (entry);

  if (name == NULL)
    return g_strdup ("");
  if (name[0] == '.' && name[1] == '/' && name[2] != '\0')
    name += 2;
  return g_strdup (name);
}

gboolean
sar_check_member_type (struct archive_entry *entry, const char *quoted, GError **error)
{
  const char *what = NULL;

  if (archive_entry_hardlink (entry) != NULL)
    what = "a hard link";
  else if (archive_entry_filetype (entry) == AE_IFREG && archive_entry_sparse_count (entry) > 0)
    return backup_error_invalid (
        error, "member %s is a sparse file: sparse files are not supported", quoted);
  else if (archive_entry_symlink (entry) != NULL)
    what = "a symbolic link";
  else {
    switch (archive_entry_filetype (entry)) {
    case AE_IFREG:
      break;
    case AE_IFDIR:
      break;
    case AE_IFLNK:
      what = "a symbolic link";
      break;
    case AE_IFCHR:
    case AE_IFBLK:
      what = "a device";
      break;
    case AE_IFIFO:
      what = "a FIFO";
      break;
    case AE_IFSOCK:
      what = "a socket";
      break;
    default:
      what = "of an unknown type";
    }
  }
  if (what == NULL)
    return TRUE;
  return backup_error_invalid (
      error, "member %s is %s; only directories and regular files are allowed", quoted, what);
}

gint64
sar_reader_next_metadata (SarReader *reader, const char *expected, guint position, gint64 max,
                          GError **error)
{
  struct archive_entry *entry;
  g_autofree char *path = NULL;
  g_autofree char *quoted = NULL;
  la_int64_t size;

  if (!sar_reader_next (reader, &entry,
                        position == 1 ? "not a SAR file" : "reading " SAR_CHECKSUMS_MEMBER, error))
    return -1;
  if (entry == NULL) {
    backup_error_invalid (error, "not a SAR file: the archive ends before its %s member \"%s\"",
                          position == 1 ? "first" : "second", expected);
    return -1;
  }
  path = sar_member_path (entry);
  quoted = sar_quote (path);
  if (strcmp (path, expected) != 0) {
    backup_error_invalid (error,
                          "not a SAR file: member %u is %s, expected \"%s\" (" SAR_MANIFEST_MEMBER
                          " and " SAR_CHECKSUMS_MEMBER
                          " must be the first two members, in this order)",
                          position, quoted, expected);
    return -1;
  }
  if (!sar_check_member_type (entry, quoted, error))
    return -1;
  if (archive_entry_filetype (entry) != AE_IFREG) {
    backup_error_invalid (error, "member %s is not a regular file", quoted);
    return -1;
  }
  size = archive_entry_size (entry);
  if (!archive_entry_size_is_set (entry) || size < 0 || size > max) {
    backup_error_invalid (error,
                          "member %s is %" G_GINT64_FORMAT " bytes long; at most %" G_GINT64_FORMAT
                          " are allowed",
                          quoted, (gint64) size, max);
    return -1;
  }
  return size;
}

/* Hands the data of the current member to consume() block by block, and
 * checks it has exactly the size its header gave. */
static gboolean
read_member_data (SarReader *reader, const char *name, guint64 size,
                  gboolean (*consume) (const void *block, gsize len, gpointer data, GError **error),
                  gpointer data, GError **error)
{
  guint64 got = 0;

  for (;;) {
    const void *block;
    size_t len;
    la_int64_t offset;
    int ret = archive_read_data_block (reader->tar, &block, &len, &offset);

    if (ret == ARCHIVE_EOF)
      break;
    if (ret != ARCHIVE_OK) {
      g_autofree char *what = g_strdup_printf ("reading member \"%s\"", name);

      return sar_reader_failed (reader, what, error);
    }
    if (offset < 0 || (guint64) offset != got || len > size - got)
      return backup_error_invalid (error, "member \"%s\" is damaged", name);
    if (!consume (block, len, data, error))
      return FALSE;
    got += len;
  }
  if (got != size)
    return backup_error_invalid (error, "member \"%s\" is truncated", name);
  return TRUE;
}

static gboolean
append_block (const void *block, gsize len, gpointer data, GError **error)
{
  g_string_append_len (data, block, (gssize) len);
  return TRUE;
}

static gboolean
feed_block (const void *block, gsize len, gpointer data, GError **error)
{
  return sar_checksums_parser_feed (data, block, len, error);
}

/* The manifest, and when checksums the SHA256SUMS that follows it. */
static SarHeader *
read_header (SarReader *reader, gboolean checksums, GError **error)
{
  g_autoptr (SarHeader) header = g_new0 (SarHeader, 1);
  g_autoptr (GString) manifest = NULL;
  g_autoptr (SarChecksumsParser) parser = NULL;
  gint64 size;

  size = sar_reader_next_metadata (reader, SAR_MANIFEST_MEMBER, 1, SAR_MANIFEST_MAX, error);
  if (size < 0)
    return NULL;
  manifest = g_string_sized_new ((gsize) size);
  if (!read_member_data (reader, SAR_MANIFEST_MEMBER, (guint64) size, append_block, manifest,
                         error))
    return NULL;
  header->manifest = sar_manifest_parse (manifest->str, manifest->len, error);
  if (header->manifest == NULL)
    return NULL;
  if (!checksums)
    return g_steal_pointer (&header);

  /* SHA256SUMS may be large: parsed as it is read, never held whole */
  size = sar_reader_next_metadata (reader, SAR_CHECKSUMS_MEMBER, 2, SAR_CHECKSUMS_MAX, error);
  if (size < 0)
    return NULL;
  parser = sar_checksums_parser_new ();
  if (!read_member_data (reader, SAR_CHECKSUMS_MEMBER, (guint64) size, feed_block, parser, error))
    return NULL;
  header->checksums = sar_checksums_parser_finish (g_steal_pointer (&parser), error);
  if (header->checksums == NULL
      || !sar_checksums_match_manifest (header->checksums, header->manifest, error))
    return NULL;
  return g_steal_pointer (&header);
}

SarHeader *
sar_reader_read_header (SarReader *reader, GError **error)
{
  return read_header (reader, TRUE, error);
}

static SarHeader *
read_header_fd (int fd, gboolean checksums, GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push_reading ();
  g_autoptr (SarReader) reader = sar_reader_open_fd (fd, FALSE, NULL, NULL, error);

  if (reader == NULL)
    return NULL;
  return read_header (reader, checksums, error);
}

SarHeader *
sar_read_header (int fd, GError **error)
{
  return read_header_fd (fd, TRUE, error);
}

SarHeader *
sar_read_manifest (int fd, GError **error)
{
  return read_header_fd (fd, FALSE, error);
}

char *
sar_member_classify (struct archive_entry *entry, const SarManifest *manifest, char **quoted,
                     guint *component, GError **error)
{
  g_autofree char *path = sar_member_path (entry);
  g_autofree char *q = sar_quote (path);
  g_autoptr (GError) local = NULL;
  gsize id_len = strcspn (path, "/");
  guint i;

  if (!sar_path_check (path, &local)) {
    backup_error_invalid (error, "invalid member: %s", local->message);
    return NULL;
  }
  if (!sar_check_member_type (entry, q, error))
    return NULL;
  /* a database dump at the root */
  i = sar_manifest_dump_component (manifest, path);
  if (i != G_MAXUINT) {
    if (archive_entry_filetype (entry) != AE_IFREG) {
      backup_error_invalid (error, "member %s, the dump of a database, is not a regular file", q);
      return NULL;
    }
    *component = i;
    *quoted = g_steal_pointer (&q);
    return g_steal_pointer (&path);
  }
  for (i = 0; i < manifest->components->len; i++) {
    const SarComponent *c = g_ptr_array_index (manifest->components, i);
    if (strlen (c->id) == id_len && strncmp (c->id, path, id_len) == 0)
      break;
  }
  if (i == manifest->components->len) {
    backup_error_invalid (error,
                          "member %s is not below a component listed in " SAR_MANIFEST_MEMBER, q);
    return NULL;
  }
  if (g_str_has_suffix (path, "/"))
    path[strlen (path) - 1] = '\0';
  *component = i;
  *quoted = g_steal_pointer (&q);
  return g_steal_pointer (&path);
}
