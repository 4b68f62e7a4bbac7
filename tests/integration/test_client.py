"""The starface-backup client against the real daemon on a private bus:
every command for people and with --json, the exit status of each error
class, the confirmation in a real pseudo-terminal, progress when not on a
terminal, Ctrl-C, and the service going away."""

import json
import os
import re
import signal
import subprocess
import time

import dbus
import pytest

from client_helpers import (BUSY, CANCELED, INVALID, NEEDS_CONFIRMATION, NO_SPACE, NOT_AUTHORIZED,
                            NOT_FOUND, OK, PROGRESS_LINE, UNAVAILABLE, USAGE, Terminal,
                            as_user_on_bus, client_env, pbx, pbx_config, run_client)
from harness import (CLIENT, SOURCE_ROOT, Polkit, ensure_user, job_property, make_tree, wait_for,
                     wait_job)

LIVE = {
    "core": {"db/asterisk.sql": "live\n", "network.conf": "ip=198.51.100.7\n"},
    "cdr-voicemail": {"cdr/2026-10.csv": "old,call\n"},
    "announcements": {"de/welcome.txt": "Alte Ansage\n"},
}
NEW = {
    "core": {"db/asterisk.sql": "from backup\n", "network.conf": "ip=192.0.2.10\n",
             "users/alice.json": '{"ext": 101}\n'},
    "cdr-voicemail": {"cdr/2026-11.csv": "new,call\n", "voicemail/100/msg.wav": "RIFF" * 500},
    "announcements": {"de/welcome.txt": "Neue Ansage\n"},
}
NEW_NAME = "Nightly_2026-11-20_02-00-00.sar"


