/* manager.c: the object /de/starface/Backup: its method table, List,
 * GetHistory, Inspect and properties.  How a call runs (authorization,
 * worker threads, options) is method.c's. */
#include "manager-private.h"

#include "bus.h"
#include "catalog.h"
#include "names.h"
#include "upload.h"

#include <string.h>

/* --- installed version --------------------------------------------------- */

/* The installed version; FALSE (with *text "") when it cannot be read. */
static gboolean
installed_version (const Manager *manager, SfVersion *version, char **text)
{
  g_autoptr (GError) error = NULL;

  if (sf_version_read_file (manager->config->version_file, version, text, &error))
    return TRUE;
  g_warning ("installed version unknown: %s", error->message);
  *text = g_strdup ("");
  return FALSE;
}

/* --- List ---------------------------------------------------------------- */

/* List answers are large (some 250 bytes an entry): they are built with
 * libdbus directly, in the worker thread, since a GVariant tree of them
 * costs several times as much to build and then to marshal on the main
 * loop (measured with 1,000 entries: some 25 ms against 3 ms), and the
 * last one is kept and sent again while the listing stays the same. */

static gboolean
append_pair (DBusMessageIter *dict, const char *key, int type, const char *signature,
             const void *value)
{
  DBusMessageIter pair, variant;

  if (!dbus_message_iter_open_container (dict, DBUS_TYPE_DICT_ENTRY, NULL, &pair))
    return FALSE;
  if (!dbus_message_iter_append_basic (&pair, DBUS_TYPE_STRING, &key)
      || !dbus_message_iter_open_container (&pair, DBUS_TYPE_VARIANT, signature, &variant)) {
    dbus_message_iter_abandon_container (dict, &pair);
    return FALSE;
  }
  if (!dbus_message_iter_append_basic (&variant, type, value)) {
    dbus_message_iter_abandon_container (&pair, &variant);
    dbus_message_iter_abandon_container (dict, &pair);
    return FALSE;
  }
  return dbus_message_iter_close_container (&pair, &variant)
         && dbus_message_iter_close_container (dict, &pair);
}

static gboolean
append_string (DBusMessageIter *dict, const char *key, const char *value)
{
  return append_pair (dict, key, DBUS_TYPE_STRING, DBUS_TYPE_STRING_AS_STRING, &value);
}

static gboolean
append_boolean (DBusMessageIter *dict, const char *key, gboolean value)
{
  dbus_bool_t v = value ? TRUE : FALSE;

  return append_pair (dict, key, DBUS_TYPE_BOOLEAN, DBUS_TYPE_BOOLEAN_AS_STRING, &v);
}

static gboolean
append_uint64 (DBusMessageIter *dict, const char *key, guint64 value)
{
  dbus_uint64_t v = value;

  return append_pair (dict, key, DBUS_TYPE_UINT64, DBUS_TYPE_UINT64_AS_STRING, &v);
}

/* One (sa{sv}): the keys of docs/dbus-api.md. */
static gboolean
append_entry (DBusMessageIter *array, const CatalogEntry *entry)
{
  DBusMessageIter item, info;
  gboolean ok;

  if (!dbus_message_iter_open_container (array, DBUS_TYPE_STRUCT, NULL, &item))
    return FALSE;
  if (!dbus_message_iter_append_basic (&item, DBUS_TYPE_STRING, &entry->name)
      || !dbus_message_iter_open_container (&item, DBUS_TYPE_ARRAY, "{sv}", &info)) {
    dbus_message_iter_abandon_container (array, &item);
    return FALSE;
  }
  ok = append_uint64 (&info, "size", entry->size)
       && append_uint64 (&info, "created", (guint64) MAX (entry->created, 0))
       && append_string (&info, "process", entry->process)
       && append_string (&info, "version", entry->version)
       && append_string (&info, "hostname", entry->hostname)
       && append_boolean (&info, "valid", entry->valid)
       && append_boolean (&info, "compatible", entry->compatible)
       && append_boolean (&info, "latest", entry->latest)
       && append_boolean (&info, "undo-point", entry->undo_point)
       && (entry->problem == NULL || append_string (&info, "problem", entry->problem))
       && (entry->problem_code == NULL
           || append_string (&info, "problem-code", entry->problem_code));
  if (!ok) {
    dbus_message_iter_abandon_container (&item, &info);
    dbus_message_iter_abandon_container (array, &item);
    return FALSE;
  }
  return dbus_message_iter_close_container (&item, &info)
         && dbus_message_iter_close_container (array, &item);
}

