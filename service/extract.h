/* extract.h: safe extraction of chosen components of a SAR archive.
 *
 * libarchive only reads; every file is created by this module below a
 * directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) and O_CREAT|O_EXCL|O_NOFOLLOW, so no archive
 * entry can reach outside its staging directory.  Only regular files and
 * directories are accepted; absolute paths, "..", symlinks, hardlinks,
 * devices and FIFOs are refused with BACKUP_ERROR_INVALID_BACKUP naming
 * the entry.  Every file's SHA-256 is checked while it is written, and the
 * per-component counts and byte totals at the end; extract_sync() then
 * makes the staging trees durable (one syncfs() per file system), so the
 * caller can give the cores to other work while the disk writes.
 * setuid/setgid/sticky bits are never restored.  The system calls run in a
 * writer thread of its own, the reading, checking and hashing in the
 * calling thread (and its read-ahead thread).
 */
#pragma once

#include <sys/types.h>

#include "sar.h"

typedef struct {
  const char *id; /* component id in the archive */
  int staging_fd; /* an empty directory, owned by the caller (its own
                   * mode and owner are left as they are) */
  uid_t uid;      /* owner for everything created, (uid_t) -1: keep ours */
  gid_t gid;      /* group, (gid_t) -1: keep ours */
  /* The component's database dump ("<id>.pgdump"), when the archive
   * carries one: its data, block by block, in the reading thread, before
   * its checksum is known (the consumer must be able to throw it all
   * away).  NULL: the dump is read and skipped.  FALSE with error stops
   * the extraction. */
  gboolean (*dump) (const void *block, gsize len, gpointer data, GError **error);
  gpointer dump_data;
} ExtractTarget;

/* Extracts the components named by targets (ExtractTarget*) from the
 * archive on archive_fd (read from its current offset); members of other
 * components are read and skipped.  header is the archive's own metadata
 * (from sar_read_header() on the same file).  progress gets compressed
 * bytes consumed.  On failure the staging directories may hold partial
 * trees: the caller removes them.  What was written is not yet durable:
 * see extract_sync(). */
gboolean extract_components (int archive_fd, const SarHeader *header, GPtrArray *targets,
                             const SarLimits *limits, SarProgressFunc progress,
                             gpointer progress_data, GCancellable *cancellable, GError **error);

/* Writes back everything below the targets' staging directories (their
 * entries, inodes and data) and waits for it: one syncfs() per file
 * system, which reports a writeback error of the extraction's files. */
gboolean extract_sync (GPtrArray *targets /* ExtractTarget* */, GError **error);