class Cli:
    """A service with the PBX simulator (3 users, 2 calls) and the client
    pointed at its bus."""

    def __init__(self, svc, state):
        self.svc = svc
        self.state = state

    @property
    def address(self):
        return self.svc.bus.address

    def run(self, *args, **kwargs):
        return run_client(self.address, *args, **kwargs)

    def json(self, *args, **kwargs):
        result = self.run("--json", *args, **kwargs)
        assert result.returncode == OK, result.stderr
        return json.loads(result.stdout)

    def terminal(self, *args):
        return Terminal(args, client_env(self.address))

    def popen(self, *args):
        return subprocess.Popen([CLIENT, *args], env=client_env(self.address),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def pbx_events(self):
        return [e["event"] for e in json.loads(pbx(self.state, "status"))["events"]]

    def preflight_token(self, name):
        report = self.svc.manager().Preflight(name, dbus.Array([], signature="s"),
                                              dbus.Dictionary({}, signature="sv"))
        return str(report["token"])

    def start_restore(self, name):
        """A restore started over D-Bus by the test itself."""
        return str(self.svc.manager().Restore(
            name, dbus.Array([], signature="s"),
            dbus.Dictionary({"token": self.preflight_token(name)}, signature="sv")))


@pytest.fixture
def cli_factory(service_factory, workdir, backup_maker):
    def make(stop_delay=0.0, start_delay=0.0, extra="", start=True):
        state = workdir / f"pbx{len(list(workdir.glob('pbx*.json')))}.json"
        svc = service_factory(config_extra=pbx_config(state, stop_delay, start_delay, extra))
        make_tree(svc.data, LIVE)
        pbx(state, "set-sessions", "3", "2")
        backup_maker(svc.backups, NEW_NAME, tree=NEW)
        if start:
            svc.start()
        return Cli(svc, state)

    return make


@pytest.fixture
def cli(cli_factory):
    return cli_factory()


def add_listing_backups(cli, backup_maker):
    backup_maker(cli.svc.backups, "Older_2026-11-19_02-00-00.sar", process="Older",
                 created="2026-11-19T02:00:00Z")
    backup_maker(cli.svc.backups, "Future.sar", version="9.0.0.0", process="Future",
                 created="2026-11-21T02:00:00Z")
    (cli.svc.backups / "Broken.sar").write_bytes(b"not a backup")
    os.utime(cli.svc.backups / "Broken.sar", (1700000000, 1700000000))


def progress_lines(text):
    return [line for line in text.splitlines() if PROGRESS_LINE.match(line)]


# --- general --------------------------------------------------------------------


def test_help_names_every_command_and_unknown_ones_are_usage_errors():
    result = subprocess.run([CLIENT, "--help"], capture_output=True, text=True)
    assert result.returncode == OK
    for command in ("list", "inspect", "preflight", "restore", "upload", "cancel", "monitor",
                    "pack"):
        assert f"  {command} " in result.stdout
    result = subprocess.run([CLIENT, "frobnicate"], capture_output=True, text=True)
    assert result.returncode == USAGE and "unknown command" in result.stderr
    result = subprocess.run([CLIENT, "list", "--frobnicate"], capture_output=True, text=True)
    assert result.returncode == USAGE
    result = subprocess.run([CLIENT, "restore", "--help"], capture_output=True, text=True)
    assert result.returncode == OK and "--yes" in result.stdout and "--json" in result.stdout


def test_no_service_on_the_bus_is_unavailable(bus):
    for args in (["list"], ["--json", "inspect", "x.sar"], ["restore", "--yes"], ["monitor"],
                 ["cancel", "1"]):
        result = run_client(bus.address, *args)
        assert result.returncode == UNAVAILABLE, (args, result.stderr)
        assert "de.starface.Backup" in result.stderr or "service" in result.stderr.lower()


def test_no_bus_at_all_is_unavailable(workdir):
    result = run_client(f"unix:path={workdir}/no-such-socket", "list")
    assert result.returncode == UNAVAILABLE
    assert "system bus" in result.stderr


def test_session_option_uses_the_session_bus_address(cli, workdir):
    env = client_env(f"unix:path={workdir}/no-such-socket",
                     DBUS_SESSION_BUS_ADDRESS=cli.address)
    result = run_client(cli.address, "--session", "list", env=env)
    assert result.returncode == OK, result.stderr
    assert NEW_NAME in result.stdout
    result = run_client(cli.address, "list", "--session", "--system", env=env)
    assert result.returncode == UNAVAILABLE


# --- list --------------------------------------------------------------------------


def test_list_shows_newest_first_marks_latest_and_explains_invalid(cli, backup_maker):
    add_listing_backups(cli, backup_maker)
    result = cli.run("list")
    assert result.returncode == OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROCESS", "CREATED", "VERSION", "SIZE", "COMPATIBLE"]
    rows = [line for line in lines[1:] if line.startswith(("* ", "  ")) and ".sar" in line]
    names = [row[2:].split()[0] for row in rows]
    assert names == ["Future.sar", NEW_NAME, "Older_2026-11-19_02-00-00.sar", "Broken.sar"]
    marked = [row[2:].split()[0] for row in rows if row.startswith("* ")]
    assert marked == [NEW_NAME]
    future = rows[0].split()
    assert future[1:5] == ["Future", "2026-11-21", "02:00:00", "9.0.0.0"] and future[-1] == "no"
    assert rows[1].split()[-1] == "yes"
    assert rows[3].split()[-1] == "invalid"
    broken_at = lines.index(next(line for line in lines if "Broken.sar" in line))
    assert lines[broken_at + 1].strip().startswith("problem: ")


def test_list_json_has_every_key(cli, backup_maker):
    add_listing_backups(cli, backup_maker)
    entries = cli.json("list")
    assert [e["name"] for e in entries] == ["Future.sar", NEW_NAME,
                                            "Older_2026-11-19_02-00-00.sar", "Broken.sar"]
    new = entries[1]
    assert new["latest"] is True and new["valid"] is True and new["compatible"] is True
    assert new["process"] == "Nightly" and new["version"] == "8.1.2.3"
    assert new["created"] == 1795140000
    assert new["size"] == (cli.svc.backups / NEW_NAME).stat().st_size
    assert isinstance(new["hostname"], str) and "problem" not in new
    assert entries[0]["compatible"] is False and entries[0]["latest"] is False
    assert entries[3]["valid"] is False and entries[3]["problem"]
    assert sum(e["latest"] for e in entries) == 1


def test_empty_list(service):
    result = run_client(service.bus.address, "list")
    assert result.returncode == OK and result.stdout.strip() == "No backups."
    result = run_client(service.bus.address, "list", "--json")
    assert json.loads(result.stdout) == []


# --- inspect -------------------------------------------------------------------


def test_inspect_shows_version_host_time_and_components(cli, backup_maker):
    backup_maker(cli.svc.backups, "Elsewhere.sar",
                 extra=["--hostname=pbx-hamburg", "--ip-address=203.0.113.99"])
    result = cli.run("inspect", "Elsewhere.sar")
    assert result.returncode == OK, result.stderr
    out = result.stdout
    assert re.search(r"^Version: +8\.1\.2\.3 \(installed: 8\.1\.2\.3; can be restored", out, re.M)
    assert re.search(r"^Host: +pbx-hamburg \(203\.0\.113\.99\)$", out, re.M)
    assert re.search(r"^Created: +2026-11-20 02:00:00$", out, re.M)
    assert re.search(r"^ +core +Core data +2 files", out, re.M)
    assert re.search(r"^ +announcements +Voicemail announcements +1 file ", out, re.M)


def test_inspect_json(cli):
    info = cli.json("inspect", NEW_NAME)
    assert info["name"] == NEW_NAME and info["version"] == "8.1.2.3"
    assert info["installed-version"] == "8.1.2.3" and info["compatible"] is True
    assert info["process"] == "Nightly" and info["created"] == 1795140000
    core = next(c for c in info["components"] if c["id"] == "core")
    assert core == {"id": "core", "label": "Core data", "files": 3,
                    "bytes": sum(len(v) for v in NEW["core"].values())}
    assert [c["id"] for c in info["components"]] == ["core", "cdr-voicemail", "announcements"]


def test_inspect_errors_have_their_classes(cli):
    result = cli.run("inspect", "Missing.sar")
    assert result.returncode == NOT_FOUND and "Missing.sar" in result.stderr
    result = cli.run("--json", "inspect", "Müll.sar")
    assert result.returncode == INVALID and result.stdout == ""
    (cli.svc.backups / "Broken.sar").write_bytes(b"not a backup")
    assert cli.run("inspect", "Broken.sar").returncode == INVALID
    assert cli.run("inspect").returncode == USAGE


# --- preflight -------------------------------------------------------------------


def test_preflight_shows_what_a_restore_would_do(cli):
    result = cli.run("preflight", NEW_NAME, "-c", "core,announcements")
    assert result.returncode == OK, result.stderr
    out = result.stdout
    assert re.search(r"^Version check: +backup 8\.1\.2\.3, installed 8\.1\.2\.3: compatible$",
                     out, re.M)
    assert re.search(r"^Components: +core, announcements$", out, re.M)
    assert re.search(r"^Disk space: +\d.* needed, .* available$", out, re.M)
    assert re.search(r"^Logged-in users: +3$", out, re.M)
    assert re.search(r"^Active calls: +2$", out, re.M)
    assert "can start" in out
    assert "stop" not in cli.pbx_events()


def test_preflight_json_and_unknown_sessions(cli):
    report = cli.json("preflight", NEW_NAME)
    assert report["backup"] == NEW_NAME and report["compatible"] is True
    assert report["logged-in-users"] == 3 and report["active-calls"] == 2
    assert report["sessions-known"] is True
    assert report["components"] == ["core", "cdr-voicemail", "announcements"]
    assert report["bytes-available"] > report["bytes-required"] > 0
    assert report["blockers"] == [] and isinstance(report["warnings"], list)
    assert len(report["token"]) == 32
    pbx(cli.state, "set-fail", "sessions")
    result = cli.run("preflight", NEW_NAME)
    assert re.search(r"^Logged-in users: +unknown$", result.stdout, re.M)
    assert re.search(r"^Active calls: +unknown$", result.stdout, re.M)
    assert "Warnings:\n  - The number of logged-in users" in result.stdout
    report = cli.json("preflight", NEW_NAME)
    assert report["sessions-known"] is False


def test_preflight_shows_blockers_and_warnings(cli, backup_maker):
    backup_maker(cli.svc.backups, "Future.sar", version="9.0.0.0",
                 extra=["--hostname=pbx-hamburg"])
    result = cli.run("preflight", "Future.sar")
    assert result.returncode == OK
    assert "NOT compatible" in result.stdout
    assert re.search(r"^Blockers:\n  - .*9\.0\.0\.0.*8\.1\.2\.3", result.stdout, re.M)
    assert re.search(r"^Warnings:\n  - .*pbx-hamburg", result.stdout, re.M)
    assert "cannot start" in result.stdout


def test_preflight_errors_have_their_classes(cli):
    assert cli.run("preflight", NEW_NAME, "-c", "faxes").returncode == NOT_FOUND
    assert cli.run("preflight", "Missing.sar").returncode == NOT_FOUND
    assert cli.run("preflight", "../x.sar").returncode == INVALID
    assert cli.run("preflight", NEW_NAME, "-c", "core,,cdr-voicemail").returncode == USAGE
    assert cli.run("preflight", NEW_NAME, "-c", "core", "-c", "core").returncode == USAGE


# --- restore -----------------------------------------------------------------------


def test_restore_confirmed_in_a_terminal_draws_a_bar_and_names_the_undo(cli):
    term = cli.terminal("restore")
    term.expect(f"Restore {NEW_NAME} now? [y/N] ")
    out = term.output
    assert f"The newest backup that can be restored here is {NEW_NAME}" in out
    assert "3 logged-in users and 2 active calls will be ended" in out
    assert "stop" not in cli.pbx_events()
    term.send("y\n")
    status = term.wait()
    assert status == OK, term.output
    assert re.search(r"\r\[[#-]{30}\] +\d+% extracting", term.output)
    assert "\r[" + "#" * 30 + "] 100%" in term.output
    pre = re.search(r"saved as (pre-restore_\S+\.sar);", term.output).group(1)
    assert f"starface-backup restore {pre}" in term.output
    assert re.search(r"The PBX was down for \d", term.output)
    assert (cli.svc.data / "core" / "users" / "alice.json").exists()
    assert (cli.svc.backups / pre).exists()
    assert cli.pbx_events()[-2:] == ["stop", "start"]


def test_restore_declined_in_a_terminal_changes_nothing(cli):
    before = (cli.svc.data / "core" / "db" / "asterisk.sql").read_text()
    term = cli.terminal("restore", NEW_NAME, "-c", "core")
    term.expect(f"Restore {NEW_NAME} now? [y/N] ")
    term.send("n\n")
    assert term.wait() == CANCELED
    assert "nothing was changed" in term.output
    assert (cli.svc.data / "core" / "db" / "asterisk.sql").read_text() == before
    assert "stop" not in cli.pbx_events()
    props = dbus.Interface(cli.svc.proxy(), "org.freedesktop.DBus.Properties")
    assert list(props.Get("de.starface.Backup", "Jobs")) == []


def test_restore_without_terminal_or_yes_refuses(cli):
    result = cli.run("restore", NEW_NAME)
    assert result.returncode == NEEDS_CONFIRMATION
    assert "--yes" in result.stderr and "not a terminal" in result.stderr
    assert "3 logged-in users and 2 active calls will be ended" in result.stdout
    result = cli.run("--json", "restore", NEW_NAME)
    assert result.returncode == NEEDS_CONFIRMATION and result.stdout == ""
    assert "stop" not in cli.pbx_events()


def test_restore_with_yes_prints_plain_progress_lines(cli):
    result = cli.run("restore", "--yes", "-c", "core")
    assert result.returncode == OK, result.stderr
    lines = progress_lines(result.stdout)
    assert "\r" not in result.stdout and "\033[" not in result.stdout
    stages = [PROGRESS_LINE.match(line).group(2) for line in lines]
    for stage in ("extracting", "stopping-pbx", "activating", "starting-pbx", "saving-previous"):
        assert stage in stages
    percents = [int(PROGRESS_LINE.match(line).group(1)) for line in lines]
    assert percents == sorted(percents) and percents[-1] == 100
    assert re.search(r"^Restored Nightly_2026-11-20_02-00-00\.sar\.$", result.stdout, re.M)
    assert re.search(r"saved as pre-restore_\S+\.sar", result.stdout)


def test_restore_json_reports_job_details_and_the_undo(cli):
    result = cli.run("--json", "restore", "--yes", "--ignore-ip")
    assert result.returncode == OK, result.stderr
    final = json.loads(result.stdout)
    assert final["operation"] == "restore" and final["backup"] == NEW_NAME
    assert final["result"] == "done" and final["error"] == "" and final["message"] == ""
    assert final["job"].startswith("/de/starface/Backup/job/")
    assert final["components"] == ["core", "cdr-voicemail", "announcements"]
    details = final["details"]
    assert details["pbx-started-at"] >= details["pbx-stopped-at"] > 0
    assert 0 <= details["pbx-downtime-ms"] < 60000
    assert final["preflight"]["logged-in-users"] == 3
    # progress went to stderr, the undo is a listed backup
    assert progress_lines(result.stderr)
    listing = {e["name"]: e for e in cli.json("list")}
    assert listing[details["pre-restore-backup"]]["process"] == "pre-restore"
    # ignore-ip kept this machine's network settings
    assert (cli.svc.data / "core" / "network.conf").read_text() == "ip=198.51.100.7\n"


def test_restore_json_after_the_command_prints_only_json_on_stdout(cli):
    result = cli.run("restore", NEW_NAME, "-c", "core", "--yes", "--json")
    assert result.returncode == OK, result.stderr
    final = json.loads(result.stdout)
    assert final["result"] == "done" and final["components"] == ["core"]
    # the progress went to stderr, as with --json in front
    assert progress_lines(result.stderr) and not progress_lines(result.stdout)


def test_restore_json_with_yes_silences_the_report(cli):
    """--json --yes: no report and no commentary on stderr, only the job
    line and progress; wherever --json and --yes stand."""
    for args in (["--json", "restore", "--yes", "-c", "core"],
                 ["restore", "-c", "core", "--yes", "--json"]):
        result = cli.run(*args)
        assert result.returncode == OK, result.stderr
        assert json.loads(result.stdout)["result"] == "done"
        for text in ("Backup:", "Version check:", "Logged-in users:", "will be ended",
                     "Restored ", "saved as", "newest backup"):
            assert text not in result.stderr, (args, result.stderr)
        assert progress_lines(result.stderr)
    # without --yes (on a terminal) the report is what the question is about
    result = cli.run("--json", "restore", NEW_NAME)
    assert result.returncode == NEEDS_CONFIRMATION
    assert "Logged-in users:" in result.stderr


def test_restore_of_a_newer_version_is_blocked(cli, backup_maker):
    backup_maker(cli.svc.backups, "Future.sar", version="9.0.0.0")
    result = cli.run("restore", "Future.sar", "--yes")
    assert result.returncode == INVALID
    assert "cannot be restored" in result.stderr and "9.0.0.0" in result.stderr
    assert "stop" not in cli.pbx_events()


def test_restore_without_a_restorable_backup_is_not_found(cli, backup_maker):
    (cli.svc.backups / NEW_NAME).unlink()
    backup_maker(cli.svc.backups, "Future.sar", version="9.0.0.0")
    result = cli.run("restore", "--yes")
    assert result.returncode == NOT_FOUND and "no backup" in result.stderr.lower()


def test_restore_while_another_runs_is_busy(cli_factory, backup_maker):
    cli = cli_factory(stop_delay=3)
    backup_maker(cli.svc.backups, "Other.sar", tree=NEW)
    job = cli.start_restore(NEW_NAME)
    result = cli.run("restore", "Other.sar", "--yes")
    assert result.returncode == BUSY, result.stderr
    assert wait_job(cli.svc, job) == "done"


def test_restore_that_fails_reports_the_error_class(cli):
    pbx(cli.state, "set-fail", "stop")
    result = cli.run("--json", "restore", "--yes")
    final = json.loads(result.stdout)
    assert final["result"] == "failed" and final["error"].startswith("de.starface.Backup.Error.")
    assert result.returncode not in (OK, CANCELED, UNAVAILABLE)
    assert "failed" in result.stderr


# --- Ctrl-C and cancel ------------------------------------------------------------


def wait_for_line(stream, pattern, timeout=60):
    """Reads a child's output line by line until pattern matches."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"{pattern!r} not seen in:\n{''.join(seen)}")


def test_interrupt_without_terminal_cancels_the_job(cli_factory):
    cli = cli_factory(stop_delay=3)
    before = (cli.svc.data / "core" / "db" / "asterisk.sql").read_text()
    proc = cli.popen("restore", "--yes")
    wait_for_line(proc.stdout, r"^\d+ stopping-pbx")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == CANCELED, err
    assert "canceling" in err and "was canceled" in err
    assert (cli.svc.data / "core" / "db" / "asterisk.sql").read_text() == before


def test_interrupt_in_a_terminal_asks_before_canceling(cli_factory):
    cli = cli_factory(stop_delay=4)
    term = cli.terminal("restore", "--yes")
    term.expect("stopping-pbx")
    term.interrupt()
    term.expect("Cancel the restore of " + NEW_NAME)
    term.send("n\n")
    term.expect("goes on")
    term.interrupt()
    term.expect("[y/N]", timeout=10)
    # answered before the swap: the restore is canceled
    term.send("y\n")
    assert term.wait() == CANCELED, term.output
    assert "canceling" in term.output


def test_cancel_command_by_number_and_path(cli_factory):
    cli = cli_factory(stop_delay=3)
    job = cli.start_restore(NEW_NAME)
    wait_for(lambda: job_property(cli.svc, job, "Stage") == "stopping-pbx", what="stopping-pbx")
    number = job.rsplit("/", 1)[1]
    result = cli.run("cancel", number)
    assert result.returncode == OK, result.stderr
    assert f"Job {number}" in result.stdout
    assert wait_job(cli.svc, job) == "canceled"
    assert cli.run("cancel", "/de/starface/Backup/job/999").returncode == NOT_FOUND
    assert cli.run("cancel", "0123456789abcdef").returncode == NOT_FOUND
    assert cli.run("cancel", "job-one").returncode == USAGE
    assert cli.run("cancel", "/de/starface/Backup/job/").returncode == USAGE
    # a job that has ended cannot be canceled
    assert cli.run("cancel", job).returncode not in (OK, USAGE)


# --- the service going away -------------------------------------------------------


def test_daemon_killed_mid_job_is_reported_not_waited_for(cli_factory):
    cli = cli_factory(stop_delay=3)
    proc = cli.popen("restore", "--yes")
    wait_for_line(proc.stdout, r"^\d+ stopping-pbx")
    started = time.monotonic()
    cli.svc.process.send_signal(signal.SIGKILL)
    cli.svc.process.wait()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == UNAVAILABLE, err
    assert "went away" in err
    assert time.monotonic() - started < 10
    time.sleep(3.5)  # let the orphaned PBX command end before the teardown


# --- upload --------------------------------------------------------------------------


def test_upload_from_a_file_with_default_and_given_names(cli, workdir, backup_maker):
    source = backup_maker(workdir, "Uploaded_2026-11-25_10-00-00.sar")
    result = cli.run("upload", str(source))
    assert result.returncode == OK, result.stderr
    assert "Uploaded Uploaded_2026-11-25_10-00-00.sar." in result.stdout
    assert progress_lines(result.stdout)[-1].startswith("100 ")
    assert (cli.svc.backups / source.name).read_bytes() == source.read_bytes()
    final = cli.json("upload", str(source), "--name", "Copy.sar")
    assert final["result"] == "done" and final["operation"] == "upload"
    assert final["backup"] == "Copy.sar" and final["error"] == ""
    assert (cli.svc.backups / "Copy.sar").read_bytes() == source.read_bytes()


def test_upload_from_stdin(cli, workdir, backup_maker):
    source = backup_maker(workdir, "source.sar")
    with open(source, "rb") as f:
        result = cli.run("upload", "-", "--name", "FromFile.sar", stdin=f)
    assert result.returncode == OK, result.stderr
    # a pipe this time
    cat = subprocess.Popen(["cat", str(source)], stdout=subprocess.PIPE)
    result = cli.run("--json", "upload", "-", "--name", "FromPipe.sar", stdin=cat.stdout)
    cat.wait()
    assert result.returncode == OK, result.stderr
    assert json.loads(result.stdout)["result"] == "done"
    for name in ("FromFile.sar", "FromPipe.sar"):
        assert (cli.svc.backups / name).read_bytes() == source.read_bytes()
    assert cli.run("upload", "-").returncode == USAGE


def test_upload_errors_have_their_classes(cli_factory, workdir, backup_maker):
    cli = cli_factory(extra="[Limits]\nMaxBackupSize=4096\n")
    source = backup_maker(workdir, "source.sar")
    assert cli.run("upload", str(source), "--name", "Müll.sar").returncode == INVALID
    assert cli.run("upload", str(source), "--name", NEW_NAME).returncode == BUSY
    assert cli.run("upload", str(source), "--name", NEW_NAME, "--replace").returncode == OK
    assert cli.run("upload", str(workdir / "missing.sar")).returncode == NOT_FOUND
    garbage = workdir / "Garbage.sar"
    garbage.write_bytes(b"x" * 1000)
    result = cli.run("--json", "upload", str(garbage))
    assert result.returncode == INVALID
    assert json.loads(result.stdout)["error"] == "de.starface.Backup.Error.InvalidBackup"
    big = workdir / "Big.sar"
    big.write_bytes(os.urandom(64 * 1024))
    assert cli.run("upload", str(big)).returncode == NO_SPACE


# --- monitor --------------------------------------------------------------------------


def read_json_events(proc, until, timeout=60):
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        events.append(json.loads(line))
        if until(events[-1]):
            return events
    raise AssertionError(f"monitor printed: {events}")


def test_monitor_json_follows_running_and_new_jobs(cli_factory, workdir, backup_maker):
    cli = cli_factory(stop_delay=1)
    job = cli.start_restore(NEW_NAME)
    monitor = cli.popen("--json", "monitor")
    try:
        # a job running when the monitor starts is announced first
        first = read_json_events(monitor, lambda e: True)[0]
        assert first["event"] == "job" and first["job"] == job
        assert first["operation"] == "restore" and first["backup"] == NEW_NAME
        events = read_json_events(monitor, lambda e: e["event"] == "finished")
        assert events[-1] == {**events[-1], "job": job, "result": "done", "error": ""}
        assert {e["stage"] for e in events if e["event"] == "progress"} >= {"starting-pbx"}
        # a job started later: announced, its progress, its end
        source = backup_maker(workdir, "Later.sar")
        assert cli.run("upload", str(source)).returncode == OK
        events = read_json_events(monitor, lambda e: e["event"] == "finished")
        upload = next(e for e in events if e["event"] == "job")
        assert upload["operation"] == "upload" and upload["backup"] == "Later.sar"
        assert any(e["event"] == "progress" and e["job"] == upload["job"] for e in events)
        assert events[-1]["job"] == upload["job"] and events[-1]["result"] == "done"
        assert all("time" in e for e in events)
    finally:
        monitor.send_signal(signal.SIGINT)
        monitor.wait(timeout=10)
    assert monitor.returncode == OK


def test_monitor_lines_and_service_restart(cli_factory):
    cli = cli_factory(stop_delay=1)
    job = cli.start_restore(NEW_NAME)
    number = job.rsplit("/", 1)[1]
    monitor = cli.popen("monitor")
    try:
        wait_for_line(monitor.stdout, rf"job {number}: restore of {re.escape(NEW_NAME)}")
        wait_for_line(monitor.stdout, rf"job {number} \(restore of .*\): done")
        cli.svc.stop()
        wait_for_line(monitor.stdout, r"the backup service stopped")
        cli.svc.start()
        wait_for_line(monitor.stdout, r"the backup service started")
    finally:
        monitor.send_signal(signal.SIGINT)
        monitor.wait(timeout=10)
    assert monitor.returncode == OK


# --- authorization ---------------------------------------------------------------------

DENY_RULES = """
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("de.starface.backup.") == 0 && subject.user == "sfdeny")
        return polkit.Result.NO;
    return polkit.Result.NOT_HANDLED;
});
"""


@pytest.fixture
def polkit_cli(cli, workdir, bus):
    if os.geteuid() != 0:
        pytest.skip("real users need root (setpriv)")
    ensure_user("sfdeny")
    root = workdir / "polkit"
    root.mkdir()
    pk = Polkit(root, bus, DENY_RULES)
    pk.start()
    os.chmod(cli.svc.root, 0o755)
    yield cli
    pk.stop()


def test_denied_and_unauthenticated_users_are_not_authorized(polkit_cli):
    cli = polkit_cli
    # a rule says no
    result = run_client(cli.address, "list", user="sfdeny")
    assert result.returncode == NOT_AUTHORIZED, result.stderr
    # the policy's defaults want an administrator's password, and without a
    # terminal there is nobody to ask
    for args in (["list"], ["inspect", NEW_NAME], ["restore", "--yes"]):
        result = run_client(cli.address, *args, user="nobody")
        assert result.returncode == NOT_AUTHORIZED, (args, result.stderr)
    assert "stop" not in cli.pbx_events()


# --- bash completion ------------------------------------------------------------------

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def complete(cli, line):
    """What bash would offer for line (ending in a space: a new word)."""
    script = f"""
