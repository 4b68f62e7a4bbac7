/* manifest.h: the two metadata members of a SAR file, parsed and checked.
 *
 * manifest.ini is a GKeyFile ([Backup] plus one [Component <id>] group per
 * id in Components=); SHA256SUMS holds "<64 hex>  <path>" lines as sha256sum
 * writes them.  Parsers take untrusted bytes and either return a fully
 * checked structure or a BACKUP_ERROR_INVALID_BACKUP error that names the
 * member, the line or key, and what is wrong.  See docs/sar-format.md.
 */
#pragma once

#include <glib.h>
#include "version.h"

#define SAR_FORMAT_VERSION 1
#define SAR_MANIFEST_MEMBER "manifest.ini"
#define SAR_CHECKSUMS_MEMBER "SHA256SUMS"
/* Metadata members larger than these are refused before they are read
 * (see docs/sar-format.md).  SHA256SUMS grows with the number of files: a
 * line per file, about 100 bytes, so 64 MiB hold some 600,000 files. */
#define SAR_MANIFEST_MAX (64 * 1024)
#define SAR_CHECKSUMS_MAX (64 * 1024 * 1024)
#define SAR_PATH_MAX 1024
#define SAR_PATH_DEPTH_MAX 32
/* Bytes in one component of a path: NAME_MAX of Linux file systems. */
#define SAR_PATH_COMPONENT_MAX 255
#define SAR_COMPONENTS_MAX 64

typedef struct {
  char *id;      /* [a-z0-9][a-z0-9-]*, at most 64 bytes */
  char *label;   /* human-readable, UTF-8 */
  guint64 files; /* regular files below <id>/ */
  guint64 bytes; /* their total size */
} SarComponent;

typedef struct {
  guint format;
  char *version; /* as written */
  SfVersion parsed_version;
  gint64 created; /* UNIX seconds, UTC */
  char *process;
  char *hostname;
  char *ip_address;      /* may be NULL */
  GPtrArray *components; /* SarComponent*, in Components= order */
} SarManifest;

typedef struct {
  const char *path; /* relative to the archive root, "core/db/x.sql" */
  guint8 digest[32];
} SarChecksumEntry;

/* The lines of SHA256SUMS: entries in file order (entry i is line i + 1)
 * and an index sorted by path for lookups.  Its memory is about the size
 * of the text it came from: each path once, 44 bytes per line beside it,
 * and no copy of any directory. */
typedef struct _SarChecksums SarChecksums;

SarManifest *sar_manifest_parse (const char *data, gsize len, GError **error);
char *sar_manifest_to_data (const SarManifest *manifest, gsize *len);
const SarComponent *sar_manifest_find_component (const SarManifest *manifest, const char *id);
void sar_manifest_free (SarManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarManifest, sar_manifest_free)

void sar_component_free (SarComponent *component);

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
/* A list to be written: entries added in file order, paths unique (the
 * caller's duty; lookups are for parsed lists). */
SarChecksums *sar_checksums_new (void);
void sar_checksums_add (SarChecksums *sums, const char *path, const guint8 digest[32]);
void sar_checksums_free (SarChecksums *sums);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarChecksums, sar_checksums_free)

/* Cross-checks: every checksum path lies below a component of the
 * manifest, and the per-component file counts match the manifest. */
gboolean sar_checksums_match_manifest (const SarChecksums *sums, const SarManifest *manifest,
                                       GError **error);

/* The one path-safety routine for member paths: relative, UTF-8, no empty,
 * "." or ".." component, no control characters or backslashes, at most
 * SAR_PATH_MAX bytes and SAR_PATH_DEPTH_MAX components of at most
 * SAR_PATH_COMPONENT_MAX bytes each.  A trailing '/' (as
 * tar writes for directories) is accepted and ignored. */
gboolean sar_path_check (const char *path, GError **error);

/* Component ids: [a-z0-9][a-z0-9-]*, at most 64 bytes. */
gboolean sar_component_id_check (const char *id, GError **error);
