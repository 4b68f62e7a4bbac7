"""The PostgreSQL layer (service/pgdb.c, the helper starface-backupd-pg)
against a real PostgreSQL 15 cluster, through tests/pgdb-tool.

The cluster (harness.PgCluster) runs as sfpg, the [Database] RunAs; the
sample database starface belongs to the plain role sfdb.  The tests run as
root, so pgdb.c switches to those users as the daemon would.
"""

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import BUILD_ROOT, PG_BIN, PG_HELPER, new_tempdir, wait_for

PGDB_TOOL = os.environ.get("PGDB_TOOL", str(BUILD_ROOT / "tests" / "pgdb-tool"))


@pytest.fixture
def config(pg, tmp_path):
    return pg.write_config(tmp_path / "backupd.conf")


@pytest.fixture
def open_dir():
    """A directory every user may write to (pytest's tmp_path is root's)."""
    path = new_tempdir("sfpgdb-")
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def tool(config, *args, stdin=None, input=None, user=None, extra=(), timeout=120):
    """Runs pgdb-tool; returns the CompletedProcess (bytes)."""
    kwargs = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    return subprocess.run([PGDB_TOOL, f"--config={config}", f"--helper={PG_HELPER}", *extra,
                           *args], stdin=stdin, input=input, capture_output=True,
                          timeout=timeout, cwd="/", **kwargs)


def ok(config, *args, **kwargs):
    result = tool(config, *args, **kwargs)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout) if result.stdout.strip() else None


def fails(config, *args, **kwargs):
    result = tool(config, *args, **kwargs)
    assert result.returncode == 1, (result.stdout, result.stderr)
    return result.stderr.decode()


def problems(answer):
    return sorted(tuple(p) for p in answer["problems"])


