"""The job history (GetHistory, `starface-backup history`): every upload
and restore, kept across restarts, bounded, never trusted blindly."""

import json
import os
import subprocess

import dbus

from harness import CLIENT, JOB_IFACE, job_property, wait_for, wait_job
from test_restore import job_list, pbx_service, preflight, restore  # noqa: F401
from test_restore_trust import restore_killed_while_starting_the_pbx


def history(svc, limit=0):
    entries = svc.manager().GetHistory(dbus.UInt32(limit))
    return [{str(k): v for k, v in entry.items()} for entry in entries]


def upload(svc, source, name, **options):
    with open(source, "rb") as f:
        return str(svc.manager().Upload(name, dbus.types.UnixFd(f.fileno()),
                                        dbus.Dictionary(options, signature="sv")))


def client(svc, *args):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=svc.bus.address, LC_ALL="C.UTF-8")
    return subprocess.run([CLIENT, *args], capture_output=True, text=True, env=env, timeout=60)


def test_every_kind_of_ending_is_kept_across_a_restart(pbx_service, workdir):
    svc, pbx = pbx_service(stop_delay=2)
    source = svc.backups / "New.sar"
    # an upload that is done, one that fails (not a SAR file) ...
    done_upload = upload(svc, source, "Copy_2026-11-30_10-00-00.sar")
    assert wait_job(svc, done_upload) == "done"
    junk = workdir / "junk.sar"
    junk.write_bytes(os.urandom(4096))
    failed_upload = upload(svc, junk, "Junk.sar")
    assert wait_job(svc, failed_upload) == "failed"
    # ... a restore that is canceled and one that is done
    token = preflight(svc)["token"]
    canceled = restore(svc, token=token)
    wait_for(lambda: job_property(svc, canceled, "Stage") == "stopping-pbx", what="stopping")
    dbus.Interface(svc.proxy(path=canceled), JOB_IFACE).Cancel()
    assert wait_job(svc, canceled) == "canceled"
    token = preflight(svc, components=["core"])["token"]
    done_restore = restore(svc, components=["core"], token=token)
    assert wait_job(svc, done_restore) == "done"

    svc.stop()
    svc.start()
    entries = history(svc)
    assert [(str(e["job"]), str(e["result"])) for e in entries] == [
        (done_restore, "done"), (canceled, "canceled"), (failed_upload, "failed"),
        (done_upload, "done")]
    last = entries[0]
    assert last["operation"] == "restore" and last["backup"] == "New.sar"
    assert list(last["components"]) == ["core"]
    assert last["uid"] == 0
    assert last["started"] <= last["finished"]
    assert str(last["pre-restore-backup"]).startswith("pre-restore_")
    assert "pbx-downtime-ms" in last
    assert entries[1]["error-name"] == "de.starface.Backup.Error.Canceled"
    assert entries[2]["error-name"] == "de.starface.Backup.Error.InvalidBackup"
    assert entries[2]["error-message"] != ""
    assert entries[3]["operation"] == "upload" and list(entries[3]["components"]) == []
    assert "pre-restore-backup" not in entries[3]
    assert [str(e["job"]) for e in history(svc, 2)] == [done_restore, canceled]

    # the client shows the same, as a table and as JSON
    table = client(svc, "history")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["FINISHED", "OPERATION", "BACKUP", "RESULT"]
    assert "restore" in lines[1] and "done" in lines[1]
    assert any("undo: restore pre-restore_" in line for line in lines)
    data = json.loads(client(svc, "history", "--limit", "1", "--json").stdout)
    assert len(data) == 1 and data[0]["job"] == done_restore and data[0]["result"] == "done"
    assert client(svc, "history", "--limit", "-1").returncode != 0


def test_a_restore_killed_midway_is_recorded_once_by_its_recovery(pbx_service):
    svc, pbx = pbx_service(start_delay=3)
    job = restore_killed_while_starting_the_pbx(svc, pbx)
    svc.start()
    for path in job_list(svc):
        assert wait_job(svc, path) == "done"
    entries = history(svc)
    assert len(entries) == 1
    assert entries[0]["job"] != job
    assert entries[0]["operation"] == "restore" and entries[0]["result"] == "done"
    assert entries[0]["backup"] == "New.sar"
    svc.stop()
    svc.start()
    assert len(history(svc)) == 1


def test_a_damaged_history_is_set_aside_and_the_daemon_runs_on(pbx_service):
    svc, pbx = pbx_service()
    job = upload(svc, svc.backups / "New.sar", "Copy.sar")
    assert wait_job(svc, job) == "done"
    svc.stop()
    text = (svc.state / "history").read_bytes()
    (svc.state / "history").write_bytes(text[:-7])       # cut in the middle of a record
    svc.start()
    assert history(svc) == []
    aside = [p.name for p in svc.state.iterdir() if p.name.startswith("history.damaged-")]
    assert len(aside) == 1
    assert "set aside" in svc.log.read_text()
    job = upload(svc, svc.backups / "New.sar", "Copy2.sar")
    assert wait_job(svc, job) == "done"
    assert [str(e["backup"]) for e in history(svc)] == ["Copy2.sar"]
    svc.stop()
    (svc.state / "history").write_bytes(b"\x00\xff" * 1000 + b"\n")
    svc.start()
    assert history(svc) == []


def test_history_stays_bounded(pbx_service):
    svc, pbx = pbx_service(extra="HistoryEntries=5\n")
    source = svc.backups / "New.sar"
    jobs = []
    for i in range(12):
        jobs.append(upload(svc, source, f"Copy{i}.sar"))
        assert wait_job(svc, jobs[-1]) == "done"
    assert [str(e["job"]) for e in history(svc)] == jobs[::-1][:5]
    svc.stop()
    svc.start()
    assert [str(e["job"]) for e in history(svc)] == jobs[::-1][:5]
    assert len((svc.state / "history").read_text().splitlines()) <= 10
