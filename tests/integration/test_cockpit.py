"""The Cockpit page, end to end: the package installed by `meson install`,
cockpit-ws with a local session, headless Chromium through Selenium, the
real daemon on the test's private bus with the PBX simulator, and (for an
unprivileged Cockpit user) the real polkitd.

Screenshots of the main steps go to <build>/cockpit-screenshots/.
"""

import os
import re
import signal

import dbus
import pytest

from harness import ERROR, Polkit, ensure_user, make_tree, pack, wait_for
from test_restore import (NEW_TREE, OLD_TREE, config_for, no_dirs_modes, pbx_service,  # noqa: F401
                          snapshot, source_snapshot)
from webui import Browser, CockpitWs, InstalledPackage, Page

NEWEST = "Nightly_2026-11-25_02-00-00.sar"


@pytest.fixture(scope="module")
def package():
    installed = InstalledPackage()
    yield installed
    installed.remove()


@pytest.fixture
def cockpit(workdir, bus, package):
    """start(user=None) -> CockpitWs serving the installed package."""
    started = []

    def start(user=None):
        ws = CockpitWs(workdir, package, bus.address, user=user)
        started.append(ws)
        return ws

    yield start
    for ws in started:
        ws.stop()


@pytest.fixture
def browser():
    """make(language) -> Browser; all are closed at the end."""
    browsers = []

    def make(language="en"):
        b = Browser(language)
        browsers.append(b)
        return b

    yield make
    for b in browsers:
        b.quit()


@pytest.fixture
def page(cockpit, browser):
    """open(language="en", user=None) -> the page, loaded."""

    def open_page(language="en", user=None, ws=None):
        ws = ws or cockpit(user)
        return Page(browser(language), ws.page_url()).open()

    return open_page


def listed(svc):
    return [(str(name), {str(k): v for k, v in info.items()})
            for name, info in svc.manager().List()]


def add_backups(svc, backup_maker):
    """Besides New.sar: a newer restorable one (the preselected), one of a
    newer STARFACE version, a damaged file and an undo point."""
    backup_maker(svc.backups, NEWEST, created="2026-11-25T02:00:00Z")
    backup_maker(svc.backups, "manual_2026-12-01_10-00-00.sar", version="9.0.0.1",
                 process="manual", created="2026-12-01T10:00:00Z")
    backup_maker(svc.backups, "pre-restore_2026-11-10_09-00-00.sar", process="pre-restore",
                 created="2026-11-10T09:00:00Z")
    (svc.backups / "Broken.sar").write_bytes(b"this is not a backup\n")


def data_is(svc, workdir, tree, components=None):
    expected = source_snapshot(workdir, tree)
    for component in components or tree:
        got = no_dirs_modes(snapshot(svc.data / component))
        want = {k.split("/", 1)[1]: v[0] for k, v in expected.items()
                if k.startswith(component + "/") and v[0] != "dir"}
        if got != want:
            return False
    return True


def start_restore(page):
    """Preflight shown: Restore…, confirm; returns the job path."""
    page.click("#restore-button")
    page.wait(lambda: page.find("#confirm-dialog").is_displayed(), what="the confirmation")
    page.click("#confirm-button")
    page.wait(lambda: page.job_state() is not None, what="the restore job")
    return page.find("#job-card").get_attribute("data-job")


# --- the list -----------------------------------------------------------------


def test_list_newest_first_latest_selected_unusable_not_selectable(pbx_service, backup_maker,
                                                                    page):
    svc, _ = pbx_service()
    add_backups(svc, backup_maker)
    p = page()
    backups = listed(svc)
    assert p.rows() == [name for name, _ in backups]
    latest = [name for name, info in backups if info["latest"]]
    assert latest == [NEWEST]
    assert p.selected() == NEWEST
    assert "sf-latest" in p.row(NEWEST).get_attribute("innerHTML")

    # the damaged file and the newer version: listed with why, not selectable
    broken = p.row("Broken.sar")
    assert broken.get_attribute("data-restorable") == "false"
    assert not broken.find_element(p.By.CSS_SELECTOR, "input").is_enabled()
    status = broken.find_element(p.By.CSS_SELECTOR, ".sf-status").text
    assert "This file is not a usable backup." in status
    problem = dict(backups)["Broken.sar"]["problem"]
    assert problem in status
    newer = p.row("manual_2026-12-01_10-00-00.sar")
    assert newer.get_attribute("data-restorable") == "false"
    assert not newer.find_element(p.By.CSS_SELECTOR, "input").is_enabled()
    assert "Made by STARFACE 9.0.0.1, which is newer than the installed 8.1.2.3." in newer.text
    broken.click()
    assert p.selected() == NEWEST

    # the undo point is marked and can be chosen
    undo = p.row("pre-restore_2026-11-10_09-00-00.sar")
    assert undo.find_element(p.By.CSS_SELECTOR, ".sf-undo-point").text == "Undo point"
    assert undo.get_attribute("data-restorable") == "true"
    assert "8.1.2.3" in p.row("New.sar").text
    assert p.text("#installed-version") == "Installed STARFACE version: 8.1.2.3"
    p.browser.screenshot("01-list-en")
    assert p.browser.console_errors() == []


