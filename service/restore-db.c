/* restore-db.c: the database side of the restore transaction. */
#include "restore-db.h"

#include "autofd.h"
#include "errors.h"
#include "pgdb.h"
#include "sha256.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

char *
restore_db_staging_name (const char *database)
{
  return g_strconcat (database, CONFIG_DATABASE_STAGING_SUFFIX, NULL);
}

char *
restore_db_previous_name (const char *database)
{
  return g_strconcat (database, CONFIG_DATABASE_PREVIOUS_SUFFIX, NULL);
}

gboolean
restore_db_wanted (const SarHeader *header, const ConfigComponent *cc)
{
  const SarComponent *component = sar_manifest_find_component (header->manifest, cc->id);

  return cc->database != NULL && component != NULL && component->database != NULL;
}

/* The staging database is created only after the live one's oid is in the
 * journal: without either oid, nothing was done to the database. */
static gboolean
touched (const JournalComponent *c)
{
  return c->db_old_oid != 0 || c->db_new_oid != 0;
}

gboolean
restore_db_side (const ConfigDatabase *db, const JournalComponent *c, RestoreSide *side,
                 GError **error)
{
  g_autofree char *previous = restore_db_previous_name (c->database);
  guint32 live = 0, set_aside = 0;

  if (!touched (c)) {
    *side = RESTORE_SIDE_OLD;
    return TRUE;
  }
  if (!pgdb_oid (db, c->database, &live, NULL, error))
    return FALSE;
  if (c->db_new_oid != 0 && live == c->db_new_oid)
    *side = RESTORE_SIDE_NEW;
  else if (live != 0 && (c->db_old_oid == 0 || live == c->db_old_oid))
    *side = RESTORE_SIDE_OLD;
  else if (live == 0 && c->db_old_oid != 0) {
    /* half-way: the old one must wait under its set-aside name */
    if (!pgdb_oid (db, previous, &set_aside, NULL, error))
      return FALSE;
    *side = set_aside == c->db_old_oid ? RESTORE_SIDE_OLD : RESTORE_SIDE_NEITHER;
  } else
    *side = RESTORE_SIDE_NEITHER;
  return TRUE;
}

gboolean
restore_db_begin (const ConfigDatabase *db, JournalComponent *c, char **owner, GError **error)
{
  g_autofree char *staging = restore_db_staging_name (c->database);
  g_autofree char *previous = restore_db_previous_name (c->database);
  g_auto (PgdbInfo) info = { 0 };
  guint32 left = 0;

  if (!pgdb_info (db, c->database, &info, NULL, error))
    return FALSE;
  if (!info.exists) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "the database %s of %s does not exist, so there is nothing to take its owner "
                 "and encoding from",
                 c->database, c->id);
    return FALSE;
  }
  if (info.owner_superuser) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "the database %s is owned by %s, a superuser role: a dump from a backup is "
                 "never loaded as a superuser",
                 c->database, info.owner);
    return FALSE;
  }
  if (!pgdb_oid (db, previous, &left, NULL, error))
    return FALSE;
  if (left != 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "the database %s exists, left by an earlier restore; it may hold the only copy "
                 "of earlier data, so it is not dropped: save or drop it first",
                 previous);
    return FALSE;
  }
  /* only ever holds restored data (the old database never takes this name) */
  if (!pgdb_drop (db, staging, 0, NULL, error))
    return FALSE;
  c->db_old_oid = info.oid;
  *owner = g_strdup (info.owner);
  return TRUE;
}

gboolean
restore_db_create_staging (const ConfigDatabase *db, JournalComponent *c, GError **error)
{
  g_autofree char *staging = restore_db_staging_name (c->database);

  return pgdb_create_like (db, c->database, staging, NULL, error)
         && pgdb_oid (db, staging, &c->db_new_oid, NULL, error);
}

gboolean
restore_db_swap (const ConfigDatabase *db, const JournalComponent *c, GError **error)
{
  g_autofree char *staging = restore_db_staging_name (c->database);
  g_autofree char *previous = restore_db_previous_name (c->database);

  return pgdb_rename (db, c->database, previous, NULL, error)
         && pgdb_rename (db, staging, c->database, NULL, error);
}

