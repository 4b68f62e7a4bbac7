/* manifest.c: parsing, checking and writing manifest.ini. */
#include "manifest.h"

#include "errors.h"
#include "config.h"
#include "names.h"

#include <gio/gio.h>
#include <string.h>

#define BACKUP_GROUP "Backup"
#define COMPONENT_GROUP_PREFIX "Component "
#define PROCESS_MAX 128
#define HOSTNAME_MAX 255
#define LABEL_MAX 256

static const char *const backup_keys[]
    = { "Format", "Version", "Created", "Process", "Hostname", "IpAddress", "Components", NULL };
static const char *const component_keys[]
    = { "Label", "Files", "Bytes", "Database", "DatabaseBytes", NULL };

/* --- manifest.ini --- */

static gboolean manifest_error (GError **error, const char *group, const char *key,
                                const char *format, ...) G_GNUC_PRINTF (4, 5);

static gboolean
manifest_error (GError **error, const char *group, const char *key, const char *format, ...)
{
  g_autofree char *why = NULL;
  va_list args;

  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  return backup_error_invalid (error, SAR_MANIFEST_MEMBER ": [%s]%s%s: %s", group,
                               key != NULL ? " " : "", key != NULL ? key : "", why);
}

void
sar_component_free (SarComponent *component)
{
  if (component == NULL)
    return;
  g_free (component->id);
  g_free (component->label);
  g_free (component->database);
  g_free (component);
}

void
sar_manifest_free (SarManifest *manifest)
{
  if (manifest == NULL)
    return;
  g_free (manifest->version);
  g_free (manifest->process);
  g_free (manifest->hostname);
  g_free (manifest->ip_address);
  g_clear_pointer (&manifest->components, g_ptr_array_unref);
  g_free (manifest);
}

static gboolean
check_known_keys (GKeyFile *kf, const char *group, const char *const *known, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    g_autofree char *quoted = NULL;

    if (g_strv_contains (known, keys[i]))
      continue;
    quoted = sar_quote (keys[i]);
    return manifest_error (error, group, NULL, "unknown key %s", quoted);
  }
  return TRUE;
}

/* The value of a required key, unescaped as GKeyFile does. */
static char *
get_required (GKeyFile *kf, const char *group, const char *key, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *value;

  if (!g_key_file_has_key (kf, group, key, NULL)) {
    manifest_error (error, group, key, "missing");
    return NULL;
  }
  value = g_key_file_get_string (kf, group, key, &local);
  if (value == NULL)
    manifest_error (error, group, key, "%s", local->message);
  return value;
}

/* Human-readable text: non-empty, no control characters, bounded. */
static gboolean
check_text (const char *value, gsize max, const char *group, const char *key, GError **error)
{
  gsize len = strlen (value);

  if (len == 0)
    return manifest_error (error, group, key, "empty");
  if (len > max)
    return manifest_error (error, group, key, "%zu bytes long; at most %zu are allowed", len, max);
  for (const char *p = value; *p != '\0'; p = g_utf8_next_char (p))
    if (sar_is_control (g_utf8_get_char (p)))
      return manifest_error (error, group, key, "control character U+%04X", g_utf8_get_char (p));
  return TRUE;
}

static gboolean
get_text (GKeyFile *kf, const char *group, const char *key, gsize max, char **out, GError **error)
{
  g_autofree char *value = get_required (kf, group, key, error);

  if (value == NULL || !check_text (value, max, group, key, error))
    return FALSE;
  *out = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
get_unsigned (GKeyFile *kf, const char *group, const char *key, guint64 *out, GError **error)
{
  g_autofree char *value = get_required (kf, group, key, error);
  g_autofree char *quoted = NULL;

  if (value == NULL)
    return FALSE;
  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, out, NULL))
    return manifest_error (error, group, key, "%s is not an unsigned decimal integer",
                           quoted = sar_quote (value));
  return TRUE;
}

