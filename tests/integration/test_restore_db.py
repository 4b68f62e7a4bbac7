"""A component's PostgreSQL database restored in the same transaction as its
files, against a real PostgreSQL 15 cluster (harness.PgCluster): staged
while the PBX runs, swapped by two renames in the stop, saved in the undo,
recovered after SIGKILL from the journal and the databases that exist."""

import hashlib
import io
import os
import subprocess
import tarfile
import time

import dbus
import pytest

from client_helpers import client_env
from harness import CLIENT, ERROR, PG_BIN, PG_DATABASE, job_property, wait_for, wait_job
from test_restore import (NEW_TREE, OLD_TREE, SIMULATOR, Pbx, details, job_list,  # noqa: F401
                          kill_at_stage, make_tree, preflight, restore, snapshot,
                          staging_leftovers, wait_recoveries)


def pbx_config(state, pg, stop_delay=0.0, start_delay=0.0):
    db = (f"--db-name={PG_DATABASE} --db-host={pg.socket_dir} --db-port={pg.port} "
          f"--db-user={pg.owner} --db-tools={PG_BIN}")
    return f"""[Pbx]
SessionsCommand={SIMULATOR} --state={state} sessions
StopCommand={SIMULATOR} --state={state} {db} --delay={stop_delay} stop
StartCommand={SIMULATOR} --state={state} {db} --delay={start_delay} start
CommandTimeout=60
[Limits]
FinishedJobLifetime=600
"""


def users(pg, database=PG_DATABASE):
    return [r[0] for r in pg.rows("SELECT login FROM users ORDER BY login", database)]