gboolean
restore_db_roll_back (const ConfigDatabase *db, const JournalComponent *c, GError **error)
{
  g_autofree char *staging = restore_db_staging_name (c->database);
  g_autofree char *previous = restore_db_previous_name (c->database);
  guint32 live = 0, set_aside = 0;

  if (!touched (c))
    return TRUE; /* never touched */
  if (!pgdb_oid (db, c->database, &live, NULL, error))
    return FALSE;
  if (c->db_new_oid != 0 && live == c->db_new_oid) {
    g_message ("rolling back the database %s", c->database);
    if (!pgdb_rename (db, c->database, staging, NULL, error))
      return FALSE;
    live = 0;
  }
  if (live != 0 || c->db_old_oid == 0)
    return TRUE;
  if (!pgdb_oid (db, previous, &set_aside, NULL, error))
    return FALSE;
  if (set_aside != c->db_old_oid) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "neither %s nor %s is the database %s from before the restore (oid %u)",
                 c->database, previous, c->database, c->db_old_oid);
    return FALSE;
  }
  return pgdb_rename (db, previous, c->database, NULL, error);
}

gboolean
restore_db_remove (const ConfigDatabase *db, const JournalComponent *c, gboolean old_saved,
                   GError **error)
{
  g_autofree char *staging = restore_db_staging_name (c->database);
  g_autofree char *previous = restore_db_previous_name (c->database);
  guint32 oid = 0;

  if (!touched (c))
    return TRUE;
  if (!pgdb_oid (db, staging, &oid, NULL, error))
    return FALSE;
  if (oid != 0 && c->db_old_oid != 0 && oid == c->db_old_oid) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "not dropping %s: it holds the database from before the restore", staging);
    return FALSE;
  }
  if (oid != 0 && !pgdb_drop (db, staging, oid, NULL, error))
    return FALSE;
  if (!pgdb_oid (db, previous, &oid, NULL, error))
    return FALSE;
  if (oid == 0)
    return TRUE;
  if (!old_saved || c->db_old_oid == 0 || oid != c->db_old_oid) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "not dropping %s: it holds the database from before the restore, which is not "
                 "saved",
                 previous);
    return FALSE;
  }
  return pgdb_drop (db, previous, oid, NULL, error);
}

/* --- checking the dumps ---------------------------------------------------- */

typedef struct {
  const ConfigComponent *cc;
  const SarComponent *component;
  PgdbCheck *check;
  int input_fd;
} DumpCheck;

/* pg_restore --schema-only may stop reading once it has the table of
 * contents: then the rest is only hashed (*input_fd closed). */
static gboolean
write_all (int *fd, const void *data, gsize len, GError **error)
{
  const guint8 *p = data;

  while (*fd >= 0 && len > 0) {
    ssize_t n = write (*fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EPIPE) {
      autofd_clear (fd);
      return TRUE;
    }
    if (n < 0)
      return backup_error_set_errno (error, errno, "the check of the dump stopped reading it");
    p += n;
    len -= (gsize) n;
  }
  return TRUE;
}

/* The data of the current member into the check, verified against its
 * line in SHA256SUMS when the check reads all of it. */
static gboolean
feed_dump (SarReader *reader, DumpCheck *dc, const SarHeader *header, const char *path,
           const char *quoted, GCancellable *cancellable, GError **error)
{
  SarChecksumEntry listed;
  struct archive *archive = sar_reader_archive (reader);
  guint8 digest[SAR_SHA256_SIZE];
  guint64 got = 0;
  SarSha256 sha;

  if (!sar_checksums_lookup (header->checksums, path, &listed, error))
    return FALSE;
  if (listed.index == SAR_CHECKSUMS_UNLISTED)
    return backup_error_invalid (error, "member %s is not listed in " SAR_CHECKSUMS_MEMBER, quoted);
  sar_sha256_init (&sha);
  for (;;) {
    const void *block;
    size_t len;
    la_int64_t offset;
    int ret = archive_read_data_block (archive, &block, &len, &offset);

    if (ret == ARCHIVE_EOF)
      break;
    if (ret != ARCHIVE_OK)
      return sar_reader_failed (reader, "reading the dump", error);
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return FALSE;
    if (offset < 0 || (guint64) offset != got || len > dc->component->database_bytes - got)
      return backup_error_invalid (error, "member %s is not the dump its manifest describes",
                                   quoted);
    sar_sha256_update (&sha, block, len);
    if (!write_all (&dc->input_fd, block, len, error))
      return FALSE;
    /* pg_restore has what it needs (the schema comes first); the data is
     * checked against its checksum when it is loaded */
    if (dc->input_fd < 0)
      return TRUE;
    got += len;
  }
  sar_sha256_digest (&sha, digest);
  if (got != dc->component->database_bytes || memcmp (digest, listed.digest, sizeof digest) != 0)
    return backup_error_invalid (
        error, "member %s does not match its SHA-256 checksum in " SAR_CHECKSUMS_MEMBER, quoted);
  return TRUE;
}

