/* dump.h: a component's database, dumped for the writer (sar-pack.c).
 *
 * Shared by the client's pack command and the daemon's pre-restore
 * backups: the dump goes into an unnamed temporary file (O_TMPFILE) in a
 * directory the caller chooses, with its size and SHA-256, so the writer
 * can list it in SHA256SUMS before writing it.
 */
#pragma once

#include "config.h"
#include "sar.h"

/* Dumps the database name into a temporary file in the directory dir_fd
 * and records it in component (database: record_as, or name if NULL;
 * dump_fd, dump_size, dump_digest); sar_pack_component_free() closes the
 * file. */
gboolean dump_for_pack (SarPackComponent *component, const ConfigDatabase *db, const char *name,
                        const char *record_as, int dir_fd, GCancellable *cancellable,
                        GError **error);
