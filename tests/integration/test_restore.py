"""Preflight and Restore: the whole transaction against the real daemon,
with the project's PBX simulator."""

import hashlib
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import dbus
import pytest

from harness import (ERROR, JOB_IFACE, SOURCE_ROOT, SignalRecorder, job_property, make_tree,
                     wait_for, wait_job)

SIMULATOR = str(SOURCE_ROOT / "data" / "pbx-simulator")

OLD_TREE = {
    "core": {"db/asterisk.sql": "CREATE TABLE users; -- live\n", "network.conf": "ip=198.51.100.7\n",
             "phones/100.cfg": "sip=100\n"},
    "cdr-voicemail": {"cdr/2026-10.csv": "old,call\n", "voicemail/100/old.wav": b"\x01" * 5000},
    "announcements": {"de/welcome.txt": "Alte Ansage\n"},
}
NEW_TREE = {
    "core": {"db/asterisk.sql": "CREATE TABLE users; -- from backup\n",
             "network.conf": "ip=192.0.2.10\n", "users/alice.json": '{"ext": 101}\n'},
    "cdr-voicemail": {"cdr/2026-11.csv": "new,call\n",
                      "voicemail/100/msg0001.wav": os.urandom(20000)},
    "announcements": {"de/welcome.txt": "Neue Ansage\n", "en/welcome.txt": "Welcome\n"},
}


