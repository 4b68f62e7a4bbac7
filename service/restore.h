/* restore.h: the restore transaction.
 *
 * Extract every chosen component into a staging directory beside its live
 * directory while the PBX runs (checked and fsynced), stop the PBX, keep
 * the live IpSettings files when asked, swap staging and live with
 * renameat2(RENAME_EXCHANGE) under an on-disk journal, start the PBX, save
 * the set-aside old trees as a "pre-restore" backup (the undo), and only
 * then remove them.  A failure before the swap leaves live data untouched;
 * a failure during or after it rolls back.  The PBX is started again on
 * every path that stopped it.  After a crash, restore_recover() finishes
 * or rolls back what the journal describes.
 */
#pragma once

#include "config.h"
#include "sar.h"

typedef struct {
  const Config *config;
  const char *backup;      /* file name in the backup directory */
  int archive_fd;          /* open on that file */
  const SarHeader *header; /* its metadata */
  GPtrArray *components;   /* const ConfigComponent* to restore */
  gboolean ignore_ip;
  const char *installed_version;
} RestoreRequest;

typedef struct {
  char *pre_restore;     /* the backup holding the previous state */
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

/* At start-up: reads the journal, if any.  A restore interrupted before all
 * of its swaps is rolled back, its staging trees removed and the PBX
 * started, here and now (fast: renames only).  One interrupted after all
 * swaps must be completed (the previous state saved, old trees removed):
 * then *backup is set to its backup's name and restore_complete() must be
 * run (slow: in a job). */
gboolean restore_recover (const Config *config, char **backup, GError **error);
gboolean restore_complete (const Config *config, const RestoreHooks *hooks, RestoreResult *result,
                           GError **error);
