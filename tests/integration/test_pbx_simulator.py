"""The PBX simulator the demo and the tests use (data/pbx-simulator).

Plain subprocesses, no bus: what it prints, what it records, how it fails.
"""

import datetime
import json
import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest

from harness import wait_for

SOURCE_ROOT = Path(os.environ.get("SOURCE_ROOT", Path(__file__).resolve().parents[2]))
SIMULATOR = str(SOURCE_ROOT / "data" / "pbx-simulator")


@pytest.fixture
def state(tmp_path):
    return tmp_path / "pbx.json"


def run(state, *args, check=True):
    """Runs the simulator as the daemon would: a clean environment."""
    result = subprocess.run(
        [SIMULATOR, "--state", str(state), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def status(state):
    return json.loads(run(state, "status").stdout)


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def test_missing_state_is_a_running_pbx_without_sessions(state):
    assert run(state, "sessions").stdout == "users=0\ncalls=0\n"
    assert status(state)["running"] is True
    assert not state.exists()  # reading never writes


def test_set_sessions_then_sessions(state):
    run(state, "set-sessions", "12", "3")
    assert run(state, "sessions").stdout == "users=12\ncalls=3\n"


def test_stop_ends_sessions_and_records_it(state):
    run(state, "set-sessions", "5", "2")
    out = run(state, "stop").stdout
    assert "ended 5 logins and 2 calls" in out
    assert run(state, "sessions").stdout == "users=0\ncalls=0\n"
    st = status(state)
    assert st["running"] is False
    stop = st["events"][-1]
    assert stop["event"] == "stop"
    assert stop["ended_users"] == 5 and stop["ended_calls"] == 2


def test_start_after_stop_and_downtime(state):
    run(state, "stop")
    time.sleep(0.2)
    run(state, "start")
    st = status(state)
    assert st["running"] is True
    events = [e for e in st["events"] if e["event"] in ("stop", "start")]
    assert [e["event"] for e in events] == ["stop", "start"]
    # ISO 8601 UTC with microseconds
    down = (parse_time(events[1]["time"]) - parse_time(events[0]["time"])).total_seconds()
    assert 0.2 <= down < 5
    assert st["last_downtime_seconds"] == pytest.approx(down)
    # sessions come back only when users log in again
    assert run(state, "sessions").stdout == "users=0\ncalls=0\n"


def test_timestamps_have_microseconds(state):
    run(state, "stop")
    stamp = status(state)["events"][-1]["time"]
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == len("123456Z")
    parse_time(stamp)


def test_nobody_logs_in_while_stopped(state):
    run(state, "stop")
    result = run(state, "set-sessions", "1", "1", check=False)
    assert result.returncode == 1
    assert "stopped" in result.stderr


@pytest.mark.parametrize("action", ["stop", "start"])
def test_fail_flag(state, action):
    run(state, "set-sessions", "4", "1")
    result = run(state, f"--fail-{action}", action, check=False)
    assert result.returncode == 1
    assert f"did not {action}" in result.stderr
    st = status(state)
    assert st["running"] is True and st["users"] == 4  # nothing changed
    assert st["events"][-1]["event"] == f"{action}-failed"


def test_fail_sessions_flag(state):
    result = run(state, "--fail-sessions", "sessions", check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "simulated failure" in result.stderr


def test_set_fail_persists_until_cleared(state):
    run(state, "set-fail", "stop", "sessions")
    assert run(state, "stop", check=False).returncode == 1
    assert run(state, "sessions", check=False).returncode == 1
    assert run(state, "start").returncode == 0
    run(state, "set-fail")
    assert run(state, "stop").returncode == 0
    assert run(state, "sessions").stdout == "users=0\ncalls=0\n"


def test_usage_errors(state):
    for args in (
        [],
        ["reboot"],
        ["set-sessions", "1"],
        ["set-sessions", "-1", "0"],
        ["set-sessions", "x", "0"],
        ["set-sessions", "1000000", "0"],
        ["set-fail", "reboot"],
    ):
        result = run(state, *args, check=False)
        assert result.returncode == 2, args


def test_corrupt_state_is_an_error(state):
    state.write_text("{not json")
    result = run(state, "sessions", check=False)
    assert result.returncode == 1
    assert "cannot read state file" in result.stderr


def test_writes_atomically(state):
    run(state, "set-sessions", "0", "0")
    before = state.stat().st_ino
    run(state, "set-sessions", "1", "1")
    # a new file renamed over the old one (written in place, it would keep
    # its inode), and no temporary left beside it
    assert state.stat().st_ino != before
    leftovers = [p.name for p in state.parent.iterdir() if p.name.startswith(".pbx-state-")]
    assert leftovers == []
    json.loads(state.read_text())


def test_concurrent_invocations_lose_nothing(state):
    procs = [
        subprocess.Popen(
            [SIMULATOR, "--state", str(state), "set-sessions", str(i), str(i)],
            stdout=subprocess.DEVNULL,
        )
        for i in range(20)
    ]
    assert all(p.wait(timeout=30) == 0 for p in procs)
    events = [e for e in status(state)["events"] if e["event"] == "set-sessions"]
    assert len(events) == 20


def test_delay(state):
    start = time.monotonic()
    run(state, "--delay", "0.5", "sessions")
    assert time.monotonic() - start >= 0.5


def test_runs_with_debian_python():
    with open(SIMULATOR) as f:
        assert f.readline() == "#!/usr/bin/python3\n"
    assert os.access(SIMULATOR, os.X_OK)
    # the version of the interpreter it names, not of the one running the tests
    subprocess.run(["/usr/bin/python3", "-c", "import sys; assert sys.version_info >= (3, 9)"],
                   check=True)


# --- the database session holder ---------------------------------------------

@pytest.fixture
def db_run(pg, state):
    """run() with the database options for the sample database."""
    options = ["--db-name", "starface", "--db-host", str(pg.socket_dir),
               "--db-port", str(pg.port), "--db-user", pg.owner,
               "--db-tools", "/usr/lib/postgresql/15/bin"]

    def db_run(*args, check=True):
        return run(state, *options, *args, check=check)

    yield db_run
    db_run("disconnect")


def holder(db_run):
    return json.loads(db_run("status").stdout)["db_holder"]


def test_start_leaves_a_session_on_the_database(pg, db_run):
    began = time.monotonic()
    # run() captures stdout and stderr: it returns only because the holder
    # keeps neither pipe open
    db_run("start")
    assert time.monotonic() - began < 10
    assert pg.sessions("starface") == 1
    st = holder(db_run)
    assert st["running"] is True and st["connected"] is True
    # in a session of its own: the daemon's command runner kills the
    # start command's process group, never the holder
    assert os.getsid(st["pid"]) == st["pid"]
    # run as the owner's OS user
    assert os.stat(f"/proc/{st['pid']}").st_uid == pwd.getpwnam(pg.owner).pw_uid


def test_stop_does_not_end_the_session(pg, db_run):
    db_run("start")
    db_run("stop")
    assert pg.sessions("starface") == 1
    assert holder(db_run)["connected"] is True


def test_the_holder_ends_when_its_session_is_terminated(pg, db_run):
    db_run("start")
    pid = holder(db_run)["pid"]
    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
           "WHERE application_name = 'pbx-simulator-holder'")
    wait_for(lambda: not holder(db_run)["running"], what="the holder to end")
    assert holder(db_run) == {"pid": pid, "running": False, "connected": False}
    assert pg.sessions("starface") == 0
    # the next start connects again
    db_run("start")
    assert holder(db_run)["connected"] is True


def test_a_second_start_keeps_the_one_holder(pg, db_run):
    db_run("start")
    pid = holder(db_run)["pid"]
    db_run("start")
    assert holder(db_run)["pid"] == pid and pg.sessions("starface") == 1


def test_disconnect_ends_the_holder(pg, db_run):
    db_run("start")
    db_run("disconnect")
    wait_for(lambda: pg.sessions("starface") == 0, what="the session to end")
    assert holder(db_run)["running"] is False


def test_without_a_database_there_is_no_holder(state):
    run(state, "start")
    assert "db_holder" not in status(state)


def test_an_unreachable_database_does_not_fail_start(pg, state, tmp_path):
    result = run(state, "--db-name", "starface", "--db-host", str(tmp_path), "start")
    assert "started" in result.stdout
    st = json.loads(run(state, "--db-name", "starface", "--db-host", str(tmp_path),
                        "status").stdout)
    assert st["db_holder"]["connected"] is False