def snapshot(root: Path):
    """Every file's content digest and mode, every directory, below root."""
    result = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            result[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            result[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                           stat.S_IMODE(st.st_mode))
    return result


def no_dirs_modes(snap):
    return {k: v[0] for k, v in snap.items() if v[0] != "dir"}


class Pbx:
    def __init__(self, state: Path):
        self.state = state

    def run(self, *args):
        return subprocess.run([SIMULATOR, f"--state={self.state}", *args], check=True,
                              capture_output=True, text=True).stdout

    def status(self):
        return json.loads(self.run("status"))

    def events(self):
        return [e["event"] for e in self.status()["events"]]

    def commands_running(self):
        """Simulator processes working on this state file."""
        found = subprocess.run(["pgrep", "-f", f"pbx-simulator --state={self.state} "],
                               capture_output=True, text=True)
        return found.stdout.split()


def config_for(pbx_state: Path, stop_delay=0.0, start_delay=0.0, extra=""):
    return f"""[Pbx]
SessionsCommand={SIMULATOR} --state={pbx_state} sessions
StopCommand={SIMULATOR} --state={pbx_state} --delay={stop_delay} stop
StartCommand={SIMULATOR} --state={pbx_state} --delay={start_delay} start
CommandTimeout=60
[Limits]
FinishedJobLifetime=600
{extra}"""


@pytest.fixture
def pbx_service(service_factory, workdir, backup_maker):
    """make(**config) -> (service, pbx); live data = OLD_TREE, a backup of
    NEW_TREE named New.sar, the PBX running with 3 users and 2 calls."""

    def make(stop_delay=0.0, start_delay=0.0, extra="", start=True):
        state = workdir / f"pbx{len(list(workdir.glob('pbx*.json')))}.json"
        svc = service_factory(config_extra=config_for(state, stop_delay, start_delay, extra))
        make_tree(svc.data, OLD_TREE)
        pbx = Pbx(state)
        pbx.run("set-sessions", "3", "2")
        backup_maker(svc.backups, "New.sar", tree=NEW_TREE)
        if start:
            svc.start()
        return svc, pbx

    return make


def source_snapshot(workdir: Path, tree):
    src = workdir / f"expected{abs(hash(str(sorted(tree))))}"
    if not src.exists():
        make_tree(src, tree)
    return snapshot(src)


def preflight(svc, name="New.sar", components=(), **options):
    report = svc.manager().Preflight(name, dbus.Array(components, signature="s"),
                                     dbus.Dictionary(options, signature="sv"))
    return {str(k): v for k, v in report.items()}


def restore(svc, name="New.sar", components=(), token=None, **options):
    if token is not None:
        options["token"] = token
    return str(svc.manager().Restore(name, dbus.Array(components, signature="s"),
                                     dbus.Dictionary(options, signature="sv")))


def details(svc, job):
    return {str(k): v for k, v in job_property(svc, job, "Details").items()}


def component_snapshot(svc, component):
    return snapshot(svc.data / component)


def staging_leftovers(svc):
    return sorted(p.name for p in svc.data.iterdir() if p.name.startswith(".sf-staging"))


# --- Preflight ----------------------------------------------------------------


def test_preflight_reports_everything(pbx_service):
    svc, pbx = pbx_service()
    report = preflight(svc)
    assert report["compatible"] == 1
    assert report["backup-version"] == "8.1.2.3"
    assert report["installed-version"] == "8.1.2.3"
    assert report["logged-in-users"] == 3 and isinstance(report["logged-in-users"], dbus.UInt32)
    assert report["active-calls"] == 2
    assert report["sessions-known"] == 1
    assert list(report["components"]) == ["core", "cdr-voicemail", "announcements"]
    new_bytes = sum(len(c.encode() if isinstance(c, str) else c)
                    for files in NEW_TREE.values() for c in files.values())
    old_bytes = sum(len(c.encode() if isinstance(c, str) else c)
                    for files in OLD_TREE.values() for c in files.values())
    assert report["bytes-required"] == new_bytes + old_bytes
    assert report["bytes-available"] > report["bytes-required"]
    assert list(report["blockers"]) == []
    assert len(report["token"]) == 32
    # the PBX was only asked, not touched
    assert "stop" not in pbx.events()


def test_preflight_unknown_sessions_is_a_warning_not_zero(pbx_service):
    svc, pbx = pbx_service()
    pbx.run("set-fail", "sessions")
    report = preflight(svc)
    assert report["sessions-known"] == 0
    assert any("could not be determined" in w for w in report["warnings"])


def test_preflight_blocks_newer_backup_naming_both_versions(pbx_service, backup_maker):
    svc, _ = pbx_service()
    backup_maker(svc.backups, "Newer.sar", version="8.1.10.0")
    report = preflight(svc, "Newer.sar")
    assert report["compatible"] == 0
    assert report["token"] == ""
    [blocker] = report["blockers"]
    assert "8.1.10.0" in blocker and "8.1.2.3" in blocker and "equal or older" in blocker


def test_preflight_warns_about_another_host(pbx_service, backup_maker):
    svc, _ = pbx_service()
    backup_maker(svc.backups, "Elsewhere.sar",
                 extra=["--hostname=pbx-hamburg", "--ip-address=203.0.113.99"])
    report = preflight(svc, "Elsewhere.sar")
    assert any("pbx-hamburg" in w and "ignore-ip" in w for w in report["warnings"])
    report = preflight(svc, "Elsewhere.sar", **{"ignore-ip": dbus.Boolean(True)})
    assert not any("ignore-ip" in w for w in report["warnings"])


def test_preflight_refuses_unknown_component_and_options(pbx_service):
    svc, _ = pbx_service()
    with pytest.raises(dbus.DBusException) as e:
        preflight(svc, components=["core", "faxes"])
    assert e.value.get_dbus_name() == ERROR + "UnknownComponent"
    assert "faxes" in e.value.get_dbus_message()
    with pytest.raises(dbus.DBusException) as e:
        preflight(svc, **{"ignore_ip": dbus.Boolean(True)})
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs"
    with pytest.raises(dbus.DBusException) as e:
        preflight(svc, name="Missing.sar")
    assert e.value.get_dbus_name() == ERROR + "NotFound"


# --- Restore: success, partial, undo -------------------------------------------


def test_full_restore_replaces_every_component_and_can_be_undone(pbx_service, workdir):
    svc, pbx = pbx_service()
    before = snapshot(svc.data)
    rec = SignalRecorder(svc)
    token = preflight(svc)["token"]
    job = str(rec.manager.Restore("New.sar", dbus.Array([], signature="s"),
                                  dbus.Dictionary({"token": token}, signature="sv")))
    _, result, name, message = rec.wait_finished(job)
    assert (result, name, message) == ("done", "", "")
    expected = source_snapshot(workdir, NEW_TREE)
    for component in NEW_TREE:
        got = no_dirs_modes(component_snapshot(svc, component))
        want = {k.split("/", 1)[1]: v[0] for k, v in expected.items()
                if k.startswith(component + "/") and v[0] != "dir"}
        assert got == want, component
    # the PBX was stopped and started once; the job says how long it was down
    assert pbx.events()[-2:] == ["stop", "start"]
    d = details(svc, job)
    assert d["pbx-started-at"] >= d["pbx-stopped-at"] > 0
    assert d["pbx-downtime-ms"] < 10000
    # progress: monotone, documented stages in order, 100 only at the end
    mine = [(p, st) for j, p, st, _ in rec.progress if j == job]
    percents = [p for p, _ in mine]
    assert percents == sorted(percents) and percents[-1] == 100
    assert all(p < 100 for p in percents[:-1])
    stages = []
    for _, st in mine:
        if not stages or stages[-1] != st:
            stages.append(st)
    order = ["extracting", "stopping-pbx", "activating", "starting-pbx", "saving-previous",
             "cleanup"]
    assert [s for s in stages if s in order] == order
    # the undo: a listed, restorable pre-restore backup of the old state
    pre = str(d["pre-restore-backup"])
    listing = {str(n): {str(k): v for k, v in i.items()} for n, i in svc.manager().List()}
    assert listing[pre]["process"] == "pre-restore"
    assert listing[pre]["valid"] == 1 and listing[pre]["compatible"] == 1
    assert staging_leftovers(svc) == []
    assert not (svc.backups / ".restore-journal").exists()

    token = preflight(svc, pre)["token"]
    assert wait_job(svc, restore(svc, pre, token=token)) == "done"
    after_undo = snapshot(svc.data)
    assert no_dirs_modes(after_undo) == no_dirs_modes(before)


def test_partial_restore_leaves_other_components_untouched(pbx_service, workdir):
    svc, pbx = pbx_service()
    untouched = {c: component_snapshot(svc, c) for c in ("cdr-voicemail", "announcements")}
    inode = {c: (svc.data / c).stat().st_ino for c in untouched}
    token = preflight(svc, components=["core"])["token"]
    job = restore(svc, components=["core"], token=token)
    assert wait_job(svc, job) == "done"
    expected = {k.split("/", 1)[1]: v[0] for k, v in source_snapshot(workdir, NEW_TREE).items()
                if k.startswith("core/") and v[0] != "dir"}
    assert no_dirs_modes(component_snapshot(svc, "core")) == expected
    for c, snap in untouched.items():
        assert component_snapshot(svc, c) == snap
        assert (svc.data / c).stat().st_ino == inode[c]
    # the pre-restore backup holds only what was replaced
    pre = str(details(svc, job)["pre-restore-backup"])
    info = svc.manager().Inspect(pre)
    assert [str(c) for c, _ in info["components"]] == ["core"]


def test_ignore_ip_keeps_this_machines_network_settings(pbx_service):
    svc, _ = pbx_service()
    live_network = (svc.data / "core" / "network.conf").read_bytes()
    token = preflight(svc, **{"ignore-ip": dbus.Boolean(True)})["token"]
    job = restore(svc, token=token, **{"ignore-ip": dbus.Boolean(True)})
    assert wait_job(svc, job) == "done"
    assert (svc.data / "core" / "network.conf").read_bytes() == live_network
    assert (svc.data / "core" / "users" / "alice.json").exists()


def test_restored_files_get_configured_owner_and_no_special_bits(pbx_service, workdir,
                                                                 backup_maker):
    svc, _ = pbx_service(extra="[Component core]\nPath=core\nOwner=12345\nGroup=23456\n",
                         start=False)
    src = workdir / "suid-tree"
    make_tree(src, {"core": {"bin/tool": "#!/bin/sh\n", "db/x.sql": "x\n"}})
    os.chmod(src / "core" / "bin" / "tool", 0o6755)
    os.chmod(src / "core" / "bin", 0o1777)
    from harness import pack
    pack(src, svc.backups / "Suid.sar")
    svc.start()
    token = preflight(svc, "Suid.sar")["token"]
    assert wait_job(svc, restore(svc, "Suid.sar", token=token)) == "done"
    tool = (svc.data / "core" / "bin" / "tool").stat()
    assert stat.S_IMODE(tool.st_mode) == 0o755
    assert stat.S_IMODE((svc.data / "core" / "bin").stat().st_mode) == 0o777
    assert (tool.st_uid, tool.st_gid) == (12345, 23456)


# --- refusals --------------------------------------------------------------------


def refused(svc, expected, *args, **kwargs):
    with pytest.raises(dbus.DBusException) as e:
        restore(svc, *args, **kwargs)
    assert e.value.get_dbus_name() == ERROR + expected, e.value.get_dbus_message()
    return e.value.get_dbus_message()


def test_restore_refusals_change_nothing(pbx_service, backup_maker):
    svc, pbx = pbx_service()
    before = snapshot(svc.data)
    refused(svc, "InvalidToken")                            # no token
    refused(svc, "InvalidToken", token="0" * 32)            # unknown token
    token = preflight(svc, components=["core"])["token"]
    refused(svc, "InvalidToken", token=token)               # other components
    assert "other components" in refused(svc, "InvalidToken", components=["cdr-voicemail"],
                                         token=token)
    token = preflight(svc)["token"]
    (svc.backups / "New.sar").touch()                       # the file changed since
    assert "changed" in refused(svc, "InvalidToken", token=token)
    token = preflight(svc)["token"]
    svc.version_file.write_text("8.1.0.0\n")                # installed is older now
    assert "8.1.0.0" in refused(svc, "VersionTooNew", token=token)
    svc.version_file.write_text("8.1.2.3\n")
    token = preflight(svc)["token"]
    refused(svc, "UnknownComponent", components=["faxes"], token=token)
    (svc.backups / "New.sar").unlink()
    refused(svc, "NotFound", token=token)
    assert snapshot(svc.data) == before
    assert "stop" not in pbx.events()
    assert job_list(svc) == []


def job_list(svc):
    props = dbus.Interface(svc.proxy(), "org.freedesktop.DBus.Properties")
    return [str(p) for p in props.Get("de.starface.Backup", "Jobs")]


def test_token_is_single_use_and_one_restore_at_a_time(pbx_service, backup_maker):
    svc, _ = pbx_service(stop_delay=3)
    backup_maker(svc.backups, "Other.sar", tree=NEW_TREE)
    token = preflight(svc)["token"]
    other = preflight(svc, "Other.sar")["token"]
    job = restore(svc, token=token)
    wait_for(lambda: job_property(svc, job, "Stage") == "stopping-pbx", what="stopping-pbx")
    assert "one restore" in refused(svc, "Busy", "Other.sar", token=other)
    assert wait_job(svc, job) == "done"
    refused(svc, "InvalidToken", token=token)               # already used


# --- failures -------------------------------------------------------------------


def corrupt_last_file(svc, workdir):
    """A backup whose last file of its last component does not match its
    checksum (made with bsdtar, i.e. libarchive)."""
    src = workdir / "corrupt-src"
    make_tree(src, NEW_TREE)
    from harness import pack
    good = pack(src, workdir / "good.sar", extra=["--compression=none"])
    unpacked = workdir / "corrupt-unpacked"
    unpacked.mkdir()
    subprocess.run(["bsdtar", "-xf", str(good), "-C", str(unpacked)], check=True)
    members = subprocess.run(["bsdtar", "-tf", str(good)], capture_output=True, text=True,
                             check=True).stdout.split()
    last = [m for m in members if not m.endswith("/")][-1]
    target = unpacked / last
    target.write_bytes(b"X" * len(target.read_bytes()))
    out = svc.backups / "Corrupt.sar"
    subprocess.run(["bsdtar", "-cnf", str(out), "--format=pax", "--zstd", "-C", str(unpacked),
                    *members], check=True)
    return last


def test_checksum_mismatch_in_last_file_leaves_live_data_untouched(pbx_service, workdir):
    svc, pbx = pbx_service()
    last = corrupt_last_file(svc, workdir)
    before = snapshot(svc.data)
    rec = SignalRecorder(svc)
    token = preflight(svc, "Corrupt.sar")["token"]
    job = str(rec.manager.Restore("Corrupt.sar", dbus.Array([], signature="s"),
                                  dbus.Dictionary({"token": token}, signature="sv")))
    _, result, name, message = rec.wait_finished(job)
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert last in message
    assert snapshot(svc.data) == before
    assert pbx.status()["running"] is True
    assert "stop" not in pbx.events()
    assert staging_leftovers(svc) == []
    assert not (svc.backups / ".restore-journal").exists()


def test_failing_start_rolls_back_and_starts_again(pbx_service, workdir):
    # the first start fails; the rollback's start succeeds
    state = workdir / "pbx-once.json"
    mark = workdir / "start-failed-once"
    once = (f"[Pbx]\nStartCommand=/bin/sh -c 'if [ -e {mark} ]; then exec {SIMULATOR} "
            f"--state={state} start; fi; touch {mark}; exec {SIMULATOR} --state={state} "
            f"--fail-start start'\n")
    svc, pbx = pbx_service(start=False)
    svc.config.write_text(svc.config.read_text().replace(
        f"StartCommand={SIMULATOR} --state={pbx.state} --delay=0.0 start\n", "")
        .replace("[Pbx]\n", once))
    svc.config.write_text(svc.config.read_text().replace(str(pbx.state), str(state)))
    pbx = Pbx(state)
    svc.start()
    before = snapshot(svc.data)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    assert wait_job(svc, job) == "failed"
    assert mark.exists()
    assert no_dirs_modes(snapshot(svc.data)) == no_dirs_modes(before)
    assert pbx.status()["running"] is True
    assert pbx.events()[-2:] == ["start-failed", "start"]
    assert staging_leftovers(svc) == []


def test_failing_stop_leaves_everything_and_starts_pbx(pbx_service):
    svc, pbx = pbx_service()
    before = snapshot(svc.data)
    pbx.run("set-fail", "stop")
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    assert wait_job(svc, job) == "failed"
    assert snapshot(svc.data) == before
    pbx.run("set-fail")
    assert pbx.events()[-2:] == ["stop-failed", "start"]
    assert staging_leftovers(svc) == []


def test_cancel_before_swap(pbx_service):
    svc, pbx = pbx_service(stop_delay=2)
    before = snapshot(svc.data)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    wait_for(lambda: job_property(svc, job, "Stage") == "stopping-pbx", what="stopping-pbx")
    dbus.Interface(svc.proxy(path=job), JOB_IFACE).Cancel()
    assert wait_job(svc, job) == "canceled"
    assert snapshot(svc.data) == before
    assert pbx.status()["running"] is True
    assert staging_leftovers(svc) == []


def test_cancel_after_swap_is_refused(pbx_service):
    svc, pbx = pbx_service(start_delay=2)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    wait_for(lambda: job_property(svc, job, "Stage") == "starting-pbx", what="starting-pbx")
    with pytest.raises(dbus.DBusException) as e:
        dbus.Interface(svc.proxy(path=job), JOB_IFACE).Cancel()
    assert e.value.get_dbus_name() == ERROR + "Busy"
    assert wait_job(svc, job) == "done"


# --- crashes -----------------------------------------------------------------------


def wait_recoveries(svc):
    """Waits for the recovery job a restart runs on a journal; one that
    rolls back fails, saying so."""
    for path in job_list(svc):
        if wait_job(svc, path) == "failed":
            assert "rolled back" in str(job_property(svc, path, "ErrorMessage"))


def kill_at_stage(svc, job, stage):
    wait_for(lambda: job_property(svc, job, "Stage") == stage, timeout=60, what=stage)
    svc.process.send_signal(signal.SIGKILL)
    svc.process.wait()
    svc.log_file.close()
    svc._conn = None


@pytest.mark.parametrize("stage, outcome", [
    ("stopping-pbx", "old"),
    ("starting-pbx", "new"),
])
def test_sigkill_then_restart_gives_old_or_new_never_a_mix(pbx_service, workdir, stage, outcome):
    delays = {"stopping-pbx": {"stop_delay": 3}, "starting-pbx": {"start_delay": 3}}[stage]
    svc, pbx = pbx_service(**delays)
    before = no_dirs_modes(snapshot(svc.data))
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    kill_at_stage(svc, job, stage)
    # A PBX command the daemon had started finishes on its own (under
    # systemd it would be killed with the daemon's control group instead).
    wait_for(lambda: not pbx.commands_running(), timeout=30, what="the orphaned PBX command")
    svc.start()
    # the recovery is a job: it completes the restore (done) or rolls it
    # back (failed, saying so)
    recoveries = job_list(svc)
    assert len(recoveries) == 1
    result = wait_job(svc, recoveries[0])
    assert result == ("done" if outcome == "new" else "failed")
    after = {k: v for k, v in no_dirs_modes(snapshot(svc.data)).items()
             if not k.startswith("fs-interface/")}
    before = {k: v for k, v in before.items() if not k.startswith("fs-interface/")}
    if outcome == "old":
        assert after == before
    else:
        expected = source_snapshot(workdir, NEW_TREE)
        assert after == {k: v[0] for k, v in expected.items() if v[0] != "dir"}
        listing = [str(n) for n, _ in svc.manager().List()]
        assert any(n.startswith("pre-restore_") for n in listing)
    assert pbx.status()["running"] is True
    assert pbx.events()[-1] in ("start", "set-sessions")  # started again, or never stopped
    assert staging_leftovers(svc) == []
    assert not (svc.backups / ".restore-journal").exists()


@pytest.mark.parametrize("stage", ["saving-previous", "cleanup"])
def test_sigkill_after_the_swap_completes_the_restore(pbx_service, workdir, stage):
    """Killed while the previous state is saved or removed: the restart
    finishes the restore (the new data stays, the undo backup is written)."""
    svc, pbx = pbx_service(start=False)
    # many files make saving and removing the old trees take a while
    many = svc.data / "cdr-voicemail" / "many"
    many.mkdir(parents=True)
    for i in range(15000):
        (many / f"{i}.txt").write_bytes(os.urandom(64))
    (svc.data / "cdr-voicemail" / "big.wav").write_bytes(os.urandom(64 * 1024 * 1024))
    svc.start()
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    kill_at_stage(svc, job, stage)
    svc.start()
    for path in job_list(svc):
        assert wait_job(svc, path) == "done"
    after = {k: v for k, v in no_dirs_modes(snapshot(svc.data)).items()
             if not k.startswith("fs-interface/")}
    expected = source_snapshot(workdir, NEW_TREE)
    assert after == {k: v[0] for k, v in expected.items() if v[0] != "dir"}
    pre = [str(n) for n, _ in svc.manager().List() if str(n).startswith("pre-restore_")]
    assert len(pre) == 1
    info = {str(k): v for k, v in svc.manager().Inspect(pre[0]).items()}
    files = {str(c): int(d["files"]) for c, d in info["components"]}
    assert files["cdr-voicemail"] == 15000 + 1 + len(OLD_TREE["cdr-voicemail"])
    assert pbx.status()["running"] is True
    assert staging_leftovers(svc) == []
    assert not (svc.backups / ".restore-journal").exists()


def test_sigkill_during_extraction(pbx_service, workdir, backup_maker):
    svc, pbx = pbx_service(start=False)
    big = {"cdr-voicemail": {f"voicemail/{i}.wav": os.urandom(4 * 1024 * 1024)
                             for i in range(40)}}
    backup_maker(svc.backups, "Big.sar", tree=big)
    svc.start()
    before = snapshot(svc.data)
    token = preflight(svc, "Big.sar")["token"]
    job = restore(svc, "Big.sar", token=token)
    wait_for(lambda: job_property(svc, job, "Percent") > 1, timeout=60, what="extraction")
    svc.process.send_signal(signal.SIGKILL)
    svc.process.wait()
    svc.log_file.close()
    svc._conn = None
    svc.start()
    wait_recoveries(svc)
    assert snapshot(svc.data) == before
    assert "stop" not in pbx.events()
    assert staging_leftovers(svc) == []
    assert not (svc.backups / ".restore-journal").exists()


def test_crash_in_the_middle_of_the_swaps_rolls_back(pbx_service, workdir):
    """The swap of three directories takes microseconds, too short to kill
    into reliably: this stops a restore at starting-pbx (all swapped), then
    puts one component back and marks the journal "swapping", which is
    exactly what a kill between two swaps leaves behind."""
    svc, pbx = pbx_service(start_delay=3)
    before = no_dirs_modes(snapshot(svc.data))
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    kill_at_stage(svc, job, "starting-pbx")
    wait_for(lambda: not pbx.commands_running(), timeout=30, what="the orphaned start")
    journal = (svc.backups / ".restore-journal").read_text()
    assert "State=swapped" in journal
    (svc.backups / ".restore-journal").write_text(journal.replace("State=swapped",
                                                                  "State=swapping"))
    os.rename(svc.data / "announcements", svc.data / "tmp-swap")
    os.rename(svc.data / ".sf-staging-announcements", svc.data / "announcements")
    os.rename(svc.data / "tmp-swap", svc.data / ".sf-staging-announcements")
    svc.start()
    wait_recoveries(svc)
    assert no_dirs_modes(snapshot(svc.data)) == before
    assert pbx.status()["running"] is True
    assert staging_leftovers(svc) == []


# --- hostile archives ------------------------------------------------------------


def hostile_archive(svc, workdir, name, build):
    """A backup with a valid manifest whose tree holds one hostile entry,
    made with bsdtar (libarchive)."""
    root = workdir / f"hostile-{name}"
    make_tree(root, {"core": {"db/x.sql": "x\n"}})
    manifest = f"""[Backup]
Format=1
Version=8.1.2.3
Created=2026-11-20T02:00:00Z
Process=manual
Hostname={os.uname().nodename}
Components=core

[Component core]
Label=Core data
Files=1
Bytes=2
"""
    (root / "manifest.ini").write_text(manifest)
    digest = hashlib.sha256(b"x\n").hexdigest()
    (root / "SHA256SUMS").write_text(f"{digest}  core/db/x.sql\n")
    members = build(root)
    out = svc.backups / f"{name}.sar"
    subprocess.run(["bsdtar", "-cf", str(out), "--format=pax", "-P", "-C", str(root),
                    "manifest.ini", "SHA256SUMS", "core/db/x.sql", *members], check=True)
    return out


def symlink_entry(root):
    os.symlink("/etc", root / "core" / "etc")
    return ["core/etc"]


def hardlink_entry(root):
    os.link(root / "core" / "db" / "x.sql", root / "core" / "db" / "y.sql")
    return ["core/db/y.sql"]


def fifo_entry(root):
    os.mkfifo(root / "core" / "fifo")
    return ["core/fifo"]


def device_entry(root):
    os.mknod(root / "core" / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    return ["core/null"]


def absolute_entry(root):
    return ["/etc/hostname"]


def dotdot_entry(root):
    (root / "outside.txt").write_text("escape\n")
    return ["core/../outside.txt"]


@pytest.mark.parametrize("build, entry", [
    (symlink_entry, "core/etc"),
    (hardlink_entry, "core/db/y.sql"),
    (fifo_entry, "core/fifo"),
    (device_entry, "core/null"),
    (absolute_entry, "/etc/hostname"),
    (dotdot_entry, ".."),
])
def test_hostile_entries_are_refused_naming_them(pbx_service, workdir, build, entry):
    svc, pbx = pbx_service()
    hostile_archive(svc, workdir, build.__name__, build)
    before = snapshot(svc.data)
    outside_before = sorted(os.listdir(svc.root))
    token = preflight(svc, f"{build.__name__}.sar", components=["core"])["token"]
    rec = SignalRecorder(svc)
    job = str(rec.manager.Restore(f"{build.__name__}.sar", dbus.Array(["core"], signature="s"),
                                  dbus.Dictionary({"token": token}, signature="sv")))
    _, result, name, message = rec.wait_finished(job)
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert entry in message
    assert snapshot(svc.data) == before
    assert sorted(os.listdir(svc.root)) == outside_before
    assert "stop" not in pbx.events()


# --- names -----------------------------------------------------------------------


def names_below(root: Path):
    """Every path below root as bytes, exactly as the file system has it."""
    found = []
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), os.fsencode(root)))
    return sorted(found)


