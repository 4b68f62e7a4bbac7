/* restore-db.h: the database side of the restore transaction.
 *
 * A component with a database (config Database=, and a dump in the
 * backup) has its database replaced in the same stop as its tree: the
 * dump is loaded into <db>__sf_restore while the PBX runs, then two
 * renames swap it in (live to <db>__sf_previous, staging to live).  The
 * journal records the oids of the old and the new database; which one a
 * name holds is read from the server, never assumed from the journal's
 * state (as the inodes are for the trees).
 */
#pragma once

#include "config.h"
#include "journal.h"
#include "sar.h"

typedef enum {
  RESTORE_SIDE_OLD,     /* the data from before the restore (or nothing swapped yet) */
  RESTORE_SIDE_NEW,     /* the restored data */
  RESTORE_SIDE_NEITHER, /* something else: the journal does not describe what is there */
} RestoreSide;

char *restore_db_staging_name (const char *database);
char *restore_db_previous_name (const char *database);

/* Which database the live name holds.  Half-way through the swap (live
 * renamed away, staging not yet in its place) is OLD: the old database
 * waits under its set-aside name.  FALSE when the server cannot say. */
gboolean restore_db_side (const ConfigDatabase *db, const JournalComponent *c, RestoreSide *side,
                          GError **error);

/* Before anything is created: the live database exists and a previous
 * restore left no set-aside database (one that is not recorded anywhere
 * is never dropped by a new restore); a staging database left over is
 * dropped.  Records the live database's oid; *owner is its owner role. */
gboolean restore_db_begin (const ConfigDatabase *db, JournalComponent *c, char **owner,
                           GError **error);
/* Creates the empty staging database like the live one; records its oid. */
gboolean restore_db_create_staging (const ConfigDatabase *db, JournalComponent *c, GError **error);
/* The swap, with the PBX stopped: live to previous, staging to live. */
gboolean restore_db_swap (const ConfigDatabase *db, const JournalComponent *c, GError **error);
/* Back to the old database from any point of the swap. */
gboolean restore_db_roll_back (const ConfigDatabase *db, const JournalComponent *c, GError **error);
/* Drops the staging database (never the old one), and the set-aside one
 * only when old_saved (its undo is durable). */
gboolean restore_db_remove (const ConfigDatabase *db, const JournalComponent *c, gboolean old_saved,
                            GError **error);

/* Checks the dumps of the chosen components (ConfigComponent* with a
 * database whose backup component carries one) before anything is
 * loaded: the archive on archive_fd is read from its start up to those
 * dumps, each is verified against SHA256SUMS and its schema held against
 * the live database (pgdb_check_*()).  Problems go to problems
 * (PgdbProblem*, with their component); FALSE with
 * error when the check could not run. */
gboolean restore_db_check_dumps (const Config *config, int archive_fd, const SarHeader *header,
                                 GPtrArray *components, GPtrArray *problems,
                                 GCancellable *cancellable, GError **error);

/* Whether a chosen component's database is restored: the configuration
 * names one and the backup carries its dump. */
gboolean restore_db_wanted (const SarHeader *header, const ConfigComponent *cc);