source {BASH_COMPLETION}
source {SOURCE_ROOT}/data/bash-completion/starface-backup
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
_starface_backup
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = client_env(cli.address)
    env["PATH"] = os.path.dirname(CLIENT) + ":" + env["PATH"]
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.split("\n") if w)


def test_bash_completion_offers_commands_options_and_backup_names(cli, backup_maker):
    assert os.path.exists(BASH_COMPLETION), "bash-completion is missing: tools/setup installs it"
    backup_maker(cli.svc.backups, "Older_2026-11-19_02-00-00.sar")
    assert complete(cli, "starface-backup ") == sorted(
        ["list", "inspect", "preflight", "restore", "upload", "cancel", "monitor", "history",
         "pack"])
    assert complete(cli, "starface-backup re") == ["restore"]
    assert "--limit" in complete(cli, "starface-backup history --")
    assert complete(cli, "starface-backup inspect ") == sorted(
        [NEW_NAME, "Older_2026-11-19_02-00-00.sar"])
    assert complete(cli, "starface-backup --json restore Ol") == ["Older_2026-11-19_02-00-00.sar"]
    assert complete(cli, "starface-backup restore --y") == ["--yes"]
    assert complete(cli, "starface-backup preflight -c ") == ["announcements", "cdr-voicemail",
                                                              "core"]
    assert "--replace" in complete(cli, "starface-backup upload --")


