/* checksums.h: SHA256SUMS, the second member of a SAR archive: one
 * "<64 hex>  <path>" line per regular file, as sha256sum writes them.  The
 * parser takes untrusted bytes and returns a fully checked list or a
 * BACKUP_ERROR_INVALID_BACKUP error naming the line.  See
 * docs/sar-format.md, section 4. */
#pragma once

#include <glib.h>

#include "sar-paths.h"

typedef struct {
  const char *path; /* relative to the archive root, "core/db/x.sql" */
  guint8 digest[32];
} SarChecksumEntry;

/* The lines of SHA256SUMS: entries in file order (entry i is line i + 1)
 * and an index sorted by path for lookups.  Its memory is about the size
 * of the text it came from: each path once, 44 bytes per line beside it,
 * and no copy of any directory. */
typedef struct _SarChecksums SarChecksums;

/* Every path must pass sar_path_check() and be unique, and no listed path
 * may be a directory of another. */
SarChecksums *sar_checksums_parse (const char *data, gsize len, GError **error);

/* The same, fed piece by piece as the member is read (no copy of the whole
 * text): _feed() any number of times, then _finish(), which frees the
 * parser.  After a failed _feed(), only _free() is allowed. */
typedef struct _SarChecksumsParser SarChecksumsParser;
SarChecksumsParser *sar_checksums_parser_new (void);
gboolean sar_checksums_parser_feed (SarChecksumsParser *parser, const char *data, gsize len,
                                    GError **error);
SarChecksums *sar_checksums_parser_finish (SarChecksumsParser *parser, GError **error);
void sar_checksums_parser_free (SarChecksumsParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarChecksumsParser, sar_checksums_parser_free)

guint sar_checksums_count (const SarChecksums *sums);
/* Entry i, in file order. */
const SarChecksumEntry *sar_checksums_get (const SarChecksums *sums, guint i);
/* i for sar_checksums_get (sums, i) == entry. */
guint sar_checksums_index (const SarChecksums *sums, const SarChecksumEntry *entry);
/* By exact path (byte for byte); NULL if not listed.  Parsed lists only. */
const SarChecksumEntry *sar_checksums_lookup (const SarChecksums *sums, const char *path);
/* Whether a listed path lies below the directory given by the first len
 * bytes of dir (no trailing '/').  Parsed lists only. */
gboolean sar_checksums_has_below (const SarChecksums *sums, const char *dir, gsize len);

char *sar_checksums_to_data (const SarChecksums *sums, gsize *len);
/* The length of the line "<64 hex>  <path>\n" for a path of path_len
 * bytes, and that line written to out (no NUL): how a writer that holds
 * the digests elsewhere writes SHA256SUMS as sar_checksums_to_data()
 * does, without a list or the whole text in memory. */
#define SAR_CHECKSUMS_LINE_LEN(path_len) (64 + 2 + (gsize) (path_len) + 1)
void sar_checksums_format_line (char *out, const guint8 digest[32], const char *path,
                                gsize path_len);
/* A list to be written: entries added in file order, paths unique (the
 * caller's duty; lookups are for parsed lists). */
SarChecksums *sar_checksums_new (void);
void sar_checksums_add (SarChecksums *sums, const char *path, const guint8 digest[32]);
void sar_checksums_free (SarChecksums *sums);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarChecksums, sar_checksums_free)
