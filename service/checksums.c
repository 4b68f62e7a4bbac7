/* checksums.c: parsing, checking and writing SHA256SUMS. */
#include "checksums.h"

#include "errors.h"
#include "manifest.h"
#include "names.h"
#include "spill.h"

#include <string.h>

#define HEX_DIGEST_LEN 64
#define DIGEST_LEN 32

/* Every parsed line is "<64 hex><space><space or *><path>", and no path is
 * longer than SAR_PATH_MAX (plus the "./" that may precede it): a longer
 * line is refused without waiting for its end. */
#define SUMS_LINE_MAX (HEX_DIGEST_LEN + 2 + 2 + SAR_PATH_MAX)

/* A slot of the hash table is a guint32: the entry's number + 1 in its
 * low ENTRY_BITS (0: an empty slot), and the top bits of the path's hash
 * above them, so a probe only reads a line back from the spill when those
 * bits match (one slot in 4096 that is not the path's own).  The reader
 * takes no SHA256SUMS over SAR_CHECKSUMS_MAX bytes, which at 67 bytes at
 * least a line (the last needs no newline) has fewer lines than the
 * parser's limit. */
#define ENTRY_BITS 20
#define ENTRY_MASK ((1u << ENTRY_BITS) - 1)
#define ENTRIES_MAX ENTRY_MASK
#define TAG_BITS (32 - ENTRY_BITS)
G_STATIC_ASSERT (SAR_CHECKSUMS_MAX / (HEX_DIGEST_LEN + 3) < ENTRIES_MAX);
/* A record in the spill is the digest, then the path (no NUL: its length
 * is where the next record starts), and the paths pass sar_path_check():
 * the offsets of ENTRIES_MAX records fit a guint32. */
#define RECORD_MAX (DIGEST_LEN + SAR_PATH_MAX)
G_STATIC_ASSERT ((guint64) ENTRIES_MAX *RECORD_MAX < G_MAXUINT32);

struct _SarChecksums {
  /* guards the spill, whose buffers a read changes, once the list is
   * parsed (the extraction's reader and the check of the dumps run in
   * threads of their own) */
  GMutex lock;
  Spill *spill;     /* per entry, in file order: its record */
  guint32 *offsets; /* where each entry's record starts in the spill */
  guint count, allocated;
  /* Open addressing (linear probing) by the path's hash: see ENTRY_BITS.
   * Built by the parser's end, when the count is known, with room for
   * half as many entries again: with the offsets, 10 bytes a line. */
  guint32 *table;
  guint capacity;
  /* of the hash: random, so no list can be made whose paths collide (and
   * every lookup walks the whole table) */
  guint64 key[2];
};

struct _SarChecksumsParser {
  SarChecksums *sums;
  GString *partial; /* the start of a line whose end has not come yet */
  GString *path;    /* the path of the line being parsed, NUL-terminated */
  gboolean failed;
};

/* --- the hash: SipHash-2-4 --- */

#define ROTL(x, b) (guint64) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  G_STMT_START                                                                                     \
  {                                                                                                \
    v0 += v1;                                                                                      \
    v1 = ROTL (v1, 13);                                                                            \
    v1 ^= v0;                                                                                      \
    v0 = ROTL (v0, 32);                                                                            \
    v2 += v3;                                                                                      \
    v3 = ROTL (v3, 16);                                                                            \
    v3 ^= v2;                                                                                      \
    v0 += v3;                                                                                      \
    v3 = ROTL (v3, 21);                                                                            \
    v3 ^= v0;                                                                                      \
    v2 += v1;                                                                                      \
    v1 = ROTL (v1, 17);                                                                            \
    v1 ^= v2;                                                                                      \
    v2 = ROTL (v2, 32);                                                                            \
  }                                                                                                \
  G_STMT_END

