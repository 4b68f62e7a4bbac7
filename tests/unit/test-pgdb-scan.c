/* Unit tests: the scanner of schema scripts (pgdb_scan_script()).
 *
 * pgdb-scan/pbx-schema.sql and pbx-full.sql are what pg_restore 15 printed
 * for a PBX-like database (pgdb-scan/make-fixtures makes them anew from
 * pbx-source.sql).  Every other script is written here, one rule or one
 * trick each.  Scripts are handed over in a buffer of exactly their length,
 * with no NUL after them, so a read past the end shows under ASan. */
#include "pgdb.h"

#include <string.h>

typedef enum { SUPERUSER, LANGUAGES, EXTENSIONS, ROLES } Which;

static GPtrArray *
list_of (PgdbScan *scan, Which which)
{
  switch (which) {
  case SUPERUSER:
    return scan->superuser;
  case LANGUAGES:
    return scan->languages;
  case EXTENSIONS:
    return scan->extensions;
  case ROLES:
    return scan->roles;
  }
  g_assert_not_reached ();
}

static const char *const list_names[] = { "superuser", "languages", "extensions", "roles" };

static void
scan_bytes (const char *bytes, gsize length, PgdbScan *scan)
{
  char *copy = g_malloc (length > 0 ? length : 1);

  memcpy (copy, bytes, length);
  pgdb_scan_script (copy, length, scan);
  g_free (copy);
}

static void
scan_text (const char *text, PgdbScan *scan)
{
  scan_bytes (text, strlen (text), scan);
}

static char *
list_text (GPtrArray *list)
{
  GString *out = g_string_new ("[");

  for (guint i = 0; list != NULL && i < list->len; i++)
    g_string_append_printf (out, "%s\"%s\"", i > 0 ? ", " : "", (char *) list->pdata[i]);
  g_string_append_c (out, ']');
  return g_string_free (out, FALSE);
}

/* The list is exactly expected (NULL-terminated), in that order. */
static void
assert_list (PgdbScan *scan, Which which, const char *const *expected, const char *script)
{
  GPtrArray *list = list_of (scan, which);
  guint n = g_strv_length ((char **) expected);
  gboolean same = list != NULL && list->len == n;

  for (guint i = 0; same && i < n; i++)
    same = strcmp (list->pdata[i], expected[i]) == 0;
  if (!same) {
    g_autofree char *got = list_text (list);
    g_autofree char *want = g_strjoinv ("\", \"", (char **) expected);

    g_error ("%s of «%s»: got %s, expected [\"%s\"]", list_names[which], script, got, want);
  }
}

static gboolean
list_has (PgdbScan *scan, Which which, const char *entry)
{
  GPtrArray *list = list_of (scan, which);

  for (guint i = 0; list != NULL && i < list->len; i++)
    if (strcmp (list->pdata[i], entry) == 0)
      return TRUE;
  return FALSE;
}

static char *
read_fixture (const char *name, gsize *length)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "pgdb-scan", name, NULL);
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, length, &error));
  g_assert_no_error (error);
  return text;
}

/* --- the real thing ------------------------------------------------------ */

static void
assert_pbx_lists (PgdbScan *scan, const char *name)
{
  const char *const none[] = { NULL };
  const char *const languages[] = { "sql", "plpgsql", NULL };
  const char *const extensions[] = { "uuid-ossp", NULL };
  /* in the order pg_restore prints the ACLs; the owner starface only from
   * ALTER DEFAULT PRIVILEGES FOR ROLE, never from OWNER TO */
  const char *const roles[] = { "sfreadonly", "CdrReader", "monitor\"ing", "starface", NULL };

  assert_list (scan, SUPERUSER, none, name);
  assert_list (scan, LANGUAGES, languages, name);
  assert_list (scan, EXTENSIONS, extensions, name);
  assert_list (scan, ROLES, roles, name);
}

static void
test_pbx_schema (void)
{
  gsize length;
  g_autofree char *text = read_fixture ("pbx-schema.sql", &length);
  g_auto (PgdbScan) scan = { 0 };

  scan_bytes (text, length, &scan);
  assert_pbx_lists (&scan, "pbx-schema.sql");
}

/* With data: the COPY blocks hold "ALTER SYSTEM", "SET ROLE", "COPY ...
 * FROM PROGRAM", "CREATE LANGUAGE" and an unclosed comment and quote, all
 * data, none of it code. */
static void
test_pbx_full (void)
{
  gsize length;
  g_autofree char *text = read_fixture ("pbx-full.sql", &length);
  g_auto (PgdbScan) scan = { 0 };

  g_assert_nonnull (strstr (text, "ALTER SYSTEM SET fsync = off; /* unclosed"));
  scan_bytes (text, length, &scan);
  assert_pbx_lists (&scan, "pbx-full.sql");
}