static gboolean
parse_format (GKeyFile *kf, SarManifest *manifest, GError **error)
{
  guint64 format;

  if (!get_unsigned (kf, BACKUP_GROUP, "Format", &format, error))
    return FALSE;
  if (format != SAR_FORMAT_VERSION)
    return manifest_error (error, BACKUP_GROUP, "Format",
                           "unsupported format %" G_GUINT64_FORMAT " (this reader knows format %d)",
                           format, SAR_FORMAT_VERSION);
  manifest->format = (guint) format;
  return TRUE;
}

static gboolean
parse_version (GKeyFile *kf, SarManifest *manifest, GError **error)
{
  g_autoptr (GError) local = NULL;

  manifest->version = get_required (kf, BACKUP_GROUP, "Version", error);
  if (manifest->version == NULL)
    return FALSE;
  if (!sf_version_parse (manifest->version, &manifest->parsed_version, &local))
    return manifest_error (error, BACKUP_GROUP, "Version", "%s", local->message);
  return TRUE;
}

static gboolean
parse_created (GKeyFile *kf, SarManifest *manifest, GError **error)
{
  g_autofree char *value = get_required (kf, BACKUP_GROUP, "Created", error);
  g_autofree char *quoted = NULL;
  g_autoptr (GDateTime) time = NULL;

  if (value == NULL)
    return FALSE;
  /* No default time zone: a time without one is refused, not guessed. */
  time = g_date_time_new_from_iso8601 (value, NULL);
  if (time == NULL)
    return manifest_error (error, BACKUP_GROUP, "Created",
                           "%s is not an ISO 8601 time with a time zone, such as "
                           "2026-11-20T02:00:00Z",
                           quoted = sar_quote (value));
  manifest->created = g_date_time_to_unix (time);
  if (manifest->created < 0)
    return manifest_error (error, BACKUP_GROUP, "Created", "%s lies before 1970",
                           quoted = sar_quote (value));
  return TRUE;
}

static gboolean
parse_ip_address (GKeyFile *kf, SarManifest *manifest, GError **error)
{
  g_autoptr (GInetAddress) address = NULL;
  g_autofree char *quoted = NULL;

  if (!g_key_file_has_key (kf, BACKUP_GROUP, "IpAddress", NULL))
    return TRUE;
  manifest->ip_address = get_required (kf, BACKUP_GROUP, "IpAddress", error);
  if (manifest->ip_address == NULL)
    return FALSE;
  address = g_inet_address_new_from_string (manifest->ip_address);
  if (address == NULL)
    return manifest_error (error, BACKUP_GROUP, "IpAddress", "%s is not an IPv4 or IPv6 address",
                           quoted = sar_quote (manifest->ip_address));
  return TRUE;
}

/* Database= and DatabaseBytes= come together. */
static gboolean
parse_database (GKeyFile *kf, const char *group, SarComponent *component, GError **error)
{
  gboolean has_name = g_key_file_has_key (kf, group, "Database", NULL);
  gboolean has_bytes = g_key_file_has_key (kf, group, "DatabaseBytes", NULL);
  g_autoptr (GError) local = NULL;
  g_autofree char *quoted = NULL;

  if (!has_name && !has_bytes)
    return TRUE;
  if (!has_name || !has_bytes)
    return manifest_error (error, group, has_name ? "DatabaseBytes" : "Database",
                           "missing (Database and DatabaseBytes come together)");
  component->database = get_required (kf, group, "Database", error);
  if (component->database == NULL
      || !get_unsigned (kf, group, "DatabaseBytes", &component->database_bytes, error))
    return FALSE;
  if (!config_database_name_check (component->database, &local))
    return manifest_error (error, group, "Database", "%s: %s",
                           quoted = sar_quote (component->database), local->message);
  if (component->database_bytes == 0)
    return manifest_error (error, group, "DatabaseBytes", "0: a dump is never empty");
  return TRUE;
}