static DBusMessage *
list_arguments (const GPtrArray *entries)
{
  DBusMessage *message = dbus_message_new (DBUS_MESSAGE_TYPE_METHOD_RETURN);
  DBusMessageIter args, array;
  gboolean ok = TRUE;

  if (message == NULL)
    return NULL;
  dbus_message_iter_init_append (message, &args);
  if (!dbus_message_iter_open_container (&args, DBUS_TYPE_ARRAY, "(sa{sv})", &array)) {
    dbus_message_unref (message);
    return NULL;
  }
  for (guint i = 0; ok && i < entries->len; i++)
    ok = append_entry (&array, entries->pdata[i]);
  if (!ok) {
    dbus_message_iter_abandon_container (&args, &array);
    dbus_message_unref (message);
    return NULL;
  }
  if (!dbus_message_iter_close_container (&args, &array)) {
    dbus_message_unref (message);
    return NULL;
  }
  return message;
}

static gboolean
entries_equal (const GPtrArray *a, const GPtrArray *b)
{
  /* the catalog hands out its last listing again while nothing changed */
  if (a == b)
    return TRUE;
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++) {
    const CatalogEntry *x = a->pdata[i], *y = b->pdata[i];

    if (x->size != y->size || x->created != y->created || x->valid != y->valid
        || x->compatible != y->compatible || x->latest != y->latest
        || strcmp (x->name, y->name) != 0 || strcmp (x->process, y->process) != 0
        || strcmp (x->version, y->version) != 0 || strcmp (x->hostname, y->hostname) != 0
        || g_strcmp0 (x->problem, y->problem) != 0)
      return FALSE;
  }
  return TRUE;
}

static DBusMessage *
list_work (gpointer object, gpointer data, GError **error)
{
  Manager *manager = object;
  g_autofree char *installed_text = NULL;
  SfVersion installed;
  gboolean known = installed_version (manager, &installed, &installed_text);
  g_autoptr (GPtrArray) entries = catalog_list (manager->catalog, known ? &installed : NULL, error);
  g_autoptr (GMutexLocker) locker = NULL;
  DBusMessage *arguments;

  if (entries == NULL)
    return NULL;
  locker = g_mutex_locker_new (&manager->list_lock);
  if (manager->list_entries != NULL && entries_equal (manager->list_entries, entries))
    return dbus_message_ref (manager->list_arguments);
  arguments = list_arguments (entries);
  if (arguments == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "out of memory building the list");
    return NULL;
  }
  g_clear_pointer (&manager->list_entries, g_ptr_array_unref);
  g_clear_pointer (&manager->list_arguments, dbus_message_unref);
  manager->list_entries = g_steal_pointer (&entries);
  manager->list_arguments = arguments;
  return dbus_message_ref (arguments);
}

static void
list_authorized (gpointer object, Call *call, gpointer data, uid_t uid)
{
  Manager *manager = object;

  worker_pool_run_arguments (manager->readers, call, list_work, NULL, NULL);
}

static void
handle_list (Call *call, GVariant *args, gpointer object)
{
  Manager *manager = object;

  method_authorize_then (manager->authority, call, ACTION_READ, NULL, NULL, list_authorized,
                         manager, NULL, NULL);
}

/* --- GetHistory ----------------------------------------------------------- */

static void
history_authorized (gpointer object, Call *call, gpointer data, uid_t uid)
{
  Manager *manager = object;

  /* from memory: no file is read */
  call_return (
      call, g_variant_new ("(@aa{sv})", history_list (manager->history, GPOINTER_TO_UINT (data))));
}

static void
handle_get_history (Call *call, GVariant *args, gpointer object)
{
  Manager *manager = object;
  guint32 limit;

  g_variant_get (args, "(u)", &limit);
  method_authorize_then (manager->authority, call, ACTION_READ, NULL, NULL, history_authorized,
                         manager, GUINT_TO_POINTER (limit), NULL);
}