/* --- one rule a case --------------------------------------------------- */

typedef struct {
  const char *script;
  Which which;
  const char *entry;
} Case;

static void
run_cases (const Case *cases, gsize n)
{
  for (gsize i = 0; i < n; i++) {
    g_auto (PgdbScan) scan = { 0 };

    scan_text (cases[i].script, &scan);
    if (!list_has (&scan, cases[i].which, cases[i].entry)) {
      g_autofree char *got = list_text (list_of (&scan, cases[i].which));

      g_error ("«%s»: %s has no \"%s\", it is %s", cases[i].script, list_names[cases[i].which],
               cases[i].entry, got);
    }
  }
}

static void
test_superuser_statements (void)
{
  static const Case cases[] = {
    { "CREATE LANGUAGE plpython3u;", SUPERUSER, "CREATE LANGUAGE plpython3u" },
    { "create or replace trusted procedural language \"PLPerlU\" handler x;", SUPERUSER,
      "CREATE LANGUAGE PLPerlU" },
    { "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f();", SUPERUSER,
      "CREATE EVENT TRIGGER e" },
    { "ALTER EVENT TRIGGER e DISABLE;", SUPERUSER, "ALTER EVENT TRIGGER e" },
    { "ALTER SYSTEM SET fsync = off;", SUPERUSER, "ALTER SYSTEM" },
    { "alter\n\t system\r\nset x to 1;", SUPERUSER, "ALTER SYSTEM" },
    { "COPY t FROM PROGRAM 'id';", SUPERUSER, "COPY ... FROM PROGRAM" },
    { "COPY (SELECT 1 FROM x) TO PROGRAM 'sh';", SUPERUSER, "COPY ... TO PROGRAM" },
    { "COPY public.t (a, \"from\") FROM '/etc/passwd';", SUPERUSER, "COPY ... FROM a server file" },
    { "COPY t TO '/tmp/out';", SUPERUSER, "COPY ... TO a server file" },
    { "SET ROLE postgres;", SUPERUSER, "SET ROLE" },
    { "SET SESSION ROLE postgres;", SUPERUSER, "SET ROLE" },
    { "SET LOCAL ROLE postgres;", SUPERUSER, "SET ROLE" },
    { "SET role = 'postgres';", SUPERUSER, "SET ROLE" },
    { "SET \"role\" TO postgres;", SUPERUSER, "SET ROLE" },
    { "RESET ROLE;", SUPERUSER, "RESET ROLE" },
    { "SET SESSION AUTHORIZATION postgres;", SUPERUSER, "SET SESSION AUTHORIZATION" },
    { "SET LOCAL SESSION AUTHORIZATION DEFAULT;", SUPERUSER, "SET SESSION AUTHORIZATION" },
    { "SET SESSION SESSION AUTHORIZATION postgres;", SUPERUSER, "SET SESSION AUTHORIZATION" },
    { "SET session_authorization = postgres;", SUPERUSER, "SET SESSION AUTHORIZATION" },
    { "RESET SESSION AUTHORIZATION;", SUPERUSER, "RESET SESSION AUTHORIZATION" },
    { "RESET session_authorization;", SUPERUSER, "RESET SESSION AUTHORIZATION" },
    { "CREATE ROLE evil SUPERUSER;", SUPERUSER, "CREATE ROLE evil" },
    { "CREATE USER evil;", SUPERUSER, "CREATE USER evil" },
    { "CREATE GROUP g;", SUPERUSER, "CREATE GROUP g" },
    { "ALTER ROLE starface SUPERUSER;", SUPERUSER, "ALTER ROLE starface" },
    { "ALTER USER \"Starface\" WITH SUPERUSER;", SUPERUSER, "ALTER USER Starface" },
    { "ALTER GROUP g ADD USER u;", SUPERUSER, "ALTER GROUP g" },
    { "DROP ROLE IF EXISTS starface;", SUPERUSER, "DROP ROLE starface" },
    { "CREATE TABLESPACE ts LOCATION '/tmp';", SUPERUSER, "CREATE TABLESPACE ts" },
    { "ALTER TABLESPACE ts RENAME TO x;", SUPERUSER, "ALTER TABLESPACE ts" },
    { "LOAD '/tmp/evil.so';", SUPERUSER, "LOAD '/tmp/evil.so'" },
    { "CREATE FOREIGN DATA WRAPPER w;", SUPERUSER, "CREATE FOREIGN DATA WRAPPER w" },
    { "ALTER FOREIGN DATA WRAPPER w OPTIONS (x 'y');", SUPERUSER, "ALTER FOREIGN DATA WRAPPER w" },
    { "CREATE FUNCTION public.f() RETURNS int LANGUAGE c AS '/tmp/x.so', 'f';", SUPERUSER,
      "CREATE FUNCTION public.f LANGUAGE c" },
    { "CREATE OR REPLACE FUNCTION f(a int DEFAULT 1) RETURNS int AS 'int4pl' LANGUAGE "
      "\"internal\";",
      SUPERUSER, "CREATE FUNCTION f LANGUAGE internal" },
    { "CREATE PROCEDURE p() LANGUAGE C AS 'x', 'y';", SUPERUSER, "CREATE PROCEDURE p LANGUAGE c" },
    { "CREATE CAST (text AS public.t) WITHOUT FUNCTION;", SUPERUSER,
      "CREATE CAST ... WITHOUT FUNCTION" },
    { "CREATE OPERATOR CLASS public.oc FOR TYPE int USING btree AS OPERATOR 1 <;", SUPERUSER,
      "CREATE OPERATOR CLASS public.oc" },
    { "CREATE OPERATOR FAMILY public.of USING btree;", SUPERUSER,
      "CREATE OPERATOR FAMILY public.of" },
    { "ALTER OPERATOR FAMILY public.of USING btree ADD OPERATOR 1 < (int, int);", SUPERUSER,
      "ALTER OPERATOR FAMILY public.of" },
    { "CREATE TEXT SEARCH PARSER public.p (START = s, GETTOKEN = g, END = e, LEXTYPES = l);",
      SUPERUSER, "CREATE TEXT SEARCH PARSER public.p" },
    { "CREATE TEXT SEARCH TEMPLATE public.t (LEXIZE = l);", SUPERUSER,
      "CREATE TEXT SEARCH TEMPLATE public.t" },
    { "CREATE TYPE public.t (INPUT = t_in, OUTPUT = t_out);", SUPERUSER,
      "CREATE TYPE public.t (base type)" },
    { "CREATE ACCESS METHOD am TYPE TABLE HANDLER h;", SUPERUSER, "CREATE ACCESS METHOD am" },
    { "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p;", SUPERUSER,
      "CREATE SUBSCRIPTION s" },
    { "ALTER SUBSCRIPTION s ENABLE;", SUPERUSER, "ALTER SUBSCRIPTION s" },
    { "DO $$BEGIN PERFORM 1; END$$;", SUPERUSER, "DO (code run at load)" },
    { "CALL public.p(1);", SUPERUSER, "CALL public.p (code run at load)" },
    { "CREATE DATABASE d;", SUPERUSER, "CREATE DATABASE d" },
    { "ALTER DATABASE starface RENAME TO x;", SUPERUSER, "ALTER DATABASE starface" },
    { "DROP DATABASE starface WITH (FORCE);", SUPERUSER, "DROP DATABASE starface" },
    { "REASSIGN OWNED BY a TO b;", SUPERUSER, "REASSIGN OWNED" },
    { "DROP OWNED BY a;", SUPERUSER, "DROP OWNED" },
    { "CHECKPOINT;", SUPERUSER, "CHECKPOINT" },
    { "GRANT pg_execute_server_program TO starface;", SUPERUSER,
      "GRANT pg_execute_server_program TO ... (role membership)" },
    { "REVOKE ADMIN OPTION FOR a FROM b;", SUPERUSER, "REVOKE a FROM ... (role membership)" },
  };

  run_cases (cases, G_N_ELEMENTS (cases));
}

