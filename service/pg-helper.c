/* pg-helper.c: starface-backupd-pg, the daemon's one connection to the
 * PBX's PostgreSQL server (libpq).
 *
 *   starface-backupd-pg --host=HOST --port=PORT COMMAND [ARG...]
 *
 * The daemon starts it as [Database] RunAs (peer authentication over the
 * socket), with a clean environment, once per question; it connects to
 * the maintenance database "postgres" (or, for extensions and languages,
 * to the database named), does one thing and exits.  Commands:
 *
 *   info NAME             what pg_database and pg_roles say of NAME
 *   oid NAME              oid=N, 0 when there is no such database
 *   role NAME             what the role NAME may do (for loading as it)
 *   create-like LIKE NAME CREATE DATABASE NAME from template0 with the
 *                         owner, encoding and locale of LIKE
 *   rename FROM TO        ends the other sessions on FROM, then renames it
 *   drop NAME [OID]       DROP DATABASE ... WITH (FORCE), only if its oid is
 *                         OID when given
 *   roles                 which of the roles named on stdin exist
 *   extensions NAME       extensions installed in NAME, and those a
 *                         non-superuser may create
 *   languages NAME        the trusted procedural languages of NAME
 *
 * Output: "key=value" lines on stdout.  Values are bytes: printable ASCII
 * other than '\' as they are, everything else as \xHH, so a value is one
 * line whatever the server holds.  stdin (roles) uses the same escaping,
 * one name a line.  It links libpq and libc only.  Errors: the server's message on stderr; exit
 * status 1 for an error, 2 for bad usage, 3 when the server cannot be reached, 4 when drop finds a
 * database with another oid.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_OTHER_OID 4

/* How often rename ends the sessions again when one came in between. */
#define RENAME_ATTEMPTS 10
/* Milliseconds pg_terminate_backend() waits for a session to end. */
#define TERMINATE_WAIT_MS "5000"
/* A role name is at most NAMEDATALEN - 1 bytes; stdin lines are bounded. */
#define NAME_LINE_MAX 1024
#define ROLES_MAX 100000

static const char *host;
static const char *port;

static void die (int status, const char *format, ...)
    __attribute__ ((format (printf, 2, 3), noreturn));

static void
die (int status, const char *format, ...)
{
  va_list args;

  fputs ("starface-backupd-pg: ", stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  exit (status);
}

/* The server's message without its trailing newline. */
static const char *
message_of (PGconn *conn, const PGresult *res)
{
  static char text[4096];
  const char *m = res != NULL ? PQresultErrorMessage (res) : "";

  if (m == NULL || m[0] == '\0')
    m = PQerrorMessage (conn);
  snprintf (text, sizeof text, "%s", m);
  for (size_t len = strlen (text); len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ');
       len--)
    text[len - 1] = '\0';
  return text;
}

static void
print_value (const char *key, const char *value)
{
  fputs (key, stdout);
  fputc ('=', stdout);
  for (const unsigned char *p = (const unsigned char *) value; *p != '\0'; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '\\')
      fputc (*p, stdout);
    else
      printf ("\\x%02x", *p);
  }
  fputc ('\n', stdout);
}