def test_undo_brings_back_decomposed_names_exactly(pbx_service, workdir):
    """Names in Unicode's decomposed form (as macOS writes them) next to the
    composed form of the same name: the pre-restore backup holds them, and
    restoring it recreates exactly those bytes."""
    svc, pbx = pbx_service(start=False)
    core = svc.data / "core"
    (core / "A\u0308rger").mkdir()                            # "Ärger", decomposed
    (core / "A\u0308rger" / "a\u0308.txt").write_bytes(b"decomposed\n")
    (core / "\u00c4rger").mkdir()                              # "Ärger", composed
    (core / "\u00c4rger" / "x").write_bytes(b"composed\n")
    (core / "o\u0308de").mkdir()                               # an empty one, decomposed
    (core / "\u212a.txt").write_bytes(b"kelvin\n")            # KELVIN SIGN
    svc.start()
    before = names_below(core)
    assert b"A\xcc\x88rger/a\xcc\x88.txt" in before and b"o\xcc\x88de" in before
    contents = snapshot(core)

    token = preflight(svc, components=["core"])["token"]
    job = restore(svc, components=["core"], token=token)
    assert wait_job(svc, job) == "done"
    assert b"o\xcc\x88de" not in names_below(core)
    pre = str(details(svc, job)["pre-restore-backup"])
    listing = {str(n): {str(k): v for k, v in i.items()} for n, i in svc.manager().List()}
    assert listing[pre]["valid"] == 1

    token = preflight(svc, pre, components=["core"])["token"]
    undo = restore(svc, pre, components=["core"], token=token)
    assert wait_job(svc, undo) == "done"
    assert names_below(core) == before
    assert snapshot(core) == contents