/* Parameters only a superuser may set, however they are set. */
static void
test_superuser_parameters (void)
{
  static const Case cases[] = {
    { "SET session_replication_role = replica;", SUPERUSER, "SET session_replication_role" },
    { "SET SESSION log_statement TO none;", SUPERUSER, "SET log_statement" },
    { "SET LOCAL \"zero_damaged_pages\" = on;", SUPERUSER, "SET zero_damaged_pages" },
    { "RESET session_replication_role;", SUPERUSER, "RESET session_replication_role" },
    { "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SET session_replication_role = "
      "replica AS $$select 1$$;",
      SUPERUSER, "CREATE FUNCTION public.f SET session_replication_role" },
    { "ALTER FUNCTION public.f() SET role = postgres;", SUPERUSER,
      "ALTER FUNCTION public.f SET role" },
    { "SELECT pg_catalog.set_config('role', 'postgres', false);", SUPERUSER, "set_config('role')" },
    { "SELECT set_config('Session_Authorization', 'postgres', false);", SUPERUSER,
      "set_config('session_authorization')" },
    { "SELECT set_config(E'\\x72ole', 'postgres', false);", SUPERUSER, "set_config('role')" },
    { "SELECT set_config('ro'\n'le', 'postgres', false);", SUPERUSER, "set_config('role')" },
    { "SELECT set_config('ro' || 'le', 'postgres', false);", SUPERUSER,
      "set_config() with a computed name" },
    { "SELECT set_config(lower('ROLE'), 'postgres', false);", SUPERUSER,
      "set_config() with a computed name" },
    { "SELECT set_config('session_replication_role', 'replica', false);", SUPERUSER,
      "set_config('session_replication_role')" },
    { "SELECT set_config('client_encoding', 'SJIS', false);", SUPERUSER,
      "set_config('client_encoding')" },
    { "SELECT set_config('standard_conforming_strings', 'off', false);", SUPERUSER,
      "set_config('standard_conforming_strings')" },
    { "SELECT pg_catalog.pg_read_file('/etc/passwd');", SUPERUSER, "pg_read_file()" },
    { "CREATE MATERIALIZED VIEW v AS SELECT lo_import('/etc/shadow');", SUPERUSER, "lo_import()" },
    { "SELECT \"pg_terminate_backend\"(pid) FROM pg_stat_activity;", SUPERUSER,
      "pg_terminate_backend()" },
  };

  run_cases (cases, G_N_ELEMENTS (cases));
}