def pack_with_database(svc, tree, out, database=PG_DATABASE, component="core", extra=()):
    src = svc.root / f"src-{out.stem}"
    make_tree(src, tree)
    result = subprocess.run([CLIENT, "pack", str(src), str(out), "--version=8.1.2.3",
                             "--process=Nightly", "--created=2026-11-20T02:00:00Z",
                             f"--database={component}={database}", f"--config={svc.config}",
                             *extra], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def db_service(service_factory, workdir, pg):
    """make() -> (service, pbx): live files OLD_TREE, the live database the
    sample (anna, bernd, carla); New.sar holds NEW_TREE and the database
    with dora added; the PBX runs and holds a session on the database."""

    def make(stop_delay=0.0, start_delay=0.0, start=True, backup=True):
        state = workdir / f"pbx{len(list(workdir.glob('pbx*.json')))}.json"
        svc = service_factory(config_extra=pbx_config(state, pg, stop_delay, start_delay),
                              database=pg)
        make_tree(svc.data, OLD_TREE)
        pbx = Pbx(state)
        if backup:
            pg.sql("INSERT INTO users (login, name) VALUES ('dora', 'Dora Ek')", PG_DATABASE)
            # uncompressed, so the tests can read and rewrite it with tarfile
            pack_with_database(svc, NEW_TREE, svc.backups / "New.sar",
                               extra=["--compression=none"])
            pg.create_sample()
        pbx.run(f"--db-name={PG_DATABASE}", f"--db-host={pg.socket_dir}", f"--db-port={pg.port}",
                f"--db-user={pg.owner}", f"--db-tools={PG_BIN}", "start")
        wait_for(lambda: pg.sessions(PG_DATABASE) >= 1, what="the PBX's session")
        if start:
            svc.start()
        return svc, pbx

    return make


def run_restore(svc, name="New.sar", components=()):
    token = preflight(svc, name, components)["token"]
    assert token != ""
    job = restore(svc, name, components, token=token)
    return job, wait_job(svc, job, timeout=120)


# --- the writer ------------------------------------------------------------------


def test_pack_carries_the_dump_listed_and_described(db_service):
    svc, _ = db_service(start=False)
    with tarfile.open(svc.backups / "New.sar") as tar:
        names = tar.getnames()
        assert names[:3] == ["manifest.ini", "SHA256SUMS", "core.pgdump"]
        manifest = tar.extractfile("manifest.ini").read().decode()
        sums = tar.extractfile("SHA256SUMS").read().decode()
        dump = tar.extractfile("core.pgdump").read()
    assert "Database=starface" in manifest
    assert f"DatabaseBytes={len(dump)}" in manifest
    assert f"{hashlib.sha256(dump).hexdigest()}  core.pgdump" in sums
    assert dump.startswith(b"PGDMP")
    # Files and Bytes count the tree only
    info = {str(k): v for k, v in svc_inspect(svc, "New.sar").items()}
    files = {str(c): int(d["files"]) for c, d in info["components"]}
    assert files["core"] == len(NEW_TREE["core"])
    core = {str(k): v for k, v in dict(info["components"])["core"].items()}
    assert core["database"] == "starface" and core["database-bytes"] == len(dump)
    assert "database" not in dict(info["components"])["announcements"]
    shown = subprocess.run([CLIENT, "inspect", "New.sar"], capture_output=True, text=True,
                           env=client_env(svc.bus.address))
    assert shown.returncode == 0, shown.stderr
    assert "and the database starface (a dump of" in shown.stdout


def svc_inspect(svc, name):
    svc.start()
    return svc.manager().Inspect(name)


# --- restore and undo --------------------------------------------------------------


def test_restore_brings_back_the_backups_rows_and_the_undo_the_old_ones(db_service, pg):
    svc, pbx = db_service()
    old_oid = pg.oid(PG_DATABASE)
    job, result = run_restore(svc)
    assert result == "done", job_property(svc, job, "ErrorMessage")
    assert users(pg) == ["anna", "bernd", "carla", "dora"]
    # the PBX's own session was ended by the swap and it came back
    assert pbx.status()["running"] is True
    assert not pg.exists(PG_DATABASE + "__sf_restore")
    assert not pg.exists(PG_DATABASE + "__sf_previous")
    assert pg.oid(PG_DATABASE) != old_oid
    # owner, encoding and locale of the live database
    assert pg.value("SELECT pg_get_userbyid(datdba) || ' ' || datcollate FROM pg_database "
                    f"WHERE datname = '{PG_DATABASE}'") == f"{pg.owner} de_DE.UTF-8"
    assert pg.value("SELECT tableowner FROM pg_tables WHERE tablename = 'users'",
                    PG_DATABASE) == pg.owner
    assert svc.data.joinpath("core/users/alice.json").exists()
    # the undo holds the old database
    undo = str(details(svc, job)["pre-restore-backup"])
    pbx.run("set-sessions", "0", "0")
    job, result = run_restore(svc, undo)
    assert result == "done", job_property(svc, job, "ErrorMessage")
    assert users(pg) == ["anna", "bernd", "carla"]
    assert not svc.data.joinpath("core/users/alice.json").exists()
    assert staging_leftovers(svc) == []


def test_downtime_does_not_include_the_load(db_service, pg):
    svc, pbx = db_service()
    job, result = run_restore(svc)
    assert result == "done"
    # (the goal of 2 s is for a real PBX; the simulator's stop and start
    # take a few milliseconds, so nearly all of this is the swap)
    assert pbx.status()["last_downtime_seconds"] < 2.0


def test_files_only_restore_never_touches_the_database(db_service, pg):
    svc, _ = db_service()
    oid = pg.oid(PG_DATABASE)
    job, result = run_restore(svc, components=["cdr-voicemail"])
    assert result == "done"
    assert pg.oid(PG_DATABASE) == oid
    assert users(pg) == ["anna", "bernd", "carla"]
    assert not pg.exists(PG_DATABASE + "__sf_previous")


def test_backup_without_a_dump_leaves_the_database_and_says_so(db_service, pg, backup_maker):
    svc, _ = db_service()
    backup_maker(svc.backups, "FilesOnly.sar", tree=NEW_TREE)
    report = preflight(svc, "FilesOnly.sar")
    codes = [str(c[1]) for c in report["checks"]]
    assert "database-not-in-backup" in codes
    oid = pg.oid(PG_DATABASE)
    job, result = run_restore(svc, "FilesOnly.sar")
    assert result == "done"
    assert pg.oid(PG_DATABASE) == oid


def test_preflight_reports_the_database(db_service, pg):
    svc, _ = db_service()
    report = preflight(svc)
    checks = {str(c[1]): {str(k): v for k, v in c[2].items()} for c in report["checks"]}
    # the PBX's session is open now: the swap will end it
    assert checks["database-sessions"]["sessions"] >= 1
    assert checks["database-sessions"]["database"] == PG_DATABASE
    assert list(report["blockers"]) == []


def test_unreachable_server_blocks_before_anything(db_service, pg):
    svc, pbx = db_service()
    pg.stop()
    try:
        report = preflight(svc)
        assert [str(c[1]) for c in report["checks"] if c[0] == "blocker"] == [
            "database-unreachable"]
        assert report["token"] == ""
    finally:
        pg.restart()
    assert "stop" not in pbx.events()


# --- hostile and broken dumps --------------------------------------------------------


def hostile_backup(svc, pg, sql, name):
    """A backup whose dump was made from a database prepared by sql (run as
    the superuser)."""
    scratch = "hostile_src"
    pg.create_sample(scratch)
    pg.sql(sql, scratch)
    pack_with_database(svc, NEW_TREE, svc.backups / name, database=scratch)
    pg.drop(scratch)


@pytest.mark.parametrize("sql, code", [
    ("CREATE FUNCTION f() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;"
     "CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION f();",
     "database-dump-superuser"),
    ("CREATE EXTENSION pg_trgm;", "database-extension-missing"),
    ("CREATE ROLE ghost; GRANT SELECT ON users TO ghost;", "database-role-missing"),
])
def test_hostile_dump_is_refused_by_preflight(db_service, pg, sql, code):
    svc, pbx = db_service()
    hostile_backup(svc, pg, sql, "Hostile.sar")
    pg.sql("DROP ROLE IF EXISTS ghost")
    oid = pg.oid(PG_DATABASE)
    report = preflight(svc, "Hostile.sar")
    assert code in [str(c[1]) for c in report["checks"] if c[0] == "blocker"]
    assert report["token"] == ""
    assert "stop" not in pbx.events()
    assert pg.oid(PG_DATABASE) == oid
    assert not pg.exists(PG_DATABASE + "__sf_restore")


def test_restore_checks_the_dump_again_before_any_downtime(db_service, pg):
    """A role the dump needs is there at Preflight and gone at Restore:
    Restore refuses the dump by itself, before the PBX stops."""
    svc, pbx = db_service()
    hostile_backup(svc, pg, "CREATE ROLE ghost; GRANT SELECT ON users TO ghost;", "Ghost.sar")
    token = preflight(svc, "Ghost.sar")["token"]
    assert token != ""
    pg.sql("DROP OWNED BY ghost; DROP ROLE ghost", PG_DATABASE)
    oid = pg.oid(PG_DATABASE)
    job = restore(svc, "Ghost.sar", token=token)
    assert wait_job(svc, job, timeout=120) == "failed"
    assert "ghost" in str(job_property(svc, job, "ErrorMessage"))
    assert "stop" not in pbx.events()
    assert pg.oid(PG_DATABASE) == oid
    assert not pg.exists(PG_DATABASE + "__sf_restore")
    assert not (svc.backups / ".restore-journal").exists()


def corrupt_dump_backup(svc, source, out):
    """source's archive with its dump's data changed so that loading it
    fails half-way (a row with a column too many), its checksum and size
    made to match: the check passes, the load does not."""
    with tarfile.open(source) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    dump = dict((m.name, data) for m, data in members)["core.pgdump"]
    bad = dump.replace(b"Carla Diaz", b"Carla\tDiaz")
    assert bad != dump and len(bad) == len(dump)
    old_sum, new_sum = hashlib.sha256(dump).hexdigest(), hashlib.sha256(bad).hexdigest()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for m, data in members:
            if m.name == "core.pgdump":
                data = bad
            elif m.name == "SHA256SUMS":
                data = data.replace(old_sum.encode(), new_sum.encode())
            if data is not None:
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data))
            else:
                tar.addfile(m)
    return out


