"""Authorization with the real polkitd and real users (setpriv).

Accounts: root (never asks polkit); sfagent (a rule allows it to read,
upload backups whose name starts with "Agent" and restore); sfcore (may
read, and restore only the core component: a rule on the "components"
detail); sfdeny (a rule says no); sfslow (a rule that takes 3 s, then
yes); nobody (no rule: the policy's defaults, which ask for an
administrator's password).
"""

import json
import os
import subprocess
import time

import dbus
import pytest

from harness import CALLER, ERROR, Bus, Polkit, Service, call_as, ensure_user, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real users need root (setpriv)")

RULES = """
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("de.starface.backup.") != 0)
        return polkit.Result.NOT_HANDLED;
    if (subject.user == "sfagent") {
        if (action.id == "de.starface.backup.upload")
            return action.lookup("backup").indexOf("Agent") == 0
                ? polkit.Result.YES : polkit.Result.NO;
        if (action.id == "de.starface.backup.cancel")
            return polkit.Result.NO;
        return polkit.Result.YES;
    }
    if (subject.user == "sfcore") {
        if (action.id == "de.starface.backup.read")
            return polkit.Result.YES;
        if (action.id == "de.starface.backup.restore")
            return action.lookup("components") == "core" ? polkit.Result.YES : polkit.Result.NO;
        return polkit.Result.NO;
    }
    if (subject.user == "sfdeny")
        return polkit.Result.NO;
    if (subject.user == "sfslow") {
        polkit.spawn(["/bin/sleep", "3"]);
        return polkit.Result.YES;
    }
    return polkit.Result.NOT_HANDLED;
});
"""

USERS = ["sfagent", "sfcore", "sfdeny", "sfslow"]
NO_OPTIONS = {}


@pytest.fixture(scope="module", autouse=True)
def users():
    for user in USERS:
        ensure_user(user)


@pytest.fixture
def polkit(workdir, bus):
    root = workdir / "polkit"
    root.mkdir()
    pk = Polkit(root, bus, RULES)
    pk.start()
    yield pk
    pk.stop()


@pytest.fixture
def svc(service, polkit):
    os.chmod(service.root, 0o755)
    return service


@pytest.fixture
def readable_backup(svc, backup_maker, workdir):
    """A backup file other users can open (they pass their own fd)."""
    shared = workdir / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    path = backup_maker(shared, "source.sar")
    os.chmod(path, 0o644)
    return path


def jobs(svc):
    props = dbus.Interface(svc.proxy(), "org.freedesktop.DBus.Properties")
    return list(props.Get("de.starface.Backup", "Jobs"))


def test_root_needs_no_polkit(service, backup_maker):
    # no polkitd on this bus at all
    backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar")
    assert len(service.manager().List()) == 1


def test_allowed_user_lists_and_uploads(svc, readable_backup):
    result = call_as("sfagent", svc.bus.address, "List")
    assert result["reply"] == [[]]
    result = call_as("sfagent", svc.bus.address, "Upload", "sha{sv}",
                     ["Agent_2026-11-27_10-00-00.sar", f"@fd:{readable_backup}", NO_OPTIONS],
                     wait_job=True)
    assert result["finished"][1] == "done", result
    assert (svc.backups / "Agent_2026-11-27_10-00-00.sar").read_bytes() == \
        readable_backup.read_bytes()


def test_backup_detail_lets_rules_restrict_names(svc, readable_backup):
    result = call_as("sfagent", svc.bus.address, "Upload", "sha{sv}",
                     ["Other.sar", f"@fd:{readable_backup}", NO_OPTIONS])
    assert result["error"] == ERROR + "NotAuthorized"
    assert list(svc.backups.iterdir()) == []
    assert jobs(svc) == []


def test_denied_user_gets_not_authorized(svc, readable_backup):
    assert call_as("sfdeny", svc.bus.address, "List")["error"] == ERROR + "NotAuthorized"
    result = call_as("sfdeny", svc.bus.address, "Upload", "sha{sv}",
                     ["Agent.sar", f"@fd:{readable_backup}", NO_OPTIONS])
    assert result["error"] == ERROR + "NotAuthorized"
    assert list(svc.backups.iterdir()) == []
    assert jobs(svc) == []


def test_nobody_needs_interactive_authorization(svc, readable_backup):
    # the defaults ask for an administrator: without the flag that is
    # InteractiveAuthorizationRequired ...
    for method, sig, args in [("List", "", []),
                              ("Inspect", "s", ["x.sar"]),
                              ("Upload", "sha{sv}", ["Agent.sar", f"@fd:{readable_backup}",
                                                     NO_OPTIONS])]:
        result = call_as("nobody", svc.bus.address, method, sig, args)
        assert result["error"] == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", \
            (method, result)
        # ... and with it, no agent can answer for nobody: NotAuthorized
        result = call_as("nobody", svc.bus.address, method, sig, args, interactive=True)
        assert result["error"] == ERROR + "NotAuthorized", (method, result)
    assert list(svc.backups.iterdir()) == []
    assert jobs(svc) == []


