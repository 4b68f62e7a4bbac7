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

static gboolean unsafe_path (GError **error, const char *path, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* "unsafe path <quoted>: <why>"; quoting only when it fails, since every
 * member and every SHA256SUMS line is checked. */
static gboolean
unsafe_path (GError **error, const char *path, const char *format, ...)
{
  g_autofree char *quoted = NULL;
  g_autofree char *why = NULL;
  va_list args;

  if (error == NULL)
    return FALSE;
  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  return backup_error_invalid (error, "unsafe path %s: %s", quoted = sar_quote (path), why);
}

gboolean
sar_path_check (const char *path, GError **error)
{
  gsize len = path != NULL ? strlen (path) : 0;
  guint depth = 0;
  const char *p;

  if (len == 0)
    return backup_error_invalid (error, "unsafe path \"\": the path is empty");
  if (len > SAR_PATH_MAX)
    return unsafe_path (error, path, "%zu bytes long; at most %d are allowed", len, SAR_PATH_MAX);
  if (!g_utf8_validate (path, len, NULL))
    return unsafe_path (error, path, "not valid UTF-8");
  if (path[0] == '/')
    return unsafe_path (error, path, "absolute paths are not allowed");
  if (path[len - 1] == '/')
    len--;

  for (p = path; p <= path + len; p++) {
    const char *start = p;
    gsize n;

    while (p < path + len && *p != '/')
      p++;
    n = p - start;
    if (n == 0)
      return unsafe_path (error, path, "empty path component");
    if ((n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
      return unsafe_path (error, path, "\"%.*s\" components are not allowed", (int) n, start);
    if (++depth > SAR_PATH_DEPTH_MAX)
      return unsafe_path (error, path, "more than %d levels deep", SAR_PATH_DEPTH_MAX);
    if (n > SAR_PATH_COMPONENT_MAX)
      return unsafe_path (error, path,
                          "a component is %zu bytes long; at most %d are allowed (the longest "
                          "file name a file system takes)",
                          n, SAR_PATH_COMPONENT_MAX);
    for (const char *q = start; q < p; q = g_utf8_next_char (q)) {
      gunichar c = g_utf8_get_char (q);

      if (is_control (c))
        return unsafe_path (error, path, "control character U+%04X", c);
      if (c == '\\')
        return unsafe_path (error, path, "backslashes are not allowed");
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

/* Every parsed line is "<64 hex><space><space or *><path>", and no path is
 * longer than SAR_PATH_MAX (plus the "./" that may precede it): a longer
 * line is refused without waiting for its end. */
#define SUMS_LINE_MAX (HEX_DIGEST_LEN + 2 + 2 + SAR_PATH_MAX)
/* The paths of lists built entry by entry are stored in blocks of this size. */
#define PATH_BLOCK (64 * 1024)

struct _SarChecksums {
  GArray *entries;     /* SarChecksumEntry, in file order */
  GStringChunk *paths; /* what the entries' paths point to */
  guint32 *order;      /* entry indexes sorted by path_compare(); for lookups */
  gboolean sorted;
};

struct _SarChecksumsParser {
  SarChecksums *sums;
  GString *partial; /* the start of a line whose end has not come yet */
  gboolean failed;
};

/* Byte order, except that '/' sorts before every other byte: then the
 * paths below a directory "d" ("d/...") follow right after a path "d"
 * itself, before "d-x" or "d.x" (which plain byte order puts between
 * them), so one look at the next path finds a file that is also a
 * directory. */
static int
path_compare (const char *a, const char *b)
{
  for (;; a++, b++) {
    guchar x = (guchar) *a, y = (guchar) *b;

    if (x != y) {
      if (x == '\0' || y == '\0')
        return x == '\0' ? -1 : 1;
      if (x == '/' || y == '/')
        return x == '/' ? -1 : 1;
      return x < y ? -1 : 1;
    }
    if (x == '\0')
      return 0;
  }
}

/* path_compare() of a path with the first len bytes of key (no NUL). */
static int
path_compare_key (const char *path, const char *key, gsize len)
{
  for (gsize i = 0; i < len; i++) {
    guchar x = (guchar) path[i], y = (guchar) key[i];

    if (x != y) {
      if (x == '\0')
        return -1;
      if (x == '/' || y == '/')
        return x == '/' ? -1 : 1;
      return x < y ? -1 : 1;
    }
  }
  return path[len] == '\0' ? 0 : 1;
}

static const SarChecksumEntry *
entry_at (const SarChecksums *sums, guint i)
{
  return &g_array_index (sums->entries, SarChecksumEntry, i);
}

SarChecksums *
sar_checksums_new (void)
{
  SarChecksums *sums = g_new0 (SarChecksums, 1);

  sums->entries = g_array_new (FALSE, FALSE, sizeof (SarChecksumEntry));
  sums->paths = g_string_chunk_new (PATH_BLOCK);
  return sums;
}

void
sar_checksums_free (SarChecksums *sums)
{
  if (sums == NULL)
    return;
  g_array_unref (sums->entries);
  g_string_chunk_free (sums->paths);
  g_free (sums->order);
  g_free (sums);
}

static SarChecksumEntry *
checksums_append (SarChecksums *sums, const char *path, gsize len)
{
  SarChecksumEntry entry = { g_string_chunk_insert_len (sums->paths, path, (gssize) len), { 0 } };

  g_array_append_val (sums->entries, entry);
  sums->sorted = FALSE;
  return &g_array_index (sums->entries, SarChecksumEntry, sums->entries->len - 1);
}

void
sar_checksums_add (SarChecksums *sums, const char *path, const guint8 digest[32])
{
  SarChecksumEntry *entry = checksums_append (sums, path, strlen (path));

  memcpy (entry->digest, digest, sizeof entry->digest);
}

guint
sar_checksums_count (const SarChecksums *sums)
{
  return sums->entries->len;
}

const SarChecksumEntry *
sar_checksums_get (const SarChecksums *sums, guint i)
{
  g_return_val_if_fail (i < sums->entries->len, NULL);
  return entry_at (sums, i);
}

guint
sar_checksums_index (const SarChecksums *sums, const SarChecksumEntry *entry)
{
  return (guint) (entry - entry_at (sums, 0));
}

/* The first position in the order whose path is not below key (as
 * path_compare_key() sees it). */
static guint
lower_bound (const SarChecksums *sums, const char *key, gsize len)
{
  guint low = 0, high = sums->entries->len;

  while (low < high) {
    guint mid = low + (high - low) / 2;

    if (path_compare_key (entry_at (sums, sums->order[mid])->path, key, len) < 0)
      low = mid + 1;
    else
      high = mid;
  }
  return low;
}

const SarChecksumEntry *
sar_checksums_lookup (const SarChecksums *sums, const char *path)
{
  gsize len = strlen (path);
  guint at;
  const SarChecksumEntry *entry;

  g_return_val_if_fail (sums->sorted || sums->entries->len == 0, NULL);
  at = lower_bound (sums, path, len);
  if (at == sums->entries->len)
    return NULL;
  entry = entry_at (sums, sums->order[at]);
  return path_compare_key (entry->path, path, len) == 0 ? entry : NULL;
}

gboolean
sar_checksums_has_below (const SarChecksums *sums, const char *dir, gsize len)
{
  g_autofree char *key = g_strndup (dir, len + 1);
  guint at;

  g_return_val_if_fail (sums->sorted || sums->entries->len == 0, FALSE);
  key[len] = '/';
  at = lower_bound (sums, key, len + 1);
  return at < sums->entries->len
         && strncmp (entry_at (sums, sums->order[at])->path, key, len + 1) == 0;
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
parse_checksum_line (SarChecksums *sums, const char *line, gsize len, GError **error)
{
  guint line_no = sums->entries->len + 1;
  g_autoptr (GError) local = NULL;
  SarChecksumEntry *entry;
  const char *name;

  if (len < HEX_DIGEST_LEN + 3 || line[HEX_DIGEST_LEN] != ' '
      || (line[HEX_DIGEST_LEN + 1] != ' ' && line[HEX_DIGEST_LEN + 1] != '*'))
    goto malformed;

  name = line + HEX_DIGEST_LEN + 2;
  len -= HEX_DIGEST_LEN + 2;
  /* The one "./" that "find . | xargs sha256sum" puts in front. */
  if (len > 2 && name[0] == '.' && name[1] == '/') {
    name += 2;
    len -= 2;
  }
  entry = checksums_append (sums, name, len);
  if (!parse_hex_digest (line, entry->digest))
    goto malformed;
  if (!sar_path_check (entry->path, &local))
    return backup_error_invalid (error, SAR_CHECKSUMS_MEMBER ": line %u: %s", line_no,
                                 local->message);
  if (entry->path[len - 1] == '/') {
    g_autofree char *quoted = sar_quote (entry->path);

    return backup_error_invalid (
        error, SAR_CHECKSUMS_MEMBER ": line %u: %s names a directory, not a file", line_no, quoted);
  }
  return TRUE;

malformed:
  return backup_error_invalid (error,
                               SAR_CHECKSUMS_MEMBER ": line %u: expected \"<64 hex digits>  "
                                                    "<path>\" as sha256sum writes it",
                               line_no);
}

static int
order_compare (gconstpointer a, gconstpointer b, gpointer data)
{
  const SarChecksums *sums = data;
  guint32 i = *(const guint32 *) a, j = *(const guint32 *) b;
  int c = path_compare (entry_at (sums, i)->path, entry_at (sums, j)->path);

  return c != 0 ? c : (i < j ? -1 : i > j);
}

/* Sorts the index and refuses a path listed twice, or listed as a file
 * while other listed files lie below it: both stand next to each other in
 * path order.  Reports the problem that comes first in the file. */
static gboolean
checksums_sort (SarChecksums *sums, GError **error)
{
  guint n = sums->entries->len;
  guint twice = G_MAXUINT, first = 0, file = G_MAXUINT;

  g_free (sums->order);
  sums->order = g_new (guint32, n);
  for (guint i = 0; i < n; i++)
    sums->order[i] = i;
  g_qsort_with_data (sums->order, (gint) n, sizeof (guint32), order_compare, sums);
  sums->sorted = TRUE;

  for (guint k = 0; k + 1 < n; k++) {
    guint32 a = sums->order[k], b = sums->order[k + 1];
    const char *pa = entry_at (sums, a)->path, *pb = entry_at (sums, b)->path;
    gsize la = strlen (pa);

    if (strcmp (pa, pb) == 0) {
      if (b < twice)
        twice = b, first = a;
    } else if (strncmp (pa, pb, la) == 0 && pb[la] == '/' && a < file) {
      file = a;
    }
  }
  if (twice != G_MAXUINT) {
    g_autofree char *quoted = sar_quote (entry_at (sums, twice)->path);

    return backup_error_invalid (
        error, SAR_CHECKSUMS_MEMBER ": line %u: %s is listed twice (also on line %u)", twice + 1,
        quoted, first + 1);
  }
  if (file != G_MAXUINT) {
    g_autofree char *quoted = sar_quote (entry_at (sums, file)->path);

    return backup_error_invalid (error,
                                 SAR_CHECKSUMS_MEMBER ": line %u: %s is listed as a file, but "
                                                      "other listed files lie below it",
                                 file + 1, quoted);
  }
  return TRUE;
}

SarChecksumsParser *
sar_checksums_parser_new (void)
{
  SarChecksumsParser *parser = g_new0 (SarChecksumsParser, 1);

  parser->sums = sar_checksums_new ();
  parser->partial = g_string_new (NULL);
  return parser;
}

void
sar_checksums_parser_free (SarChecksumsParser *parser)
{
  if (parser == NULL)
    return;
  sar_checksums_free (parser->sums);
  g_string_free (parser->partial, TRUE);
  g_free (parser);
}

static gboolean
parser_failed (SarChecksumsParser *parser)
{
  parser->failed = TRUE;
  return FALSE;
}

gboolean
sar_checksums_parser_feed (SarChecksumsParser *parser, const char *data, gsize len, GError **error)
{
  const char *end = data + len;

  g_return_val_if_fail (!parser->failed, FALSE);
  if (memchr (data, '\0', len) != NULL) {
    backup_error_invalid (error, SAR_CHECKSUMS_MEMBER ": contains a NUL byte");
    return parser_failed (parser);
  }
  for (const char *p = data; p < end;) {
    const char *newline = memchr (p, '\n', end - p);
    const char *line_end = newline != NULL ? newline : end;

    if (newline != NULL && parser->partial->len == 0) {
      /* the whole line is here: parsed where it is */
      if (!parse_checksum_line (parser->sums, p, line_end - p, error))
        return parser_failed (parser);
    } else {
      g_string_append_len (parser->partial, p, line_end - p);
      /* a line this long is wrong: say so now, not at its end */
      if ((newline != NULL || parser->partial->len > SUMS_LINE_MAX)
          && !parse_checksum_line (parser->sums, parser->partial->str, parser->partial->len, error))
        return parser_failed (parser);
      if (newline != NULL)
        g_string_truncate (parser->partial, 0);
    }
    p = newline != NULL ? newline + 1 : end;
  }
  return TRUE;
}

SarChecksums *
sar_checksums_parser_finish (SarChecksumsParser *parser, GError **error)
{
  SarChecksums *sums = NULL;

  g_return_val_if_fail (!parser->failed, NULL);
  /* The last newline may be missing, as "sha256sum -c" allows. */
  if ((parser->partial->len == 0
       || parse_checksum_line (parser->sums, parser->partial->str, parser->partial->len, error))
      && checksums_sort (parser->sums, error))
    sums = g_steal_pointer (&parser->sums);
  sar_checksums_parser_free (parser);
  return sums;
}

SarChecksums *
sar_checksums_parse (const char *data, gsize len, GError **error)
{
  SarChecksumsParser *parser = sar_checksums_parser_new ();

  if (!sar_checksums_parser_feed (parser, data, len, error)) {
    sar_checksums_parser_free (parser);
    return NULL;
  }
  return sar_checksums_parser_finish (parser, error);
}

char *
sar_checksums_to_data (const SarChecksums *sums, gsize *len)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < sums->entries->len; i++) {
    const SarChecksumEntry *entry = entry_at (sums, i);

    for (guint j = 0; j < sizeof entry->digest; j++)
      g_string_append_printf (out, "%02x", entry->digest[j]);
    g_string_append_printf (out, "  %s\n", entry->path);
  }
  if (len != NULL)
    *len = out->len;
  return g_string_free (out, FALSE);
}

/* The index of the component whose id is the first id_len bytes of path,
 * looked for from hint on; G_MAXUINT if none. */
static guint
component_of (const SarManifest *manifest, const char *path, gsize id_len, guint hint)
{
  guint n = manifest->components->len;

  for (guint k = 0; k < n; k++) {
    guint c = (hint + k) % n;
    const SarComponent *component = g_ptr_array_index (manifest->components, c);

    if (strncmp (component->id, path, id_len) == 0 && component->id[id_len] == '\0')
      return c;
  }
  return G_MAXUINT;
}

gboolean
sar_checksums_match_manifest (const SarChecksums *sums, const SarManifest *manifest, GError **error)
{
  g_autofree guint64 *counts = g_new0 (guint64, manifest->components->len);
  guint c = 0;

  for (guint i = 0; i < sums->entries->len; i++) {
    const char *path = entry_at (sums, i)->path;
    const char *slash = strchr (path, '/');
    g_autofree char *quoted = NULL;

    if (slash == NULL)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER ": %s is not below a component directory",
                                   quoted = sar_quote (path));
    /* the lines of one component mostly follow each other */
    c = component_of (manifest, path, slash - path, c);
    if (c == G_MAXUINT)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER
                                   ": %s is not below a component listed in " SAR_MANIFEST_MEMBER,
                                   quoted = sar_quote (path));
    counts[c]++;
  }

  for (guint i = 0; i < manifest->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);

    if (counts[i] != component->files)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER
                                   " lists %" G_GUINT64_FORMAT " files below \"%s/\", "
                                   "but " SAR_MANIFEST_MEMBER
                                   " [Component %s] Files is %" G_GUINT64_FORMAT,
                                   counts[i], component->id, component->id, component->files);
  }
  return TRUE;
}
