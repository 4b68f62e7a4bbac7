/* pgdb.h: the PBX's PostgreSQL databases, for the restore transaction.
 *
 * Nothing here runs as root against the server: connections and DDL go
 * through the helper program starface-backupd-pg (libpq), started as
 * [Database] RunAs (peer authentication over the socket); pg_dump runs as
 * RunAs too.  A dump from a backup is untrusted: pg_restore loads it
 * connected as the database's owner role, run as the OS user of that name
 * (or [Database] LoadAs), never as a superuser, and its schema is checked
 * first (pgdb_check_*()).
 *
 * Every call blocks: run them in a worker thread.  Errors are
 * BACKUP_ERROR_FAILED with a message naming the database and saying why
 * (the server's own message where it gave one).
 *
 * Names: every database name given here is lower-case letters, digits
 * and '_' (config_database_name_check() plus the restore's suffixes);
 * anything else is refused before any program runs.
 *
 * Programs: the helper, pg_dump and pg_restore (from ToolsDirectory) run
 * as children of the calling thread with a clean environment, in a process
 * group of their own (a cancellation kills the group), and are always
 * reaped.  When the process is root they run as RunAs (or, pg_restore
 * loading, as the loading user); otherwise as the process itself.  From
 * the first pgdb_load_start(), pgdb_check_start() or pgdb_dump() on the
 * process ignores SIGPIPE (libdbus does so too): a pg_restore that dies
 * makes the caller's write() fail with EPIPE, it never kills the process.
 */
#pragma once

#include "config.h"

#include <gio/gio.h>

/* What the server says of a database. */
typedef struct {
  gboolean exists;
  guint32 oid; /* pg_database.oid: stays the same across a rename */
  char *owner;
  /* the owner role may bypass everything: never load as it (a superuser,
   * CREATEROLE, or a member of a superuser role or of pg_read_server_files,
   * pg_write_server_files or pg_execute_server_program) */
  gboolean owner_superuser;
  gboolean owner_can_login;
  char *encoding;
  char *collate;
  char *ctype;
  guint sessions;       /* other client connections to it now */
  guint64 size;         /* pg_database_size() */
  char *data_directory; /* the cluster's, NULL when the server does not say */
} PgdbInfo;

void pgdb_info_clear (PgdbInfo *info);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PgdbInfo, pgdb_info_clear)

/* Fails only when the server cannot be reached or answers with an error;
 * a database that does not exist is info->exists FALSE. */
gboolean pgdb_info (const ConfigDatabase *db, const char *name, PgdbInfo *info,
                    GCancellable *cancellable, GError **error);

/* The oid of the database called name, 0 when there is none. */
gboolean pgdb_oid (const ConfigDatabase *db, const char *name, guint32 *oid,
                   GCancellable *cancellable, GError **error);

/* Creates the empty database name from template0 with the owner, encoding
 * and locale of the database like.  Fails if name exists. */
gboolean pgdb_create_like (const ConfigDatabase *db, const char *like, const char *name,
                           GCancellable *cancellable, GError **error);

/* ALTER DATABASE from RENAME TO to, ending every other session on from
 * first (and again, a few times, if a new one comes in between).  Fails if
 * to exists or from does not. */
gboolean pgdb_rename (const ConfigDatabase *db, const char *from, const char *to,
                      GCancellable *cancellable, GError **error);

/* Drops name if it exists, ending its sessions (DROP DATABASE ... WITH
 * (FORCE)); only when its oid is expected_oid, if that is not 0. */
gboolean pgdb_drop (const ConfigDatabase *db, const char *name, guint32 expected_oid,
                    GCancellable *cancellable, GError **error);

/* Loading a dump: pg_restore --exit-on-error --no-owner --no-tablespaces
 * into the existing database name, connected as the role owner.  The dump
 * (custom format) is written by the caller into *input_fd (the write end
 * of a pipe, blocking; close it, or pass it back, at the end of the
 * dump); pgdb_load_finish() then waits for pg_restore and fails with what
 * it said on error.  pgdb_load_abort() ends it early.
 *
 * pgdb_load_start() first asks the server about owner: it fails if the
 * role does not exist, cannot log in or is or can become a superuser (see
 * PgdbInfo.owner_superuser), and, as root, if the OS user (LoadAs, else
 * the one named like owner) does not exist or is root.  A write() into
 * *input_fd that fails with EPIPE means pg_restore has ended (an error in
 * the dump): stop writing, close it, and let pgdb_load_finish() say why.
 * The caller must close *input_fd before pgdb_load_finish(), which would
 * otherwise wait for the rest of the dump.  pgdb_load_finish() and
 * pgdb_load_abort() each free load: call exactly one of them. */
