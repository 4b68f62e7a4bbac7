"""A restore never loses the previous state, and the phones go down once.

Each test here is one way the first version broke under bad luck or a
hostile caller: live trees that cannot be saved, an undo over the limits,
a failure after the PBX already runs on the restored data, a recovery that
fails at start, a stale journal, a caller taking the undo's name."""

import os
import socket
import stat

import dbus
import pytest

from harness import (ERROR, JOB_IFACE, SignalRecorder, job_property, make_tree, wait_for,
                     wait_job)
from test_restore import (NEW_TREE, OLD_TREE, details, job_list, kill_at_stage,  # noqa: F401
                          no_dirs_modes, pbx_service, preflight, restore, snapshot,
                          source_snapshot, staging_leftovers)

JOURNAL = ".restore-journal"


def tree_state(root):
    """Like snapshot(), for trees that may hold links, sockets and FIFOs."""
    result = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISREG(st.st_mode):
            result[rel] = ("file", path.read_bytes())
        elif stat.S_ISLNK(st.st_mode):
            result[rel] = ("link", os.readlink(path))
        else:
            result[rel] = (stat.S_IFMT(st.st_mode), None)
    return result


def pre_restores(svc):
    return sorted(str(n) for n, _ in svc.manager().List() if str(n).startswith("pre-restore_"))


def live_files(svc):
    """The live components' files (no staging trees, no version file)."""
    files = {}
    for component in OLD_TREE:
        for rel, digest in no_dirs_modes(snapshot(svc.data / component)).items():
            files[f"{component}/{rel}"] = digest
    return files


def new_tree_files(workdir):
    return {k: v[0] for k, v in source_snapshot(workdir, NEW_TREE).items() if v[0] != "dir"}


def restore_killed_while_starting_the_pbx(svc, pbx):
    """Starts a restore and kills the daemon while the PBX starts on the
    restored data (all swapped, journal "swapped"); returns the job."""
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    kill_at_stage(svc, job, "starting-pbx")
    wait_for(lambda: not pbx.commands_running(), timeout=30, what="the orphaned start")
    return job


def busy_message(svc, name="New.sar"):
    with pytest.raises(dbus.DBusException) as e:
        restore(svc, name, token="0" * 32)
    assert e.value.get_dbus_name() == ERROR + "Busy", e.value.get_dbus_message()
    return e.value.get_dbus_message()


# --- Preflight predicts what could fail once the PBX is stopped ---------------


def unpackable(kind, base):
    """Puts something the SAR writer cannot pack into a live tree."""
    if kind == "symlink":
        os.symlink("/etc/passwd", base / "link-to-passwd")
        return "link-to-passwd"
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(base / "control.sock"))
        s.close()
        return "control.sock"
    if kind == "backslash":
        (base / "back\\slash.txt").write_text("x")
        return "slash.txt"
    if kind == "deep":
        deep = base.joinpath(*["d"] * 40)
        deep.mkdir(parents=True)
        (deep / "f").write_text("x")
        return "d/d/d"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["symlink", "socket", "backslash", "deep"])
def test_live_data_that_cannot_be_saved_blocks_before_the_pbx_stops(pbx_service, kind):
    svc, pbx = pbx_service()
    named = unpackable(kind, svc.data / "core")
    before = tree_state(svc.data)
    report = preflight(svc)
    blockers = [str(b) for b in report["blockers"]]
    assert any(named in b and "cannot be saved" in b for b in blockers), blockers
    assert report["token"] == ""
    # other components are not affected
    assert preflight(svc, components=["announcements"])["blockers"] == []
    assert tree_state(svc.data) == before
    assert "stop" not in pbx.events()


def test_live_data_changed_after_preflight_fails_before_the_pbx_stops(pbx_service):
    svc, pbx = pbx_service()
    token = preflight(svc)["token"]
    os.symlink("/etc/passwd", svc.data / "core" / "planted")
    before = tree_state(svc.data)
    recorder = SignalRecorder(svc)
    job = restore(svc, token=token)
    _, result, name, message = recorder.wait_finished(job)
    assert result == "failed"
    assert "planted" in message and "cannot be saved" in message
    assert tree_state(svc.data) == before
    assert "stop" not in pbx.events()
    assert staging_leftovers(svc) == []
    assert not (svc.backups / JOURNAL).exists()