def test_a_dump_that_fails_to_load_leaves_live_untouched(db_service, pg):
    svc, pbx = db_service()
    corrupt_dump_backup(svc, svc.backups / "New.sar", svc.backups / "Broken.sar")
    before = snapshot(svc.data)
    oid = pg.oid(PG_DATABASE)
    job, result = run_restore(svc, "Broken.sar")
    assert result == "failed"
    assert "Carla" in str(job_property(svc, job, "ErrorMessage")) or \
        "extra data" in str(job_property(svc, job, "ErrorMessage"))
    assert pg.oid(PG_DATABASE) == oid
    assert users(pg) == ["anna", "bernd", "carla"]
    assert not pg.exists(PG_DATABASE + "__sf_restore")
    assert "stop" not in pbx.events()
    assert snapshot(svc.data) == before
    assert not (svc.backups / ".restore-journal").exists()


# --- crashes --------------------------------------------------------------------------


@pytest.mark.parametrize("stage, outcome", [
    ("stopping-pbx", "old"),
    ("starting-pbx", "new"),
    ("saving-previous", "new"),
])
def test_sigkill_then_restart_gives_exactly_old_or_new(db_service, pg, stage, outcome):
    delays = {"stopping-pbx": {"stop_delay": 3}, "starting-pbx": {"start_delay": 3},
              "saving-previous": {}}[stage]
    svc, pbx = db_service(**delays)
    old_oid = pg.oid(PG_DATABASE)
    if stage == "saving-previous":
        # a database that takes a while to dump
        pg.sql("INSERT INTO cdr (caller, callee, seconds) SELECT g::text, 'x', g "
               "FROM generate_series(1, 400000) g", PG_DATABASE)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    kill_at_stage(svc, job, stage)
    wait_for(lambda: not pbx.commands_running(), timeout=30, what="the orphaned PBX command")
    svc.start()
    wait_recoveries(svc)
    if outcome == "old":
        assert pg.oid(PG_DATABASE) == old_oid
        assert users(pg) == ["anna", "bernd", "carla"]
    else:
        assert users(pg) == ["anna", "bernd", "carla", "dora"]
        pre = [str(n) for n, _ in svc.manager().List() if str(n).startswith("pre-restore_")]
        assert len(pre) == 1
    assert not pg.exists(PG_DATABASE + "__sf_restore")
    assert not pg.exists(PG_DATABASE + "__sf_previous")
    assert pbx.status()["running"] is True
    assert not (svc.backups / ".restore-journal").exists()


