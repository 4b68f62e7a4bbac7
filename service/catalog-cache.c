/* catalog-cache.c: the catalog kept across restarts.
 *
 * The file: 8 bytes of magic, the SHA-256 of the rest, then a GVariant in
 * normal form of type CACHE_TYPE:
 *
 *   (u format, t byte order, s backup directory,
 *    a(s name, t dev, t ino, t size, x mtime s, x mtime ns, x ctime s,
 *      x ctime ns, b valid, x created, s process, s version, s hostname,
 *      s problem))
 *
 * entries sorted by name.  A valid entry has a version that parses, a
 * process and a hostname as a manifest allows them, and no problem; any
 * other entry has a problem and nothing else (its time and process come
 * from its name and mtime again).  Anything else anywhere makes the whole
 * file ignored: it is input, and only rebuilt, never repaired.
 */
#include "catalog-private.h"

#include "autofd.h"
#include "errors.h"
#include "names.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAGIC "SFBKCAT\n"
#define CACHE_MAGIC_LEN 8
#define CACHE_HEADER_LEN (CACHE_MAGIC_LEN + SAR_SHA256_SIZE)
#define CACHE_FORMAT 1
#define CACHE_BYTE_ORDER G_GUINT64_CONSTANT (0x0102030405060708)
#define CACHE_ENTRY_TYPE "(stttxxxxbxssss)"
#define CACHE_TYPE                                                                                 \
  "(uts"                                                                                           \
  "a" CACHE_ENTRY_TYPE ")"
/* bounds of the texts an entry may hold (a manifest's are tighter) */
#define CACHE_TEXT_MAX 255
#define CACHE_PROBLEM_MAX 16384
/* ctimes up to the year 2514: nanoseconds of those fit in a gint64 */
#define CACHE_SECONDS_MAX (G_GINT64_CONSTANT (1) << 34)

static void damaged (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
damaged (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, message);
}