static void
test_languages (void)
{
  static const Case cases[] = {
    { "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$return 1$$;", LANGUAGES,
      "plpython3u" },
    { "CREATE FUNCTION f() RETURNS int AS $$return 1$$ LANGUAGE PLPerlU;", LANGUAGES, "plperlu" },
    { "CREATE FUNCTION f() RETURNS int AS $$x$$ LANGUAGE \"PlTcl\";", LANGUAGES, "PlTcl" },
    { "CREATE FUNCTION f() RETURNS int AS 'x' LANGUAGE 'plpgsql';", LANGUAGES, "plpgsql" },
    { "CREATE OR REPLACE PROCEDURE p() LANGUAGE plperl AS $$1$$;", LANGUAGES, "plperl" },
    { "CREATE FUNCTION f() RETURNS int LANGUAGE U&\"pl\\0070ython3u\" AS $$1$$;", LANGUAGES,
      "plpython3u" },
    { "CREATE FUNCTION f() RETURNS int LANGUAGE U&\"pl!0070ython3u\" UESCAPE '!' AS $$1$$;",
      LANGUAGES, "plpython3u" },
    { "CREATE FUNCTION f() RETURNS int LANGUAGE /* c */ plv8 AS $$1$$;", LANGUAGES, "plv8" },
    { "DO LANGUAGE plpython3u $$import os$$;", LANGUAGES, "plpython3u" },
    { "DO $$import os$$ LANGUAGE plperlu;", LANGUAGES, "plperlu" },
    { "DO $$BEGIN NULL; END$$;", LANGUAGES, "plpgsql" },
    { "CREATE TRANSFORM FOR hstore LANGUAGE plpython3u (FROM SQL WITH FUNCTION f(internal));",
      LANGUAGES, "plpython3u" },
  };

  run_cases (cases, G_N_ELEMENTS (cases));
}

static void
test_extensions (void)
{
  static const Case cases[] = {
    { "CREATE EXTENSION pgcrypto;", EXTENSIONS, "pgcrypto" },
    { "create extension if not exists \"uuid-ossp\" with schema public;", EXTENSIONS, "uuid-ossp" },
    { "CREATE EXTENSION IF NOT EXISTS PostGIS VERSION '3.3' CASCADE;", EXTENSIONS, "postgis" },
    { "CREATE EXTENSION U&\"dbl\\0069nk\";", EXTENSIONS, "dblink" },
  };

  run_cases (cases, G_N_ELEMENTS (cases));
}

static void
test_roles (void)
{
  static const Case cases[] = {
    { "GRANT SELECT ON TABLE public.t TO reader;", ROLES, "reader" },
    { "GRANT SELECT ON TABLE public.t TO a, \"B\", GROUP c WITH GRANT OPTION;", ROLES, "B" },
    { "GRANT SELECT ON TABLE public.t TO a, \"B\", GROUP c WITH GRANT OPTION;", ROLES, "c" },
    { "GRANT SELECT (a, b) ON public.t TO \"We\"\"ird\";", ROLES, "We\"ird" },
    { "GRANT ALL ON FUNCTION f(integer, text) TO Mixed GRANTED BY grantor;", ROLES, "mixed" },
    { "GRANT ALL ON FUNCTION f(integer, text) TO Mixed GRANTED BY grantor;", ROLES, "grantor" },
    { "REVOKE ALL ON SCHEMA s FROM old_role CASCADE;", ROLES, "old_role" },
    { "REVOKE GRANT OPTION FOR SELECT ON t FROM r1, r2;", ROLES, "r2" },
    { "ALTER DEFAULT PRIVILEGES FOR ROLE owner1, owner2 IN SCHEMA s GRANT SELECT ON TABLES TO r;",
      ROLES, "owner2" },
    { "ALTER DEFAULT PRIVILEGES FOR USER owner1 REVOKE ALL ON TABLES FROM r;", ROLES, "r" },
    { "GRANT pg_read_server_files TO starface;", ROLES, "pg_read_server_files" },
    { "GRANT SELECT ON t TO U&\"\\0070ostgres\";", ROLES, "postgres" },
    { "CREATE POLICY p ON t FOR SELECT TO viewer, \"Admin\" USING (true);", ROLES, "Admin" },
    { "CREATE USER MAPPING FOR remote_user SERVER s;", ROLES, "remote_user" },
    { "CREATE SCHEMA s GRANT SELECT ON t TO schema_reader;", ROLES, "schema_reader" },
  };

  run_cases (cases, G_N_ELEMENTS (cases));
}