def session(pg, database, user="sfdb", seconds=300):
    """A client session on database (psql, as user) that sleeps."""
    entry = pwd.getpwnam(user)
    before = pg.sessions(database)
    proc = subprocess.Popen(
        [PG_BIN / "psql", "-X", "-h", pg.socket_dir, "-p", str(pg.port), "-d", database,
         "-c", f"SELECT pg_sleep({seconds})"],
        user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], env={"PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wait_for(lambda: pg.sessions(database) > before, what=f"a session on {database}")
    return proc


class Locker:
    """A psql session (as user) that takes a lock and sleeps; end() kills
    its backend too (a sleeping backend would notice its client's end only
    when the sleep is over)."""

    def __init__(self, pg, database, lock, user="sfpg"):
        entry = pwd.getpwnam(user)
        self.proc = subprocess.Popen(
            [PG_BIN / "psql", "-X", "-q", "-A", "-t", "-h", pg.socket_dir, "-p", str(pg.port),
             "-d", database], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
            env={"PATH": "/usr/bin:/bin"})
        self.proc.stdin.write(f"SELECT pg_backend_pid(); BEGIN; {lock}; SELECT 'locked'; "
                              "SELECT pg_sleep(60);\n")
        self.proc.stdin.flush()
        self.backend = int(self.proc.stdout.readline())
        assert self.proc.stdout.readline().strip() == "locked"

    def end(self):
        try:
            os.kill(self.backend, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end(self.proc)


def end(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def dump_file(config, tmp_path, database="starface", name="dump.pgdump"):
    out = tmp_path / name
    answer = ok(config, "dump", database, str(out))
    return out, answer


def children_of_tool(pg):
    """pg_dump, pg_restore and helper processes working for this cluster
    (none may outlive a call).  Only those whose command line or
    environment names the cluster's socket directory: other test runs on
    the machine have their own clusters and daemons."""
    found = []
    marker = str(pg.socket_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if comm not in ("pg_dump", "pg_restore", "starface-backup"):
                continue
            if marker in (proc / "cmdline").read_bytes() or marker in (proc / "environ").read_bytes():
                found.append(comm)
        except OSError:
            continue  # gone meanwhile
    return found


# --- info and oid -----------------------------------------------------------

def test_info_of_the_sample_database(pg, config):
    info = ok(config, "info", "starface")
    assert info["exists"] is True
    assert info["oid"] == pg.oid("starface")
    assert info["owner"] == "sfdb"
    assert info["owner_superuser"] is False
    assert info["owner_can_login"] is True
    assert (info["encoding"], info["collate"], info["ctype"]) == \
        ("UTF8", "de_DE.UTF-8", "de_DE.UTF-8")
    assert info["sessions"] == 0
    assert info["size"] == int(pg.value("SELECT pg_database_size('starface')"))
    assert info["data_directory"] == str(pg.data)


def test_info_of_a_missing_database(pg, config):
    info = ok(config, "info", "nothere")
    assert info["exists"] is False and info["oid"] == 0 and info["owner"] is None


def test_info_counts_other_sessions(pg, config):
    procs = [session(pg, "starface"), session(pg, "starface")]
    try:
        assert ok(config, "info", "starface")["sessions"] == 2
    finally:
        for p in procs:
            end(p)


def test_info_says_when_the_owner_is_a_superuser(pg, config):
    pg.create_sample("sfsuper", owner="sfpg")
    assert ok(config, "info", "sfsuper")["owner_superuser"] is True
    pg.sql("CREATE ROLE sfcreator LOGIN CREATEROLE; CREATE ROLE sfmember LOGIN; "
           "GRANT pg_execute_server_program TO sfmember")
    try:
        for role in ("sfcreator", "sfmember"):
            pg.sql(f"ALTER DATABASE sfsuper OWNER TO {role}")
            assert ok(config, "info", "sfsuper")["owner_superuser"] is True, role
    finally:
        pg.drop("sfsuper")
        pg.sql("DROP ROLE sfcreator; DROP ROLE sfmember")


def test_oid(pg, config):
    assert ok(config, "oid", "starface") == {"oid": pg.oid("starface")}
    assert ok(config, "oid", "nothere") == {"oid": 0}


@pytest.mark.parametrize("name", ["Starface", "star face", "x;drop", "dbname=postgres", "",
                                  "a" * 64, "ß"])
def test_names_that_are_no_database_names_are_refused(pg, config, name):
    assert "is not a database name" in fails(config, "info", name)


# --- create, rename, drop ---------------------------------------------------

def test_create_like_copies_owner_encoding_and_locale(pg, config):
    pg.create_sample("latin", locale="C")
    ok(config, "create-like", "starface", "starface__sf_restore")
    ok(config, "create-like", "latin", "latin__sf_restore")
    try:
        for source in ("starface", "latin"):
            a, b = (ok(config, "info", n) for n in (source, source + "__sf_restore"))
            for key in ("owner", "encoding", "collate", "ctype"):
                assert a[key] == b[key], key
            assert b["oid"] != a["oid"]
        # empty: made from template0, not from the live database
        assert pg.rows("SELECT count(*) FROM pg_class WHERE relname = 'users'",
                       "starface__sf_restore") == [("0",)]
    finally:
        pg.drop("latin")
        pg.drop("latin__sf_restore")


def test_create_like_fails_if_the_database_exists(pg, config):
    ok(config, "create-like", "starface", "starface__sf_restore")
    assert "already exists" in fails(config, "create-like", "starface", "starface__sf_restore")
    assert "does not exist" in fails(config, "create-like", "nothere", "other")


def test_rename_ends_sessions_and_keeps_the_oid(pg, config):
    oid = pg.oid("starface")
    procs = [session(pg, "starface"), session(pg, "starface", user="sfpg")]
    try:
        ok(config, "rename", "starface", "starface__sf_previous")
        assert not pg.exists("starface")
        assert pg.oid("starface__sf_previous") == oid
        for p in procs:
            p.wait(timeout=10)  # its backend was terminated
        assert pg.rows("SELECT count(*) FROM users", "starface__sf_previous") == [("3",)]
    finally:
        for p in procs:
            end(p)


def test_rename_wins_against_sessions_that_keep_coming(pg, config):
    """A client that reconnects at once (like a PBX's connection pool)."""
    entry = pwd.getpwnam("sfdb")
    script = (f"while true; do {PG_BIN}/psql -X -h {pg.socket_dir} -p {pg.port} -d starface "
              "-c 'SELECT pg_sleep(60)' >/dev/null 2>&1; done")
    proc = subprocess.Popen(["sh", "-c", script], user=entry.pw_uid, group=entry.pw_gid,
                            extra_groups=[], start_new_session=True,
                            env={"PATH": "/usr/bin:/bin"})
    try:
        wait_for(lambda: pg.sessions("starface") > 0, what="the pool's session")
        ok(config, "rename", "starface", "starface__sf_previous")
        assert pg.exists("starface__sf_previous") and not pg.exists("starface")
        # connections were refused only while it was renamed
        assert pg.value("SELECT datallowconn FROM pg_database WHERE datname = "
                        "'starface__sf_previous'") == "t"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_rename_fails_if_the_target_exists_or_the_source_does_not(pg, config):
    ok(config, "create-like", "starface", "starface__sf_previous")
    proc = session(pg, "starface")
    try:
        assert "already exists" in fails(config, "rename", "starface", "starface__sf_previous")
        assert pg.exists("starface")
        # nothing was done: the session goes on, connections are taken
        assert proc.poll() is None and pg.sessions("starface") == 1
        assert pg.value("SELECT datallowconn FROM pg_database WHERE datname = 'starface'") == "t"
    finally:
        end(proc)
    assert "does not exist" in fails(config, "rename", "nothere", "other")


def test_drop_checks_the_oid(pg, config):
    ok(config, "create-like", "starface", "starface__sf_previous")
    oid = pg.oid("starface__sf_previous")
    message = fails(config, "drop", "starface__sf_previous", str(oid + 1000))
    assert "not dropped" in message and "starface__sf_previous" in message
    assert pg.exists("starface__sf_previous")
    ok(config, "drop", "starface__sf_previous", str(oid))
    assert not pg.exists("starface__sf_previous")


def test_drop_ends_sessions_and_is_quiet_about_a_missing_database(pg, config):
    proc = session(pg, "starface")
    try:
        ok(config, "drop", "starface")
        proc.wait(timeout=10)
        assert not pg.exists("starface")
        ok(config, "drop", "starface")
        ok(config, "drop", "starface", "12345")
    finally:
        end(proc)


# --- dump and load ----------------------------------------------------------

def test_dump_size_and_sha256_are_those_of_the_bytes(pg, config, tmp_path):
    out, answer = dump_file(config, tmp_path)
    data = out.read_bytes()
    assert data[:5] == b"PGDMP"
    assert answer["size"] == len(data)
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()
    sha256sum = subprocess.run(["sha256sum", str(out)], capture_output=True, text=True)
    assert sha256sum.stdout.split()[0] == answer["sha256"]


def test_dump_into_a_pipe(pg, config):
    result = tool(config, "dump", "starface", "-")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stderr)
    assert answer["size"] == len(result.stdout)
    assert answer["sha256"] == hashlib.sha256(result.stdout).hexdigest()


def test_dump_runs_as_run_as(pg, config, tmp_path):
    """pg_dump's session belongs to sfpg, not to root (peer authentication
    would refuse root anyway) and not to the owner."""
    dump_file(config, tmp_path)
    # the server's log of connections is not on; what it holds is proof
    # enough: a dump as sfdb could not read a table sfdb may not read
    pg.sql("CREATE TABLE secret (x int); REVOKE ALL ON secret FROM PUBLIC; "
           "INSERT INTO secret VALUES (7)", "starface")
    out, _ = dump_file(config, tmp_path, name="with-secret.pgdump")
    assert b"secret" in out.read_bytes()


def test_dump_and_load_round_trip(pg, config, tmp_path):
    out, answer = dump_file(config, tmp_path)
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        ok(config, "load", "starface__sf_restore", "sfdb", stdin=f)
    for query in ("SELECT * FROM users ORDER BY id", "SELECT * FROM cdr ORDER BY id",
                  "SELECT * FROM long_calls", "SELECT user_count()"):
        assert pg.rows(query, "starface__sf_restore") == pg.rows(query, "starface"), query
    # loaded as the owner: everything belongs to sfdb
    owners = pg.rows("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN "
                     "pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public'",
                     "starface__sf_restore")
    assert owners == [("sfdb",)]
    # the serial goes on where it was
    pg.sql("INSERT INTO users (login) VALUES ('dora')", "starface__sf_restore", user="sfdb")
    assert pg.rows("SELECT id FROM users WHERE login = 'dora'", "starface__sf_restore") == \
        [("4",)]


@pytest.mark.parametrize("made", ["file", "pipe"])
def test_load_reads_dumps_made_to_a_file_and_to_a_pipe(pg, config, open_dir, made):
    """pg_restore reads the dump from a pipe: a dump made to a file has the
    offsets of its data, one made to a pipe has none; both load."""
    pg.sql("INSERT INTO cdr (caller, callee, seconds) SELECT i::text, 'x', i FROM "
           "generate_series(1, 20000) i", "starface", user="sfdb")
    pg.sql("CREATE TABLE zz_last (v text); INSERT INTO zz_last VALUES ('end')", "starface",
           user="sfdb")
    out = open_dir / "made.pgdump"
    args = [PG_BIN / "pg_dump", "-Fc", "-h", pg.socket_dir, "-p", str(pg.port), "-d", "starface"]
    entry = pwd.getpwnam("sfpg")
    as_sfpg = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    if made == "file":
        subprocess.run(args + ["-f", str(out)], check=True, **as_sfpg)
    else:
        with open(out, "wb") as f:
            subprocess.run(args, check=True, stdout=f, **as_sfpg)
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        ok(config, "load", "starface__sf_restore", "sfdb", stdin=f)
    assert pg.rows("SELECT count(*), sum(seconds) FROM cdr", "starface__sf_restore") == \
        pg.rows("SELECT count(*), sum(seconds) FROM cdr", "starface")
    assert pg.rows("SELECT v FROM zz_last", "starface__sf_restore") == [("end",)]


def test_load_never_as_a_superuser(pg, config, tmp_path):
    out, _ = dump_file(config, tmp_path)
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        message = fails(config, "load", "starface__sf_restore", "sfpg", stdin=f)
    assert "superuser" in message
    assert pg.rows("SELECT count(*) FROM pg_class WHERE relname = 'users'",
                   "starface__sf_restore") == [("0",)]


def test_load_refuses_a_role_that_does_not_exist_or_has_no_os_user(pg, config, tmp_path):
    out, _ = dump_file(config, tmp_path)
    ok(config, "create-like", "starface", "starface__sf_restore")
    assert "no role" in fails(config, "load", "starface__sf_restore", "nobodyrole", input=b"")
    pg.sql("CREATE ROLE sfnoos LOGIN")
    try:
        message = fails(config, "load", "starface__sf_restore", "sfnoos", input=b"")
        assert "no OS user sfnoos" in message
    finally:
        pg.sql("DROP ROLE sfnoos")


def superuser_dump(pg, config, tmp_path, sql):
    """A dump of a database of sfdb's into which the superuser put sql."""
    pg.create_sample("hostile")
    pg.sql(sql, "hostile")
    out, _ = dump_file(config, tmp_path, "hostile", "hostile.pgdump")
    pg.drop("hostile")
    return out


@pytest.mark.parametrize("sql", [
    "CREATE FUNCTION public.length_of(text) RETURNS integer LANGUAGE internal IMMUTABLE "
    "STRICT AS 'textlen'",
    "CREATE EXTENSION dblink",
], ids=["untrusted-language", "untrusted-extension"])
def test_load_of_a_dump_that_needs_a_superuser_fails(pg, config, tmp_path, sql):
    out = superuser_dump(pg, config, tmp_path, sql)
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        message = fails(config, "load", "starface__sf_restore", "sfdb", stdin=f)
    assert "pg_restore exited with status 1" in message
    assert "permission denied" in message
    assert pg.rows("SELECT count(*) FROM pg_proc WHERE proname IN ('length_of', 'dblink')",
                   "starface__sf_restore") == [("0",)]


def test_load_of_garbage_fails_with_what_pg_restore_said(pg, config):
    ok(config, "create-like", "starface", "starface__sf_restore")
    message = fails(config, "load", "starface__sf_restore", "sfdb", input=b"not a dump\n" * 10)
    assert "starface__sf_restore" in message and "pg_restore" in message
    assert "input file does not appear to be a valid archive" in message


def test_a_pg_restore_that_dies_is_an_error_not_a_signal(pg, config, tmp_path):
    """pg_restore gives up at the start of a large garbage stream: the writer
    sees EPIPE (SIGPIPE is ignored) and the load fails with its message."""
    ok(config, "create-like", "starface", "starface__sf_restore")
    result = tool(config, "load", "starface__sf_restore", "sfdb", input=b"x" * (8 << 20))
    assert result.returncode == 1, result
    assert b"pg_restore stopped reading" in result.stderr
    assert b"valid archive" in result.stderr


def test_dump_and_load_of_a_larger_database(pg, config, tmp_path):
    pg.sql("INSERT INTO cdr (caller, callee, seconds) SELECT i::text, repeat('y', 50), i "
           "FROM generate_series(1, 100000) i", "starface", user="sfdb")
    out, answer = dump_file(config, tmp_path)
    assert answer["size"] > 5 << 20
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        ok(config, "load", "starface__sf_restore", "sfdb", stdin=f)
    assert pg.rows("SELECT count(*), sum(seconds) FROM cdr", "starface__sf_restore") == \
        pg.rows("SELECT count(*), sum(seconds) FROM cdr", "starface")


# --- checking a dump --------------------------------------------------------

def test_check_of_a_plain_dump_finds_nothing(pg, config, tmp_path):
    out, _ = dump_file(config, tmp_path)
    with open(out, "rb") as f:
        answer = ok(config, "check", "starface", stdin=f)
    assert answer["problems"] == []


def test_check_of_a_large_dump_stops_reading_early(pg, config, tmp_path):
    """pg_restore --schema-only reads the table of contents only."""
    pg.sql("INSERT INTO cdr (caller, callee, seconds) SELECT i::text, repeat('z', 100), i "
           "FROM generate_series(1, 50000) i", "starface", user="sfdb")
    out, answer = dump_file(config, tmp_path)
    assert answer["size"] > 4 << 20
    with open(out, "rb") as f:
        answer = ok(config, "check", "starface", stdin=f)
    assert answer == {"problems": [], "reader_gone": True}


def test_check_of_garbage_is_an_error(pg, config):
    message = fails(config, "check", "starface", input=b"PGDMP garbage" * 1000)
    assert "cannot be read" in message


@pytest.mark.parametrize("sql,expected", [
    ("CREATE FUNCTION public.length_of(text) RETURNS integer LANGUAGE internal IMMUTABLE "
     "STRICT AS 'textlen'",
     ("database-dump-superuser", "LANGUAGE internal")),
    ("CREATE EXTENSION pg_trgm", ("database-extension-missing", "pg_trgm")),
    ("CREATE ROLE sfgone; GRANT SELECT ON users TO sfgone",
     ("database-role-missing", "sfgone")),
], ids=["untrusted-language", "extension-missing", "role-missing"])
def test_check_finds_what_the_load_would_need(pg, config, tmp_path, sql, expected):
    out = superuser_dump(pg, config, tmp_path, sql)
    pg.sql("DROP ROLE IF EXISTS sfgone")
    with open(out, "rb") as f:
        answer = ok(config, "check", "starface", stdin=f)
    code, detail = expected
    assert any(c == code and detail in d for c, d in problems(answer)), answer


def test_check_scan_asks_the_live_database(pg, config):
    pg.sql("CREATE EXTENSION pg_trgm; CREATE EXTENSION dblink", "starface")
    answer = ok(config, "check-scan", "starface",
                "role=sfdb", "role=PUBLIC".lower(), "role=current_user", "role=nobody",
                'role=we"ird\\name', "role=nobody",
                "extension=pg_trgm", "extension=dblink", "extension=postgis",
                "language=plpgsql", "language=sql", "language=c", "language=plpython3u",
                "superuser=ALTER SYSTEM SET x = 1")
    assert problems(answer) == sorted([
        ("database-dump-superuser", "ALTER SYSTEM SET x = 1"),
        ("database-dump-superuser", "CREATE EXTENSION dblink (not a trusted extension)"),
        ("database-dump-superuser", "functions in the language c (not trusted)"),
        ("database-dump-superuser", "functions in the language plpython3u (not trusted)"),
        ("database-extension-missing", "postgis"),
        ("database-role-missing", "nobody"),
        ("database-role-missing", 'we"ird\\name'),
    ])


def test_check_scan_of_roles_with_odd_names(pg, config):
    odd = 'Mixed Case "quoted" \\ ümlaut\tTab'
    pg.sql("CREATE ROLE \"" + odd.replace('"', '""') + "\"")
    try:
        answer = ok(config, "check-scan", "starface", f"role={odd}", "role=sfpg")
        assert answer["problems"] == []
    finally:
        pg.sql("DROP ROLE \"" + odd.replace('"', '""') + "\"")


# --- failures and cancellation ----------------------------------------------

def test_unreachable_server_is_a_clear_error(pg, tmp_path, open_dir):
    config = tmp_path / "unreachable.conf"
    text = pg.config().replace(f"Host={pg.socket_dir}", f"Host={open_dir}")
    config.write_text(f"[Paths]\nBackupDirectory={tmp_path}/b\nDataRoot={tmp_path}\n{text}")
    message = fails(config, "info", "starface")
    assert "cannot reach the PostgreSQL server" in message and str(open_dir) in message
    assert "No such file or directory" in message
    message = fails(config, "dump", "starface", str(tmp_path / "x.pgdump"))
    assert "starface" in message and "pg_dump exited with status 1" in message


def test_cancel_kills_pg_dump(pg, config, tmp_path):
    """A dump waiting for a lock is canceled: pg_dump is killed and reaped."""
    locker = Locker(pg, "starface", "LOCK TABLE users IN ACCESS EXCLUSIVE MODE", user="sfdb")
    try:
        start = time.monotonic()
        message = fails(config, "dump", "starface", str(tmp_path / "x.pgdump"),
                        extra=["--cancel-after=1"])
        assert "cancel" in message.lower()
        assert time.monotonic() - start < 10
        assert "pg_dump" not in children_of_tool(pg)
    finally:
        locker.end()


def test_run_as_that_does_not_exist(pg, config):
    text = Path(config).read_text().replace("RunAs=sfpg", "RunAs=sfnosuchuser")
    Path(config).write_text(text)
    result = tool(config, "info", "starface")
    # the configuration itself refuses it (a component has a database)
    assert result.returncode == 2 and b"RunAs" in result.stderr


def test_unprivileged_caller_runs_the_tools_as_itself(pg, open_dir):
    """Not root (the client's pack as an administrator): no user switch;
    peer authentication takes the caller's own name."""
    config = pg.write_config(open_dir / "backupd.conf")
    os.chmod(config, 0o644)
    out = open_dir / "as-sfpg.pgdump"
    info = ok(config, "info", "starface", user="sfpg")
    assert info["owner"] == "sfdb"
    answer = ok(config, "dump", "starface", str(out), user="sfpg")
    assert answer["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    # as sfdb, the helper connects as sfdb: not allowed to read the data
    # directory, and that is no error
    assert ok(config, "info", "starface", user="sfdb")["data_directory"] is None


def test_a_database_group_without_tools_directory_keeps_the_default(pg, tmp_path):
    """Keys left out of [Database] keep their defaults (a GLib critical
    here once: ToolsDirectory's absence was checked as a path)."""
    config = tmp_path / "partial.conf"
    text = pg.config().replace(f"ToolsDirectory={PG_BIN}\n", "")
    config.write_text(f"[Paths]\nBackupDirectory={tmp_path}/b\nDataRoot={tmp_path}\n{text}")
    result = subprocess.run([PGDB_TOOL, f"--config={config}", f"--helper={PG_HELPER}", "oid",
                             "starface"], capture_output=True, text=True,
                            env=dict(os.environ, G_DEBUG="fatal-criticals"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"oid": pg.oid("starface")}


def test_check_keeps_at_most_64_mib_of_schema(pg, config, tmp_path):
    """A dump whose schema script would be huge (here a 70 MB comment) is
    refused, and what was kept of it stayed bounded."""
    pg.create_sample("huge")
    pg.sql("DO $$ BEGIN EXECUTE format('COMMENT ON TABLE users IS %L', "
           "repeat('x', 70 * 1024 * 1024)); END $$", "huge")
    out, _ = dump_file(config, tmp_path, "huge", "huge.pgdump")
    pg.drop("huge")
    with open(out, "rb") as f:
        message = fails(config, "check", "starface", stdin=f)
    assert "schema is larger than 64 MiB" in message


def test_cancel_kills_the_helper(pg, config):
    """The helper waiting for the server (here for a lock on pg_database,
    which even connecting needs) is killed and reaped on cancellation."""
    locker = Locker(pg, "postgres", "LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
    try:
        start = time.monotonic()
        message = fails(config, "oid", "starface", extra=["--cancel-after=1"])
        assert "cancel" in message.lower()
        assert time.monotonic() - start < 10
        assert "starface-backup" not in children_of_tool(pg)
    finally:
        locker.end()


def test_load_as_load_as(pg, config, tmp_path):
    """[Database] LoadAs runs pg_restore as that OS user, still connecting
    as the owner role: without a pg_ident.conf map, peer authentication
    refuses it (which shows who ran it)."""
    from harness import ensure_user
    ensure_user("sfload")
    text = Path(config).read_text().replace("RunAs=sfpg\n", "RunAs=sfpg\nLoadAs=sfload\n")
    Path(config).write_text(text)
    out, _ = dump_file(config, tmp_path)
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        message = fails(config, "load", "starface__sf_restore", "sfdb", stdin=f)
    assert 'Peer authentication failed for user "sfdb"' in message


def test_load_by_an_unprivileged_caller(pg, open_dir):
    """Not root: pg_restore runs as the caller, connecting as the owner
    role (here the caller is the owner's OS user)."""
    config = pg.write_config(open_dir / "backupd.conf")
    os.chmod(config, 0o644)
    out = open_dir / "dump.pgdump"
    ok(config, "dump", "starface", str(out))
    os.chmod(out, 0o644)
    ok(config, "create-like", "starface", "starface__sf_restore")
    with open(out, "rb") as f:
        ok(config, "load", "starface__sf_restore", "sfdb", stdin=f, user="sfdb")
    assert pg.rows("SELECT count(*) FROM users", "starface__sf_restore") == [("3",)]


def test_service_takes_the_harness_database_configuration(pg, service_factory):
    """Service(database=...) writes a configuration the daemon accepts."""
    svc = service_factory(database=pg)
    text = svc.config.read_text()
    assert f"[Database]\nHost={pg.socket_dir}\nPort={pg.port}\nRunAs=sfpg\n" in text
    assert "[Component core]\nPath=core\nDatabase=starface\n" in text
    svc.start()
    svc.stop()
