/* manifest.c: parsing, checking and writing manifest.ini and SHA256SUMS,
 * and the path and component-id rules every member path obeys. */
#include "manifest.h"

#include "errors.h"
#include "names.h"

#include <gio/gio.h>
#include <string.h>

#define BACKUP_GROUP "Backup"
#define COMPONENT_GROUP_PREFIX "Component "
#define COMPONENT_ID_MAX 64
#define PROCESS_MAX 128
#define HOSTNAME_MAX 255
#define LABEL_MAX 256
#define HEX_DIGEST_LEN 64

static const char *const backup_keys[]
    = { "Format", "Version", "Created", "Process", "Hostname", "IpAddress", "Components", NULL };
static const char *const component_keys[] = { "Label", "Files", "Bytes", NULL };

static gboolean
is_control (gunichar c)
{
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* --- member paths and component ids --- */

gboolean
sar_path_check (const char *path, GError **error)
{
  g_autofree char *quoted = sar_quote (path);
  gsize len = path != NULL ? strlen (path) : 0;
  guint depth = 0;
  const char *p;

  if (len == 0)
    return backup_error_invalid (error, "unsafe path \"\": the path is empty");
  if (len > SAR_PATH_MAX)
    return backup_error_invalid (error, "unsafe path %s: %zu bytes long; at most %d are allowed",
                                 quoted, len, SAR_PATH_MAX);
  if (!g_utf8_validate (path, len, NULL))
    return backup_error_invalid (error, "unsafe path %s: not valid UTF-8", quoted);
  if (path[0] == '/')
    return backup_error_invalid (error, "unsafe path %s: absolute paths are not allowed", quoted);
  if (path[len - 1] == '/')
    len--;

  for (p = path; p <= path + len; p++) {
    const char *start = p;
    gsize n;

    while (p < path + len && *p != '/')
      p++;
    n = p - start;
    if (n == 0)
      return backup_error_invalid (error, "unsafe path %s: empty path component", quoted);
    if ((n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
      return backup_error_invalid (error, "unsafe path %s: \"%.*s\" components are not allowed",
                                   quoted, (int) n, start);
    if (++depth > SAR_PATH_DEPTH_MAX)
      return backup_error_invalid (error, "unsafe path %s: more than %d levels deep", quoted,
                                   SAR_PATH_DEPTH_MAX);
    if (n > SAR_PATH_COMPONENT_MAX)
      return backup_error_invalid (error,
                                   "unsafe path %s: a component is %zu bytes long; at most %d "
                                   "are allowed (the longest file name a file system takes)",
                                   quoted, n, SAR_PATH_COMPONENT_MAX);
    for (const char *q = start; q < p; q = g_utf8_next_char (q)) {
      gunichar c = g_utf8_get_char (q);

      if (is_control (c))
        return backup_error_invalid (error, "unsafe path %s: control character U+%04X", quoted, c);
      if (c == '\\')
        return backup_error_invalid (error, "unsafe path %s: backslashes are not allowed", quoted);
    }
  }
  return TRUE;
}

gboolean
sar_component_id_check (const char *id, GError **error)
{
  g_autofree char *quoted = sar_quote (id);
  gsize len = id != NULL ? strlen (id) : 0;

  if (len == 0 || len > COMPONENT_ID_MAX || id[0] == '-')
    goto bad;
  for (const char *p = id; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-'))
      goto bad;
  return TRUE;

bad:
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT,
               "invalid component id %s: 1 to %d lowercase ASCII letters, digits and '-', "
               "not starting with '-'",
               quoted, COMPONENT_ID_MAX);
  return FALSE;
}

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
    if (is_control (g_utf8_get_char (p)))
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
  return TRUE;
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
  }
  return g_key_file_to_data (kf, len, NULL);
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

/* --- SHA256SUMS --- */

static void
checksum_entry_free (SarChecksumEntry *entry)
{
  g_free (entry->path);
  g_free (entry);
}

SarChecksums *
sar_checksums_new (void)
{
  SarChecksums *sums = g_new0 (SarChecksums, 1);

  sums->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) checksum_entry_free);
  sums->by_path = g_hash_table_new (g_str_hash, g_str_equal);
  return sums;
}

void
sar_checksums_free (SarChecksums *sums)
{
  if (sums == NULL)
    return;
  g_hash_table_unref (sums->by_path);
  g_ptr_array_unref (sums->entries);
  g_free (sums);
}

void
sar_checksums_add (SarChecksums *sums, const char *path, const guint8 digest[32])
{
  SarChecksumEntry *entry;

  g_return_if_fail (!g_hash_table_contains (sums->by_path, path));
  entry = g_new0 (SarChecksumEntry, 1);
  entry->path = g_strdup (path);
  memcpy (entry->digest, digest, sizeof entry->digest);
  g_ptr_array_add (sums->entries, entry);
  g_hash_table_insert (sums->by_path, entry->path, entry);
}

static gboolean
parse_hex_digest (const char *hex, guint8 digest[32])
{
  for (guint i = 0; i < 32; i++) {
    int hi = g_ascii_xdigit_value (hex[2 * i]);
    int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

    if (hi < 0 || lo < 0)
      return FALSE;
    digest[i] = (guint8) (hi << 4 | lo);
  }
  return TRUE;
}