/* Deduplicated, in first-seen order; PUBLIC and the special roles are
 * not roles; ownership (OWNER TO, AUTHORIZATION) is left out. */
static void
test_lists_order_and_exclusions (void)
{
  const char *script = "GRANT SELECT ON t TO b, a, PUBLIC, \"public\";\n"
                       "GRANT SELECT ON u TO a, CURRENT_USER, session_user, current_role;\n"
                       "ALTER TABLE t OWNER TO owner_role;\n"
                       "CREATE SCHEMA s AUTHORIZATION schema_owner;\n"
                       "REVOKE ALL ON t FROM c, b;\n"
                       "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$select 1$$;\n"
                       "CREATE FUNCTION g() RETURNS int LANGUAGE SQL AS $$select 1$$;\n"
                       "CREATE FUNCTION h() RETURNS trigger LANGUAGE plpgsql AS $$begin end$$;\n"
                       "CREATE EXTENSION b_ext; CREATE EXTENSION a_ext; CREATE EXTENSION b_ext;\n"
                       "SET ROLE x; SET ROLE y;\n";
  const char *const superuser[] = { "SET ROLE", NULL };
  const char *const languages[] = { "sql", "plpgsql", NULL };
  const char *const extensions[] = { "b_ext", "a_ext", NULL };
  const char *const roles[] = { "b", "a", "c", NULL };
  g_auto (PgdbScan) scan = { 0 };

  scan_text (script, &scan);
  assert_list (&scan, SUPERUSER, superuser, script);
  assert_list (&scan, LANGUAGES, languages, script);
  assert_list (&scan, EXTENSIONS, extensions, script);
  assert_list (&scan, ROLES, roles, script);
}

/* Names as the server reads them: folded, unquoted, cut at 63 bytes. */
static void
test_names (void)
{
  g_autofree char *long_name = g_strnfill (70, 'r');
  g_autofree char *cut = g_strnfill (63, 'r');
  g_autofree char *script = g_strdup_printf ("GRANT SELECT ON t TO %s, \"ÄÖÜ\";\n"
                                             "GRANT SELECT ON t TO U&\"\\00e4\\+01F600\";",
                                             long_name);
  const char *const roles[] = { cut, "ÄÖÜ", "ä😀", NULL };
  g_auto (PgdbScan) scan = { 0 };

  scan_text (script, &scan);
  assert_list (&scan, ROLES, roles, script);
}

/* --- hostile tricks: each is found -------------------------------------- */