static void
job_ended (GVariant *record, gpointer data)
{
  Manager *manager = data;

  /* the main loop does not wait for the disk */
  history_append_later (manager->history, record);
}

/* --- Inspect ------------------------------------------------------------- */

static GVariant *
components_to_variant (const SarManifest *manifest)
{
  GVariantBuilder components;

  g_variant_builder_init (&components, G_VARIANT_TYPE ("a(sa{sv})"));
  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = manifest->components->pdata[i];
    GVariantBuilder info;
    g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&info, "{sv}", "label", g_variant_new_string (component->label));
    g_variant_builder_add (&info, "{sv}", "files",
                           g_variant_new_uint32 ((guint32) MIN (component->files, G_MAXUINT32)));
    g_variant_builder_add (&info, "{sv}", "bytes", g_variant_new_uint64 (component->bytes));
    if (component->database != NULL) {
      g_variant_builder_add (&info, "{sv}", "database", g_variant_new_string (component->database));
      g_variant_builder_add (&info, "{sv}", "database-bytes",
                             g_variant_new_uint64 (component->database_bytes));
    }
    g_variant_builder_add (&components, "(sa{sv})", component->id, &info);
  }
  return g_variant_builder_end (&components);
}

static GVariant *
inspect_work (gpointer object, gpointer data, GError **error)
{
  Manager *manager = object;
  const char *name = data;
  g_autofree char *installed_text = NULL;
  SfVersion installed;
  gboolean known = installed_version (manager, &installed, &installed_text);
  g_autoptr (CatalogEntry) entry
      = catalog_inspect (manager->catalog, name, known ? &installed : NULL, error);
  const SarManifest *manifest;
  GVariantBuilder info;

  if (entry == NULL)
    return NULL;
  manifest = entry->header->manifest;
  g_variant_builder_init (&info, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&info, "{sv}", "name", g_variant_new_string (entry->name));
  g_variant_builder_add (&info, "{sv}", "version", g_variant_new_string (manifest->version));
  g_variant_builder_add (&info, "{sv}", "created",
                         g_variant_new_uint64 ((guint64) MAX (manifest->created, 0)));
  g_variant_builder_add (&info, "{sv}", "process", g_variant_new_string (manifest->process));
  g_variant_builder_add (&info, "{sv}", "hostname", g_variant_new_string (manifest->hostname));
  if (manifest->ip_address != NULL)
    g_variant_builder_add (&info, "{sv}", "ip-address",
                           g_variant_new_string (manifest->ip_address));
  g_variant_builder_add (&info, "{sv}", "size", g_variant_new_uint64 (entry->size));
  g_variant_builder_add (&info, "{sv}", "compatible", g_variant_new_boolean (entry->compatible));
  g_variant_builder_add (&info, "{sv}", "installed-version", g_variant_new_string (installed_text));
  g_variant_builder_add (&info, "{sv}", "components", components_to_variant (manifest));
  return g_variant_new ("(a{sv})", &info);
}

static void
inspect_authorized (gpointer object, Call *call, gpointer name, uid_t uid)
{
  Manager *manager = object;

  worker_pool_run (manager->readers, call, inspect_work, name, g_free);
}

static void
handle_inspect (Call *call, GVariant *args, gpointer object)
{
  Manager *manager = object;
  g_autoptr (GError) error = NULL;
  const char *name;

  g_variant_get (args, "(&s)", &name);
  if (!sar_name_validate (name, &error)) {
    call_return_error (call, error);
    return;
  }
  method_authorize_then (manager->authority, call, ACTION_READ, name, NULL, inspect_authorized,
                         manager, g_strdup (name), g_free);
}

/* --- properties ---------------------------------------------------------- */

static GVariant *
get_installed_version (gpointer object)
{
  g_autofree char *text = NULL;
  SfVersion version;

  installed_version (object, &version, &text);
  return g_variant_new_string (text);
}

static GVariant *
get_backup_directory (gpointer object)
{
  return g_variant_new_string (((Manager *) object)->config->backup_directory);
}

static GVariant *
get_jobs (gpointer object)
{
  return job_list_paths (((Manager *) object)->jobs);
}