def test_live_data_over_max_entries_blocks(pbx_service):
    svc, pbx = pbx_service(start=False, extra="MaxEntries=40\n")
    many = svc.data / "cdr-voicemail" / "many"
    many.mkdir()
    for i in range(60):
        (many / f"{i}.csv").write_text(f"{i}\n")
    svc.start()
    report = preflight(svc)
    blockers = [str(b) for b in report["blockers"]]
    assert any("MaxEntries" in b for b in blockers), blockers
    # the backup itself is small enough, and so is a component without them
    assert preflight(svc, components=["core"])["blockers"] == []


def test_live_data_over_max_unpacked_size_blocks(pbx_service):
    svc, pbx = pbx_service(start=False, extra="MaxUnpackedSize=100000\n")
    (svc.data / "cdr-voicemail" / "big.wav").write_bytes(b"\0" * 200000)
    svc.start()
    blockers = [str(b) for b in preflight(svc)["blockers"]]
    assert any("MaxUnpackedSize" in b for b in blockers), blockers
    assert preflight(svc, components=["core"])["blockers"] == []


# --- after the PBX runs on the restored data, nothing stops it again -------------


def test_failure_to_save_the_previous_state_keeps_it_and_the_pbx_running(pbx_service, workdir):
    """Something unpackable appears in the live tree after the checks (while
    the PBX stops): the restore ends done with a warning, the PBX runs on
    the restored data (one stop, one start), the old trees stay on disk and
    in the journal, restores are refused, and the daemon tries again."""
    svc, pbx = pbx_service(stop_delay=2, extra="", start=False)
    svc.config.write_text(svc.config.read_text().replace(
        "CommandTimeout=60\n", "CommandTimeout=60\nRecoveryRetryInterval=1\n"))
    svc.start()
    old_core = snapshot(svc.data / "core")
    token = preflight(svc)["token"]
    events_before = len(pbx.events())
    job = restore(svc, token=token)
    wait_for(lambda: job_property(svc, job, "Stage") == "stopping-pbx", what="stopping-pbx")
    fifo = svc.data / "core" / "fifo"
    os.mkfifo(fifo)
    assert wait_job(svc, job) == "done"
    warning = str(details(svc, job)["warning"])
    assert "not saved" in warning and "fifo" in warning
    assert "pre-restore-backup" not in details(svc, job)
    assert pbx.events()[events_before:] == ["stop", "start"]
    assert pbx.status()["running"] is True
    assert live_files(svc) == new_tree_files(workdir)
    # the old tree is kept where the journal says
    assert (svc.data / ".sf-staging-core" / "fifo").exists()
    assert "State=running" in (svc.backups / JOURNAL).read_text()
    assert "not resolved" in busy_message(svc)
    assert any("not resolved" in str(b) for b in preflight(svc)["blockers"])
    # the daemon keeps trying; once the obstacle is gone, the undo is saved
    os.unlink(svc.data / ".sf-staging-core" / "fifo")
    wait_for(lambda: not (svc.backups / JOURNAL).exists(), timeout=30, what="the retry")
    for path in job_list(svc):
        wait_job(svc, path)
    undo = pre_restores(svc)
    assert len(undo) == 1
    assert staging_leftovers(svc) == []
    assert pbx.events()[events_before:] == ["stop", "start"]
    # and the undo brings the old data back exactly
    token = preflight(svc, undo[0])["token"]
    assert wait_job(svc, restore(svc, undo[0], token=token)) == "done"
    assert snapshot(svc.data / "core") == old_core


# --- recovery that fails is retried; nothing it needs is touched meanwhile --------


def test_failed_recovery_at_start_is_retried_and_blocks_restores(pbx_service, workdir):
    svc, pbx = pbx_service(start_delay=3, start=False)
    svc.config.write_text(svc.config.read_text().replace(
        "CommandTimeout=60\n", "CommandTimeout=60\nRecoveryRetryInterval=1\n"))
    svc.start()
    before = live_files(svc)
    job = restore_killed_while_starting_the_pbx(svc, pbx)
    pbx.run("set-fail", "start")
    svc.start()
    # the recovery cannot start the PBX on either tree: the journal stays
    wait_for(lambda: pbx.events().count("start-failed") >= 2, timeout=30, what="failed starts")
    assert (svc.backups / JOURNAL).exists()
    # Busy while the recovery job ends, then Busy because it is unresolved
    wait_for(lambda: "not resolved" in busy_message(svc), timeout=30, what="unresolved")
    report = preflight(svc)
    assert report["token"] == ""
    assert any("not resolved" in str(b) for b in report["blockers"])
    # the staging trees the journal names are still there
    assert staging_leftovers(svc) != []
    pbx.run("set-fail")
    wait_for(lambda: not (svc.backups / JOURNAL).exists(), timeout=30, what="the retry")
    wait_for(lambda: pbx.status()["running"], timeout=10, what="the PBX")
    assert live_files(svc) == before
    assert staging_leftovers(svc) == []
    assert pre_restores(svc) == []
    wait_for(lambda: "not resolved" not in str(preflight(svc)["blockers"]), what="no blocker")
    token = preflight(svc)["token"]
    assert wait_job(svc, restore(svc, token=token)) == "done"


