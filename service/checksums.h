/* checksums.h: SHA256SUMS, the second member of a SAR archive: one
 * "<64 hex>  <path>" line per regular file, as sha256sum writes them.  The
 * parser takes untrusted bytes and returns a fully checked list or a
 * BACKUP_ERROR_INVALID_BACKUP error naming the line.  See
 * docs/sar-format.md, section 4. */
#pragma once

#include <glib.h>

#include "sar-paths.h"

/* One line of SHA256SUMS, as a lookup or sar_checksums_get() copies it
 * out of the list (the list holds no path or digest in memory). */
typedef struct {
  guint index; /* in file order: the entry of line index + 1 */
  guint8 digest[32];
} SarChecksumEntry;

/* SarChecksumEntry.index of a path that is not listed. */
#define SAR_CHECKSUMS_UNLISTED G_MAXUINT

/* The lines of SHA256SUMS.  Their paths and digests are kept in a Spill
 * (spill.h): in memory while the list is small, in a scratch file beyond
 * that; in memory stays only an index of about 10 bytes per line (where
 * each line is in the spill, and a hash table of line numbers by path),
 * so a backup of many files costs the daemon's memory almost nothing.
 * A lookup reads the line it finds back from the spill; reading can fail
 * (the scratch file's I/O), so lookups take a GError.  Safe to read from
 * several threads (a lock guards the spill's buffers). */
typedef struct _SarChecksums SarChecksums;

/* Every path must pass sar_path_check() and be unique, and no listed path
 * may be a directory of another. */
SarChecksums *sar_checksums_parse (const char *data, gsize len, GError **error);

/* The same, fed piece by piece as the member is read (no copy of the whole
 * text): _feed() any number of times, then _finish(), which frees the
 * parser.  After a failed _feed(), only _free() is allowed. */
typedef struct _SarChecksumsParser SarChecksumsParser;
SarChecksumsParser *sar_checksums_parser_new (void);
/* The same, with spill_new_limit (spill_memory_max) (tests: 0 puts even a
 * short list in a file). */
SarChecksumsParser *sar_checksums_parser_new_limit (gsize spill_memory_max);
gboolean sar_checksums_parser_feed (SarChecksumsParser *parser, const char *data, gsize len,
                                    GError **error);
SarChecksums *sar_checksums_parser_finish (SarChecksumsParser *parser, GError **error);
void sar_checksums_parser_free (SarChecksumsParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarChecksumsParser, sar_checksums_parser_free)

guint sar_checksums_count (const SarChecksums *sums);
/* Entry i, in file order: its path into path (replacing what it held)
 * and, if entry is not NULL, its index and digest. */
gboolean sar_checksums_get (SarChecksums *sums, guint i, GString *path, SarChecksumEntry *entry,
                            GError **error);
/* By exact path (byte for byte): entry filled, its index
 * SAR_CHECKSUMS_UNLISTED if the path is not listed.  FALSE only when the
 * list could not be read. */
gboolean sar_checksums_lookup (SarChecksums *sums, const char *path, SarChecksumEntry *entry,
                               GError **error);
/* *below: whether a listed path lies below the directory given by the
 * first len bytes of dir (no trailing '/').  A scan of the whole list
 * (there is no index of directories): for the message of an error, not
 * for every member. */
gboolean sar_checksums_has_below (SarChecksums *sums, const char *dir, gsize len, gboolean *below,
                                  GError **error);
/* The bytes of memory the list holds beside its spill (tests, measures). */
gsize sar_checksums_index_bytes (const SarChecksums *sums);
/* Whether the spill went to a file (tests). */
gboolean sar_checksums_spilled (const SarChecksums *sums);

char *sar_checksums_to_data (SarChecksums *sums, gsize *len, GError **error);
/* The length of the line "<64 hex>  <path>\n" for a path of path_len
 * bytes, and that line written to out (no NUL): how a writer that holds
 * the digests elsewhere writes SHA256SUMS as sar_checksums_to_data()
 * does, without a list or the whole text in memory. */
#define SAR_CHECKSUMS_LINE_LEN(path_len) (64 + 2 + (gsize) (path_len) + 1)
void sar_checksums_format_line (char *out, const guint8 digest[32], const char *path,
                                gsize path_len);
void sar_checksums_free (SarChecksums *sums);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarChecksums, sar_checksums_free)
