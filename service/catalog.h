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
 *
 * What was read from a file is kept, keyed by its name and its stat
 * identity (device, inode, size, mtime and ctime to the nanosecond), and
 * used again while a stat of the file gives the same identity: a listing
 * costs a readdir and an fstatat per file, and reads only the files that
 * appeared or changed since the last one.  Writing a file, renaming another
 * over it or recreating it changes its ctime or inode (the kernel sets the
 * ctime; no call sets it back), so a changed file is never mistaken for the
 * one that was read.  A file whose ctime lies less than settle seconds
 * back when it is read is read again at every listing that reads the
 * directory until it is older (without a watch, below: every listing): a
 * file system's clock ticks in steps (a jiffy, or a second), and a change
 * in the same step as the read could otherwise leave the same ctime.  What
 * depends on the installed version or the clock (compatible, latest, the
 * created-in-the-future problem) is worked out at every listing.  Only
 * files present at the last listing are kept, so the catalog does not grow
 * as files come and go.
 *
 * On a local file system (ext4, XFS, Btrfs, tmpfs, F2FS) the directory and
 * each *.sar file in it are watched with inotify from the start of each
 * listing that reads the directory (a file's watch is in place before its
 * stat).  While no event has come that such a listing would see (hidden
 * names and other names than *.sar do not count) and the directory at the
 * path is the one watched, a listing is the last one again without a
 * readdir or a stat, even with files that had not settled when they were
 * read: a change to one is an event, whatever its times (so a new upload
 * does not make every listing read the directory for two seconds).  When
 * the only events are of a few *.sar names in the directory (a new upload,
 * a file written under its name), a stat of each of those names brings the
 * records up to date instead of a scan; anything else (a file's own watch,
 * the directory itself, a name that is not a regular file, many names)
 * makes the listing read the directory.  A
 * file's own watch sees a change made through another link elsewhere,
 * which its directory is not told of; a network file system, where
 * another machine may write, is never trusted to a watch.
 *
 * The catalog is kept across restarts in a cache file (written atomically,
 * in a thread of its own, after a listing that changed it, and before
 * catalog_free() returns), so the first listing after a start
 * need not read every backup.  The file is input like any other: one that
 * is damaged, truncated, for another directory or not exactly as this
 * code writes it is ignored as a whole (and replaced), and an entry of it
 * is used only for a file whose stat identity it matches.
 *
 * Thread-safe: one lock serializes the listings of a catalog.
 */
#pragma once

#include "sar.h"
#include "version.h"

/* How far ahead of this machine's clock a creation time may lie (clocks
 * of different machines differ) before it counts as in the future. */
#define CATALOG_CLOCK_SKEW_SECONDS (24 * 60 * 60)

/* How long after its last change (ctime) a file's metadata is kept: at
 * least the coarsest step of a file system's timestamps (a second on
 * some) plus a margin. */
#define CATALOG_SETTLE_SECONDS 2

/* The file the catalog is kept in, in the state directory. */
#define CATALOG_CACHE_FILE "catalog.cache"

/* A cache file larger than this is not read (some 100,000 backups). */
#define CATALOG_CACHE_MAX (16 * 1024 * 1024)

/* problem-code of List entries (docs/dbus-api.md) */
#define CATALOG_PROBLEM_INVALID "invalid-backup"   /* not a backup this reader accepts */
#define CATALOG_PROBLEM_UNREADABLE "unreadable"    /* not a regular file, or cannot be opened */
#define CATALOG_PROBLEM_NAME "name-not-utf8"       /* the file name is not UTF-8 */
#define CATALOG_PROBLEM_FUTURE "created-in-future" /* valid, never latest */

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
  char *problem; /* why not valid, or why never latest; NULL when neither */
  /* the problem as a stable code (CATALOG_PROBLEM_*), NULL without one */
  const char *problem_code;
  gboolean undo_point; /* made by a restore of the state before it (never latest) */
  SarHeader *header;   /* catalog_inspect(): the header (checksums may be NULL); List: NULL */
} CatalogEntry;

void catalog_entry_free (CatalogEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CatalogEntry, catalog_entry_free)

typedef struct _Catalog Catalog;

/* A catalog of directory.  cache_file: where it is kept across restarts,
 * or NULL for nowhere.  settle_seconds: CATALOG_SETTLE_SECONDS (tests may
 * pass 0).  Nothing is read before the first listing. */
Catalog *catalog_new (const char *directory, const char *cache_file, guint settle_seconds);
void catalog_free (Catalog *catalog);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Catalog, catalog_free)

/* installed: NULL when the installed version is unknown (then nothing is
 * compatible).  Returns CatalogEntry*, newest first: a reference to an
 * array that may be shared with other callers (the same array as the last
 * time while nothing changed), so neither it nor its entries may be
 * changed. */
GPtrArray *catalog_list (Catalog *catalog, const SfVersion *installed, GError **error);

/* How many files' metadata the catalog keeps (for tests). */
guint catalog_kept (Catalog *catalog);

/* One backup by name: INVALID_NAME, NOT_FOUND or INVALID_BACKUP errors.
 * Reads the file's manifest (the header it returns holds more than the
 * catalog keeps); and its SHA256SUMS too (header->checksums) unless the
 * catalog kept the outcome of reading this very file (same stat identity,
 * settled): then a valid file is valid without it (header->checksums is
 * NULL), and an invalid one fails as listed, so Inspect takes as long
 * whatever the backup's size and says what List says.  Never waits for a
 * listing that holds the catalog. */
CatalogEntry *catalog_inspect (Catalog *catalog, const char *name, const SfVersion *installed,
                               GError **error);

/* Opens a backup for reading without following symlinks; only regular
 * files.  Errors: INVALID_NAME, NOT_FOUND. */
int catalog_open_backup (int dir_fd, const char *name, GError **error);