def test_choosing_a_backup_shows_its_components_and_version_check(pbx_service, page):
    svc, _ = pbx_service()
    p = page()
    p.choose("New.sar")
    info = svc.manager().Inspect("New.sar")
    labels = [str(c[1]["label"]) for c in info["components"]]
    assert labels == ["Core data", "CDR and voicemails", "Voicemail announcements"]
    shown = [e.text for e in p.find_all("#components .sf-component-label")]
    assert shown == labels
    boxes = p.find_all("#components input[type=checkbox]")
    assert [b.get_attribute("value") for b in boxes] == ["core", "cdr-voicemail", "announcements"]
    assert all(b.is_selected() for b in boxes)
    check = p.find("#version-check-result")
    assert check.get_attribute("data-compatible") == "true"
    assert "8.1.2.3" in check.text
    ignore_ip = p.find("#ignore-ip")
    assert ignore_ip.is_displayed() and not ignore_ip.is_selected()
    p.browser.screenshot("02-inspect-en")
    # nothing to restore: no check
    for b in boxes:
        b.click()
    assert not p.find("#preflight-button").is_enabled()
    assert "Choose at least one kind of data" in p.text("#inspect-alert")


# --- the last check -----------------------------------------------------------------


def test_preflight_shows_users_and_calls_and_the_confirmation_names_them(pbx_service, page,
                                                                         workdir):
    svc, pbx = pbx_service()
    p = page()
    p.choose("New.sar")
    p.find("#components input[value=announcements]").click()
    p.preflight()
    assert p.text("#users-count") == "3"
    assert p.text("#users-label") == "logged-in users"
    assert p.text("#calls-count") == "2"
    assert p.text("#calls-label") == "active calls"
    assert p.find_all("#checks .sf-check-danger") == []
    assert p.find("#restore-button").is_enabled()
    p.click("#restore-button")
    p.wait(lambda: p.find("#confirm-dialog").is_displayed(), what="the confirmation")
    assert p.text("#confirm-title") == "Restore New.sar now?"
    assert p.text("#confirm-users") == "3 logged-in users will be logged out"
    assert p.text("#confirm-calls") == "2 active calls will be ended"
    p.browser.screenshot("03-confirm-en")
    p.click("#confirm-cancel")
    assert not p.find("#confirm-dialog").is_displayed()
    # nothing happened
    assert "stop" not in pbx.events()
    assert data_is(svc, workdir, OLD_TREE)

    # one of each: the singular
    pbx.run("set-sessions", "1", "1")
    p.preflight()
    p.click("#restore-button")
    p.wait(lambda: p.find("#confirm-dialog").is_displayed(), what="the confirmation")
    assert p.text("#confirm-users") == "1 logged-in user will be logged out"
    assert p.text("#confirm-calls") == "1 active call will be ended"
    p.click("#confirm-cancel")


def test_preflight_blockers_and_warnings_are_sentences_and_blockers_stop(pbx_service,
                                                                         backup_maker, page):
    svc, _ = pbx_service()
    backup_maker(svc.backups, "Elsewhere.sar",
                 extra=["--hostname=pbx-hamburg", "--ip-address=203.0.113.99"])
    # a symbolic link in the live core data: it could not be saved as the undo
    os.symlink("db/asterisk.sql", svc.data / "core" / "link")
    p = page()
    p.choose("Elsewhere.sar")
    p.preflight()
    [blocker] = p.find_all("#checks li.sf-check-danger")
    assert blocker.get_attribute("data-code") == "live-data-unsavable"
    assert blocker.text.startswith('The current data of "Core data" cannot be saved as the backup '
                                   'that undoes the restore: ')
    assert not p.find("#restore-button").is_enabled()
    warning = p.find("#checks li[data-code=other-host]")
    assert "pbx-hamburg" in warning.text and "203.0.113.99" in warning.text
    assert "Keep this machine's IP settings" in warning.text
    p.browser.screenshot("04-blockers-en")

    # keeping the IP settings: no warning about the other machine
    os.unlink(svc.data / "core" / "link")
    p.click("#ignore-ip")
    assert not p.visible("#preflight-card")
    p.preflight()
    assert p.find_all("#checks li[data-code=other-host]") == []
    assert p.find_all("#checks li.sf-check-danger") == []
    assert p.find("#restore-button").is_enabled()