static void
test_tricks_found (void)
{
  static const Case cases[] = {
    /* key words split by comments */
    { "ALTER/**/SYSTEM SET fsync = off;", SUPERUSER, "ALTER SYSTEM" },
    { "ALTER/* a /* nested */ comment */SYSTEM SET fsync = off;", SUPERUSER, "ALTER SYSTEM" },
    { "ALTER -- a comment ; ALTER ROLE x\nSYSTEM SET fsync = off;", SUPERUSER, "ALTER SYSTEM" },
    /* a statement after a ';' that a naive reader takes for being in a
     * comment or a string */
    { "SELECT '/*'; ALTER SYSTEM SET fsync = off; -- */", SUPERUSER, "ALTER SYSTEM" },
    { "SELECT $$ /* $$; ALTER SYSTEM SET fsync = off; -- */", SUPERUSER, "ALTER SYSTEM" },
    { "SELECT 1 /* a */ ; CREATE LANGUAGE plperlu; /* b */", SUPERUSER, "CREATE LANGUAGE plperlu" },
    { "SELECT '\\'; ALTER SYSTEM SET fsync = off; --';", SUPERUSER, "ALTER SYSTEM" },
    { "SELECT \"a\"\"\"; ALTER SYSTEM SET fsync = off; --\";", SUPERUSER, "ALTER SYSTEM" },
    /* $ inside an identifier starts no dollar quote */
    { "SELECT a$$; ALTER SYSTEM SET fsync = off; $$ FROM t;", SUPERUSER, "ALTER SYSTEM" },
    /* a dollar quote ends only at its own tag */
    { "SELECT $a$ $b$ $a$; ALTER SYSTEM SET fsync = off; -- $b$", SUPERUSER, "ALTER SYSTEM" },
    /* a continued E string stays an E string */
    { "SELECT E'a'\n'\\'; ALTER SYSTEM SET x = 1; --'; CREATE LANGUAGE plperlu;", SUPERUSER,
      "CREATE LANGUAGE plperlu" },
    /* the psql meta-commands of pg_restore's output are lines of their own */
    { "\\restrict abc\nALTER SYSTEM SET fsync = off;\n\\unrestrict abc\n", SUPERUSER,
      "ALTER SYSTEM" },
    /* an unbalanced parenthesis stops at the ';' */
    { "SELECT ((1;\nSET ROLE postgres;", SUPERUSER, "SET ROLE" },
    /* a COPY with no data does not hide what follows */
    { "COPY t FROM stdin;\nSET ROLE postgres;\n", SUPERUSER, "SET ROLE" },
    /* data ends at pg_restore's header of the next entry even with no \. */
    { "COPY t FROM stdin;\n1\tx\n\n--\n-- Name: f; Type: FUNCTION; Schema: public; Owner: a\n"
      "--\n\nCREATE FUNCTION f() RETURNS int LANGUAGE plperlu AS $$1$$;\n/*\n\\.\n*/\n",
      LANGUAGES, "plperlu" },
    /* the rest of the COPY line is SQL */
    { "COPY t FROM stdin; SET ROLE postgres;\n\\.\n", SUPERUSER, "SET ROLE" },
    /* encodings whose second bytes may be a backslash or a quote */
    { "SET client_encoding = 'SJIS';", SUPERUSER, "SET client_encoding = 'SJIS'" },
    { "SET client_encoding TO \"Shift-JIS\";", SUPERUSER, "SET client_encoding = 'Shift-JIS'" },
    { "set names 'big5';", SUPERUSER, "SET client_encoding = 'big5'" },
    { "SET client_encoding = gb18030;", SUPERUSER, "SET client_encoding = 'gb18030'" },
    /* with standard_conforming_strings off, a backslash escapes a quote */
    { "SET standard_conforming_strings = off;\nSELECT 'a\\'; ALTER SYSTEM SET x = 1; --';",
      SUPERUSER, "string constant read differently with standard_conforming_strings off" },
    { "SET standard_conforming_strings = off;\nSET standard_conforming_strings = on; "
      "SELECT 'a\\'; --'; ALTER SYSTEM SET x = 1;",
      SUPERUSER, "string constant read differently with standard_conforming_strings off" },
  };

  run_cases (cases, G_N_ELEMENTS (cases));
}

/* --- decoys: none is found ---------------------------------------------- */

static void
test_decoys (void)
{
  static const char *const decoys[] = {
    "COMMENT ON TABLE t IS 'ALTER SYSTEM SET fsync = off; SET ROLE postgres';",
    "COMMENT ON TABLE t IS E'it\\'s; ALTER SYSTEM SET fsync = off; --';",
    "COMMENT ON TABLE t IS 'it''s; ALTER SYSTEM SET fsync = off; --';",
    "-- ALTER SYSTEM SET fsync = off;\n",
    "/* ALTER SYSTEM SET fsync = off; */",
    "/* nested /* */ ; ALTER SYSTEM SET fsync = off; */",
    "CREATE FUNCTION public.f() RETURNS void LANGUAGE plpgsql AS $$\n"
    "BEGIN\n  EXECUTE 'ALTER SYSTEM SET fsync = off';\n  SET ROLE postgres;\n"
    "  PERFORM pg_read_file('/etc/passwd');\nEND;\n$$;",
    "CREATE FUNCTION public.f() RETURNS void LANGUAGE plpgsql AS $body$\n"
    "BEGIN RAISE NOTICE $$ $body $$; COPY x FROM PROGRAM 'id'; END;\n$body$;",
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS 'BEGIN\n"
    "  EXECUTE ''CREATE LANGUAGE plperlu''; RETURN 1; END;';",
    "CREATE TABLE \"ALTER SYSTEM\" (\"SET ROLE\" int, \"language\" text, grant_to text);",
    "CREATE TABLE t (\"CREATE EXTENSION x\" int);",
    "CREATE TABLE U&\"\\0041LTER SYSTEM\" ();",
    "SELECT \"ALTER\" SYSTEM;",
    "SELECT 1 AS \"; ALTER SYSTEM SET x = 1; --\";",
    "SELECT $q$; ALTER SYSTEM SET x = 1; $q$;",
    /* after a parameter $1, $$ opens a dollar quote */
    "SELECT $1$$; ALTER SYSTEM SET fsync = off; --$$;",
    "SELECT E'\\\\'; SELECT 'x';",
    "ALTER TABLE ONLY public.accounts ALTER COLUMN role SET DEFAULT 'user'::text;",
    "CREATE TABLE t (role text, language text, grant boolean);",
    "CREATE FUNCTION public.pg_read_file(text) RETURNS text LANGUAGE sql AS $$select 1::text$$;",
    "GRANT EXECUTE ON FUNCTION pg_catalog.lo_import(text) TO PUBLIC;",
    "SELECT pg_catalog.set_config('search_path', '', false);",
    "SET standard_conforming_strings = on; SELECT 'a\\'; SELECT 1;",
    "SET client_encoding = 'UTF8'; SET client_encoding TO 'LATIN1';",
    "COPY public.t (a, b) FROM stdin;\nALTER SYSTEM SET x = 1;\nSET ROLE postgres;\n\\.\n",
    "COPY public.t (a) FROM stdin;\n'; ALTER SYSTEM SET x = 1; /*\n\\.\n",
    "COPY t TO stdout;",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (decoys); i++) {
    g_auto (PgdbScan) scan = { 0 };
    const char *const none[] = { NULL };

    scan_text (decoys[i], &scan);
    assert_list (&scan, SUPERUSER, none, decoys[i]);
    /* the only language any decoy names is sql or plpgsql */
    for (guint j = 0; j < scan.languages->len; j++)
      if (strcmp (scan.languages->pdata[j], "sql") != 0
          && strcmp (scan.languages->pdata[j], "plpgsql") != 0)
        g_error ("«%s»: language %s", decoys[i], (char *) scan.languages->pdata[j]);
    assert_list (&scan, EXTENSIONS, none, decoys[i]);
    assert_list (&scan, ROLES, none, decoys[i]);
  }
}