def test_sigkill_while_loading_leaves_old_and_drops_the_staging(db_service, pg):
    svc, pbx = db_service(start=False, backup=False)
    # a dump that takes a few seconds to load
    pg.sql("INSERT INTO cdr (caller, callee, seconds) SELECT g::text, 'x', g "
           "FROM generate_series(1, 600000) g", PG_DATABASE)
    pack_with_database(svc, NEW_TREE, svc.backups / "New.sar")
    pg.create_sample()
    svc.start()
    old_oid = pg.oid(PG_DATABASE)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    wait_for(lambda: pg.exists(PG_DATABASE + "__sf_restore")
             and pg.sessions(PG_DATABASE + "__sf_restore") >= 1, timeout=60, what="loading")
    kill_at_stage(svc, job, "extracting")
    svc.start()
    wait_recoveries(svc)
    assert pg.oid(PG_DATABASE) == old_oid
    assert not pg.exists(PG_DATABASE + "__sf_restore")
    assert "stop" not in pbx.events()[-3:] or pbx.status()["running"] is True
    assert not (svc.backups / ".restore-journal").exists()


def test_crash_between_the_two_renames_rolls_back(db_service, pg):
    """The journal says swapping, the live database was renamed away and
    the staging one not yet in place: the restart puts the old one back."""
    svc, pbx = db_service(stop_delay=3)
    old_oid = pg.oid(PG_DATABASE)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    kill_at_stage(svc, job, "stopping-pbx")
    wait_for(lambda: not pbx.commands_running(), timeout=30, what="the orphaned PBX command")
    journal = svc.backups / ".restore-journal"
    text = journal.read_text()
    assert "Database=starface" in text and f"OldDatabaseOid={old_oid}" in text
    # what the crash would have left: the first rename done, state swapping
    pg.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
           f"'{PG_DATABASE}'")
    time.sleep(0.2)
    pg.sql(f"ALTER DATABASE {PG_DATABASE} RENAME TO {PG_DATABASE}__sf_previous")
    journal.write_text(text.replace("State=extracting", "State=swapping"))
    svc.start()
    wait_recoveries(svc)
    assert pg.oid(PG_DATABASE) == old_oid
    assert users(pg) == ["anna", "bernd", "carla"]
    assert not pg.exists(PG_DATABASE + "__sf_restore")
    assert not pg.exists(PG_DATABASE + "__sf_previous")
    assert pbx.status()["running"] is True


