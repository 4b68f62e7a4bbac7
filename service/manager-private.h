/* manager-private.h: what the files of the manager object share.
 *
 * manager.c holds the object, List, Inspect and the shared helpers;
 * manager-upload.c and manager-restore.c the other methods.
 */
#pragma once

#include "authority.h"
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
  GThreadPool *readers; /* Work items of manager_run_in_thread() */
  Catalog *catalog;     /* what List has read of the backups */
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

/* Work done in a worker thread: returns the reply tuple (a new reference,
 * usually floating, that the caller owns) or NULL and sets error. */
typedef GVariant *(*WorkFunc) (Manager *manager, gpointer data, GError **error);

/* Runs func in one of the READ_WORKERS threads (queued while all are busy)
 * and answers the call with its result on the main loop.  Owns call and
 * data (freed with free_data) from then on; a call still queued when the
 * manager is freed is dropped unanswered. */
void manager_run_in_thread (Manager *manager, Call *call, WorkFunc func, gpointer data,
                            GDestroyNotify free_data);

/* Work whose answer is built with libdbus (see call_return_arguments()):
 * returns a new reference to the message of arguments, or NULL and sets
 * error. */
typedef DBusMessage *(*ArgumentsWorkFunc) (Manager *manager, gpointer data, GError **error);

/* manager_run_in_thread() for such work. */
void manager_run_in_thread_arguments (Manager *manager, Call *call, ArgumentsWorkFunc func,
                                      gpointer data, GDestroyNotify free_data);

/* Continues a call once polkit has allowed it; owns data from then on. */
typedef void (*AuthorizedFunc) (Manager *manager, Call *call, gpointer data, uid_t uid);

/* Authorizes before any state changes or file is touched, then calls
 * func (which owns data from then on); answers the call on refusal. */
void manager_authorize_then (Manager *manager, Call *call, const char *action, const char *backup,
                             const char *components, AuthorizedFunc func, gpointer data,
                             GDestroyNotify free_data);

typedef struct {
  const char *key;
  const char *type;
} OptionSpec;

/* Unknown keys and wrong types are refused, never ignored. */
gboolean manager_check_options (GVariant *options, const OptionSpec *specs, const char *method,
                                GError **error);

void manager_handle_upload (Call *call, GVariant *args, gpointer object);
void manager_handle_preflight (Call *call, GVariant *args, gpointer object);
void manager_handle_restore (Call *call, GVariant *args, gpointer object);
/* At start: finishes a restore that a crash interrupted. */
void manager_resume_interrupted_restore (Manager *manager);