static gboolean
parse_component (GKeyFile *kf, const char *id, SarManifest *manifest, GError **error)
{
  g_autofree char *group = g_strconcat (COMPONENT_GROUP_PREFIX, id, NULL);
  SarComponent *component;

  if (!g_key_file_has_group (kf, group))
    return manifest_error (error, group, NULL, "missing (component %s is listed in Components)",
                           id);
  if (!check_known_keys (kf, group, component_keys, error))
    return FALSE;

  component = g_new0 (SarComponent, 1);
  component->id = g_strdup (id);
  g_ptr_array_add (manifest->components, component);
  if (!get_text (kf, group, "Label", LABEL_MAX, &component->label, error)
      || !get_unsigned (kf, group, "Files", &component->files, error)
      || !get_unsigned (kf, group, "Bytes", &component->bytes, error))
    return FALSE;
  if (component->files == 0 && component->bytes != 0)
    return manifest_error (error, group, "Bytes", "%" G_GUINT64_FORMAT " bytes in 0 files",
                           component->bytes);
  return parse_database (kf, group, component, error);
}

static gboolean
parse_components (GKeyFile *kf, SarManifest *manifest, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) ids = NULL;
  gsize n_ids = 0;

  if (!g_key_file_has_key (kf, BACKUP_GROUP, "Components", NULL))
    return manifest_error (error, BACKUP_GROUP, "Components", "missing");
  ids = g_key_file_get_string_list (kf, BACKUP_GROUP, "Components", &n_ids, &local);
  if (ids == NULL && local != NULL)
    return manifest_error (error, BACKUP_GROUP, "Components", "%s", local->message);
  if (n_ids == 0)
    return manifest_error (error, BACKUP_GROUP, "Components", "no components listed");
  if (n_ids > SAR_COMPONENTS_MAX)
    return manifest_error (error, BACKUP_GROUP, "Components",
                           "%zu components listed; at most %d are allowed", n_ids,
                           SAR_COMPONENTS_MAX);

  for (gsize i = 0; i < n_ids; i++) {
    if (!sar_component_id_check (ids[i], &local))
      return manifest_error (error, BACKUP_GROUP, "Components", "%s", local->message);
    if (sar_manifest_find_component (manifest, ids[i]) != NULL)
      return manifest_error (error, BACKUP_GROUP, "Components", "component %s is listed twice",
                             ids[i]);
    if (!parse_component (kf, ids[i], manifest, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
check_groups (GKeyFile *kf, const SarManifest *manifest, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);

  for (guint i = 0; groups[i] != NULL; i++) {
    const char *group = groups[i];

    if (strcmp (group, BACKUP_GROUP) == 0)
      continue;
    if (g_str_has_prefix (group, COMPONENT_GROUP_PREFIX)
        && sar_manifest_find_component (manifest, group + strlen (COMPONENT_GROUP_PREFIX)) != NULL)
      continue;
    if (g_str_has_prefix (group, COMPONENT_GROUP_PREFIX))
      return manifest_error (error, group, NULL, "component not listed in [Backup] Components");
    return manifest_error (error, group, NULL, "unknown group");
  }
  return TRUE;
}

SarManifest *
sar_manifest_parse (const char *data, gsize len, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (SarManifest) manifest = g_new0 (SarManifest, 1);
  g_autoptr (GError) local = NULL;
  const char *bad_utf8;

  manifest->components = g_ptr_array_new_with_free_func ((GDestroyNotify) sar_component_free);
  if (memchr (data, '\0', len) != NULL) {
    backup_error_invalid (error, SAR_MANIFEST_MEMBER ": contains a NUL byte");
    return NULL;
  }
  if (!g_utf8_validate (data, len, &bad_utf8)) {
    backup_error_invalid (error, SAR_MANIFEST_MEMBER ": not valid UTF-8 (at byte %zu)",
                          (gsize) (bad_utf8 - data));
    return NULL;
  }
  /* Keeping translations makes "Label[de]=" an unknown key in every locale
   * instead of a key silently dropped in most. */
  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &local)) {
    backup_error_invalid (error, SAR_MANIFEST_MEMBER ": not a key file: %s", local->message);
    return NULL;
  }
  if (!g_key_file_has_group (kf, BACKUP_GROUP)) {
    manifest_error (error, BACKUP_GROUP, NULL, "missing");
    return NULL;
  }

  if (!check_known_keys (kf, BACKUP_GROUP, backup_keys, error)
      || !parse_format (kf, manifest, error) || !parse_version (kf, manifest, error)
      || !parse_created (kf, manifest, error)
      || !get_text (kf, BACKUP_GROUP, "Process", PROCESS_MAX, &manifest->process, error)
      || !get_text (kf, BACKUP_GROUP, "Hostname", HOSTNAME_MAX, &manifest->hostname, error)
      || !parse_ip_address (kf, manifest, error) || !parse_components (kf, manifest, error)
      || !check_groups (kf, manifest, error))
    return NULL;
  return g_steal_pointer (&manifest);
}

