/* checksums.c: parsing, checking and writing SHA256SUMS. */
#include "checksums.h"

#include "errors.h"
#include "manifest.h"
#include "names.h"

#include <string.h>

#define HEX_DIGEST_LEN 64

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

void
sar_checksums_format_line (char *out, const guint8 digest[32], const char *path, gsize path_len)
{
  static const char hex[] = "0123456789abcdef";

  for (guint j = 0; j < 32; j++) {
    *out++ = hex[digest[j] >> 4];
    *out++ = hex[digest[j] & 0xf];
  }
  *out++ = ' ';
  *out++ = ' ';
  memcpy (out, path, path_len);
  out[path_len] = '\n';
}

char *
sar_checksums_to_data (const SarChecksums *sums, gsize *len)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < sums->entries->len; i++) {
    const SarChecksumEntry *entry = entry_at (sums, i);
    gsize path_len = strlen (entry->path);
    gsize at = out->len;

    g_string_set_size (out, at + SAR_CHECKSUMS_LINE_LEN (path_len));
    sar_checksums_format_line (out->str + at, entry->digest, entry->path, path_len);
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
  g_autofree gboolean *dumps = g_new0 (gboolean, manifest->components->len);
  guint c = 0;

  for (guint i = 0; i < sums->entries->len; i++) {
    const char *path = entry_at (sums, i)->path;
    const char *slash = strchr (path, '/');
    g_autofree char *quoted = NULL;
    guint dump = slash == NULL ? sar_manifest_dump_component (manifest, path) : G_MAXUINT;

    if (dump != G_MAXUINT) {
      dumps[dump] = TRUE; /* a path is listed once: the parser saw to that */
      continue;
    }
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
    if (component->database != NULL && !dumps[i])
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER
                                   " does not list \"%s" SAR_DUMP_MEMBER_SUFFIX
                                   "\", the dump of database %s of component %s",
                                   component->id, component->database, component->id);
  }
  return TRUE;
}
