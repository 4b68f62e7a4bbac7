/* manifest.h: the two metadata members of a SAR file, parsed and checked.
 *
 * manifest.ini is a GKeyFile ([Backup] plus one [Component <id>] group per
 * id in Components=); SHA256SUMS is in checksums.h, the path rules in
 * sar-paths.h.  Parsers take untrusted bytes and either return a fully
 * checked structure or a BACKUP_ERROR_INVALID_BACKUP error that names the
 * member, the line or key, and what is wrong.  See docs/sar-format.md.
 */
#pragma once

#include <glib.h>

#include "checksums.h"
#include "sar-paths.h"
#include "version.h"

#define SAR_FORMAT_VERSION 1
#define SAR_MANIFEST_MEMBER "manifest.ini"
#define SAR_CHECKSUMS_MEMBER "SHA256SUMS"
/* Metadata members larger than these are refused before they are read
 * (see docs/sar-format.md).  SHA256SUMS grows with the number of files: a
 * line per file, about 100 bytes, so 64 MiB hold some 600,000 files. */
#define SAR_MANIFEST_MAX (64 * 1024)
#define SAR_CHECKSUMS_MAX (64 * 1024 * 1024)
#define SAR_COMPONENTS_MAX 64

typedef struct {
  char *id;               /* [a-z0-9][a-z0-9-]*, at most 64 bytes */
  char *label;            /* human-readable, UTF-8 */
  guint64 files;          /* regular files below <id>/ */
  guint64 bytes;          /* their total size */
  char *database;         /* the PostgreSQL database whose dump the archive carries, or NULL */
  guint64 database_bytes; /* the size of that dump, member SAR_DUMP_MEMBER_SUFFIX */
} SarComponent;

/* A component with a database carries its dump (pg_dump -Fc) as the
 * member "<id>.pgdump" at the archive's root, listed in SHA256SUMS. */
#define SAR_DUMP_MEMBER_SUFFIX ".pgdump"

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

SarManifest *sar_manifest_parse (const char *data, gsize len, GError **error);
char *sar_manifest_to_data (const SarManifest *manifest, gsize *len);
const SarComponent *sar_manifest_find_component (const SarManifest *manifest, const char *id);
void sar_manifest_free (SarManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarManifest, sar_manifest_free)

void sar_component_free (SarComponent *component);

/* The index of the component whose dump member path is, or G_MAXUINT when
 * path is not the dump of a component of the manifest that has one. */
guint sar_manifest_dump_component (const SarManifest *manifest, const char *path);
/* "<id>.pgdump" (free it). */
char *sar_dump_member (const char *id);

/* Cross-checks: every checksum path lies below a component of the
 * manifest, and the per-component file counts match the manifest. */
gboolean sar_checksums_match_manifest (SarChecksums *sums, const SarManifest *manifest,
                                       GError **error);