static guint64
path_hash (const SarChecksums *sums, const char *path, gsize len)
{
  const guint8 *in = (const guint8 *) path;
  const guint8 *end = in + (len & ~(gsize) 7);
  guint64 v0 = 0x736f6d6570736575ULL ^ sums->key[0];
  guint64 v1 = 0x646f72616e646f6dULL ^ sums->key[1];
  guint64 v2 = 0x6c7967656e657261ULL ^ sums->key[0];
  guint64 v3 = 0x7465646279746573ULL ^ sums->key[1];
  guint64 last = (guint64) len << 56;

  for (; in != end; in += 8) {
    guint64 m;

    memcpy (&m, in, sizeof m);
    m = GUINT64_FROM_LE (m);
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  for (gsize i = 0; i < (len & 7); i++)
    last |= (guint64) in[i] << (8 * i);
  v3 ^= last;
  SIPROUND;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* --- the entries --- */

static SarChecksums *
checksums_new (gsize spill_memory_max)
{
  SarChecksums *sums = g_new0 (SarChecksums, 1);

  g_mutex_init (&sums->lock);
  sums->spill = spill_new_limit (spill_memory_max);
  for (guint i = 0; i < G_N_ELEMENTS (sums->key); i++)
    sums->key[i] = (guint64) g_random_int () << 32 | g_random_int ();
  return sums;
}

void
sar_checksums_free (SarChecksums *sums)
{
  if (sums == NULL)
    return;
  spill_free (sums->spill);
  g_free (sums->offsets);
  g_free (sums->table);
  g_mutex_clear (&sums->lock);
  g_free (sums);
}

static gboolean
checksums_append (SarChecksums *sums, const char *path, gsize len, const guint8 digest[DIGEST_LEN],
                  GError **error)
{
  guint64 offset;

  if (sums->count == sums->allocated) {
    sums->allocated = MAX (64, sums->allocated * 2);
    sums->offsets = g_renew (guint32, sums->offsets, sums->allocated);
  }
  if (!spill_append (sums->spill, digest, DIGEST_LEN, &offset, error)
      || !spill_append (sums->spill, path, len, NULL, error))
    return FALSE;
  sums->offsets[sums->count++] = (guint32) offset;
  return TRUE;
}

static gsize
path_len_of (const SarChecksums *sums, guint i)
{
  guint64 end = i + 1 < sums->count ? sums->offsets[i + 1] : spill_size (sums->spill);

  return (gsize) (end - sums->offsets[i]) - DIGEST_LEN;
}

/* Entry i's record into record (RECORD_MAX + 1 bytes): its digest, then
 * its path, NUL-terminated; *path_len its length. */
static gboolean
read_record (SarChecksums *sums, guint i, guint8 *record, gsize *path_len, GError **error)
{
  gsize len = path_len_of (sums, i);

  if (!spill_read (sums->spill, sums->offsets[i], record, DIGEST_LEN + len, error))
    return FALSE;
  record[DIGEST_LEN + len] = '\0';
  if (path_len != NULL)
    *path_len = len;
  return TRUE;
}

#define RECORD_PATH(record) ((const char *) (record) + DIGEST_LEN)

static guint
slot_of (const SarChecksums *sums, guint64 hash)
{
  /* the low 32 bits scaled to the capacity: no need of a power of two */
  return (guint) (((hash & G_MAXUINT32) * sums->capacity) >> 32);
}

/* The entry whose path is the first len bytes of path: *found its number
 * (SAR_CHECKSUMS_UNLISTED if none) and record its record.  *at (if not
 * NULL) the empty slot where the path would go. */
static gboolean
find (SarChecksums *sums, const char *path, gsize len, guint *found, guint8 *record, guint *at,
      GError **error)
{
  guint64 hash = path_hash (sums, path, len);
  guint32 tag = (guint32) (hash >> (64 - TAG_BITS));

  *found = SAR_CHECKSUMS_UNLISTED;
  if (sums->capacity == 0)
    return TRUE;
  for (guint k = slot_of (sums, hash);; k = k + 1 == sums->capacity ? 0 : k + 1) {
    guint32 slot = sums->table[k];
    guint i;

    if (slot == 0) {
      if (at != NULL)
        *at = k;
      return TRUE;
    }
    i = (slot & ENTRY_MASK) - 1;
    if (slot >> ENTRY_BITS != tag || path_len_of (sums, i) != len)
      continue;
    if (!read_record (sums, i, record, NULL, error))
      return FALSE;
    if (memcmp (RECORD_PATH (record), path, len) == 0) {
      *found = i;
      return TRUE;
    }
  }
}

guint
sar_checksums_count (const SarChecksums *sums)
{
  return sums->count;
}

gsize
sar_checksums_index_bytes (const SarChecksums *sums)
{
  return sizeof *sums + sums->allocated * sizeof *sums->offsets
         + sums->capacity * sizeof *sums->table;
}

gboolean
sar_checksums_spilled (const SarChecksums *sums)
{
  return spill_in_file (sums->spill);
}

static void
fill_entry (SarChecksumEntry *entry, guint i, const guint8 *record)
{
  entry->index = i;
  memcpy (entry->digest, record, DIGEST_LEN);
}

gboolean
sar_checksums_get (SarChecksums *sums, guint i, GString *path, SarChecksumEntry *entry,
                   GError **error)
{
  guint8 record[RECORD_MAX + 1];
  gsize len;
  gboolean ok;

  g_return_val_if_fail (i < sums->count, FALSE);
  g_mutex_lock (&sums->lock);
  ok = read_record (sums, i, record, &len, error);
  g_mutex_unlock (&sums->lock);
  if (!ok)
    return FALSE;
  g_string_truncate (path, 0);
  g_string_append_len (path, RECORD_PATH (record), (gssize) len);
  if (entry != NULL)
    fill_entry (entry, i, record);
  return TRUE;
}

gboolean
sar_checksums_lookup (SarChecksums *sums, const char *path, SarChecksumEntry *entry, GError **error)
{
  guint8 record[RECORD_MAX + 1];
  gboolean ok;

  g_mutex_lock (&sums->lock);
  ok = find (sums, path, strlen (path), &entry->index, record, NULL, error);
  g_mutex_unlock (&sums->lock);
  if (ok && entry->index != SAR_CHECKSUMS_UNLISTED)
    fill_entry (entry, entry->index, record);
  return ok;
}

gboolean
sar_checksums_has_below (SarChecksums *sums, const char *dir, gsize len, gboolean *below,
                         GError **error)
{
  guint8 record[RECORD_MAX + 1];
  gboolean ok = TRUE;

  *below = FALSE;
  g_mutex_lock (&sums->lock);
  /* in file order: reads that the spill's read buffer serves */
  for (guint i = 0; ok && !*below && i < sums->count; i++) {
    if (path_len_of (sums, i) <= len)
      continue;
    ok = read_record (sums, i, record, NULL, error);
    *below = ok && memcmp (RECORD_PATH (record), dir, len) == 0 && RECORD_PATH (record)[len] == '/';
  }
  g_mutex_unlock (&sums->lock);
  return ok;
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
parse_checksum_line (SarChecksumsParser *parser, const char *line, gsize len, GError **error)
{
  guint line_no = parser->sums->count + 1;
  g_autoptr (GError) local = NULL;
  guint8 digest[DIGEST_LEN];
  const char *name;

  if (parser->sums->count == ENTRIES_MAX)
    return backup_error_invalid (error, SAR_CHECKSUMS_MEMBER ": line %u: more than %u lines",
                                 line_no, ENTRIES_MAX);
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
  if (!parse_hex_digest (line, digest))
    goto malformed;
  g_string_truncate (parser->path, 0);
  g_string_append_len (parser->path, name, (gssize) len);
  if (!sar_path_check (parser->path->str, &local))
    return backup_error_invalid (error, SAR_CHECKSUMS_MEMBER ": line %u: %s", line_no,
                                 local->message);
  if (name[len - 1] == '/') {
    g_autofree char *quoted = sar_quote (parser->path->str);

    return backup_error_invalid (
        error, SAR_CHECKSUMS_MEMBER ": line %u: %s names a directory, not a file", line_no, quoted);
  }
  return checksums_append (parser->sums, name, len, digest, error);

malformed:
  return backup_error_invalid (error,
                               SAR_CHECKSUMS_MEMBER ": line %u: expected \"<64 hex digits>  "
                                                    "<path>\" as sha256sum writes it",
                               line_no);
}

/* The hash table, entry by entry in file order, refusing a path listed
 * twice: the first line that repeats an earlier one is the one named. */
static gboolean
checksums_index (SarChecksums *sums, GError **error)
{
  guint8 record[RECORD_MAX + 1], other[RECORD_MAX + 1];

  /* what the parser's doubling left unused */
  sums->offsets = g_renew (guint32, sums->offsets, sums->count);
  sums->allocated = sums->count;
  sums->capacity = sums->count + sums->count / 2 + 1;
  sums->table = g_new0 (guint32, sums->capacity);
  for (guint i = 0; i < sums->count; i++) {
    gsize len;
    guint first, at = 0;
    guint64 hash;

    if (!read_record (sums, i, record, &len, error)
        || !find (sums, RECORD_PATH (record), len, &first, other, &at, error))
      return FALSE;
    if (first != SAR_CHECKSUMS_UNLISTED) {
      g_autofree char *quoted = sar_quote (RECORD_PATH (record));

      return backup_error_invalid (
          error, SAR_CHECKSUMS_MEMBER ": line %u: %s is listed twice (also on line %u)", i + 1,
          quoted, first + 1);
    }
    hash = path_hash (sums, RECORD_PATH (record), len);
    sums->table[at] = (guint32) (hash >> (64 - TAG_BITS)) << ENTRY_BITS | (i + 1);
  }
  return TRUE;
}

/* Refuses a path listed as a file while other listed files lie below it:
 * each directory of each path looked up as a file.  Names the first such
 * file in the list. */
static gboolean
checksums_check_directories (SarChecksums *sums, GError **error)
{
  guint8 record[RECORD_MAX + 1], other[RECORD_MAX + 1];
  guint file = SAR_CHECKSUMS_UNLISTED;

  for (guint i = 0; i < sums->count; i++) {
    gsize len;

    if (!read_record (sums, i, record, &len, error))
      return FALSE;
    for (const char *p = RECORD_PATH (record), *slash = strchr (p, '/'); slash != NULL;
         slash = strchr (slash + 1, '/')) {
      guint found;

      if (!find (sums, p, (gsize) (slash - p), &found, other, NULL, error))
        return FALSE;
      file = MIN (file, found);
    }
  }
  if (file != SAR_CHECKSUMS_UNLISTED) {
    g_autofree char *quoted = NULL;

    if (!read_record (sums, file, record, NULL, error))
      return FALSE;
    quoted = sar_quote (RECORD_PATH (record));
    return backup_error_invalid (error,
                                 SAR_CHECKSUMS_MEMBER ": line %u: %s is listed as a file, but "
                                                      "other listed files lie below it",
                                 file + 1, quoted);
  }
  return TRUE;
}

SarChecksumsParser *
sar_checksums_parser_new_limit (gsize spill_memory_max)
{
  SarChecksumsParser *parser = g_new0 (SarChecksumsParser, 1);

  parser->sums = checksums_new (spill_memory_max);
  parser->partial = g_string_new (NULL);
  parser->path = g_string_new (NULL);
  return parser;
}

SarChecksumsParser *
sar_checksums_parser_new (void)
{
  return sar_checksums_parser_new_limit (SPILL_MEMORY_MAX);
}

void
sar_checksums_parser_free (SarChecksumsParser *parser)
{
  if (parser == NULL)
    return;
  sar_checksums_free (parser->sums);
  g_string_free (parser->partial, TRUE);
  g_string_free (parser->path, TRUE);
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
      if (!parse_checksum_line (parser, p, line_end - p, error))
        return parser_failed (parser);
    } else {
      g_string_append_len (parser->partial, p, line_end - p);
      /* a line this long is wrong: say so now, not at its end */
      if ((newline != NULL || parser->partial->len > SUMS_LINE_MAX)
          && !parse_checksum_line (parser, parser->partial->str, parser->partial->len, error))
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
       || parse_checksum_line (parser, parser->partial->str, parser->partial->len, error))
      && checksums_index (parser->sums, error) && checksums_check_directories (parser->sums, error))
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
sar_checksums_to_data (SarChecksums *sums, gsize *len, GError **error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  guint8 record[RECORD_MAX + 1];
  gboolean ok = TRUE;

  g_mutex_lock (&sums->lock);
  for (guint i = 0; ok && i < sums->count; i++) {
    gsize path_len, at = out->len;

    ok = read_record (sums, i, record, &path_len, error);
    if (ok) {
      g_string_set_size (out, at + SAR_CHECKSUMS_LINE_LEN (path_len));
      sar_checksums_format_line (out->str + at, record, RECORD_PATH (record), path_len);
    }
  }
  g_mutex_unlock (&sums->lock);
  if (!ok)
    return NULL;
  if (len != NULL)
    *len = out->len;
  return g_string_free (g_steal_pointer (&out), FALSE);
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
sar_checksums_match_manifest (SarChecksums *sums, const SarManifest *manifest, GError **error)
{
  g_autofree guint64 *counts = g_new0 (guint64, manifest->components->len);
  g_autofree gboolean *dumps = g_new0 (gboolean, manifest->components->len);
  g_autoptr (GString) path = g_string_new (NULL);
  guint c = 0;

  for (guint i = 0; i < sums->count; i++) {
    const char *slash;
    g_autofree char *quoted = NULL;
    guint dump;

    /* in file order: reads that the spill's read buffer serves */
    if (!sar_checksums_get (sums, i, path, NULL, error))
      return FALSE;
    slash = strchr (path->str, '/');
    dump = slash == NULL ? sar_manifest_dump_component (manifest, path->str) : G_MAXUINT;
    if (dump != G_MAXUINT) {
      dumps[dump] = TRUE; /* a path is listed once: the parser saw to that */
      continue;
    }
    if (slash == NULL)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER ": %s is not below a component directory",
                                   quoted = sar_quote (path->str));
    /* the lines of one component mostly follow each other */
    c = component_of (manifest, path->str, slash - path->str, c);
    if (c == G_MAXUINT)
      return backup_error_invalid (error,
                                   SAR_CHECKSUMS_MEMBER
                                   ": %s is not below a component listed in " SAR_MANIFEST_MEMBER,
                                   quoted = sar_quote (path->str));
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