# --- the restore -------------------------------------------------------------------


def test_restore_finishes_with_downtime_and_offers_the_undo(pbx_service, page, workdir):
    svc, pbx = pbx_service()
    p = page()
    p.choose("New.sar")
    p.preflight()
    job = start_restore(p)
    p.wait(lambda: p.job_state() == "done", timeout=60, what="the restore to finish")
    assert data_is(svc, workdir, NEW_TREE)
    assert pbx.events()[-2:] == ["stop", "start"]
    details = {str(k): v for k, v in svc.proxy(path=job).Get(
        "de.starface.Backup.Job", "Details", dbus_interface="org.freedesktop.DBus.Properties").items()}
    assert p.text("#job-title") == "Restore of New.sar"
    assert p.find("#job-bar").get_attribute("aria-valuenow") == "100"
    assert re.fullmatch(r"The PBX was down for [0-9.,]+ (ms|s)\.", p.text("#job-downtime"))
    undo = str(details["pre-restore-backup"])
    assert undo in p.text("#job-undo")
    assert p.visible("#undo-button")
    # the list and the history know it
    p.wait(lambda: undo in p.rows(), what="the undo point in the list")
    p.wait(lambda: "New.sar" in p.text("#history-body") and "Done" in p.text("#history-body"),
           what="the history")
    p.browser.screenshot("05-restored-en")

    # the undo: its backup preselected and its components shown
    p.click("#undo-button")
    p.wait(lambda: p.selected() == undo and p.visible("#inspect-card"), what="the undo chosen")
    assert undo in p.text("#inspect-title")
    assert not p.visible("#job-card")


def test_reload_during_a_restore_finds_the_running_job(pbx_service, page, workdir):
    svc, pbx = pbx_service(stop_delay=6)
    p = page()
    p.choose("New.sar")
    p.preflight()
    job = start_restore(p)
    p.wait(lambda: p.find("#job-card").get_attribute("data-job") == job)
    p.reload()
    # found again: the same job, still running, with its stage
    assert p.job_state() == "running"
    assert p.find("#job-card").get_attribute("data-job") == job
    assert p.text("#job-title") == "Restoring New.sar"
    p.wait(lambda: p.text("#job-stage") in ("Stopping the PBX: logins and calls end now",
                                             "Unpacking and checking the backup beside the live data"),
           what="the stage")
    p.browser.screenshot("06-reloaded-running-en")
    p.wait(lambda: p.job_state() == "done", timeout=60, what="the restore to finish")
    assert p.text("#job-downtime").startswith("The PBX was down for ")
    assert data_is(svc, workdir, NEW_TREE)


def test_a_restore_started_elsewhere_is_shown(pbx_service, page):
    svc, _ = pbx_service(stop_delay=6)
    p = page()
    assert p.job_state() is None
    # started by another client while the page is open: it appears
    manager = svc.manager()
    token = manager.Preflight("New.sar", dbus.Array(["core"], signature="s"),
                              dbus.Dictionary({}, signature="sv"))["token"]
    job = str(manager.Restore("New.sar", dbus.Array(["core"], signature="s"),
                              dbus.Dictionary({"token": token}, signature="sv")))
    p.wait(lambda: p.job_state() is not None, what="the restore to appear")
    assert p.find("#job-card").get_attribute("data-job") == job
    # and a page opened meanwhile finds it running
    p.reload()
    assert p.job_state() == "running"
    assert p.find("#job-card").get_attribute("data-job") == job
    p.wait(lambda: p.job_state() == "done", timeout=60, what="the restore to finish")
    assert "New.sar was restored." in p.text("#job-result")


# --- uploads -----------------------------------------------------------------------