static void
dump_check_clear (DumpCheck *dc)
{
  autofd_clear (&dc->input_fd);
  if (dc->check != NULL)
    pgdb_check_abort (dc->check);
  dc->check = NULL;
}

gboolean
restore_db_check_dumps (const Config *config, int archive_fd, const SarHeader *header,
                        GPtrArray *components, GPtrArray *problems, GCancellable *cancellable,
                        GError **error)
{
  g_autofree DumpCheck *checks = g_new0 (DumpCheck, components->len);
  g_auto (SarLocale) previous = sar_locale_push_reading ();
  g_autoptr (SarReader) reader = NULL;
  guint wanted = 0, done = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < components->len; i++) {
    const ConfigComponent *cc = components->pdata[i];

    checks[i].input_fd = -1;
    if (!restore_db_wanted (header, cc))
      continue;
    checks[i].cc = cc;
    checks[i].component = sar_manifest_find_component (header->manifest, cc->id);
    wanted++;
  }
  if (wanted == 0)
    return TRUE;
  if (lseek (archive_fd, 0, SEEK_SET) < 0)
    return backup_error_set_errno (error, errno, "cannot read the backup");
  reader = sar_reader_open_fd (archive_fd, TRUE, NULL, NULL, error);
  if (reader == NULL)
    return FALSE;

  /* the metadata (parsed already), then members up to the last dump wanted */
  for (guint n = 0; ok && done < wanted; n++) {
    struct archive_entry *entry = NULL;
    g_autofree char *path = NULL;
    g_autofree char *quoted = NULL;
    guint component;
    DumpCheck *dc = NULL;

    ok = !g_cancellable_set_error_if_cancelled (cancellable, error)
         && sar_reader_next (reader, &entry, "reading the archive", error);
    if (!ok)
      break;
    if (entry == NULL) {
      ok = backup_error_invalid (error, "the archive ends before the dumps it lists");
      break;
    }
    if (n < 2)
      continue;
    path = sar_member_classify (entry, header->manifest, &quoted, &component, error);
    if (path == NULL) {
      ok = FALSE;
      break;
    }
    if (strchr (path, '/') != NULL || archive_entry_filetype (entry) != AE_IFREG)
      continue;
    for (guint i = 0; i < components->len; i++)
      if (checks[i].component != NULL
          && checks[i].component == g_ptr_array_index (header->manifest->components, component))
        dc = &checks[i];
    if (dc == NULL || dc->check != NULL)
      continue;
    dc->check = pgdb_check_start (&config->database, &dc->input_fd, error);
    ok = dc->check != NULL && feed_dump (reader, dc, header, path, quoted, cancellable, error);
    if (ok) {
      g_autoptr (GPtrArray) found
          = g_ptr_array_new_with_free_func ((GDestroyNotify) pgdb_problem_free);
      PgdbCheck *check = g_steal_pointer (&dc->check);

      autofd_clear (&dc->input_fd);
      ok = pgdb_check_finish (check, dc->cc->database, found, cancellable, error);
      for (guint k = 0; ok && k < found->len; k++) {
        PgdbProblem *problem = found->pdata[k];
        PgdbProblem *copy = g_new0 (PgdbProblem, 1);

        copy->code = g_strdup (problem->code);
        copy->detail = g_strdup (problem->detail);
        copy->component = g_strdup (dc->cc->id);
        g_ptr_array_add (problems, copy);
      }
      done++;
    }
  }
  for (guint i = 0; i < components->len; i++)
    dump_check_clear (&checks[i]);
  return ok;
}
