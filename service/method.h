/* method.h: how a method call runs, the same way for every method: its
 * options checked, the caller authorized (polkit), its file work done in
 * a worker thread and the answer sent from the main loop.
 *
 * Below the method files (manager*.c, job.c): it knows no method and no
 * object, only calls (object.h) and the authority (authority.h).  What a
 * method does is passed in as functions with an object, the one the
 * method was called on, handed back to them.
 */
#pragma once

#include "authority.h"
#include "object.h"

/* --- options ------------------------------------------------------------- */

typedef struct {
  const char *key;
  const char *type; /* a GVariant type string */
} OptionSpec;

/* specs: terminated by { NULL, NULL }.  Unknown keys and wrong types are
 * refused (naming the options method accepts), never ignored. */
gboolean method_check_options (GVariant *options, const OptionSpec *specs, const char *method,
                               GError **error);

/* --- authorization ------------------------------------------------------- */

/* Continues a call once it is allowed; owns call and data from then on. */
typedef void (*AuthorizedFunc) (gpointer object, Call *call, gpointer data, uid_t uid);

/* Authorizes before any state changes or file is touched, then calls
 * func (object, call, data, uid); answers the call on refusal.  action
 * NULL: nothing is decided, only the caller's uid is learned (a job's
 * starter may cancel it without polkit).  Owns call and data (freed with
 * free_data unless func was called) from then on; if the caller leaves
 * the bus meanwhile, the call is dropped unanswered. */
void method_authorize_then (Authority *authority, Call *call, const char *action,
                            const char *backup, const char *components, AuthorizedFunc func,
                            gpointer object, gpointer data, GDestroyNotify free_data);

/* --- worker threads ------------------------------------------------------ */

/* A pool of threads of its own that answers calls: at most its number of
 * threads of such work run at once, however many calls arrive, and never
 * behind the threads of jobs (which run in GLib's shared GTask pool). */
typedef struct _WorkerPool WorkerPool;

/* Work done in a worker thread: returns the reply tuple (a new reference,
 * usually floating, that the caller owns) or NULL and sets error. */
typedef GVariant *(*WorkFunc) (gpointer object, gpointer data, GError **error);

/* Work whose answer is built with libdbus (see call_return_arguments()):
 * returns a new reference to the message of arguments, or NULL and sets
 * error. */
typedef DBusMessage *(*ArgumentsWorkFunc) (gpointer object, gpointer data, GError **error);

/* The threads are started now (an exclusive pool); object is what the
 * work functions are given. */
WorkerPool *worker_pool_new (guint threads, gpointer object, GError **error);
/* Calls still queued are dropped unanswered; running ones finish first
 * (their answers, queued for the main loop, are never sent). */
void worker_pool_free (WorkerPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WorkerPool, worker_pool_free)

/* Runs func in one of the pool's threads (queued while all are busy) and
 * answers the call with its result on the main loop.  Owns call and data
 * (freed with free_data) from then on. */
void worker_pool_run (WorkerPool *pool, Call *call, WorkFunc func, gpointer data,
                      GDestroyNotify free_data);
/* worker_pool_run() for work answered with libdbus. */
void worker_pool_run_arguments (WorkerPool *pool, Call *call, ArgumentsWorkFunc func, gpointer data,
                                GDestroyNotify free_data);