/* --- robustness ----------------------------------------------------------- */

/* Every prefix of the real script: no crash, no read past its end. */
static void
test_truncated (void)
{
  gsize length;
  g_autofree char *text = read_fixture ("pbx-full.sql", &length);

  for (gsize cut = 0; cut <= length; cut += (cut < 4096 ? 1 : 7)) {
    g_auto (PgdbScan) scan = { 0 };

    scan_bytes (text, cut, &scan);
    g_assert_nonnull (scan.superuser);
    g_assert_nonnull (scan.roles);
  }
}

static void
test_unterminated (void)
{
  static const char *const scripts[] = {
    "SELECT '",
    "SELECT E'\\",
    "SELECT \"",
    "SELECT $$",
    "SELECT $a$ $a",
    "/* /* */",
    "-- x",
    "SELECT U&\"",
    "SELECT U&'",
    "SELECT B'",
    "SELECT $",
    "SELECT $a",
    "SELECT 1e",
    "U&\"x\" UESCAPE",
    "U&\"x\" UESCAPE '",
    "COPY t FROM stdin;\n",
    "\\",
    "GRANT x TO",
    "CREATE FUNCTION f() LANGUAGE",
    "SET client_encoding =",
    "E",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (scripts); i++) {
    g_auto (PgdbScan) scan = { 0 };

    scan_text (scripts[i], &scan);
    g_assert_nonnull (scan.superuser);
  }
}

/* NUL bytes are characters like others: they end neither the script nor a
 * string, and what comes after them is read. */
static void
test_nul_bytes (void)
{
  static const char script[] = "SELECT '\0'; SET ROLE postgres;\0; COMMENT ON t IS '\0\0;"
                               "ALTER SYSTEM';\nGRANT SELECT ON t TO \"a\0b\";";
  const char *const superuser[] = { "SET ROLE", NULL };
  g_auto (PgdbScan) scan = { 0 };

  scan_bytes (script, sizeof script - 1, &scan);
  assert_list (&scan, SUPERUSER, superuser, "(with NUL bytes)");
  g_assert_cmpuint (scan.roles->len, ==, 1);
}

/* Every string handed back is UTF-8, whatever the bytes of the script. */
static void
test_invalid_utf8 (void)
{
  const char *script = "GRANT SELECT ON t TO \"M\xfcller\", r\xc3;\nCREATE LANGUAGE \"x\xff\";";
  g_auto (PgdbScan) scan = { 0 };

  scan_text (script, &scan);
  g_assert_cmpuint (scan.roles->len, ==, 2);
  g_assert_cmpuint (scan.superuser->len, ==, 1);
  for (guint i = 0; i < scan.roles->len; i++)
    g_assert_true (g_utf8_validate (scan.roles->pdata[i], -1, NULL));
  g_assert_true (g_utf8_validate (scan.superuser->pdata[0], -1, NULL));
}

/* Scanning twice into the same lists adds only what is new. */
static void
test_scan_twice (void)
{
  const char *const roles[] = { "a", "b", NULL };
  g_auto (PgdbScan) scan = { 0 };

  scan_text ("GRANT SELECT ON t TO a;", &scan);
  scan_text ("GRANT SELECT ON t TO b, a;", &scan);
  assert_list (&scan, ROLES, roles, "two scripts");
}