def test_bash_completion_offers_the_jobs_to_cancel(cli):
    job = cli.start_restore(NEW_NAME)
    assert wait_job(cli.svc, job) == "done"   # listed in Jobs for a while yet
    assert complete(cli, "starface-backup cancel ") == [job.rsplit("/", 1)[1]]


# --- interactive authorization -----------------------------------------------------------

PASSWORD_RULES = """
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("de.starface.backup.") == 0 && subject.user == "sfpassword")
        return polkit.Result.AUTH_SELF;
    return polkit.Result.NOT_HANDLED;
});
"""


@pytest.fixture
def password_user(cli, workdir, bus):
    """sfpassword, whom polkit asks for their own password."""
    if os.geteuid() != 0:
        pytest.skip("real users need root (setpriv)")
    ensure_user("sfpassword")
    password = "Pw-" + os.urandom(6).hex()
    subprocess.run(["chpasswd"], input=f"sfpassword:{password}\n", text=True, check=True)
    root = workdir / "polkit"
    root.mkdir()
    pk = Polkit(root, bus, PASSWORD_RULES)
    pk.start()
    os.chmod(cli.svc.root, 0o755)
    yield cli, password
    pk.stop()


def test_password_prompt_on_the_terminal_through_pkttyagent(password_user, backup_maker):
    cli, password = password_user
    term = Terminal(["list"], os.environ.copy(), wrapper=as_user_on_bus("sfpassword", cli.svc.bus))
    try:
        term.expect("Password:", timeout=30)
        assert "AUTHENTICATING FOR de.starface.backup.read" in term.output
        term.wait_for_hidden_input()
        term.send(password + "\n")
        assert term.wait() == OK, term.output
    finally:
        term.kill()
    assert NEW_NAME in term.output
    # the agent lived only for the call
    assert subprocess.run(["pgrep", "-u", "sfpassword", "pkttyagent"]).returncode == 1


def test_wrong_password_is_not_authorized(password_user):
    cli, _ = password_user
    term = Terminal(["inspect", NEW_NAME], os.environ.copy(),
                    wrapper=as_user_on_bus("sfpassword", cli.svc.bus))
    try:
        term.expect("Password:", timeout=30)
        term.wait_for_hidden_input()
        term.send("wrong\n")
        status = term.wait(timeout=60)
    finally:
        term.kill()
    assert status == NOT_AUTHORIZED, term.output
    assert "AUTHENTICATION FAILED" in term.output


def test_list_explains_a_backup_from_the_future(cli, backup_maker):
    """Valid, but created far ahead of this clock: never marked, and the
    problem is shown under it."""
    backup_maker(cli.svc.backups, "Clock.sar", created="2099-01-01T00:00:00Z")
    result = cli.run("list")
    assert result.returncode == OK, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index(next(line for line in lines if "Clock.sar" in line))
    assert lines[at].startswith("  ")
    assert "created in the future" in lines[at + 1]
    assert lines[at].split()[-1] == "yes"