/* A text of a manifest: non-empty, bounded, no control characters. */
static gboolean
text_ok (const char *text)
{
  gsize len = strlen (text);

  if (len == 0 || len > CACHE_TEXT_MAX)
    return FALSE;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/* A name the catalog keeps: one catalog_open_backup() takes. */
static gboolean
name_ok (const char *name)
{
  return sar_name_validate (name, NULL);
}

static gboolean
nsec_ok (gint64 nsec)
{
  return nsec >= 0 && nsec < 1000000000;
}

static CatalogRecord *
parse_entry (GVariant *value, GError **error)
{
  g_autoptr (CatalogRecord) record = g_new0 (CatalogRecord, 1);
  CatalogStamp *s = &record->stamp;
  const char *name, *process, *version, *hostname, *problem;
  gboolean valid;
  gint64 created;

  g_variant_get (value, "(&stttxxxxbx&s&s&s&s)", &name, &s->dev, &s->ino, &s->size, &s->mtime_sec,
                 &s->mtime_nsec, &s->ctime_sec, &s->ctime_nsec, &valid, &created, &process,
                 &version, &hostname, &problem);
  if (!name_ok (name)) {
    damaged (error, "an entry has a name no backup can have");
    return NULL;
  }
  record->name = g_strdup (name);
  if (s->size > G_MAXINT64 || !nsec_ok (s->mtime_nsec) || !nsec_ok (s->ctime_nsec)
      || s->ctime_sec < 0 || s->ctime_sec >= CACHE_SECONDS_MAX) {
    damaged (error, "the entry for %s has an impossible file identity", name);
    return NULL;
  }
  if (valid) {
    if (problem[0] != '\0' || !text_ok (process) || !text_ok (hostname)
        || !sf_version_parse (version, &record->parsed_version, NULL)) {
      damaged (error, "the entry for %s is not that of a valid backup", name);
      return NULL;
    }
    record->valid = TRUE;
    record->created = created;
    record->process = g_strdup (process);
    record->version = g_strdup (version);
    record->hostname = g_strdup (hostname);
    return g_steal_pointer (&record);
  }
  if (problem[0] == '\0' || strlen (problem) > CACHE_PROBLEM_MAX || created != 0
      || process[0] != '\0' || version[0] != '\0' || hostname[0] != '\0') {
    damaged (error, "the entry for %s is not that of an invalid file", name);
    return NULL;
  }
  record->problem = g_strdup (problem);
  catalog_record_fill_from_name (record);
  return g_steal_pointer (&record);
}

static GHashTable *
parse (GBytes *file, const char *directory, guint settle_seconds, gint64 now_ns, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (file, &len);
  g_autoptr (GHashTable) records
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) catalog_record_free);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GVariant) root = NULL;
  g_autoptr (GVariant) entries = NULL;
  guint8 digest[SAR_SHA256_SIZE];
  SarSha256 sha;
  GVariantIter iter;
  GVariant *child;
  const char *dir;
  guint32 format;
  guint64 order;

  if (len < CACHE_HEADER_LEN || memcmp (data, CACHE_MAGIC, CACHE_MAGIC_LEN) != 0) {
    damaged (error, "not a catalog cache file");
    return NULL;
  }
  sar_sha256_init (&sha);
  sar_sha256_update (&sha, data + CACHE_HEADER_LEN, len - CACHE_HEADER_LEN);
  sar_sha256_digest (&sha, digest);
  if (memcmp (digest, data + CACHE_MAGIC_LEN, SAR_SHA256_SIZE) != 0) {
    damaged (error, "its checksum does not match (damaged or truncated)");
    return NULL;
  }

  /* no copy: from g_malloc(), the data after the header is aligned as
   * GVariant wants it (which it checks, and copies if not) */
  bytes = g_bytes_new_from_bytes (file, CACHE_HEADER_LEN, len - CACHE_HEADER_LEN);
  root = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (CACHE_TYPE), bytes, FALSE));
  if (!g_variant_is_normal_form (root)) {
    damaged (error, "its data is not in the expected form");
    return NULL;
  }
  g_variant_get (root, "(ut&s@a" CACHE_ENTRY_TYPE ")", &format, &order, &dir, &entries);
  if (format != CACHE_FORMAT || order != CACHE_BYTE_ORDER) {
    damaged (error, "written in another format");
    return NULL;
  }
  if (strcmp (dir, directory) != 0) {
    damaged (error, "written for another backup directory");
    return NULL;
  }

  g_variant_iter_init (&iter, entries);
  while ((child = g_variant_iter_next_value (&iter)) != NULL) {
    g_autoptr (GVariant) value = child;
    CatalogRecord *record = parse_entry (value, error);

    if (record == NULL)
      return NULL;
    if (g_hash_table_contains (records, record->name)) {
      damaged (error, "%s has two entries", record->name);
      catalog_record_free (record);
      return NULL;
    }
    /* a file that had not settled cannot have been kept: never trusted */
    if (!catalog_stamp_settled (&record->stamp, settle_seconds, now_ns)) {
      catalog_record_free (record);
      continue;
    }
    record->settled = TRUE;
    g_hash_table_insert (records, record->name, record);
  }
  return g_steal_pointer (&records);
}

GHashTable *
catalog_cache_load (const char *path, const char *directory, guint settle_seconds, gint64 now_ns,
                    GError **error)
{
  g_auto (AutoFd) fd = -1;
  g_autofree guint8 *data = NULL;
  g_autoptr (GBytes) file = NULL;
  struct stat st;
  gsize got = 0;

  g_return_val_if_fail (path != NULL && directory != NULL, NULL);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    backup_error_set_errno (error, errno, "cannot open it");
    return NULL;
  }
  if (fstat (fd, &st) < 0) {
    backup_error_set_errno (error, errno, "cannot read it");
    return NULL;
  }
  if (!S_ISREG (st.st_mode)) {
    damaged (error, "not a regular file");
    return NULL;
  }
  if (st.st_size > CATALOG_CACHE_MAX) {
    damaged (error, "larger than %d bytes", CATALOG_CACHE_MAX);
    return NULL;
  }
  data = g_malloc ((gsize) st.st_size + 1);
  /* one byte more than its size: a file that grows is not read on */
  while (got <= (gsize) st.st_size) {
    ssize_t n = read (fd, data + got, (gsize) st.st_size + 1 - got);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      backup_error_set_errno (error, errno, "cannot read it");
      return NULL;
    }
    if (n == 0)
      break;
    got += (gsize) n;
  }
  if (got != (gsize) st.st_size) {
    damaged (error, "it changed while it was read");
    return NULL;
  }
  file = g_bytes_new_take (g_steal_pointer (&data), got);
  return parse (file, directory, settle_seconds, now_ns, error);
}

