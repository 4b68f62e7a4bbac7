/* journal.h: the on-disk record of a restore in progress.
 *
 * Written atomically (temporary file, fsync, rename, fsync of the
 * directory) before each step that changes live data, so that a restart
 * after a crash knows exactly which trees are where: each component's
 * staging directory and the inode numbers of its old and new trees tell,
 * for every component, whether the swap happened.
 */
#pragma once

#include <glib.h>

#define JOURNAL_FILE ".restore-journal"

typedef enum {
  JOURNAL_EXTRACTING, /* staging trees being filled; live data untouched */
  JOURNAL_SWAPPING,   /* swaps in progress: roll back on recovery */
  JOURNAL_SWAPPED,    /* every component swapped, the PBX not yet running on them */
  JOURNAL_COMMITTED,  /* the PBX runs on the restored data: never rolled back from here;
                       * the old trees wait in the staging directories for their undo */
  JOURNAL_SAVED,      /* the undo backup is durable and read back: only cleanup left */
} JournalState;

typedef struct {
  char *id;
  char *parent;    /* directory holding live and staging, relative to DataRoot ("." ok) */
  char *live;      /* name of the live directory in parent */
  char *staging;   /* name of the staging directory in parent */
  guint64 old_ino; /* inode of the live tree before the swap (0: not yet known) */
  guint64 new_ino; /* inode of the extracted tree */
  /* The component's database, when the restore replaces it (else NULL):
   * loaded into <database>__sf_restore, swapped by two renames (live to
   * <database>__sf_previous, then staging to live).  The oids tell which
   * database a name holds, as the inodes do for the trees (0: not yet
   * known). */
  char *database;
  guint32 db_old_oid; /* the live database before the restore */
  guint32 db_new_oid; /* the staging database the dump was loaded into */
} JournalComponent;

typedef struct {
  JournalState state;
  char *backup;            /* the backup being restored */
  char *installed_version; /* recorded in the pre-restore backup */
  char *pre_restore;       /* name of the pre-restore backup: chosen in COMMITTED before it is
                            * written, present on disk from SAVED on */
  gboolean pbx_stopped;    /* the stop command ran and start has not yet */
  GPtrArray *components;   /* JournalComponent* */
} Journal;

Journal *journal_new (const char *backup, const char *installed_version);
JournalComponent *journal_add_component (Journal *journal, const char *id, const char *parent,
                                         const char *live, const char *staging);
void journal_free (Journal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Journal, journal_free)

const char *journal_state_name (JournalState state);

/* In the directory dir_fd (the backup directory). */
gboolean journal_write (int dir_fd, const Journal *journal, GError **error);
/* The first write of a new restore's journal: fails with BACKUP_ERROR_BUSY,
 * touching nothing, while another journal exists (an unresolved restore
 * owns the trees it names). */
gboolean journal_create (int dir_fd, const Journal *journal, GError **error);
/* TRUE with *journal NULL when there is none; FALSE (and *journal NULL)
 * when one is there but cannot be read. */
gboolean journal_read (int dir_fd, Journal **journal, GError **error);
gboolean journal_remove (int dir_fd, GError **error);
