/* sar.h: reading and writing SAR archives (see docs/sar-format.md).
 *
 * Reading uses libarchive with the tar formats only and the compression
 * filters libarchive implements itself (never one that runs an external
 * program).  sar_read_header() (sar-reader.c) reads just the first two
 * members, so its cost does not depend on the size of the backup.
 * sar_verify() (sar-verify.c) reads the whole archive and checks it
 * against its own metadata, keeping count in a SarTally (sar-tally.c),
 * which extraction (extract.c) shares.  The writer
 * (sar-pack.c) packs one directory per component into a zstd (or gzip)
 * compressed pax archive.
 */
#pragma once

#include <gio/gio.h>
#include <locale.h>
#include "manifest.h"

/* --- for every user of libarchive --- */

/* libarchive converts member names between the archive and the charset of
 * the current locale.  Member names are UTF-8 whatever the process's
 * locale, and must come back byte for byte as they went in:
 *
 * - Writing runs with the thread switched to C.UTF-8, so the pax writer can
 *   put every name (given with archive_entry_set_pathname(), as bytes)
 *   into a pax header as UTF-8 as it is:
 *
 *     g_auto (SarLocale) previous = sar_locale_push ();
 *
 * - Reading runs with the thread switched to C (ASCII).  libarchive would
 *   compose a UTF-8 name of a pax header into Unicode's form C when it
 *   converts it for a UTF-8 locale: "a" + U+0308 (decomposed, as macOS
 *   writes names) would become "ä", another name, and no longer match
 *   SHA256SUMS.  It cannot convert a name that is not ASCII for the C
 *   locale, and then keeps the header's bytes as they are (with
 *   ARCHIVE_WARN): archive_entry_pathname() is the name byte for byte.
 *
 *     g_auto (SarLocale) previous = sar_locale_push_reading ();
 *
 * Each switches until the end of the scope.  (NULL: nothing to restore.) */
typedef locale_t SarLocale;
SarLocale sar_locale_push (void);
SarLocale sar_locale_push_reading (void);
void sar_locale_pop (SarLocale previous);
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (SarLocale, sar_locale_pop, NULL)

/* --- reading (sar-reader.c) --- */

/* Called now and then with the bytes of compressed input consumed so far. */
typedef void (*SarProgressFunc) (guint64 bytes_read, gpointer user_data);

/* Supplies the next bytes of an archive: fills buffer with up to size
 * bytes and returns how many, 0 at the end of the data, or -1 with error
 * set (that error is what the verification then fails with). */
typedef gssize (*SarReadFunc) (guint8 *buffer, gsize size, gpointer user_data, GError **error);

/* Makes a read that waits for data (now, or the next one) return at once
 * with an error; called from another thread when a reader with
 * read-ahead stops early.  Not needed where reads never wait long
 * (files). */
typedef void (*SarInterruptFunc) (gpointer user_data);

typedef struct {
  SarReadFunc read;
  SarInterruptFunc interrupt; /* may be NULL */
  gpointer data;
} SarSource;

/* One pass over the bytes of a SAR file, shared by verification and
 * extraction: tar formats only, and only the compression filters libarchive
 * runs in-process (see docs/sar-format.md), never one that would run an
 * external program on hostile data.  A decoder (libarchive's raw format
 * behind the filters) turns the input into the tar stream, which a tar
 * reader without filters reads; sar_reader_archive() is that tar reader,
 * for archive_read_next_header() and archive_read_data_block().
 *
 * With ahead, the input is read and decompressed in a thread of its own,
 * at most about 1 MiB ahead of the tar reader, so a full read uses two
 * cores (for reading the metadata only, it would just read more). */
typedef struct _SarReader SarReader;
struct archive_entry;

/* Fails (INVALID_BACKUP, or read's own error) when the start of the data
 * is not a tar archive in a known compression. */
SarReader *sar_reader_open (const SarSource *source, gboolean ahead, SarProgressFunc progress,
                            gpointer progress_data, GError **error);
SarReader *sar_reader_open_fd (int fd, gboolean ahead, SarProgressFunc progress,
                               gpointer progress_data, GError **error);
struct archive *sar_reader_archive (SarReader *reader);
/* archive_read_next_header() of the tar reader: TRUE with *entry the next
 * member, or NULL after the last; FALSE with error saying why ("<what>:
 * ...").  Accepts ARCHIVE_WARN (see sar_locale_push_reading()). */
gboolean sar_reader_next (SarReader *reader, struct archive_entry **entry, const char *what,
                          GError **error);
/* The header of metadata member number position (1: manifest.ini, 2:
 * SHA256SUMS), which must be the regular file `expected` of at most max
 * bytes: its size, or -1 with error set (INVALID_BACKUP, or
 * sar_reader_next()'s error).  Its data is the caller's to read or skip. */
gint64 sar_reader_next_metadata (SarReader *reader, const char *expected, guint position,
                                 gint64 max, GError **error);