static int
hex_digit (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Undoes print_value()'s escaping in place; 0 on a bad escape or a NUL. */
static int
unescape (char *line)
{
  char *out = line;

  for (const char *p = line; *p != '\0'; p++) {
    if (*p != '\\') {
      *out++ = *p;
      continue;
    }
    if (p[1] != 'x' || hex_digit (p[2]) < 0 || hex_digit (p[3]) < 0)
      return 0;
    *out = (char) (hex_digit (p[2]) * 16 + hex_digit (p[3]));
    if (*out == '\0')
      return 0;
    out++;
    p += 3;
  }
  *out = '\0';
  return 1;
}

static PGconn *
connect_to (const char *dbname)
{
  const char *const keywords[] = {
    "host", "port", "dbname", "application_name", "connect_timeout", "client_encoding", NULL
  };
  const char *const values[] = { host, port, dbname, "starface-backupd", "10", "SQL_ASCII", NULL };
  PGconn *conn = PQconnectdbParams (keywords, values, 0);

  if (conn == NULL)
    die (EXIT_UNREACHABLE, "out of memory");
  if (PQstatus (conn) != CONNECTION_OK)
    die (EXIT_UNREACHABLE, "%s", message_of (conn, NULL));
  return conn;
}

/* Runs a query with text parameters; dies with the server's message. */
static PGresult *
query (PGconn *conn, const char *sql, int n, const char *const *params)
{
  PGresult *res = PQexecParams (conn, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType status = PQresultStatus (res);

  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    die (EXIT_ERROR, "%s", message_of (conn, res));
  return res;
}

typedef char *(*EscapeFunc) (PGconn *conn, const char *text, size_t length);

/* An identifier (PQescapeIdentifier) or literal (PQescapeLiteral) for SQL
 * that cannot take parameters. */
static char *
quote (PGconn *conn, EscapeFunc escape, const char *text)
{
  char *quoted = escape (conn, text, strlen (text));

  if (quoted == NULL)
    die (EXIT_ERROR, "%s", message_of (conn, NULL));
  return quoted;
}

static char *
identifier (PGconn *conn, const char *name)
{
  return quote (conn, PQescapeIdentifier, name);
}

static char *
literal (PGconn *conn, const char *text)
{
  return quote (conn, PQescapeLiteral, text);
}

/* Roles whose members can do what only a superuser should: read and
 * write the server's files, run programs on it.  A role that is a
 * superuser, may create roles (before PostgreSQL 16 that includes making
 * itself a member of these), or is a member of one of these or of a
 * superuser role (SET ROLE) is as good as a superuser. */
#define PRIVILEGED_ROLES                                                                           \
  "'pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files'"

#define ROLE_POWERS                                                                                \
  "(r.rolsuper OR r.rolcreaterole OR EXISTS (SELECT 1 FROM pg_roles p WHERE p.oid <> r.oid "       \
  "AND (p.rolsuper OR p.rolname IN (" PRIVILEGED_ROLES ")) AND pg_has_role(r.oid, p.oid, "         \
  "'MEMBER')))"

static int
cmd_info (PGconn *conn, const char *name)
{
  const char *params[] = { name };
  PGresult *res = query (
      conn,
      "SELECT d.oid, r.rolname, " ROLE_POWERS ", r.rolcanlogin, pg_encoding_to_char(d.encoding), "
      "d.datcollate, d.datctype, (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid "
      "AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'), "
      "pg_database_size(d.oid) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
      "WHERE d.datname = $1",
      1, params);
  PGresult *dir;

  if (PQntuples (res) == 0) {
    print_value ("exists", "0");
  } else {
    print_value ("exists", "1");
    print_value ("oid", PQgetvalue (res, 0, 0));
    print_value ("owner", PQgetvalue (res, 0, 1));
    print_value ("owner_superuser", strcmp (PQgetvalue (res, 0, 2), "t") == 0 ? "1" : "0");
    print_value ("owner_can_login", strcmp (PQgetvalue (res, 0, 3), "t") == 0 ? "1" : "0");
    print_value ("encoding", PQgetvalue (res, 0, 4));
    print_value ("collate", PQgetvalue (res, 0, 5));
    print_value ("ctype", PQgetvalue (res, 0, 6));
    print_value ("sessions", PQgetvalue (res, 0, 7));
    print_value ("size", PQgetvalue (res, 0, 8));
  }
  PQclear (res);
  /* only superusers and members of pg_read_all_settings see it */
  dir = query (conn, "SELECT setting FROM pg_settings WHERE name = 'data_directory'", 0, NULL);
  if (PQntuples (dir) == 1)
    print_value ("data_directory", PQgetvalue (dir, 0, 0));
  PQclear (dir);
  return 0;
}

static int
cmd_oid (PGconn *conn, const char *name)
{
  const char *params[] = { name };
  PGresult *res = query (conn, "SELECT oid FROM pg_database WHERE datname = $1", 1, params);

  print_value ("oid", PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "0");
  PQclear (res);
  return 0;
}

static int
cmd_role (PGconn *conn, const char *name)
{
  const char *params[] = { name };
  PGresult *res = query (conn,
                         "SELECT r.rolsuper, " ROLE_POWERS ", r.rolcanlogin FROM pg_roles r "
                         "WHERE r.rolname = $1",
                         1, params);

  if (PQntuples (res) == 0) {
    print_value ("exists", "0");
  } else {
    print_value ("exists", "1");
    print_value ("superuser", strcmp (PQgetvalue (res, 0, 1), "t") == 0 ? "1" : "0");
    print_value ("can_login", strcmp (PQgetvalue (res, 0, 2), "t") == 0 ? "1" : "0");
  }
  PQclear (res);
  return 0;
}

static int
cmd_create_like (PGconn *conn, const char *like, const char *name)
{
  const char *params[] = { like };
  PGresult *res = query (conn,
                         "SELECT r.rolname, pg_encoding_to_char(d.encoding), d.datcollate, "
                         "d.datctype, d.datlocprovider, d.daticulocale FROM pg_database d "
                         "JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1",
                         1, params);
  char *q_name, *q_owner, *q_encoding, *q_collate, *q_ctype, *q_icu = NULL;
  char *sql;
  PGresult *done;
  const char *provider;

  if (PQntuples (res) == 0)
    die (EXIT_ERROR, "database \"%s\" does not exist", like);
  q_name = identifier (conn, name);
  q_owner = identifier (conn, PQgetvalue (res, 0, 0));
  q_encoding = literal (conn, PQgetvalue (res, 0, 1));
  q_collate = literal (conn, PQgetvalue (res, 0, 2));
  q_ctype = literal (conn, PQgetvalue (res, 0, 3));
  provider = PQgetvalue (res, 0, 4);
  if (strcmp (provider, "i") == 0)
    q_icu = literal (conn, PQgetvalue (res, 0, 5));
  else if (strcmp (provider, "c") != 0)
    die (EXIT_ERROR, "database \"%s\" has a locale provider this program does not know", like);
  if (asprintf (&sql,
                "CREATE DATABASE %s TEMPLATE template0 OWNER %s ENCODING %s LC_COLLATE %s "
                "LC_CTYPE %s LOCALE_PROVIDER %s%s%s",
                q_name, q_owner, q_encoding, q_collate, q_ctype, q_icu != NULL ? "icu" : "libc",
                q_icu != NULL ? " ICU_LOCALE " : "", q_icu != NULL ? q_icu : "")
      < 0)
    die (EXIT_ERROR, "out of memory");
  done = query (conn, sql, 0, NULL);
  PQclear (done);
  free (sql);
  PQfreemem (q_name);
  PQfreemem (q_owner);
  PQfreemem (q_encoding);
  PQfreemem (q_collate);
  PQfreemem (q_ctype);
  PQfreemem (q_icu);
  PQclear (res);
  return cmd_oid (conn, name);
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ALTER DATABASE name (quoted) ALLOW_CONNECTIONS value; the result. */
static PGresult *
allow_connections (PGconn *conn, const char *q_name, const char *value)
{
  char *sql;
  PGresult *res;

  if (asprintf (&sql, "ALTER DATABASE %s ALLOW_CONNECTIONS %s", q_name, value) < 0)
    die (EXIT_ERROR, "out of memory");
  res = PQexec (conn, sql);
  free (sql);
  return res;
}

/* New connections to from are refused while its sessions are ended and
 * it is renamed (a client that reconnects at once, like a connection
 * pool, would otherwise win the race every time); the renamed database
 * then takes them again, as it did before. */
static int
cmd_rename (PGconn *conn, const char *from, const char *to)
{
  const char *params[] = { from };
  const char *to_params[] = { to };
  char *q_from = identifier (conn, from);
  char *q_to = identifier (conn, to);
  char *allowed;
  char *sql;
  PGresult *res;

  res = query (conn, "SELECT datallowconn FROM pg_database WHERE datname = $1", 1, to_params);
  if (PQntuples (res) > 0)
    die (EXIT_ERROR, "ERROR:  database \"%s\" already exists", to);
  PQclear (res);
  res = query (conn, "SELECT datallowconn FROM pg_database WHERE datname = $1", 1, params);
  if (PQntuples (res) == 0)
    die (EXIT_ERROR, "ERROR:  database \"%s\" does not exist", from);
  allowed = strcmp (PQgetvalue (res, 0, 0), "t") == 0 ? "true" : "false";
  PQclear (res);
  res = allow_connections (conn, q_from, "false");
  if (PQresultStatus (res) != PGRES_COMMAND_OK)
    die (EXIT_ERROR, "%s", message_of (conn, res));
  PQclear (res);

  if (asprintf (&sql, "ALTER DATABASE %s RENAME TO %s", q_from, q_to) < 0)
    die (EXIT_ERROR, "out of memory");
  for (int attempt = 1;; attempt++) {
    const char *state;

    res = query (conn,
                 "SELECT count(pg_terminate_backend(a.pid, " TERMINATE_WAIT_MS ")) "
                 "FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid "
                 "WHERE d.datname = $1 AND a.pid <> pg_backend_pid()",
                 1, params);
    PQclear (res);
    res = PQexec (conn, sql);
    if (PQresultStatus (res) == PGRES_COMMAND_OK) {
      PQclear (res);
      break;
    }
    /* 55006 object_in_use: a session came in after the others ended (one
     * that was starting when connections were turned off) */
    state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
    if (attempt >= RENAME_ATTEMPTS || state == NULL || strcmp (state, "55006") != 0) {
      char *message = strdup (message_of (conn, res));
      PQclear (allow_connections (conn, q_from, allowed));
      die (EXIT_ERROR, "%s", message != NULL ? message : "out of memory");
    }
    PQclear (res);
    sleep_ms (20L * attempt);
  }
  res = allow_connections (conn, q_to, allowed);
  if (PQresultStatus (res) != PGRES_COMMAND_OK)
    die (EXIT_ERROR, "renamed to \"%s\", but it still refuses connections: %s", to,
         message_of (conn, res));
  PQclear (res);
  free (sql);
  PQfreemem (q_from);
  PQfreemem (q_to);
  return cmd_oid (conn, to);
}

static int
cmd_drop (PGconn *conn, const char *name, const char *expected)
{
  const char *params[] = { name };
  PGresult *res = query (conn, "SELECT oid FROM pg_database WHERE datname = $1", 1, params);
  char *q_name, *sql;

  if (PQntuples (res) == 0) {
    PQclear (res);
    print_value ("dropped", "0");
    return 0;
  }
  if (expected != NULL && strcmp (PQgetvalue (res, 0, 0), expected) != 0)
    die (EXIT_OTHER_OID, "database \"%s\" has the oid %s, not %s: not dropped", name,
         PQgetvalue (res, 0, 0), expected);
  PQclear (res);
  q_name = identifier (conn, name);
  if (asprintf (&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", q_name) < 0)
    die (EXIT_ERROR, "out of memory");
  res = query (conn, sql, 0, NULL);
  PQclear (res);
  free (sql);
  PQfreemem (q_name);
  print_value ("dropped", "1");
  return 0;
}

/* Appends text to a PostgreSQL array literal as one quoted element. */
static void
array_append (char **array, size_t *len, size_t *size, const char *text)
{
  size_t need = *len + 2 * strlen (text) + 4;

  if (need > *size) {
    *size = need * 2;
    *array = realloc (*array, *size);
    if (*array == NULL)
      die (EXIT_ERROR, "out of memory");
  }
  if (*len > 1)
    (*array)[(*len)++] = ',';
  (*array)[(*len)++] = '"';
  for (const char *p = text; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      (*array)[(*len)++] = '\\';
    (*array)[(*len)++] = *p;
  }
  (*array)[(*len)++] = '"';
  (*array)[*len] = '\0';
}

static int
cmd_roles (PGconn *conn)
{
  char line[NAME_LINE_MAX + 2];
  size_t len = 1, size = 64;
  char *array = malloc (size);
  const char *params[1];
  PGresult *res;
  unsigned count = 0;

  if (array == NULL)
    die (EXIT_ERROR, "out of memory");
  strcpy (array, "{");
  while (fgets (line, sizeof line, stdin) != NULL) {
    size_t n = strlen (line);

    if (n == 0 || line[n - 1] != '\n')
      die (EXIT_USAGE, "a role name on stdin is too long or not ended by a newline");
    line[n - 1] = '\0';
    if (!unescape (line) || line[0] == '\0')
      die (EXIT_USAGE, "a role name on stdin is badly escaped or empty");
    if (++count > ROLES_MAX)
      die (EXIT_USAGE, "more than %d role names on stdin", ROLES_MAX);
    array_append (&array, &len, &size, line);
  }
  if (ferror (stdin))
    die (EXIT_ERROR, "reading stdin: %s", strerror (errno));
  array[len++] = '}';
  array[len] = '\0';
  params[0] = array;
  res = query (conn, "SELECT rolname FROM pg_roles WHERE rolname = ANY ($1::text[]) ORDER BY 1", 1,
               params);
  for (int i = 0; i < PQntuples (res); i++)
    print_value ("exists", PQgetvalue (res, i, 0));
  PQclear (res);
  free (array);
  return 0;
}

static void
print_column (PGconn *conn, const char *key, const char *sql)
{
  PGresult *res = query (conn, sql, 0, NULL);

  for (int i = 0; i < PQntuples (res); i++)
    print_value (key, PQgetvalue (res, i, 0));
  PQclear (res);
}

static int
cmd_extensions (PGconn *conn)
{
  print_column (conn, "installed", "SELECT extname FROM pg_extension ORDER BY 1");
  /* trusted extensions (PostgreSQL 13 and later) and those needing no
   * superuser: a database owner may create them */
  print_column (conn, "creatable",
                "SELECT DISTINCT name FROM pg_available_extension_versions "
                "WHERE trusted OR NOT superuser ORDER BY 1");
  return 0;
}

static int
cmd_languages (PGconn *conn)
{
  print_column (conn, "trusted", "SELECT lanname FROM pg_language WHERE lanpltrusted ORDER BY 1");
  return 0;
}

static void
usage (void)
{
  die (EXIT_USAGE,
       "usage: starface-backupd-pg --host=HOST --port=PORT COMMAND [ARG...]\n"
       "commands: info NAME | oid NAME | role NAME | create-like LIKE NAME | rename FROM TO |\n"
       "          drop NAME [OID] | roles (names on stdin) | extensions NAME | languages NAME");
}

/* A database or role name as an argument: not empty, no control
 * characters (the server takes the rest: it is always quoted). */
static const char *
name_arg (const char *arg)
{
  if (arg[0] == '\0' || strlen (arg) > NAME_LINE_MAX)
    usage ();
  for (const unsigned char *p = (const unsigned char *) arg; *p != '\0'; p++)
    if (*p < 0x20 || *p == 0x7f)
      usage ();
  return arg;
}

static const char *
oid_arg (const char *arg)
{
  if (arg[0] == '\0' || arg[0] == '0' || strlen (arg) > 10
      || strspn (arg, "0123456789") != strlen (arg) || strtoull (arg, NULL, 10) > UINT32_MAX)
    usage ();
  return arg;
}

int
main (int argc, char **argv)
{
  const char *command;
  int nargs, status;
  PGconn *conn;

  for (; argc > 1 && strncmp (argv[1], "--", 2) == 0; argc--, argv++) {
    if (strncmp (argv[1], "--host=", 7) == 0)
      host = argv[1] + 7;
    else if (strncmp (argv[1], "--port=", 7) == 0)
      port = argv[1] + 7;
    else
      usage ();
  }
  if (host == NULL || port == NULL || host[0] == '\0' || argc < 2
      || strspn (port, "0123456789") != strlen (port) || port[0] == '\0')
    usage ();
  command = argv[1];
  nargs = argc - 2;
  argv += 2;

  if ((strcmp (command, "info") == 0 || strcmp (command, "oid") == 0
       || strcmp (command, "role") == 0)
      && nargs == 1) {
    name_arg (argv[0]);
    conn = connect_to ("postgres");
    status = command[0] == 'i'   ? cmd_info (conn, argv[0])
             : command[0] == 'o' ? cmd_oid (conn, argv[0])
                                 : cmd_role (conn, argv[0]);
  } else if (strcmp (command, "create-like") == 0 && nargs == 2) {
    name_arg (argv[0]);
    name_arg (argv[1]);
    conn = connect_to ("postgres");
    status = cmd_create_like (conn, argv[0], argv[1]);
  } else if (strcmp (command, "rename") == 0 && nargs == 2) {
    name_arg (argv[0]);
    name_arg (argv[1]);
    conn = connect_to ("postgres");
    status = cmd_rename (conn, argv[0], argv[1]);
  } else if (strcmp (command, "drop") == 0 && (nargs == 1 || nargs == 2)) {
    name_arg (argv[0]);
    if (nargs == 2)
      oid_arg (argv[1]);
    conn = connect_to ("postgres");
    status = cmd_drop (conn, argv[0], nargs == 2 ? argv[1] : NULL);
  } else if (strcmp (command, "roles") == 0 && nargs == 0) {
    conn = connect_to ("postgres");
    status = cmd_roles (conn);
  } else if ((strcmp (command, "extensions") == 0 || strcmp (command, "languages") == 0)
             && nargs == 1) {
    conn = connect_to (name_arg (argv[0]));
    status = command[0] == 'e' ? cmd_extensions (conn) : cmd_languages (conn);
  } else {
    usage ();
  }
  PQfinish (conn);
  if (fflush (stdout) != 0 || ferror (stdout))
    die (EXIT_ERROR, "writing the answer: %s", strerror (errno));
  return status;
}