def test_argument_errors_come_before_authorization(svc):
    result = call_as("nobody", svc.bus.address, "Inspect", "s", ["Sicherung_März.sar"])
    assert result["error"] == ERROR + "InvalidName"


def test_polkitd_gone_means_not_authorized(svc, polkit):
    assert "reply" in call_as("sfagent", svc.bus.address, "List")
    polkit.stop()
    result = call_as("sfagent", svc.bus.address, "List")
    assert result["error"] == ERROR + "NotAuthorized"
    assert "polkit" in result["message"]
    # root is not affected
    assert len(svc.manager().List()) == 0


def test_caller_leaving_during_check_causes_nothing(svc, readable_backup):
    start = time.monotonic()
    call_as("sfslow", svc.bus.address, "Upload", "sha{sv}",
            ["Agent_slow.sar", f"@fd:{readable_backup}", NO_OPTIONS], no_wait=True)
    # the check takes 3 s; the daemon serves others meanwhile
    svc.manager().List()
    assert time.monotonic() - start < 2.5
    wait_for(lambda: "during its authorization check" in svc.log.read_text(), timeout=15,
             what="the dropped call")
    assert jobs(svc) == []
    assert list(svc.backups.iterdir()) == []


def test_slow_check_allows_a_caller_that_waits(svc):
    result = call_as("sfslow", svc.bus.address, "List")
    assert result["reply"] == [[]]


def test_cancel_own_job_and_others_need_the_action(svc, workdir):
    fifo = workdir / "shared-fifo"
    os.mkfifo(fifo, 0o644)
    os.chmod(workdir, 0o755)
    writer_fd = None
    starter = subprocess.Popen(
        ["setpriv", "--reuid=sfagent", "--regid=sfagent", "--init-groups", "--reset-env",
         "/usr/bin/python3", CALLER, svc.bus.address, "Upload",
         "sha{sv}", f'["Agent_fifo.sar", "@fd:{fifo}", {{}}]', "--wait-job"],
        stdout=subprocess.PIPE, text=True)
    try:
        # the FIFO's reader is open in the daemon once the job runs
        wait_for(lambda: jobs(svc), what="the upload job")
        writer_fd = os.open(fifo, os.O_WRONLY)
        os.write(writer_fd, b"partial data")
        job = str(jobs(svc)[0])
        for user, expected in [("nobody", "org.freedesktop.DBus.Error."
                                          "InteractiveAuthorizationRequired"),
                               ("sfdeny", ERROR + "NotAuthorized"),
                               ("sfcore", ERROR + "NotAuthorized")]:
            result = call_as(user, svc.bus.address, "Cancel", path=job,
                             interface="de.starface.Backup.Job")
            assert result.get("error") == expected, (user, result)
        # none of those refusals touched the job
        assert str(svc.proxy(path=job).Get("de.starface.Backup.Job", "State",
                                           dbus_interface="org.freedesktop.DBus.Properties")
                   ) == "running"
        # the starter's uid may cancel from another connection
        result = call_as("sfagent", svc.bus.address, "Cancel", path=job,
                         interface="de.starface.Backup.Job")
        assert "error" not in result, result
        out, _ = starter.communicate(timeout=60)
        assert json.loads(out)["finished"][1] == "canceled"
        assert list(svc.backups.iterdir()) == []
    finally:
        if writer_fd is not None:
            os.close(writer_fd)
        if starter.poll() is None:
            starter.kill()


def test_only_root_may_own_the_name(svc):
    entry = ensure_user("sfdeny")
    result = subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
         "--reset-env", "busctl", f"--address={svc.bus.address}", "call", "org.freedesktop.DBus",
         "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", "su",
         "de.starface.Backup", "0"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "not allowed to own" in result.stderr or "AccessDenied" in result.stderr \
        or "Access denied" in result.stderr, result.stderr