/* A libarchive call on the reader failed: the GError saying why ("<what>:
 * <libarchive's reason>", or the failed read's own error).  FALSE. */
gboolean sar_reader_failed (SarReader *reader, const char *what, GError **error);
/* After the tar reader's ARCHIVE_EOF: reads the rest of the data and
 * fails (INVALID_BACKUP) unless it is nothing, or zeros padding the tar
 * stream to the end of its last 10240-byte record (and, compressed, the
 * file to the end of the compressed data's last record): no bytes beyond
 * the archive are kept unverified.  Reads no more than that padding
 * (with read-ahead: and what the thread had read ahead). */
gboolean sar_reader_finish (SarReader *reader, GError **error);
/* Progress: every PROGRESS_STEP bytes of input, or now when force. */
void sar_reader_report (SarReader *reader, gboolean force);
void sar_reader_free (SarReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarReader, sar_reader_free)

typedef struct {
  SarManifest *manifest;
  SarChecksums *checksums;
} SarHeader;

void sar_header_free (SarHeader *header);

/* A member's path, byte for byte as its header gives it (read with
 * sar_locale_push_reading()), with one leading "./" (as "tar -C dir ."
 * writes) removed; "" when it has none. */
char *sar_member_path (struct archive_entry *entry);

/* Only directories and regular files may appear in an archive: anything
 * else (links, devices, FIFOs, sockets, sparse files) is
 * BACKUP_ERROR_INVALID_BACKUP naming the member (quoted). */
gboolean sar_check_member_type (struct archive_entry *entry, const char *quoted, GError **error);

/* What every member after the metadata must pass: a safe path
 * (sar_path_check), an allowed type, and a place below a component of the
 * manifest (or, a regular file, the dump of its database at the root:
 * "<id>.pgdump", the only regular file without a '/' that passes
 * sar_tally_file()).  Returns the path without "./" and without a trailing
 * '/', the quoted path for messages and the component's index. */
char *sar_member_classify (struct archive_entry *entry, const SarManifest *manifest, char **quoted,
                           guint *component, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarHeader, sar_header_free)

/* Reads manifest.ini and SHA256SUMS (which must be the first two members,
 * in that order) from an archive open on fd (read from its current offset;
 * the fd is not closed).  Errors are BACKUP_ERROR_INVALID_BACKUP with a
 * message saying what is wrong. */
SarHeader *sar_read_header (int fd, GError **error);
/* Only the first member, manifest.ini, by the same rules: a header whose
 * checksums are NULL.  Reads the same few blocks whatever the archive's
 * size, where the SHA256SUMS of a large backup takes as long to read and
 * parse as it is long; for a file whose SHA256SUMS was read before and
 * has not changed since. */
SarHeader *sar_read_manifest (int fd, GError **error);

typedef struct {
  guint64 max_unpacked_bytes; /* 0: no limit */
  guint64 max_entries;        /* 0: no limit */
} SarLimits;

/* --- the tally (sar-tally.c) --- */

/* The bookkeeping of one full read of an archive, shared by verification
 * and extraction: which listed files were seen (no file twice, nothing
 * both a file and a directory or below a file, nothing listed missing),
 * per-component file counts and bytes against the manifest, and the entry
 * and unpacked-byte limits.  Its memory is a bit per listed file. */
typedef struct {
  const SarHeader *header;
  const SarLimits *limits; /* may be NULL */
  guint8 *seen;            /* bit i: the file of SHA256SUMS line i + 1 was read */
  guint64 *files;          /* per component, in manifest order */
  guint64 *bytes;
  guint64 entries;
  guint64 unpacked;
} SarTally;

/* Fails (TOO_LARGE) when the metadata alone already exceeds the limits. */
gboolean sar_tally_init (SarTally *tally, const SarHeader *header, const SarLimits *limits,
                         GError **error);
void sar_tally_clear (SarTally *tally);
/* Counts one more member after the metadata. */
gboolean sar_tally_entry (SarTally *tally, GError **error);
gboolean sar_tally_directory (SarTally *tally, const char *path, const char *quoted,
                              GError **error);
/* A regular file, before its data is read: its path, its line in
 * SHA256SUMS (into *listed), and its size against the manifest and the
 * limits, so a decompression bomb stops here. */
gboolean sar_tally_file (SarTally *tally, struct archive_entry *entry, const char *path,
                         const char *quoted, guint component, SarChecksumEntry *listed,
                         guint64 *size, GError **error);
/* After the last member: nothing listed is missing, the totals match. */
gboolean sar_tally_complete (SarTally *tally, GError **error);

/* --- verifying (sar-verify.c) --- */

/* Reads the whole archive on fd and checks: the first two members as in
 * sar_read_header(); every later member is a directory or a regular file
 * below a component of the manifest, its path passes sar_path_check(); each
 * regular file is listed in SHA256SUMS, appears once, and its SHA-256
 * matches; no listed file is missing; per-component counts and byte totals
 * match the manifest; limits hold.  Returns the header on success. */