static gint
by_name (gconstpointer a, gconstpointer b)
{
  const CatalogRecord *x = *(CatalogRecord *const *) a;
  const CatalogRecord *y = *(CatalogRecord *const *) b;

  return strcmp (x->name, y->name);
}

static GVariant *
serialize (const char *directory, GHashTable *records)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_sized_new (g_hash_table_size (records));
  GVariantBuilder entries;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((const CatalogRecord *) value)->settled)
      g_ptr_array_add (sorted, value);
  g_ptr_array_sort (sorted, by_name);
  g_variant_builder_init (&entries, G_VARIANT_TYPE ("a" CACHE_ENTRY_TYPE));
  for (guint i = 0; i < sorted->len; i++) {
    const CatalogRecord *r = sorted->pdata[i];
    const CatalogStamp *s = &r->stamp;

    g_variant_builder_add (&entries, CACHE_ENTRY_TYPE, r->name, s->dev, s->ino, s->size,
                           s->mtime_sec, s->mtime_nsec, s->ctime_sec, s->ctime_nsec, r->valid,
                           r->valid ? r->created : 0, r->valid ? r->process : "",
                           r->valid ? r->version : "", r->valid ? r->hostname : "",
                           r->valid ? "" : r->problem);
  }
  return g_variant_ref_sink (g_variant_new ("(uts@a" CACHE_ENTRY_TYPE ")", (guint32) CACHE_FORMAT,
                                            CACHE_BYTE_ORDER, directory,
                                            g_variant_builder_end (&entries)));
}

GBytes *
catalog_cache_serialize (const char *directory, GHashTable *records)
{
  g_autoptr (GVariant) root = NULL;
  guint8 *content;
  SarSha256 sha;
  gsize len;

  g_return_val_if_fail (directory != NULL && records != NULL, NULL);
  root = serialize (directory, records);
  len = g_variant_get_size (root);
  content = g_malloc (CACHE_HEADER_LEN + len);
  memcpy (content, CACHE_MAGIC, CACHE_MAGIC_LEN);
  g_variant_store (root, content + CACHE_HEADER_LEN);
  sar_sha256_init (&sha);
  sar_sha256_update (&sha, content + CACHE_HEADER_LEN, len);
  sar_sha256_digest (&sha, content + CACHE_MAGIC_LEN);
  return g_bytes_new_take (content, CACHE_HEADER_LEN + len);
}

gboolean
catalog_cache_write (const char *path, GBytes *content, GError **error)
{
  g_autofree char *temporary = NULL;
  g_auto (AutoFd) fd = -1;
  const guint8 *data;
  gsize len;

  g_return_val_if_fail (path != NULL && content != NULL, FALSE);
  temporary = g_strconcat (path, ".new", NULL);
  data = g_bytes_get_data (content, &len);
  /* a new file (never one someone put there, nor what a link points to),
   * renamed over the old one: readers see the old or the new file whole.
   * No fsync: a cache file that a crash damages is ignored and rebuilt. */
  if (unlink (temporary) < 0 && errno != ENOENT)
    return backup_error_set_errno (error, errno, "cannot remove %s", temporary);
  fd = open (temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0)
    return backup_error_set_errno (error, errno, "cannot create %s", temporary);
  if (!fd_write_all (fd, data, len)) {
    backup_error_set_errno (error, errno, "cannot write it");
    unlink (temporary);
    return FALSE;
  }
  /* closed by hand: its result is the last word on the write */
  if (close (g_steal_fd (&fd)) < 0) {
    backup_error_set_errno (error, errno, "cannot write %s", temporary);
    unlink (temporary);
    return FALSE;
  }
  if (rename (temporary, path) < 0) {
    backup_error_set_errno (error, errno, "cannot rename %s", temporary);
    unlink (temporary);
    return FALSE;
  }
  return TRUE;
}

gboolean
catalog_cache_save (const char *path, const char *directory, GHashTable *records, GError **error)
{
  g_autoptr (GBytes) content = catalog_cache_serialize (directory, records);

  return catalog_cache_write (path, content, error);
}