def test_session_mode_serves_only_its_own_uid(workdir, backup_maker):
    entry = ensure_user("sfagent")
    bus_root = workdir / "session-bus"
    bus_root.mkdir()
    bus = Bus(bus_root, kind="session")
    root = workdir / "session-service"
    root.mkdir()
    svc = Service(root, bus)
    for path in [root, *root.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(root, 0o755)
    try:
        svc.start(extra_args=["--session"],
                  wrapper=["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                           "--init-groups"])
        assert call_as("sfagent", bus.address, "List")["reply"] == [[]]
        assert call_as("nobody", bus.address, "List")["error"] == ERROR + "NotAuthorized"
        with pytest.raises(dbus.DBusException) as e:
            svc.manager().List()
        assert e.value.get_dbus_name() == ERROR + "NotAuthorized"
    finally:
        svc.stop()
        bus.stop()


def test_rule_on_components_detail_allows_core_only(svc, backup_maker):
    backup_maker(svc.backups, "Nightly_2026-11-20_02-00-00.sar")
    name = "Nightly_2026-11-20_02-00-00.sar"
    address = svc.bus.address
    report = call_as("sfcore", address, "Preflight", "sasa{sv}",
                     [name, ["core"], {}])["reply"][0]
    token = report["token"]
    assert len(token) == 32
    # other components, or all of them, are refused before the token is even looked at
    for components in (["cdr-voicemail"], ["core", "announcements"], []):
        result = call_as("sfcore", address, "Restore", "sasa{sv}",
                         [name, components, {"token": token}])
        assert result["error"] == ERROR + "NotAuthorized", (components, result)
    # a token is bound to the uid it was issued to
    with pytest.raises(dbus.DBusException) as e:
        svc.manager().Restore(name, dbus.Array(["core"], signature="s"),
                              dbus.Dictionary({"token": token}, signature="sv"))
    assert e.value.get_dbus_name() == ERROR + "InvalidToken"
    assert "another user" in e.value.get_dbus_message()
    result = call_as("sfcore", address, "Restore", "sasa{sv}", [name, ["core"], {"token": token}],
                     wait_job=True)
    assert result["finished"][1] == "done", result
    assert (svc.data / "core" / "db" / "asterisk.sql").exists()
    assert not (svc.data / "cdr-voicemail" / "cdr").exists()


def test_nobody_cannot_restore(svc, backup_maker):
    backup_maker(svc.backups, "Nightly_2026-11-20_02-00-00.sar")
    result = call_as("nobody", svc.bus.address, "Restore", "sasa{sv}",
                     ["Nightly_2026-11-20_02-00-00.sar", [], {"token": "0" * 32}])
    assert result["error"] == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
    assert not (svc.data / "core").exists()


# Arguments that are wrong whatever the backup holds, for Preflight and
# Restore alike: (components, options, expected error).  A Restore gets a
# well-formed token unless the case is about the token.
TOKEN = {"token": "0" * 32}
BAD_ARGUMENTS = [
    (["core", "core"], {}, "org.freedesktop.DBus.Error.InvalidArgs"),
    (["announcements", "core", "announcements"], {}, "org.freedesktop.DBus.Error.InvalidArgs"),
    (["Core"], {}, ERROR + "UnknownComponent"),
    (["core", "-x"], {}, ERROR + "UnknownComponent"),
    (["faxes"], {}, ERROR + "UnknownComponent"),
    (["core"], {"colour": True}, "org.freedesktop.DBus.Error.InvalidArgs"),
    (["core"], {"ignore-ip": "yes"}, "org.freedesktop.DBus.Error.InvalidArgs"),
]


def test_arguments_are_checked_before_polkit_alike_for_preflight_and_restore(svc, backup_maker):
    """For callers polkit would refuse (sfdeny), ask a password for
    (nobody) or refuse these components (sfcore): the same error for
    Preflight and Restore, never NotAuthorized or
    InteractiveAuthorizationRequired."""
    name = "Nightly_2026-11-20_02-00-00.sar"
    backup_maker(svc.backups, name)
    address = svc.bus.address
    for user in ("sfcore", "sfdeny", "nobody"):
        for components, options, expected in BAD_ARGUMENTS:
            for method, extra in (("Preflight", {}), ("Restore", TOKEN)):
                result = call_as(user, address, method, "sasa{sv}",
                                 [name, components, {**options, **extra}])
                assert result.get("error") == expected, (user, method, components, options,
                                                         result)
        result = call_as(user, address, "Preflight", "sasa{sv}", ["Sicherung März.sar", [], {}])
        assert result["error"] == ERROR + "InvalidName", (user, result)
        result = call_as(user, address, "Restore", "sasa{sv}", ["Sicherung März.sar", [], TOKEN])
        assert result["error"] == ERROR + "InvalidName", (user, result)
        # a Restore without a token, of components this user may restore or not
        for components in (["core"], ["cdr-voicemail"], []):
            result = call_as(user, address, "Restore", "sasa{sv}", [name, components, {}])
            assert result["error"] == ERROR + "InvalidToken", (user, components, result)
    assert jobs(svc) == []
    assert not (svc.data / "core").exists()


def test_upload_arguments_are_checked_before_polkit(svc, readable_backup, workdir):
    os.chmod(workdir, 0o755)
    for user in ("sfdeny", "nobody"):
        for args, expected in [
                (["Sicherung März.sar", f"@fd:{readable_backup}", {}], ERROR + "InvalidName"),
                (["Agent.sar", f"@fd:{readable_backup}", {"overwrite": True}],
                 "org.freedesktop.DBus.Error.InvalidArgs"),
                (["Agent.sar", f"@fd:{readable_backup}", {"replace": "yes"}],
                 "org.freedesktop.DBus.Error.InvalidArgs"),
                (["Agent.sar", f"@fd:{workdir}", {}], "org.freedesktop.DBus.Error.InvalidArgs")]:
            result = call_as(user, svc.bus.address, "Upload", "sha{sv}", args)
            assert result.get("error") == expected, (user, args, result)
    assert list(svc.backups.iterdir()) == []
    assert jobs(svc) == []


# --- audit -----------------------------------------------------------------------


def audit_records(svc, kind):
    """The audit lines of one kind in the daemon's log, as dicts."""
    import shlex
    records = []
    for line in svc.log.read_text(errors="replace").splitlines():
        if line.startswith(f"AUDIT {kind} "):
            fields = dict(f.split("=", 1) for f in shlex.split(line)[2:])
            records.append(fields)
    return records


def test_refusals_are_audited_with_their_reason_and_leave_no_history(svc, readable_backup,
                                                                      backup_maker):
    import pwd
    backup_maker(svc.backups, "New.sar")
    deny = call_as("sfdeny", svc.bus.address, "Upload", "sha{sv}",
                   ["Agent.sar", f"@fd:{readable_backup}", NO_OPTIONS])
    assert deny["error"] == ERROR + "NotAuthorized"
    nobody = call_as("nobody", svc.bus.address, "Restore", "sasa{sv}",
                     ["New.sar", [], {"token": "0" * 32}])
    assert nobody["error"] == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
    wait_for(lambda: len(audit_records(svc, "authorization-denied")) >= 2, what="audit records")
    denied = audit_records(svc, "authorization-denied")
    by_action = {r["SF_ACTION"]: r for r in denied}
    upload = by_action["de.starface.backup.upload"]
    assert upload["SF_CALLER_UID"] == str(pwd.getpwnam("sfdeny").pw_uid)
    assert upload["SF_REASON"] == "polkit-denied"
    assert upload["SF_BACKUP"] == "Agent.sar"
    assert upload["SF_RESULT"] == "denied"
    assert upload["SF_BUS_NAME"].startswith(":")
    assert upload["MESSAGE_ID"] == "d7759bce8ad1432fa661d18095bd5942"
    restore = by_action["de.starface.backup.restore"]
    assert restore["SF_REASON"] == "interactive-authorization-required"
    assert restore["SF_CALLER_UID"] == str(pwd.getpwnam("nobody").pw_uid)
    assert restore["SF_COMPONENTS"] == "*"
    # reads are not audited; refusals are not jobs
    assert all(r["SF_ACTION"] != "de.starface.backup.read" for r in denied)
    assert list(svc.manager().GetHistory(dbus.UInt32(0))) == []
    assert audit_records(svc, "job-started") == []


def test_allowed_upload_is_audited_from_decision_to_end(svc, readable_backup):
    import pwd
    uid = str(pwd.getpwnam("sfagent").pw_uid)
    result = call_as("sfagent", svc.bus.address, "Upload", "sha{sv}",
                     ["Agent_2026-11-27_10-00-00.sar", f"@fd:{readable_backup}", NO_OPTIONS],
                     wait_job=True)
    assert result["finished"][1] == "done"
    wait_for(lambda: audit_records(svc, "job-finished"), what="the job's end record")
    allowed = audit_records(svc, "authorization-allowed")
    assert [(r["SF_ACTION"], r["SF_REASON"], r["SF_CALLER_UID"]) for r in allowed] == \
        [("de.starface.backup.upload", "polkit-allowed", uid)]
    started, = audit_records(svc, "job-started")
    finished, = audit_records(svc, "job-finished")
    assert started["SF_JOB"] == finished["SF_JOB"] == result["reply"][0]
    assert started["SF_OPERATION"] == "upload" and started["SF_CALLER_UID"] == uid
    assert finished["SF_RESULT"] == "done"
    history = svc.manager().GetHistory(dbus.UInt32(0))
    assert [(str(e["job"]), str(e["result"]), int(e["uid"])) for e in history] == \
        [(result["reply"][0], "done", int(uid))]
