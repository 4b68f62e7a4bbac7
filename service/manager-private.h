/* manager-private.h: what the files of the manager object share.
 *
 * manager.c holds the object, its method table, List, GetHistory and
 * Inspect; manager-upload.c and manager-restore.c the other methods.
 * Calls go one way: manager.c's table into the method files, and all of
 * them down into method.c (options, authorization, worker threads),
 * job-thread.c (a job's thread and its end), job.c and the domain
 * modules, never back up.
 */
#pragma once

#include "authority.h"
#include "method.h"
#include "catalog.h"
#include "history.h"
#include "job.h"
#include "manager.h"
#include "token.h"

/* List, Inspect and Preflight run in a pool of their own with this many
 * threads: at most this many backups' metadata are parsed at once, however
 * many calls arrive, and these calls never wait for the threads of uploads
 * and restores (which run in GLib's shared GTask pool). */
#define READ_WORKERS 2

struct _Manager {
  Server *server;
  const Config *config;
  Authority *authority;
  WorkerPool *readers; /* List, Inspect and Preflight: READ_WORKERS threads */
  Catalog *catalog;    /* what List has read of the backups */
  /* the last List answer and the entries it was made of, sent again while
   * a listing gives the same entries */
  GMutex list_lock;
  GPtrArray *list_entries;
  DBusMessage *list_arguments;
  JobList *jobs;
  GHashTable *uploading; /* names with an upload in progress */
  TokenStore *tokens;
  History *history;
  gboolean restoring; /* a restore is being prepared or runs */
  /* a restore journal is on disk and no job works on it: why, for Busy
   * answers; NULL when there is none */
  char *unresolved;
  char *unresolved_backup;
  char *unresolved_reason;
  guint retry_source;  /* the next attempt at resolving it */
  guint retry_seconds; /* the wait before that attempt; doubles */
};

#define TOKEN_LIFETIME_SECONDS 300

void manager_handle_upload (Call *call, GVariant *args, gpointer object);
void manager_handle_preflight (Call *call, GVariant *args, gpointer object);
void manager_handle_restore (Call *call, GVariant *args, gpointer object);
/* At start: finishes a restore that a crash interrupted. */
void manager_resume_interrupted_restore (Manager *manager);