SarHeader *sar_verify (int fd, const SarLimits *limits, SarProgressFunc progress,
                       gpointer progress_data, GCancellable *cancellable, GError **error);

/* sar_verify() of the bytes source supplies, in order, up to their end
 * (data after the archive is refused: sar_reader_finish()), read ahead in
 * a second thread.  Memory does not depend on the archive's size (beyond
 * its metadata). */
SarHeader *sar_verify_stream (const SarSource *source, const SarLimits *limits,
                              SarProgressFunc progress, gpointer progress_data,
                              GCancellable *cancellable, GError **error);

/* --- writing (sar-pack.c) --- */

typedef enum {
  SAR_COMPRESSION_ZSTD,
  SAR_COMPRESSION_GZIP,
  SAR_COMPRESSION_NONE,
} SarCompression;

typedef struct {
  char *id;
  char *label;
  char *path; /* directory whose contents become <id>/ */
  /* A database dump made beforehand (pgdb_dump()), packed as
   * "<id>.pgdump": the database's name (NULL: none), and a file holding
   * the dump (read from offset 0, not closed), its size and SHA-256. */
  char *database;
  int dump_fd;
  guint64 dump_size;
  guint8 dump_digest[32];
} SarPackComponent;

void sar_pack_component_free (SarPackComponent *component);

/* The digests of the files of component trees, made ahead of packing
 * them: sar_pack_cache_start() opens each component's directory (so the
 * trees are those there now, whatever they are called later) and hashes
 * the regular files below them in a thread of its own that runs only on a
 * core that would otherwise be idle (SCHED_IDLE); held: it starts held,
 * until sar_pack_cache_pause (cache, FALSE).
 * A packer given the cache (SarPackSpec.cache) stops it and, for each file
 * at the same path in its tree whose inode, size, modification and change
 * time are what they were while it was hashed, takes the digest instead
 * of reading the file for SHA256SUMS.  Best effort: what cannot be read
 * is left out.  The digests are kept in a scratch file (spill.h), not in
 * memory. */
typedef struct _SarPackCache SarPackCache;

SarPackCache *sar_pack_cache_start (GPtrArray *components /* SarPackComponent* */, gboolean held);
/* Holds the thread (between two reads), or lets it go on. */
void sar_pack_cache_pause (SarPackCache *cache, gboolean paused);
/* Ends the thread; what it has hashed stays usable. */
void sar_pack_cache_stop (SarPackCache *cache);
/* Waits until the thread has been through every tree. */
void sar_pack_cache_wait (SarPackCache *cache);
void sar_pack_cache_free (SarPackCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarPackCache, sar_pack_cache_free)

typedef struct {
  const char *version;    /* required */
  const char *process;    /* default "manual" */
  const char *hostname;   /* default: this host's name */
  const char *ip_address; /* optional */
  gint64 created;         /* 0: now */
  SarCompression compression;
  GPtrArray *components; /* SarPackComponent* */
  /* optional: file bytes written so far of all there are to write */
  void (*progress) (guint64 done, guint64 total, gpointer data);
  gpointer progress_data;
  gboolean fast;       /* zstd: a fast level (for the undo of a restore) */
  SarPackCache *cache; /* optional: digests made ahead */
} SarPackSpec;

/* Label the product uses for a well-known component id, else the id. */
const char *sar_default_label (const char *id);

/* What packing a component tree would write, found without reading any
 * file's data: the sums add up over several calls (start from zeros).
 * Fails, naming the entry, on anything sar_pack() would refuse (a symlink,
 * a socket, a name the reader's path rules refuse), so a caller learns
 * before packing whether packing can succeed, and can hold the totals
 * against a reader's limits. */
typedef struct {
  guint64 entries;        /* members: directories (the component's own included) and files */
  guint64 files;          /* regular files */
  guint64 bytes;          /* their data */
  guint64 checksum_bytes; /* their lines in SHA256SUMS */
} SarPackSurvey;

gboolean sar_pack_survey (const char *id, const char *path, SarPackSurvey *survey,
                          GCancellable *cancellable, GError **error);

/* Writes a SAR archive of the spec to out_fd.  Only directories and regular
 * files are packed; anything else in a component tree is an error naming
 * it.  Symlinks are never followed.  A file that changes between the two
 * passes (size, times or data) fails it. */
gboolean sar_pack (const SarPackSpec *spec, int out_fd, GCancellable *cancellable, GError **error);

/* sar_pack() into out_fd, a regular file open for reading and writing at
 * offset 0, while a second thread reads the archive back from the file as
 * it grows: sar_verify() with limits, every byte that was written.  The
 * file's data is hashed once there instead of twice in the writer, so a
 * file that changes between the passes (with its size and times as they
 * were) fails the read-back.  Returns the header read back: the archive is
 * complete and restorable under limits.  Not synced. */
SarHeader *sar_pack_verified (const SarPackSpec *spec, int out_fd, const SarLimits *limits,
                              GCancellable *cancellable, GError **error);