def test_a_set_aside_database_nobody_records_is_never_dropped(db_service, pg):
    svc, pbx = db_service()
    pg.sql(f"CREATE DATABASE {PG_DATABASE}__sf_previous")
    report = preflight(svc)
    assert "database-previous-exists" in [str(c[1]) for c in report["checks"]]
    assert pg.exists(PG_DATABASE + "__sf_previous")


# --- the format, as an upload sees it ----------------------------------------------


def rewritten(source, out, change):
    """source's (uncompressed) archive with change(name, data, manifest) -> (name, data)
    applied to each member (None drops it)."""
    with tarfile.open(source) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for m, data in members:
            result = change(m.name, data)
            if result is None:
                continue
            m.name, data = result
            if data is not None:
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data))
            else:
                tar.addfile(m)
    return out


def test_upload_takes_a_backup_with_a_dump(db_service):
    from test_upload import upload_bytes
    svc, _ = db_service()
    data = (svc.backups / "New.sar").read_bytes()
    result, error, message = upload_bytes(svc, "Uploaded.sar", data)
    assert result == "done", (error, message)


@pytest.mark.parametrize("what, change, says", [
    ("a dump larger than DatabaseBytes",
     lambda name, data: (name, data.replace(b"DatabaseBytes=", b"DatabaseBytes=1"))
     if name == "manifest.ini" else (name, data), "DatabaseBytes"),
    ("a dump not listed",
     lambda name, data: (name, b"".join(line + b"\n" for line in data.splitlines()
                                        if not line.endswith(b"core.pgdump")))
     if name == "SHA256SUMS" else (name, data), "core.pgdump"),
    ("a dump for a component without a database",
     lambda name, data: ("announcements.pgdump", data) if name == "core.pgdump"
     else (name, data), "pgdump"),
    ("a dump that is not the one listed",
     lambda name, data: (name, data[:-1] + bytes([data[-1] ^ 1])) if name == "core.pgdump"
     else (name, data), "SHA-256"),
])
def test_upload_refuses_a_dump_that_does_not_match_its_metadata(db_service, what, change, says):
    from test_upload import upload_bytes
    svc, _ = db_service()
    bad = rewritten(svc.backups / "New.sar", svc.root / "bad.sar", change)
    result, error, message = upload_bytes(svc, "Bad.sar", bad.read_bytes())
    assert result == "failed", what
    assert error == ERROR + "InvalidBackup", (what, message)
    assert says in message, (what, message)