typedef struct _PgdbLoad PgdbLoad;

PgdbLoad *pgdb_load_start (const ConfigDatabase *db, const char *name, const char *owner,
                           int *input_fd, GError **error);
gboolean pgdb_load_finish (PgdbLoad *load, GCancellable *cancellable, GError **error);
void pgdb_load_abort (PgdbLoad *load);

/* Dumps name (pg_dump -Fc, uncompressed: the archive compresses) into
 * out_fd, from its current offset, returning the bytes written and their
 * SHA-256 (SAR_SHA256_SIZE bytes). */
gboolean pgdb_dump (const ConfigDatabase *db, const char *name, int out_fd, guint64 *size,
                    guint8 digest[32], GCancellable *cancellable, GError **error);

/* Checking an untrusted dump before anything is loaded: pg_restore
 * --schema-only prints its schema (from the dump written into *input_fd,
 * as for loading), and pgdb_check_finish() holds it against the live
 * database: every problem found is added to problems (PgdbProblem*);
 * FALSE with error only when the check itself could not run (the server
 * unreachable, or the dump not a dump at all). */
typedef struct {
  char *code; /* "database-dump-superuser": detail says what needs a superuser;
               * "database-role-missing": detail is the role;
               * "database-extension-missing": detail is the extension */
  char *detail;
  char *component; /* the component whose dump it is (set by the restore's check), or NULL */
} PgdbProblem;

void pgdb_problem_free (PgdbProblem *problem);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PgdbProblem, pgdb_problem_free)

typedef struct _PgdbCheck PgdbCheck;

/* pg_restore reads only the table of contents at the start of the dump
 * and may exit before the caller has written all of it: a write() into
 * *input_fd that fails with EPIPE is then no error of its own; stop
 * writing, close *input_fd and call pgdb_check_finish(), which says
 * whether the dump could be read.  The caller must close *input_fd before
 * pgdb_check_finish().  pgdb_check_finish() and pgdb_check_abort() each
 * free check: call exactly one of them.  The schema script is kept in
 * memory, at most 64 MiB (a larger one is an error). */
PgdbCheck *pgdb_check_start (const ConfigDatabase *db, int *input_fd, GError **error);
gboolean pgdb_check_finish (PgdbCheck *check, const char *live, GPtrArray *problems,
                            GCancellable *cancellable, GError **error);
void pgdb_check_abort (PgdbCheck *check);

/* The scanner itself, for a schema script (pg_restore --schema-only's
 * output): what it needs of the server.  Pure, for the unit tests. */
typedef struct {
  GPtrArray *superuser;  /* char*: statements only a superuser may run */
  GPtrArray *languages;  /* char*: procedural languages functions use */
  GPtrArray *extensions; /* char*: extensions created */
  GPtrArray *roles;      /* char*: roles named in GRANT, REVOKE, ... */
} PgdbScan;

void pgdb_scan_script (const char *script, gsize length, PgdbScan *scan);
void pgdb_scan_clear (PgdbScan *scan);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PgdbScan, pgdb_scan_clear)

/* The part of pgdb_check_finish() that asks the live database, for what
 * pgdb_scan_script() found: superuser statements, roles that do not exist
 * (PUBLIC, CURRENT_USER, SESSION_USER and CURRENT_ROLE are no roles),
 * extensions not installed in live ("database-extension-missing") or
 * installed but not creatable by a non-superuser (a trusted extension, or
 * one that needs no superuser: else "database-dump-superuser"), languages
 * not trusted in live ("database-dump-superuser").  A problem is added
 * once. */
gboolean pgdb_check_scan (const ConfigDatabase *db, const char *live, const PgdbScan *scan,
                          GPtrArray *problems, GCancellable *cancellable, GError **error);

/* Where the helper starface-backupd-pg is; by default beside the
 * executable (/proc/self/exe: the build tree), else in libexecdir.  For
 * tests and tools; NULL goes back to the default. */
void pgdb_set_helper (const char *path);
