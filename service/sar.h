/* sar.h: reading and writing SAR archives (see docs/sar-format.md).
 *
 * Reading uses libarchive with the tar formats only and every compression
 * filter.  sar_read_header() reads just the first two members, so its cost
 * does not depend on the size of the backup.  sar_verify() reads the whole
 * archive and checks it against its own metadata.  The writer packs one
 * directory per component into a zstd (or gzip) compressed pax archive.
 */
#pragma once

#include <gio/gio.h>
#include "manifest.h"

typedef struct {
  SarManifest *manifest;
  SarChecksums *checksums;
} SarHeader;

void sar_header_free (SarHeader *header);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SarHeader, sar_header_free)

/* Reads manifest.ini and SHA256SUMS (which must be the first two members,
 * in that order) from an archive open on fd (read from its current offset;
 * the fd is not closed).  Errors are BACKUP_ERROR_INVALID_BACKUP with a
 * message saying what is wrong. */
SarHeader *sar_read_header (int fd, GError **error);

typedef struct {
  guint64 max_unpacked_bytes; /* 0: no limit */
  guint64 max_entries;        /* 0: no limit */
} SarLimits;

/* Called now and then with the bytes of compressed input consumed so far. */
typedef void (*SarProgressFunc) (guint64 bytes_read, gpointer user_data);

/* Reads the whole archive on fd and checks: the first two members as in
 * sar_read_header(); every later member is a directory or a regular file
 * below a component of the manifest, its path passes sar_path_check(); each
 * regular file is listed in SHA256SUMS, appears once, and its SHA-256
 * matches; no listed file is missing; per-component counts and byte totals
 * match the manifest; limits hold.  Returns the header on success. */
SarHeader *sar_verify (int fd, const SarLimits *limits, SarProgressFunc progress,
                       gpointer progress_data, GCancellable *cancellable, GError **error);

typedef enum {
  SAR_COMPRESSION_ZSTD,
  SAR_COMPRESSION_GZIP,
  SAR_COMPRESSION_NONE,
} SarCompression;

typedef struct {
  char *id;
  char *label;
  char *path; /* directory whose contents become <id>/ */
} SarPackComponent;

typedef struct {
  const char *version;  /* required */
  const char *process;  /* default "manual" */
  const char *hostname; /* default: this host's name */
  const char *ip_address; /* optional */
  gint64 created;       /* 0: now */
  SarCompression compression;
  GPtrArray *components; /* SarPackComponent* */
} SarPackSpec;

/* Label the product uses for a well-known component id, else the id. */
const char *sar_default_label (const char *id);

/* Writes a SAR archive of the spec to out_fd.  Only directories and regular
 * files are packed; anything else in a component tree is an error naming
 * it.  Symlinks are never followed. */
gboolean sar_pack (const SarPackSpec *spec, int out_fd, GCancellable *cancellable,
                   GError **error);
