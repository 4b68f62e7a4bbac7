"""The v1.1 API for frontends: reasons as codes, job outcomes kept on the
job object, and an ObjectManager for the jobs (checked with GDBus's own
object-manager client, as Cockpit-like frontends use one)."""

import os

import dbus

from harness import ERROR, JOB_IFACE, OBJECT_PATH, SignalRecorder, job_property, wait_for, wait_job
from test_restore import NEW_TREE, pbx_service, preflight, restore  # noqa: F401

OM_IFACE = "org.freedesktop.DBus.ObjectManager"


def checks(report):
    return [(str(sev), str(code), {str(k): v for k, v in args.items()})
            for sev, code, args in report["checks"]]


def test_preflight_checks_carry_codes_and_arguments(pbx_service, backup_maker):
    svc, pbx = pbx_service(start=False, extra="")
    svc.config.write_text(svc.config.read_text().replace(
        "SessionsCommand=", "#SessionsCommand="))
    os.symlink("/etc/passwd", svc.data / "core" / "link")
    backup_maker(svc.backups, "Newer.sar", tree=NEW_TREE, version="9.0.0.0",
                 extra=["--hostname=elsewhere", "--ip-address=192.0.2.99"])
    svc.start()
    report = preflight(svc, "Newer.sar")
    found = checks(report)
    codes = [(sev, code) for sev, code, _ in found]
    assert ("blocker", "version-newer") in codes
    assert ("blocker", "live-data-unsavable") in codes
    assert ("warning", "other-host") in codes
    assert ("warning", "sessions-unknown") in codes
    args = {code: a for _, code, a in found}
    assert args["version-newer"] == {"backup-version": "9.0.0.0",
                                     "installed-version": "8.1.2.3"}
    assert args["live-data-unsavable"]["component"] == "core"
    assert "link" in args["live-data-unsavable"]["reason"]
    assert args["other-host"]["hostname"] == "elsewhere"
    assert args["other-host"]["ip-address"] == "192.0.2.99"
    assert args["other-host"]["this-host"] != ""
    assert "reason" in args["sessions-unknown"]
    # the English texts are still there, one per check, in the same order
    assert len(report["blockers"]) == codes.count(("blocker", "version-newer")) + \
        codes.count(("blocker", "live-data-unsavable"))
    assert len(report["warnings"]) == sum(1 for sev, _ in codes if sev == "warning")


def test_undo_over_a_limit_is_coded(pbx_service):
    svc, pbx = pbx_service(start=False, extra="MaxUnpackedSize=100000\n")
    (svc.data / "cdr-voicemail" / "big.wav").write_bytes(b"\0" * 200000)
    svc.start()
    found = checks(preflight(svc))
    too_large = [a for sev, code, a in found if code == "undo-too-large"]
    assert len(too_large) == 1
    assert too_large[0]["limit"] == "MaxUnpackedSize"
    assert too_large[0]["maximum"] == 100000
    assert too_large[0]["value"] > 200000


def test_a_clean_preflight_has_no_checks(pbx_service):
    svc, pbx = pbx_service()
    report = preflight(svc)
    assert checks(report) == []
    assert report["token"] != ""


def test_job_outcome_is_kept_on_the_job_object(pbx_service, workdir):
    svc, pbx = pbx_service()
    junk = workdir / "junk.sar"
    junk.write_bytes(os.urandom(2048))
    with open(junk, "rb") as f:
        job = str(svc.manager().Upload("Junk.sar", dbus.types.UnixFd(f.fileno()),
                                       dbus.Dictionary({}, signature="sv")))
    assert wait_job(svc, job) == "failed"
    # a frontend that reloads reads why, without having seen Finished
    assert job_property(svc, job, "Result") == "failed"
    assert job_property(svc, job, "ErrorName") == ERROR + "InvalidBackup"
    assert str(job_property(svc, job, "ErrorMessage")) != ""
    token = preflight(svc)["token"]
    done = restore(svc, token=token)
    assert wait_job(svc, done) == "done"
    assert job_property(svc, done, "Result") == "done"
    assert job_property(svc, done, "ErrorName") == ""


def test_running_job_has_an_empty_result(pbx_service):
    svc, pbx = pbx_service(stop_delay=2)
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    wait_for(lambda: job_property(svc, job, "Stage") == "stopping-pbx", what="stopping")
    assert job_property(svc, job, "Result") == ""
    assert job_property(svc, job, "ErrorName") == ""
    assert wait_job(svc, job) == "done"


