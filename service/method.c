/* method.c: options, authorization and worker threads for method calls
 * (see method.h). */
#include "method.h"

/* --- options ------------------------------------------------------------- */

gboolean
method_check_options (GVariant *options, const OptionSpec *specs, const char *method,
                      GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *next;

  g_return_val_if_fail (options != NULL && specs != NULL && method != NULL, FALSE);
  g_variant_iter_init (&iter, options);
  /* g_variant_iter_next: each value is ours, so leaving early frees it */
  while (g_variant_iter_next (&iter, "{&sv}", &key, &next)) {
    g_autoptr (GVariant) value = next;
    const OptionSpec *spec = specs;
    g_autoptr (GString) known = g_string_new (NULL);
    for (; spec->key != NULL; spec++) {
      if (g_str_equal (spec->key, key))
        break;
      g_string_append_printf (known, "%s%s", known->len > 0 ? ", " : "", spec->key);
    }
    if (spec->key == NULL) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   "%s does not know the option '%s'; it accepts: %s", method, key,
                   known->len > 0 ? known->str : "no options");
      return FALSE;
    }
    if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type))) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS,
                   "Option '%s' of %s must have type '%s', not '%s'", key, method, spec->type,
                   g_variant_get_type_string (value));
      return FALSE;
    }
  }
  return TRUE;
}

/* --- authorization -------------------------------------------------------- */

typedef struct {
  gpointer object;
  Call *call;
  AuthorizedFunc func;
  gpointer data;
  GDestroyNotify free_data;
} Pending;

static void
pending_free (Pending *pending)
{
  /* a call still here was never answered: its caller left the bus */
  if (pending->call != NULL)
    call_drop (pending->call);
  if (pending->data != NULL && pending->free_data != NULL)
    pending->free_data (pending->data);
  g_free (pending);
}

static void
pending_decided (uid_t uid, const GError *error, gpointer user_data)
{
  Pending *pending = user_data;
  Call *call = g_steal_pointer (&pending->call);

  if (error != NULL)
    call_return_error (call, error);
  else
    pending->func (pending->object, call, g_steal_pointer (&pending->data), uid);
}

void
method_authorize_then (Authority *authority, Call *call, const char *action, const char *backup,
                       const char *components, AuthorizedFunc func, gpointer object, gpointer data,
                       GDestroyNotify free_data)
{
  Pending *pending;

  g_return_if_fail (authority != NULL && call != NULL && func != NULL);
  pending = g_new0 (Pending, 1);
  pending->object = object;
  pending->call = call;
  pending->func = func;
  pending->data = data;
  pending->free_data = free_data;
  if (action == NULL)
    authority_get_uid (authority, call_get_sender (call), pending_decided, pending,
                       (GDestroyNotify) pending_free);
  else
    authority_check (authority, call_get_sender (call), action, backup, components,
                     call_allows_interactive_authorization (call), pending_decided, pending,
                     (GDestroyNotify) pending_free);
}

/* --- worker threads ------------------------------------------------------- */

struct _WorkerPool {
  GThreadPool *threads; /* of Work items */
  gpointer object;
};

typedef struct {
  gpointer object;
  Call *call;
  WorkFunc func; /* one of these two */
  ArgumentsWorkFunc arguments_func;
  gpointer data;
  GDestroyNotify free_data;
  GMainContext *context;  /* where the call is answered */
  GVariant *reply;        /* the worker's result: a full reference, ... */
  DBusMessage *arguments; /* ... or this, or neither ... */
  GError *error;          /* ... and this */
} Work;

static void
work_free (Work *work)
{
  /* a call still here was never answered: the daemon is shutting down */
  if (work->call != NULL)
    call_drop (work->call);
  if (work->free_data != NULL)
    work->free_data (work->data);
  g_clear_pointer (&work->reply, g_variant_unref);
  g_clear_pointer (&work->arguments, dbus_message_unref);
  g_clear_error (&work->error);
  g_main_context_unref (work->context);
  g_free (work);
}

/* Main loop: answers the call. */
static gboolean
work_done (gpointer user_data)
{
  Work *work = user_data;
  Call *call = g_steal_pointer (&work->call);

  if (work->arguments != NULL)
    call_return_arguments (call, work->arguments);
  else if (work->reply == NULL)
    call_return_error (call, work->error);
  else
    call_return (call, g_steal_pointer (&work->reply)); /* takes over our reference */
  return G_SOURCE_REMOVE;
}

/* A thread of the pool. */
static void
work_thread (gpointer item, gpointer pool_data)
{
  Work *work = item;

  if (work->arguments_func != NULL) {
    work->arguments = work->arguments_func (work->object, work->data, &work->error);
  } else {
    GVariant *reply = work->func (work->object, work->data, &work->error);

    if (reply != NULL)
      work->reply = g_variant_take_ref (reply);
  }
  g_main_context_invoke_full (work->context, G_PRIORITY_DEFAULT, work_done, work,
                              (GDestroyNotify) work_free);
}

WorkerPool *
worker_pool_new (guint threads, gpointer object, GError **error)
{
  g_autofree WorkerPool *pool = g_new0 (WorkerPool, 1);

  g_return_val_if_fail (threads > 0, NULL);
  pool->object = object;
  /* exclusive: its threads are started now and serve this pool only */
  pool->threads = g_thread_pool_new_full (work_thread, pool, (GDestroyNotify) work_free,
                                          (gint) threads, TRUE, error);
  if (pool->threads == NULL)
    return NULL;
  return g_steal_pointer (&pool);
}

void
worker_pool_free (WorkerPool *pool)
{
  if (pool == NULL)
    return;
  g_thread_pool_free (pool->threads, TRUE, TRUE);
  g_free (pool);
}

static void
run_work (WorkerPool *pool, Call *call, WorkFunc func, ArgumentsWorkFunc arguments_func,
          gpointer data, GDestroyNotify free_data)
{
  Work *work = g_new0 (Work, 1);

  work->object = pool->object;
  work->call = call;
  work->func = func;
  work->arguments_func = arguments_func;
  work->data = data;
  work->free_data = free_data;
  work->context = g_main_context_ref_thread_default ();
  /* fails only for an exclusive pool that cannot start a thread; ours
   * started its threads in worker_pool_new() */
  g_thread_pool_push (pool->threads, work, NULL);
}

void
worker_pool_run (WorkerPool *pool, Call *call, WorkFunc func, gpointer data,
                 GDestroyNotify free_data)
{
  g_return_if_fail (pool != NULL && call != NULL && func != NULL);
  run_work (pool, call, func, NULL, data, free_data);
}

void
worker_pool_run_arguments (WorkerPool *pool, Call *call, ArgumentsWorkFunc func, gpointer data,
                           GDestroyNotify free_data)
{
  g_return_if_fail (pool != NULL && call != NULL && func != NULL);
  run_work (pool, call, NULL, func, data, free_data);
}