char *
sar_manifest_to_data (const SarManifest *manifest, gsize *len)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GDateTime) time = g_date_time_new_from_unix_utc (manifest->created);
  g_autoptr (GString) ids = g_string_new (NULL);
  g_autofree char *created = NULL;

  g_key_file_set_uint64 (kf, BACKUP_GROUP, "Format", manifest->format);
  g_key_file_set_string (kf, BACKUP_GROUP, "Version", manifest->version);
  created = g_date_time_format (time, "%Y-%m-%dT%H:%M:%SZ");
  g_key_file_set_string (kf, BACKUP_GROUP, "Created", created);
  g_key_file_set_string (kf, BACKUP_GROUP, "Process", manifest->process);
  g_key_file_set_string (kf, BACKUP_GROUP, "Hostname", manifest->hostname);
  if (manifest->ip_address != NULL)
    g_key_file_set_string (kf, BACKUP_GROUP, "IpAddress", manifest->ip_address);
  /* Ids hold neither ';' nor '\': joined by hand to avoid the trailing ';'
   * of g_key_file_set_string_list(). */
  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);

    g_string_append_printf (ids, "%s%s", i > 0 ? ";" : "", component->id);
  }
  g_key_file_set_value (kf, BACKUP_GROUP, "Components", ids->str);

  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);
    g_autofree char *group = g_strconcat (COMPONENT_GROUP_PREFIX, component->id, NULL);

    g_key_file_set_string (kf, group, "Label", component->label);
    g_key_file_set_uint64 (kf, group, "Files", component->files);
    g_key_file_set_uint64 (kf, group, "Bytes", component->bytes);
    if (component->database != NULL) {
      g_key_file_set_string (kf, group, "Database", component->database);
      g_key_file_set_uint64 (kf, group, "DatabaseBytes", component->database_bytes);
    }
  }
  return g_key_file_to_data (kf, len, NULL);
}

char *
sar_dump_member (const char *id)
{
  return g_strconcat (id, SAR_DUMP_MEMBER_SUFFIX, NULL);
}

guint
sar_manifest_dump_component (const SarManifest *manifest, const char *path)
{
  gsize len = strlen (path), suffix = strlen (SAR_DUMP_MEMBER_SUFFIX);

  if (len <= suffix || strchr (path, '/') != NULL
      || strcmp (path + len - suffix, SAR_DUMP_MEMBER_SUFFIX) != 0)
    return G_MAXUINT;
  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);

    if (component->database != NULL && strlen (component->id) == len - suffix
        && strncmp (component->id, path, len - suffix) == 0)
      return i;
  }
  return G_MAXUINT;
}

const SarComponent *
sar_manifest_find_component (const SarManifest *manifest, const char *id)
{
  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);

    if (strcmp (component->id, id) == 0)
      return component;
  }
  return NULL;
}