def test_object_manager_reports_jobs_as_they_come_and_go(pbx_service):
    svc, pbx = pbx_service(start=False)
    svc.config.write_text(svc.config.read_text().replace(
        "FinishedJobLifetime=600", "FinishedJobLifetime=1"))
    svc.start()
    recorder = SignalRecorder(svc)
    added, removed = [], []
    recorder.conn.add_signal_receiver(lambda path, ifaces: added.append((str(path), ifaces)),
                                      signal_name="InterfacesAdded", dbus_interface=OM_IFACE,
                                      path=OBJECT_PATH)
    recorder.conn.add_signal_receiver(lambda path, names: removed.append((str(path), names)),
                                      signal_name="InterfacesRemoved", dbus_interface=OM_IFACE,
                                      path=OBJECT_PATH)
    om = dbus.Interface(svc.proxy(), OM_IFACE)
    assert dict(om.GetManagedObjects()) == {}
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    recorder.wait_finished(job)
    objects = om.GetManagedObjects()
    assert list(map(str, objects.keys())) == [job]
    props = objects[job][JOB_IFACE]
    assert props["Operation"] == "restore" and props["State"] == "done"
    assert props["Result"] == "done"
    assert "org.freedesktop.DBus.Properties" in objects[job]
    recorder.run_until(lambda: removed, timeout=15)
    assert added[0][0] == job
    assert added[0][1][JOB_IFACE]["Operation"] == "restore"
    assert removed[0][0] == job and JOB_IFACE in [str(n) for n in removed[0][1]]
    assert dict(om.GetManagedObjects()) == {}


def test_gdbus_object_manager_client_sees_the_jobs(pbx_service):
    import gi
    gi.require_version("Gio", "2.0")
    from gi.repository import Gio, GLib

    svc, pbx = pbx_service(stop_delay=1)
    conn = Gio.DBusConnection.new_for_address_sync(
        svc.bus.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    client = Gio.DBusObjectManagerClient.new_sync(
        conn, Gio.DBusObjectManagerClientFlags.NONE, "de.starface.Backup", OBJECT_PATH,
        None, None, None)
    seen = []
    client.connect("object-added", lambda _m, obj: seen.append(obj.get_object_path()))
    token = preflight(svc)["token"]
    job = restore(svc, token=token)
    ctx = GLib.MainContext.default()
    deadline = GLib.get_monotonic_time() + 20 * 1000000
    while job not in seen and GLib.get_monotonic_time() < deadline:
        ctx.iteration(False)
    assert job in seen
    proxy = client.get_interface(job, JOB_IFACE)
    assert proxy.get_cached_property("Operation").unpack() == "restore"
    assert wait_job(svc, job) == "done"
    conn.close_sync(None)


def listing(svc):
    def plain(v):
        return bool(v) if isinstance(v, dbus.Boolean) else v
    return {str(name): {str(k): plain(v) for k, v in info.items()}
            for name, info in svc.manager().List()}


def test_latest_never_falls_on_an_undo_point(pbx_service):
    svc, pbx = pbx_service()
    token = preflight(svc)["token"]
    assert wait_job(svc, restore(svc, token=token)) == "done"
    entries = listing(svc)
    undo = [n for n in entries if n.startswith("pre-restore_")]
    assert len(undo) == 1
    # newest, valid and compatible, but an undo point: listed, marked, not preselected
    assert entries[undo[0]]["undo-point"] is True
    assert entries[undo[0]]["valid"] and entries[undo[0]]["compatible"]
    assert entries[undo[0]]["latest"] is False
    assert entries["New.sar"]["latest"] is True and entries["New.sar"]["undo-point"] is False
    # and it stays restorable by name
    token = preflight(svc, undo[0])["token"]
    assert wait_job(svc, restore(svc, undo[0], token=token)) == "done"


def test_list_problems_carry_codes(pbx_service, backup_maker, workdir):
    svc, pbx = pbx_service()
    (svc.backups / "Junk.sar").write_bytes(os.urandom(3000))
    os.symlink(svc.backups / "New.sar", svc.backups / "Link.sar")
    (svc.backups / b"Bad\xff.sar".decode("utf-8", "surrogateescape")).write_bytes(b"x")
    backup_maker(svc.backups, "Future.sar", created="2099-01-01T00:00:00Z")
    entries = listing(svc)
    assert entries["Junk.sar"]["problem-code"] == "invalid-backup"
    assert entries["Link.sar"]["problem-code"] == "unreadable"
    assert entries["Bad\\xFF.sar"]["problem-code"] == "name-not-utf8"
    assert entries["Future.sar"]["problem-code"] == "created-in-future"
    assert entries["Future.sar"]["valid"] is True
    assert "problem-code" not in entries["New.sar"]
    # every coded problem also has its English text
    assert all("problem" in e for e in entries.values() if "problem-code" in e)