def test_upload_from_the_browser_is_listed(service, workdir, page):
    # random data does not compress: several flow-control windows of data
    tree = workdir / "uploadtree"
    make_tree(tree, {"core": {"db/blob.bin": os.urandom(3 * 1024 * 1024)},
                     "announcements": {"de/a.txt": "Ansage\n"}})
    source = pack(tree, workdir / "Upload_2026-11-28_08-00-00.sar", process="Upload",
                  created="2026-11-28T08:00:00Z")
    assert source.stat().st_size > 3 * 1024 * 1024
    p = page()
    p.click("#upload-toggle")
    p.find("#upload-file").send_keys(str(source))
    assert p.find("#upload-name").get_attribute("value") == source.name
    assert not p.visible("#upload-name-error")
    # every value the progress bar shows
    p.driver.execute_script("""
        window.progressSeen = [];
        const bar = document.getElementById("upload-bar");
        new MutationObserver(() => window.progressSeen.push(Number(bar.getAttribute("aria-valuenow"))))
            .observe(bar, {attributes: true, attributeFilter: ["aria-valuenow"]});""")
    p.click("#upload-button")
    p.wait(lambda: p.find_all("#upload-done") or p.find_all("#upload-error"), timeout=60,
           what="the upload to end")
    assert p.find_all("#upload-error") == [], p.text("#upload-result")
    assert p.text("#upload-done") == f"{source.name} was uploaded and checked."
    assert p.find("#upload-bar").get_attribute("aria-valuenow") == "100"
    # bytes sent / size: it moved through the file as the bridge took it
    seen = p.driver.execute_script("return window.progressSeen")
    assert seen == sorted(seen) and seen[-1] == 100
    assert len([v for v in seen if 0 < v < 100]) >= 5, seen
    assert (service.backups / source.name).read_bytes() == source.read_bytes()
    p.wait(lambda: source.name in p.rows(), what="the upload in the list")
    assert p.selected() == source.name
    p.browser.screenshot("07-uploaded-en")

    # the same name again: refused before sending, until "replace" is ticked
    p.find("#upload-file").send_keys(str(source))
    p.wait(lambda: p.visible("#upload-name-error"), what="the name refused")
    assert "already exists" in p.text("#upload-name-error")
    assert not p.find("#upload-button").is_enabled()
    p.click("#upload-replace")
    assert p.find("#upload-button").is_enabled()


def test_upload_waits_for_the_machine_and_can_be_canceled(service, workdir, page):
    tree = workdir / "bigtree"
    make_tree(tree, {"core": {"db/blob.bin": os.urandom(8 * 1024 * 1024)}})
    source = pack(tree, workdir / "Big_2026-11-28_08-00-00.sar", process="Big",
                  created="2026-11-28T08:00:00Z")
    p = page()
    p.click("#upload-toggle")
    p.find("#upload-file").send_keys(str(source))
    # the service takes nothing: the pipe and the bridge fill up, the bridge
    # holds back its pongs, and the page stops sending
    os.kill(service.process.pid, signal.SIGSTOP)
    try:
        p.click("#upload-button")
        stalled = []

        def stalled_below_100():
            value = int(p.find("#upload-bar").get_attribute("aria-valuenow") or 0)
            stalled.append(value)
            return len(stalled) > 10 and len(set(stalled[-10:])) == 1 and value < 100

        p.wait(stalled_below_100, what="the upload to wait for the machine")
        # some of it went (as far as the pipe and the bridge's queue hold)
        assert stalled[-1] > 0
        assert p.visible("#upload-cancel")
        p.click("#upload-cancel")
    finally:
        os.kill(service.process.pid, signal.SIGCONT)
    p.wait(lambda: p.find_all("#upload-error"), what="the cancellation")
    assert p.text("#upload-error") == "The upload was canceled; nothing was stored."
    assert p.find("#upload-button").is_enabled()
    # the client left the bus: the service canceled the job, nothing stays
    wait_for(lambda: not service.manager().List() and not any(service.backups.iterdir()),
             what="nothing left in the backup directory")


def test_upload_of_a_damaged_file_says_why(service, workdir, page):
    source = workdir / "Damaged.sar"
    source.write_bytes(b"\x28\xb5\x2f\xfd" + os.urandom(4000))
    p = page()
    p.click("#upload-toggle")
    p.find("#upload-file").send_keys(str(source))
    p.click("#upload-button")
    p.wait(lambda: p.find_all("#upload-error"), timeout=60, what="the refusal")
    error = p.find("#upload-error")
    assert error.get_attribute("data-error") == ERROR + "InvalidBackup"
    assert "The file is not a valid STARFACE backup, or it is damaged." in error.text
    assert not (service.backups / "Damaged.sar").exists()