def test_a_live_name_that_is_not_utf8_never_reaches_the_bus(pbx_service):
    """A file of the live data whose name is not UTF-8 cannot go into a
    backup (SAR names are UTF-8), so the previous state cannot be saved:
    the restore is refused or fails, and every text that says so names the
    file with \\xNN for the odd byte. The daemon lives on (a name sent as it
    is made it crash), and logs no GLib-CRITICAL (checked when it stops)."""
    svc, pbx = pbx_service(start=False)
    with open(os.path.join(os.fsencode(svc.data), b"core", b"bad\xff.txt"), "wb") as f:
        f.write(b"x\n")
    svc.start()
    report = preflight(svc, components=["core"])
    texts = [str(t) for t in list(report["blockers"]) + list(report["warnings"])]
    if report["token"]:
        rec = SignalRecorder(svc)
        job = str(rec.manager.Restore("New.sar", dbus.Array(["core"], signature="s"),
                                      dbus.Dictionary({"token": report["token"]},
                                                      signature="sv")))
        _, result, name, message = rec.wait_finished(job)
        assert result == "failed"
        texts.append(message)
    assert any("bad\\xFF.txt" in text for text in texts), texts
    assert os.path.exists(os.path.join(os.fsencode(svc.data), b"core", b"bad\xff.txt"))
    assert "New.sar" in [str(n) for n, _ in svc.manager().List()]
    assert pbx.status()["running"] is True
