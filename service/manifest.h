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
/* Metadata members larger than this are refused before they are read. */
#define SAR_METADATA_MAX (4 * 1024 * 1024)
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
  char *path; /* relative to the archive root, "core/db/x.sql" */
  guint8 digest[32];
} SarChecksumEntry;

typedef struct {
  GPtrArray *entries;  /* SarChecksumEntry*, in file order */
  GHashTable *by_path; /* path -> SarChecksumEntry* (borrowed) */
} SarChecksums;

SarManifest *sar_manifest_parse (const char *data, gsize len, GError **error);
char *sar_manifest_to_data (const SarManifest *manifest, gsize *len);
const SarComponent *sar_manifest_find_component (const SarManifest *manifest, const char *id);
void sar_manifest_free (SarManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarManifest, sar_manifest_free)

void sar_component_free (SarComponent *component);

/* Every path must pass sar_path_check() and be unique. */
SarChecksums *sar_checksums_parse (const char *data, gsize len, GError **error);
char *sar_checksums_to_data (const SarChecksums *sums, gsize *len);
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