def service_refusal(svc, name, workdir):
    """The message Upload answers for a name (before reading a byte)."""
    some_file = workdir / "some-file"
    some_file.write_bytes(b"x")
    fd = os.open(some_file, os.O_RDONLY)
    try:
        svc.manager().Upload(name, dbus.types.UnixFd(fd), dbus.Dictionary({}, signature="sv"))
    except dbus.DBusException as e:
        assert e.get_dbus_name() == ERROR + "InvalidName", (name, e.get_dbus_name())
        return e.get_dbus_message()
    finally:
        os.close(fd)
    raise AssertionError(f"the service took {name!r}")


NAMES = [
    "Sicherung-März.sar", "Übersicht.sar", "U\u0308bersicht.sar", "with space.sar",
    "a/b.sar", "tab\there.sar", "bell\x07.sar", "nbsp\u00a0.sar", "soft\u00adhyphen.sar",
    "zero\u200bwidth.sar", "emoji-\U0001F600.sar", 'quote"d.sar', "back\\slash.sar",
    ".hidden.sar", "x" * 125 + ".sar", "ü" * 90 + ".sar", "backup.tar", ".sar", "sar",
    "", "pre-restore_2026-11-20_02-00-00.sar", "PRE-RESTORE_x.sar",
]


def test_upload_names_are_refused_with_the_services_message(service, workdir, page):
    p = page()
    p.click("#upload-toggle")
    # a file whose name has an umlaut: the name is refused before sending
    source = workdir / "Sicherung-März.sar"
    source.write_bytes(b"not sent")
    p.find("#upload-file").send_keys(str(source))
    p.wait(lambda: p.visible("#upload-name-error"), what="the name refused")
    assert p.text("#upload-name-error") == service_refusal(service, source.name, workdir)
    assert p.text("#upload-name-error") == (
        "invalid character 'ä' (U+00E4) at position 12 of \"Sicherung-März.sar\": only ASCII "
        "letters, digits, '.', '-' and '_' are allowed")
    assert not p.find("#upload-button").is_enabled()
    p.browser.screenshot("08-umlaut-refused-en")
    # a good name makes it acceptable
    p.find("#upload-name").clear()
    p.find("#upload-name").send_keys("Sicherung-Maerz.sar")
    p.wait(lambda: not p.visible("#upload-name-error"), what="the name accepted")
    assert p.find("#upload-button").is_enabled()
    # the page's rule is the service's, word for word
    for name in NAMES:
        ours = p.driver.execute_script("return window.starfaceBackup.checkUploadName(arguments[0])",
                                       name)
        assert ours == service_refusal(service, name, workdir), name
    for name in ["Nightly_2026-11-20_02-00-00.sar", "a.sar", "x" * 124 + ".sar", "A-b_c.1.sar"]:
        assert p.driver.execute_script(
            "return window.starfaceBackup.checkUploadName(arguments[0])", name) is None, name
    assert list(service.backups.iterdir()) == []


# --- languages -----------------------------------------------------------------------


def test_german_browser_gets_the_german_page(pbx_service, backup_maker, page, workdir):
    svc, _ = pbx_service()
    add_backups(svc, backup_maker)
    p = page("de")
    assert p.driver.execute_script("return cockpit.language") == "de"
    assert p.driver.execute_script("return document.documentElement.lang") == "de"
    assert p.text("h1") == "STARFACE-Backup wiederherstellen"
    assert p.text("#installed-version") == "Installierte STARFACE-Version: 8.1.2.3"
    assert "Diese Datei ist kein verwendbares Backup." in p.row("Broken.sar").text
    assert "Stand vor Wiederherstellung" in p.row("pre-restore_2026-11-10_09-00-00.sar").text
    p.browser.screenshot("09-list-de")
    p.choose("New.sar")
    shown = [e.text for e in p.find_all("#components .sf-component-label")]
    assert shown == ["Grunddaten", "CDR und Voicemails", "Voicemail-Ansagen"]
    p.preflight()
    assert p.text("#users-label") == "angemeldete Benutzer"
    p.click("#restore-button")
    p.wait(lambda: p.find("#confirm-dialog").is_displayed(), what="the confirmation")
    assert p.text("#confirm-users") == "3 angemeldete Benutzer werden abgemeldet"
    assert p.text("#confirm-calls") == "2 aktive Telefonate werden beendet"
    assert p.text("#confirm-button") == "Jetzt wiederherstellen"
    p.browser.screenshot("10-confirm-de")
    p.click("#confirm-cancel")

    p.click("#upload-toggle")
    source = workdir / "Sicherung-März.sar"
    source.write_bytes(b"not sent")
    p.find("#upload-file").send_keys(str(source))
    p.wait(lambda: p.visible("#upload-name-error"), what="the name refused")
    assert p.text("#upload-name-error") == (
        "Ungültiges Zeichen „ä“ (U+00E4) an Position 12 von \"Sicherung-März.sar\": Erlaubt "
        "sind nur ASCII-Buchstaben, Ziffern, „.“, „-“ und „_“")
    p.browser.screenshot("11-umlaut-refused-de")