static gboolean
parse_checksum_line (SarChecksums *sums, GHashTable *lines, const char *line, gsize len,
                     guint line_no, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *path = NULL;
  const char *name;
  guint8 digest[32];

  if (len < HEX_DIGEST_LEN + 3 || !parse_hex_digest (line, digest) || line[HEX_DIGEST_LEN] != ' '
      || (line[HEX_DIGEST_LEN + 1] != ' ' && line[HEX_DIGEST_LEN + 1] != '*'))
    return backup_error_invalid (error,
                                 SAR_CHECKSUMS_MEMBER
                                 ": line %u: expected \"<64 hex digits>  <path>\" as "
                                 "sha256sum writes it",
                                 line_no);

  name = line + HEX_DIGEST_LEN + 2;
  len -= HEX_DIGEST_LEN + 2;
  /* The one "./" that "find . | xargs sha256sum" puts in front. */
  if (len > 2 && name[0] == '.' && name[1] == '/') {
    name += 2;
    len -= 2;
  }
  path = g_strndup (name, len);
  if (!sar_path_check (path, &local))
    return backup_error_invalid (error, SAR_CHECKSUMS_MEMBER ": line %u: %s", line_no,
                                 local->message);
  if (g_str_has_suffix (path, "/")) {
    g_autofree char *quoted = sar_quote (path);

    return backup_error_invalid (
        error, SAR_CHECKSUMS_MEMBER ": line %u: %s names a directory, not a file", line_no, quoted);
  }
  if (g_hash_table_contains (sums->by_path, path)) {
    g_autofree char *quoted = sar_quote (path);

    return backup_error_invalid (
        error, SAR_CHECKSUMS_MEMBER ": line %u: %s is listed twice (also on line %u)", line_no,
        quoted, GPOINTER_TO_UINT (g_hash_table_lookup (lines, path)));
  }
  sar_checksums_add (sums, path, digest);
  g_hash_table_insert (lines, g_steal_pointer (&path), GUINT_TO_POINTER (line_no));
  return TRUE;
}

/* A path cannot be a file and also a directory holding other files. */
static gboolean
check_file_directory_clash (const SarChecksums *sums, GHashTable *lines, GError **error)
{
  g_autoptr (GHashTable) directories
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < sums->entries->len; i++) {
    const SarChecksumEntry *entry = g_ptr_array_index (sums->entries, i);

    for (const char *slash = strchr (entry->path, '/'); slash != NULL;
         slash = strchr (slash + 1, '/'))
      g_hash_table_add (directories, g_strndup (entry->path, slash - entry->path));
  }
  for (guint i = 0; i < sums->entries->len; i++) {
    const SarChecksumEntry *entry = g_ptr_array_index (sums->entries, i);

    if (g_hash_table_contains (directories, entry->path)) {
      g_autofree char *quoted = sar_quote (entry->path);

      return backup_error_invalid (
          error,
          SAR_CHECKSUMS_MEMBER ": line %u: %s is listed as a file, but other listed "
                               "files lie below it",
          GPOINTER_TO_UINT (g_hash_table_lookup (lines, entry->path)), quoted);
    }
  }
  return TRUE;
}

SarChecksums *
sar_checksums_parse (const char *data, gsize len, GError **error)
{
  g_autoptr (SarChecksums) sums = sar_checksums_new ();
  g_autoptr (GHashTable) lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *end = data + len;
  guint line_no = 1;

  if (memchr (data, '\0', len) != NULL) {
    backup_error_invalid (error, SAR_CHECKSUMS_MEMBER ": contains a NUL byte");
    return NULL;
  }
  /* The last newline may be missing, as "sha256sum -c" allows. */
  for (const char *p = data; p < end; line_no++) {
    const char *newline = memchr (p, '\n', end - p);
    const char *line_end = newline != NULL ? newline : end;

    if (!parse_checksum_line (sums, lines, p, line_end - p, line_no, error))
      return NULL;
    p = newline != NULL ? newline + 1 : end;
  }
  if (!check_file_directory_clash (sums, lines, error))
    return NULL;
  return g_steal_pointer (&sums);
}

char *
sar_checksums_to_data (const SarChecksums *sums, gsize *len)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < sums->entries->len; i++) {
    const SarChecksumEntry *entry = g_ptr_array_index (sums->entries, i);

    for (guint j = 0; j < sizeof entry->digest; j++)
      g_string_append_printf (out, "%02x", entry->digest[j]);
    g_string_append_printf (out, "  %s\n", entry->path);
  }
  if (len != NULL)
    *len = out->len;
  return g_string_free (out, FALSE);
}

gboolean
sar_checksums_match_manifest (const SarChecksums *sums, const SarManifest *manifest, GError **error)
{
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; i < sums->entries->len; i++) {
    const SarChecksumEntry *entry = g_ptr_array_index (sums->entries, i);
    const char *slash = strchr (entry->path, '/');
    g_autofree char *id = NULL;
    g_autofree char *quoted = sar_quote (entry->path);
    guint64 *count;

    if (slash == NULL)
      return backup_error_invalid (
          error, SAR_CHECKSUMS_MEMBER ": %s is not below a component directory", quoted);
    id = g_strndup (entry->path, slash - entry->path);
    if (sar_manifest_find_component (manifest, id) == NULL)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER
                                   ": %s is not below a component listed in " SAR_MANIFEST_MEMBER,
                                   quoted);
    count = g_hash_table_lookup (counts, id);
    if (count == NULL) {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (counts, g_steal_pointer (&id), count);
    }
    (*count)++;
  }

  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);
    const guint64 *count = g_hash_table_lookup (counts, component->id);
    guint64 listed = count != NULL ? *count : 0;

    if (listed != component->files)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER
                                   " lists %" G_GUINT64_FORMAT " files below \"%s/\", "
                                   "but " SAR_MANIFEST_MEMBER
                                   " [Component %s] Files is %" G_GUINT64_FORMAT,
                                   listed, component->id, component->id, component->files);
  }
  return TRUE;
}