def test_recovery_job_cannot_be_canceled(pbx_service, workdir):
    svc, pbx = pbx_service(start_delay=3)
    job = restore_killed_while_starting_the_pbx(svc, pbx)
    svc.start()
    jobs = job_list(svc)
    assert len(jobs) == 1
    # it starts the PBX, which takes 3 s: still running now
    assert job_property(svc, jobs[0], "State") == "running"
    with pytest.raises(dbus.DBusException) as e:
        dbus.Interface(svc.proxy(path=jobs[0]), JOB_IFACE).Cancel()
    assert e.value.get_dbus_name() == ERROR + "Busy"
    assert wait_job(svc, jobs[0]) == "done"
    assert live_files(svc) == new_tree_files(workdir)


def test_stale_swapped_journal_after_a_finished_rollback_keeps_the_old_data(pbx_service,
                                                                            workdir):
    """The rollback after a failed start swapped every component back, then
    the daemon died before the journal said so: the journal still says
    "swapped".  The restart must see from the inodes that the old data is
    live, and must not save the restored data as the "previous state"."""
    svc, pbx = pbx_service(start_delay=3)
    before = live_files(svc)
    job = restore_killed_while_starting_the_pbx(svc, pbx)
    assert "State=swapped" in (svc.backups / JOURNAL).read_text()
    for component in OLD_TREE:
        live, staging = svc.data / component, svc.data / f".sf-staging-{component}"
        os.rename(live, svc.data / "tmp-swap")
        os.rename(staging, live)
        os.rename(svc.data / "tmp-swap", staging)
    svc.start()
    for path in job_list(svc):
        wait_job(svc, path)
    assert live_files(svc) == before
    assert pre_restores(svc) == []
    assert staging_leftovers(svc) == []
    assert not (svc.backups / JOURNAL).exists()
    assert pbx.status()["running"] is True


def test_journal_that_matches_nothing_on_disk_changes_nothing(pbx_service):
    svc, pbx = pbx_service(start_delay=3)
    job = restore_killed_while_starting_the_pbx(svc, pbx)
    # someone replaced a live directory behind the daemon's back
    os.rename(svc.data / "core", svc.data / "core.moved")
    make_tree(svc.data, {"core": {"other.txt": "x"}})
    svc.start()
    for path in job_list(svc):
        wait_job(svc, path)
    assert (svc.backups / JOURNAL).exists()
    assert (svc.data / ".sf-staging-core").exists()
    assert (svc.data / "core.moved").exists()
    assert "not resolved" in busy_message(svc)


# --- names the daemon chooses ------------------------------------------------------


def test_callers_cannot_take_the_name_of_an_undo(pbx_service, workdir):
    svc, pbx = pbx_service()
    source = svc.backups / "New.sar"
    for name in ("pre-restore_2026-11-30_10-00-00.sar", "Pre-Restore_2026-11-30_10-00-00.sar"):
        with open(source, "rb") as f:
            with pytest.raises(dbus.DBusException) as e:
                svc.manager().Upload(name, dbus.types.UnixFd(f.fileno()),
                                     dbus.Dictionary({}, signature="sv"))
        assert e.value.get_dbus_name() == ERROR + "InvalidName"
        assert "reserved" in e.value.get_dbus_message()
    # replacing an existing undo is refused the same way
    token = preflight(svc)["token"]
    assert wait_job(svc, restore(svc, token=token)) == "done"
    undo = pre_restores(svc)[0]
    with open(source, "rb") as f:
        with pytest.raises(dbus.DBusException) as e:
            svc.manager().Upload(undo, dbus.types.UnixFd(f.fileno()),
                                 dbus.Dictionary({"replace": True}, signature="sv"))
    assert e.value.get_dbus_name() == ERROR + "InvalidName"


# --- smaller -----------------------------------------------------------------------


def test_restore_with_unknown_installed_version_is_not_version_too_new(pbx_service):
    svc, pbx = pbx_service()
    token = preflight(svc)["token"]
    svc.version_file.unlink()
    with pytest.raises(dbus.DBusException) as e:
        restore(svc, token=token)
    assert e.value.get_dbus_name() == ERROR + "Failed"
    assert "unknown" in e.value.get_dbus_message()
    assert "stop" not in pbx.events()