def test_cockpits_language_cookie_chooses_german(service, page):
    p = page("en")
    assert p.text("h1") == "Restore a STARFACE backup"
    # what Cockpit's own language menu sets
    p.driver.add_cookie({"name": "CockpitLang", "value": "de", "path": "/"})
    p.reload()
    assert p.text("h1") == "STARFACE-Backup wiederherstellen"
    assert p.driver.execute_script("return cockpit.language") == "de"


def test_a_missing_service_is_said_in_words(bus, page):
    # nothing owns de.starface.Backup on this bus, and it cannot be activated
    p = page()
    p.wait(lambda: p.visible("#page-alert"), what="the page's alert")
    assert p.text("#page-alert") == "The backup service is not installed or cannot be started."
    assert not p.visible("#backups-card") and not p.visible("#history-card")
    p.browser.screenshot("13-no-service-en")


# --- who may do what --------------------------------------------------------------------

WEB_USER = "sfweb"
RULES = """
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("de.starface.backup.") != 0)
        return polkit.Result.NOT_HANDLED;
    if (subject.user == "%s")
        return action.id == "de.starface.backup.read" ? polkit.Result.YES : polkit.Result.NO;
    return polkit.Result.NOT_HANDLED;
});
""" % WEB_USER


@pytest.mark.skipif(os.geteuid() != 0, reason="a second real user needs root (setpriv)")
def test_unprivileged_user_is_told_that_restore_and_upload_are_not_allowed(
        pbx_service, workdir, bus, page, backup_maker):
    ensure_user(WEB_USER)
    polkit_root = workdir / "polkit"
    polkit_root.mkdir()
    polkit = Polkit(polkit_root, bus, RULES)
    polkit.start()
    try:
        svc, pbx = pbx_service()
        source = backup_maker(workdir, "Upload_2026-11-28_08-00-00.sar")
        p = page(user=WEB_USER)
        # reading is allowed: the list, Inspect, Preflight
        assert "New.sar" in p.rows()
        p.choose("New.sar")
        p.preflight()
        assert p.text("#users-count") == "3"
        p.click("#restore-button")
        p.wait(lambda: p.find("#confirm-dialog").is_displayed(), what="the confirmation")
        p.click("#confirm-button")
        p.wait(lambda: p.find_all("#checks .sf-alert[data-error]"), what="the refusal")
        refusal = p.find("#checks .sf-alert[data-error]")
        assert refusal.get_attribute("data-error") == ERROR + "NotAuthorized"
        assert "You are not allowed to restore backups on this machine." in refusal.text
        assert "administrative access" in refusal.text
        assert p.job_state() is None
        assert "stop" not in pbx.events()
        p.browser.screenshot("12-not-allowed-en")

        # uploading: the client runs as this user too, and polkit says no
        p.click("#upload-toggle")
        p.find("#upload-file").send_keys(str(source))
        p.click("#upload-button")
        p.wait(lambda: p.find_all("#upload-error"), timeout=60, what="the upload refusal")
        assert "You are not allowed to upload backups to this machine." in p.text("#upload-error")
        assert not (svc.backups / source.name).exists()
    finally:
        polkit.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="a second real user needs root (setpriv)")
def test_user_polkit_refuses_everything_sees_why_the_list_is_empty(service, workdir, bus, page):
    ensure_user(WEB_USER)
    polkit_root = workdir / "polkit"
    polkit_root.mkdir()
    polkit = Polkit(polkit_root, bus, RULES.replace(
        'action.id == "de.starface.backup.read" ? polkit.Result.YES : polkit.Result.NO',
        "polkit.Result.NO"))
    polkit.start()
    try:
        p = page(user=WEB_USER)
        alert = p.find("#backups-alert .sf-alert")
        assert alert.get_attribute("data-error") == ERROR + "NotAuthorized"
        assert "You are not allowed to see the backups on this machine." in alert.text
        assert not p.visible("#backups-table")
    finally:
        polkit.stop()