typedef struct {
  const char *label;
  const char *unit;   /* repeated to fill the line */
  const char *prefix; /* before it */
} Long;

static void
test_long_lines (void)
{
  static const Long longs[] = {
    { "words", "a ", "" },
    { "a string", "x", "SELECT '" },
    { "an E string of backslashes", "\\", "SELECT E'" },
    { "a dollar body of almost-tags", "$ta$t", "SELECT $tag$" },
    { "nested comments", "/*", "" },
    { "parentheses", "(", "SELECT " },
    { "a quoted identifier", "\"\"", "SELECT \"" },
    { "roles", "r, ", "GRANT SELECT ON t TO " },
    { "role memberships", "r, ", "GRANT " },
    { "a function name", "a.", "CREATE FUNCTION " },
    { "statements", "SET ROLE x;", "" },
    { "semicolons", ";", "" },
    { "ambiguous strings", "'\\' ", "SET standard_conforming_strings = off;\n" },
    { "continued strings", "'a'\n", "SELECT E" },
    { "COPY data", "1\tx\n", "COPY t FROM stdin;\n" },
    { "distinct roles", NULL, "GRANT SELECT ON t TO " },
  };
  const gsize size = 10 * 1024 * 1024;

  for (gsize i = 0; i < G_N_ELEMENTS (longs); i++) {
    GString *line = g_string_sized_new (size + 64);
    g_auto (PgdbScan) scan = { 0 };
    gint64 start;
    double seconds;

    g_string_append (line, longs[i].prefix);
    for (guint k = 0; line->len < size; k++) {
      if (longs[i].unit != NULL)
        g_string_append (line, longs[i].unit);
      else
        g_string_append_printf (line, "r%u, ", k);
    }
    start = g_get_monotonic_time ();
    scan_bytes (line->str, line->len, &scan);
    seconds = (g_get_monotonic_time () - start) / 1e6;
    g_test_message ("10 MiB of %s: %.3f s, %u superuser, %u roles", longs[i].label, seconds,
                    scan.superuser->len, scan.roles->len);
    /* linear: a second or two even under ASan; quadratic would be hours */
    g_assert_cmpfloat (seconds, <, 20.0);
    g_assert_cmpuint (scan.roles->len, <=, 10001);
    g_assert_cmpuint (scan.superuser->len, <=, 10001);
    g_string_free (line, TRUE);
  }
}

/* Lists do not grow without end: past 10000 entries the scan says so. */
static void
test_list_limit (void)
{
  GString *script = g_string_new ("GRANT SELECT ON t TO ");
  g_auto (PgdbScan) scan = { 0 };

  for (guint i = 0; i < 20000; i++)
    g_string_append_printf (script, "%sr%u", i > 0 ? ", " : "", i);
  g_string_append (script, ";");
  scan_bytes (script->str, script->len, &scan);
  g_assert_cmpuint (scan.roles->len, ==, 10000);
  g_assert_true (list_has (&scan, SUPERUSER, "more than 10000 roles"));
  g_string_free (script, TRUE);
}

static void
test_problem_free (void)
{
  PgdbProblem *problem = g_new0 (PgdbProblem, 1);

  problem->code = g_strdup ("database-role-missing");
  problem->detail = g_strdup ("reader");
  pgdb_problem_free (problem);
  pgdb_problem_free (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/pgdb-scan/pbx-schema", test_pbx_schema);
  g_test_add_func ("/pgdb-scan/pbx-full", test_pbx_full);
  g_test_add_func ("/pgdb-scan/superuser-statements", test_superuser_statements);
  g_test_add_func ("/pgdb-scan/superuser-parameters", test_superuser_parameters);
  g_test_add_func ("/pgdb-scan/languages", test_languages);
  g_test_add_func ("/pgdb-scan/extensions", test_extensions);
  g_test_add_func ("/pgdb-scan/roles", test_roles);
  g_test_add_func ("/pgdb-scan/order-and-exclusions", test_lists_order_and_exclusions);
  g_test_add_func ("/pgdb-scan/names", test_names);
  g_test_add_func ("/pgdb-scan/tricks-found", test_tricks_found);
  g_test_add_func ("/pgdb-scan/decoys", test_decoys);
  g_test_add_func ("/pgdb-scan/truncated", test_truncated);
  g_test_add_func ("/pgdb-scan/unterminated", test_unterminated);
  g_test_add_func ("/pgdb-scan/nul-bytes", test_nul_bytes);
  g_test_add_func ("/pgdb-scan/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/pgdb-scan/scan-twice", test_scan_twice);
  g_test_add_func ("/pgdb-scan/long-lines", test_long_lines);
  g_test_add_func ("/pgdb-scan/list-limit", test_list_limit);
  g_test_add_func ("/pgdb-scan/problem-free", test_problem_free);

  return g_test_run ();
}
