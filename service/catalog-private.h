/* catalog-private.h: what catalog.c and catalog-cache.c share.
 *
 * A Record is what the catalog keeps of one regular file: the file's stat
 * identity when it was read and what List reports of it that depends on
 * nothing else (compatible, latest and the future problem are worked out
 * at each listing).
 */
#pragma once

#include "catalog.h"

#include <sys/stat.h>

typedef struct {
  guint64 dev;
  guint64 ino;
  guint64 size;
  gint64 mtime_sec;
  gint64 mtime_nsec;
  gint64 ctime_sec;
  gint64 ctime_nsec;
} CatalogStamp;

void catalog_stamp_from_stat (CatalogStamp *stamp, const struct stat *st);
gboolean catalog_stamp_equal (const CatalogStamp *a, const CatalogStamp *b);
/* Whether the file's last change lies at least settle_seconds before
 * now_ns (real time, nanoseconds), so a later change gives another ctime. */
gboolean catalog_stamp_settled (const CatalogStamp *stamp, guint settle_seconds, gint64 now_ns);

typedef struct {
  char *name;
  CatalogStamp stamp;
  gboolean valid;
  gint64 created;
  char *process;
  char *version;            /* "" when not valid */
  char *hostname;           /* "" when not valid */
  SfVersion parsed_version; /* valid only */
  char *problem;            /* not valid only: why */
  guint64 seen;             /* the catalog's scan that last saw the file */
  /* the file had settled when it was read (catalog_stamp_settled()): only
   * then is the record used without reading the file, and written to the
   * cache file; one that had not is read again at every listing (and kept
   * only so that a listing that reads the same again need not be made
   * anew) */
  gboolean settled;
} CatalogRecord;

/* For tests: how many times the catalog has read the directory, and
 * whether it watches it (inotify) so that an unchanged directory is not
 * read again. */
guint64 catalog_scan_count (Catalog *catalog);
gboolean catalog_watching (Catalog *catalog);
/* For tests: how many catalog_inspect() calls read a file's whole header,
 * finding no outcome kept for it. */
guint64 catalog_inspect_reads (Catalog *catalog);
/* For tests: how many files' outcomes catalog_inspect() keeps of its own. */
guint catalog_inspect_kept (Catalog *catalog);

/* Same file identity, same content. */
gboolean catalog_record_equal (const CatalogRecord *a, const CatalogRecord *b);

void catalog_record_free (CatalogRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CatalogRecord, catalog_record_free)

/* For a file that is not a valid backup: created from the time in its
 * name, else its mtime; process from its name, else "". */
void catalog_record_fill_from_name (CatalogRecord *record);

/* catalog-cache.c: the cache file (of the settled records).  _load()
 * returns the records of a file
 * written for directory (name -> CatalogRecord*), leaving out those whose
 * file had not settled by now_ns, or NULL (with error) when the file is
 * missing or is anything else than such a file, entry for entry. */
GHashTable *catalog_cache_load (const char *path, const char *directory, guint settle_seconds,
                                gint64 now_ns, GError **error);
/* The content of a cache file of the records (sorted by name, so the same
 * records give the same bytes). */
GBytes *catalog_cache_serialize (const char *directory, GHashTable *records);
/* Replaces the file atomically (a temporary beside it, renamed over it). */
gboolean catalog_cache_write (const char *path, GBytes *content, GError **error);
/* Both. */
gboolean catalog_cache_save (const char *path, const char *directory, GHashTable *records,
                             GError **error);