static const PropertyEntry manager_properties[] = {
  { "InstalledVersion", get_installed_version },
  { "BackupDirectory", get_backup_directory },
  { "Jobs", get_jobs },
  { NULL, NULL },
};

static void
jobs_changed (gpointer user_data)
{
  Manager *manager = user_data;
  const char *const changed[] = { "Jobs", NULL };

  server_properties_changed (manager->server, BACKUP_OBJECT_PATH, BACKUP_INTERFACE, changed);
}

static const MethodEntry manager_methods[] = {
  { "List", handle_list },
  { "GetHistory", handle_get_history },
  { "Inspect", handle_inspect },
  { "Upload", manager_handle_upload },
  { "Preflight", manager_handle_preflight },
  { "Restore", manager_handle_restore },
  { NULL, NULL },
};

/* org.freedesktop.DBus.ObjectManager: the job objects below the manager
 * (their properties are readable by anyone the bus policy lets call, as
 * with Properties.Get). */
static void
handle_get_managed_objects (Call *call, GVariant *args, gpointer object)
{
  Manager *manager = object;

  call_return (call, g_variant_new ("(@a{oa{sa{sv}}})", job_list_managed_objects (manager->jobs)));
}

static const MethodEntry object_manager_methods[] = {
  { "GetManagedObjects", handle_get_managed_objects },
  { NULL, NULL },
};

static const InterfaceVTable object_manager_interface = {
  OBJECT_MANAGER_INTERFACE,
  object_manager_methods,
  NULL,
};

static const InterfaceVTable manager_interface = {
  BACKUP_INTERFACE,
  manager_methods,
  manager_properties,
};

Manager *
manager_new (Server *server, const Config *config, Authority *authority, GError **error)
{
  const InterfaceVTable *const interfaces[]
      = { &manager_interface, &object_manager_interface, NULL };
  g_autoptr (Manager) manager = NULL;
  g_autofree char *cache_file = NULL;

  g_return_val_if_fail (server != NULL && config != NULL && authority != NULL, NULL);
  manager = g_new0 (Manager, 1);
  manager->server = server;
  manager->config = config;
  manager->authority = authority;
  g_mutex_init (&manager->list_lock);
  manager->history = history_open (config->state_directory, config->history_entries, error);
  if (manager->history == NULL)
    return NULL;
  manager->readers = worker_pool_new (READ_WORKERS, manager, error);
  if (manager->readers == NULL)
    return NULL;
  cache_file = g_build_filename (config->state_directory, CATALOG_CACHE_FILE, NULL);
  manager->catalog = catalog_new (config->backup_directory, cache_file, CATALOG_SETTLE_SECONDS);
  manager->jobs = job_list_new (server, authority, config->finished_job_lifetime,
                                G_CALLBACK (jobs_changed), manager);
  job_list_set_finished_func (manager->jobs, job_ended, manager);
  manager->uploading = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  manager->tokens = token_store_new (TOKEN_LIFETIME_SECONDS);
  upload_sweep_temporaries (config->backup_directory);
  if (!server_export (server, BACKUP_OBJECT_PATH, interfaces, manager, error))
    return NULL;
  manager_resume_interrupted_restore (manager);
  return g_steal_pointer (&manager);
}

/* Also frees what a manager_new() that failed half-way had made. */
void
manager_free (Manager *manager)
{
  if (manager == NULL)
    return;
  if (manager->retry_source != 0)
    g_source_remove (manager->retry_source);
  g_free (manager->unresolved);
  g_free (manager->unresolved_backup);
  g_free (manager->unresolved_reason);
  /* queued calls are dropped; running ones finish first (their answers,
   * queued for the main loop, are never sent) */
  worker_pool_free (manager->readers);
  catalog_free (manager->catalog);
  g_clear_pointer (&manager->list_entries, g_ptr_array_unref);
  g_clear_pointer (&manager->list_arguments, dbus_message_unref);
  g_mutex_clear (&manager->list_lock);
  job_list_free (manager->jobs);
  token_store_free (manager->tokens);
  history_free (manager->history);
  g_clear_pointer (&manager->uploading, g_hash_table_unref);
  server_unexport (manager->server, BACKUP_OBJECT_PATH);
  g_free (manager);
}
