/* restore.h: the restore transaction.
 *
 * Extract every chosen component into a staging directory beside its live
 * directory while the PBX runs (checked and synced), stop the PBX, keep
 * the live IpSettings files when asked, swap staging and live with
 * renameat2(RENAME_EXCHANGE) under an on-disk journal, start the PBX, save
 * the set-aside old trees as a "pre-restore" backup (the undo), and only
 * then remove them.  A failure before the swap leaves live data untouched;
 * a failure during or after it rolls back.  The PBX is started again on
 * every path that stopped it.  After a crash, restore_complete() finishes
 * or rolls back what the journal describes.
 */
#pragma once

#include "config.h"
#include "sar.h"

typedef struct {
  const Config *config;
  const char *backup; /* file name in the backup directory */
  int archive_fd;     /* open on that file */
  /* its metadata; restore_run() frees the checksums once the extraction
   * has checked every file against them (with many files they are a good
   * part of the memory a restore holds, and the undo backup is made
   * after) */
  SarHeader *header;
  GPtrArray *components; /* const ConfigComponent* to restore */
  gboolean ignore_ip;
  const char *installed_version;
} RestoreRequest;

typedef struct {
  char *pre_restore; /* the backup holding the previous state */
  /* set when the restore is done (the PBX runs on the restored data) but
   * saving or removing the previous state failed: why; the old trees stay
   * on disk, recorded in the journal, until restore_complete() succeeds */
  char *unresolved;
  gint64 pbx_stopped_at; /* g_get_real_time() when the stop command ended, 0 if never */
  gint64 pbx_started_at; /* ... when the start command ended */
} RestoreResult;

void restore_result_clear (RestoreResult *result);

typedef struct {
  /* percent of the whole restore (monotone), stage, message */
  void (*progress) (guint percent, const char *stage, const char *message, gpointer data);
  /* FALSE once the swap begins: from then on the restore completes or
   * rolls back by itself */
  void (*set_cancelable) (gboolean cancelable, gpointer data);
  gpointer data;
} RestoreHooks;

/* Runs the whole transaction; blocking, for a worker thread. */
gboolean restore_run (const RestoreRequest *request, const RestoreHooks *hooks,
                      GCancellable *cancellable, RestoreResult *result, GError **error);

/* Whether the live trees of components (const ConfigComponent*) can be
 * saved as the backup that undoes a restore, and that backup restored
 * under the configured limits: nothing the writer cannot pack (symlinks,
 * sockets, names the SAR rules refuse), entries, bytes and the checksum
 * list within the limits.  Fails with the reason (TOO_LARGE for limits).
 * *bytes (may be NULL): the file bytes to save. */
typedef struct {
  char *component;   /* the component whose data is the problem, if one is */
  const char *limit; /* "MaxEntries", "MaxUnpackedSize", "SHA256SUMS"; NULL: unsavable */
  guint64 value;     /* what the undo would have */
  guint64 maximum;   /* what the limit allows */
  char *reason;      /* why the data cannot be saved (limit NULL) */
} RestoreLiveProblem;

void restore_live_problem_clear (RestoreLiveProblem *problem);

/* problem (may be NULL) says on failure what is wrong, for machines. */
gboolean restore_check_live_data (const Config *config, GPtrArray *components, guint64 *bytes,
                                  RestoreLiveProblem *problem, GCancellable *cancellable,
                                  GError **error);

/* Whether a restore journal is on disk (an unresolved restore); *backup
 * is then set to its backup's name. */
gboolean restore_pending (const Config *config, char **backup);

/* Resolves the journal on disk, in any state, deciding from the inodes on
 * disk (blocking: for the recovery job's worker thread).  A restore whose
 * components all hold the restored data is completed (the PBX started if
 * need be, the previous state saved and read back, the old trees
 * removed); any other is rolled back and the PBX started, which fails
 * saying so (the journal gone).  FALSE with the journal still there: try
 * again later.  No journal: TRUE. */
gboolean restore_complete (const Config *config, const RestoreHooks *hooks, RestoreResult *result,
                           GError **error);
