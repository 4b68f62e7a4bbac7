/* catalog.h: the backups in the backup directory.
 *
 * Lists the *.sar files (hidden files are temporaries and never listed),
 * reads each one's metadata (first two members only), orders them newest
 * first by the manifest's creation time (then the time in the name, then
 * mtime) and marks the newest valid one that is not newer than the
 * installed version as latest.  Unreadable or invalid files are listed with
 * valid=FALSE and a problem saying why (a name that is not UTF-8 with its
 * other bytes as \xNN: sar_escape_invalid()).  A creation time further in the
 * future than CATALOG_CLOCK_SKEW_SECONDS (a wrong clock, or a crafted
 * manifest) never makes a backup latest: it stays valid, with a problem
 * saying so.
 */
#pragma once

#include "sar.h"
#include "version.h"

/* How far ahead of this machine's clock a creation time may lie (clocks
 * of different machines differ) before it counts as in the future. */
#define CATALOG_CLOCK_SKEW_SECONDS (24 * 60 * 60)

typedef struct {
  char *name;
  guint64 size;
  gint64 created; /* UNIX seconds, UTC */
  char *process;  /* "" if unknown */
  char *version;  /* "" if unknown */
  char *hostname; /* "" if unknown */
  gboolean valid;
  gboolean compatible;
  gboolean latest;
  char *problem;     /* why not valid, or why never latest; NULL when neither */
  SarHeader *header; /* NULL when not valid */
} CatalogEntry;

void catalog_entry_free (CatalogEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CatalogEntry, catalog_entry_free)

/* installed: NULL when the installed version is unknown (then nothing is
 * compatible).  Returns CatalogEntry*, newest first. */
GPtrArray *catalog_list (const char *directory, const SfVersion *installed, GError **error);

/* One backup by name: INVALID_NAME, NOT_FOUND or INVALID_BACKUP errors. */
CatalogEntry *catalog_inspect (const char *directory, const char *name, const SfVersion *installed,
                               GError **error);

/* Opens a backup for reading without following symlinks; only regular
 * files.  Errors: INVALID_NAME, NOT_FOUND. */
int catalog_open_backup (int dir_fd, const char *name, GError **error);
