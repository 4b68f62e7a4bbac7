"""The client in German (LANG/LC_ALL=de_DE.UTF-8, the translations of this
build) against the real daemon: tables, reports, the restore's question
and its plural forms, progress, errors (a German sentence, then the
service's English message as details), history and monitor; and --json
exactly as in English. The English output is what test_client.py pins."""

import json
import os
import re
import signal
import subprocess

import pytest

from client_helpers import (INVALID, NEEDS_CONFIRMATION, NOT_FOUND, OK, PROGRESS_LINE,
                            UNAVAILABLE, USAGE, CANCELED, Terminal, as_user_on_bus, client_env,
                            german_env, pbx, run_client)
from harness import CLIENT
from test_client import (NEW_NAME, add_listing_backups, cli, cli_factory,  # noqa: F401
                         password_user, progress_lines, wait_for_line)


def german(cli, *args, **kwargs):
    return run_client(cli.address, *args, env=german_env(cli.address), **kwargs)


def german_terminal(cli, *args):
    return Terminal(args, german_env(cli.address))


def test_german_usage_and_usage_errors():
    env = german_env("unix:path=/nonexistent")
    result = subprocess.run([CLIENT, "--help"], env=env, capture_output=True, text=True)
    assert result.returncode == OK
    assert result.stdout.startswith("Aufruf: starface-backup [--json]")
    assert "\nBefehle:\n" in result.stdout and "\nGlobale Optionen:\n" in result.stdout
    assert re.search(r"^  restore +\[NAME\] +eine Sicherung wiederherstellen", result.stdout, re.M)
    result = subprocess.run([CLIENT, "restore", "--help"], env=env, capture_output=True, text=True)
    assert result.returncode == OK
    assert re.search(r"^  -y, --yes +Nicht um Bestätigung bitten$", result.stdout, re.M)
    result = subprocess.run([CLIENT, "list", "extra"], env=env, capture_output=True, text=True)
    assert result.returncode == USAGE
    assert result.stderr == ("starface-backup list: unerwartetes Argument »extra«\n"
                             "Hilfe erhalten Sie mit »starface-backup list --help«.\n")
    result = subprocess.run([CLIENT, "frobnicate"], env=env, capture_output=True, text=True)
    assert result.returncode == USAGE and "unbekannter Befehl »frobnicate«" in result.stderr


def test_german_list(cli, backup_maker):
    add_listing_backups(cli, backup_maker)
    result = german(cli, "list")
    assert result.returncode == OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROZESS", "ERSTELLT", "VERSION", "GRÖSSE", "KOMPATIBEL"]
    rows = {line[2:].split()[0]: line for line in lines[1:] if ".sar" in line[:40]}
    assert rows["Future.sar"].split()[-1] == "nein"
    assert rows[NEW_NAME].startswith("* ") and rows[NEW_NAME].split()[-1] == "ja"
    assert rows["Broken.sar"].split()[-1] == "ungültig"
    # the columns line up although "GRÖSSE" has a character of two bytes
    header_at = lines[0].index("KOMPATIBEL")
    assert rows[NEW_NAME].index(" ja") + 1 == header_at
    broken_at = lines.index(rows["Broken.sar"])
    assert lines[broken_at + 1].startswith("    Problem: ")
    assert ("* die neueste Sicherung, die hier wiederhergestellt werden kann: »restore« ohne "
            "Namen verwendet sie") in result.stdout


def test_german_inspect(cli, backup_maker):
    backup_maker(cli.svc.backups, "Elsewhere.sar",
                 extra=["--hostname=pbx-hamburg", "--ip-address=203.0.113.99"])
    result = german(cli, "inspect", "Elsewhere.sar")
    assert result.returncode == OK, result.stderr
    out = result.stdout
    assert re.search(r"^Version: +8\.1\.2\.3 \(installiert: 8\.1\.2\.3; kann hier "
                     r"wiederhergestellt werden\)$", out, re.M)
    assert re.search(r"^Rechner: +pbx-hamburg \(203\.0\.113\.99\)$", out, re.M)
    assert re.search(r"^Erstellt: +2026-11-20 02:00:00$", out, re.M)
    assert re.search(r"^ +core +Kerndaten +2 Dateien ", out, re.M)
    assert re.search(r"^ +cdr-voicemail +CDR und Voicemails +2 Dateien ", out, re.M)
    assert re.search(r"^ +announcements +Voicemail-Ansagen +1 Datei ", out, re.M)


def test_german_preflight(cli, backup_maker):
    result = german(cli, "preflight", NEW_NAME, "-c", "core,announcements")
    assert result.returncode == OK, result.stderr
    out = result.stdout
    assert re.search(r"^Sicherung: +Nightly_2026-11-20_02-00-00\.sar$", out, re.M)
    assert re.search(r"^Versionsprüfung: +Sicherung 8\.1\.2\.3, installiert 8\.1\.2\.3: "
                     r"kompatibel$", out, re.M)
    assert re.search(r"^Komponenten: +core \(Kerndaten\), announcements \(Voicemail-Ansagen\)$",
                     out, re.M)
    assert re.search(r"^Speicherplatz: +\d.* benötigt, .* verfügbar$", out, re.M)
    assert re.search(r"^Angemeldete Benutzer: +3$", out, re.M)
    assert re.search(r"^Aktive Gespräche: +2$", out, re.M)
    assert "Die Wiederherstellung von Nightly_2026-11-20_02-00-00.sar kann beginnen." in out
    # blockers and warnings under German headings (each sentence German when
    # the service names its check, else the service's English sentence)
    backup_maker(cli.svc.backups, "Future.sar", version="9.0.0.0",
                 extra=["--hostname=pbx-hamburg"])
    result = german(cli, "preflight", "Future.sar")
    assert result.returncode == OK
    assert "NICHT kompatibel (die Sicherung ist neuer)" in result.stdout
    assert re.search(r"^Hindernisse:\n  - .*9\.0\.0\.0.*8\.1\.2\.3", result.stdout, re.M)
    assert re.search(r"^Warnungen:\n  - .*pbx-hamburg", result.stdout, re.M)
    assert "Die Wiederherstellung von Future.sar kann nicht beginnen." in result.stdout
    pbx(cli.state, "set-fail", "sessions")
    result = german(cli, "preflight", NEW_NAME)
    assert re.search(r"^Angemeldete Benutzer: +unbekannt$", result.stdout, re.M)
    assert re.search(r"^Aktive Gespräche: +unbekannt$", result.stdout, re.M)


def test_german_restore_question_in_a_terminal_and_the_restore(cli):
    term = german_terminal(cli, "restore")
    term.expect(f"{NEW_NAME} jetzt wiederherstellen? [j/N] ")
    assert (f"Die neueste Sicherung, die hier wiederhergestellt werden kann, ist {NEW_NAME}."
            in term.output)
    assert ("3 angemeldete Benutzer und 2 aktive Gespräche werden getrennt: Die Telefonanlage "
            "hält an, während die Daten ausgetauscht werden.") in term.output
    assert "stop" not in cli.pbx_events()
    term.send("j\n")
    assert term.wait() == OK, term.output
    assert f"Die Wiederherstellung von {NEW_NAME} läuft als Auftrag " in term.output
    # the bar names the stages in German
    assert re.search(r"\r\[[#-]{30}\] +\d+% Sicherung wird entpackt", term.output)
    assert re.search(r"\r\[[#-]{30}\] +\d+% Telefonanlage wird angehalten", term.output)
    assert f"{NEW_NAME} wurde wiederhergestellt." in term.output
    assert re.search(r"Die Telefonanlage war \d.* lang außer Betrieb\.", term.output)
    pre = re.search(r"als (pre-restore_\S+\.sar) gesichert; um diese Wiederherstellung "
                    r"rückgängig zu machen", term.output).group(1)
    assert f"starface-backup restore {pre}" in term.output
    assert cli.pbx_events()[-2:] == ["stop", "start"]


def test_german_restore_declined_in_a_terminal(cli):
    term = german_terminal(cli, "restore", NEW_NAME, "-c", "core")
    term.expect("[j/N] ")
    term.send("nein\n")
    assert term.wait() == CANCELED
    assert "Nicht wiederhergestellt; es wurde nichts verändert." in term.output
    assert "stop" not in cli.pbx_events()


def test_german_plural_forms(cli):
    pbx(cli.state, "set-sessions", "1", "0")
    result = german(cli, "restore", NEW_NAME)
    assert result.returncode == NEEDS_CONFIRMATION
    assert ("1 angemeldeter Benutzer und 0 aktive Gespräche werden getrennt"
            in result.stdout), result.stdout
    assert "die Standardeingabe ist kein Terminal; verwenden Sie --yes" in result.stderr
    pbx(cli.state, "set-sessions", "2", "1")
    result = german(cli, "restore", NEW_NAME)
    assert "2 angemeldete Benutzer und 1 aktives Gespräch werden getrennt" in result.stdout


def test_german_errors_say_what_they_mean_and_keep_the_details(cli, workdir):
    result = german(cli, "inspect", "Missing.sar")
    assert result.returncode == NOT_FOUND
    first, details = result.stderr.splitlines()
    assert first == "starface-backup inspect: Die Sicherung wurde nicht gefunden."
    assert details.startswith("  Details: ") and "Missing.sar" in details
    result = german(cli, "--json", "preflight", "Müll.sar")
    assert result.returncode == INVALID and result.stdout == ""
    assert "Der Name der Sicherung ist nicht zulässig" in result.stderr
    assert re.search(r"^  Details: .*'ü' \(U\+00FC\)", result.stderr, re.M)
    result = german(cli, "cancel", "0123456789abcdef")
    assert result.returncode == NOT_FOUND
    assert "Diesen Auftrag gibt es nicht (mehr)." in result.stderr
    # errors of the bus, translated as well
    cli.svc.stop()
    result = german(cli, "list")
    assert result.returncode == UNAVAILABLE
    assert "Der Sicherungsdienst (de.starface.Backup) läuft nicht." in result.stderr
    nowhere = f"unix:path={workdir}/no-such-socket"
    result = run_client(nowhere, "list", env=german_env(nowhere))
    assert result.returncode == UNAVAILABLE
    assert "Keine Verbindung zum Systembus möglich" in result.stderr


def test_german_progress_lines_keep_the_stage_ids(cli):
    result = german(cli, "restore", "--yes", "-c", "core")
    assert result.returncode == OK, result.stderr
    lines = progress_lines(result.stdout)
    stages = {PROGRESS_LINE.match(line).group(2): line for line in lines}
    assert stages["extracting"].endswith(" extracting Sicherung wird entpackt")
    assert stages["stopping-pbx"].endswith(" stopping-pbx Telefonanlage wird angehalten")
    assert stages["starting-pbx"].endswith(" starting-pbx Telefonanlage wird gestartet")
    assert stages["saving-previous"].endswith(" saving-previous Bisheriger Stand wird gesichert")
    assert int(PROGRESS_LINE.match(lines[-1]).group(1)) == 100
    assert f"{NEW_NAME} wurde wiederhergestellt." in result.stdout


def test_json_is_the_same_in_every_language(cli, backup_maker):
    add_listing_backups(cli, backup_maker)
    for args in (["list"], ["inspect", NEW_NAME], ["history"]):
        english = run_client(cli.address, "--json", *args)
        in_german = german(cli, "--json", *args)
        assert english.returncode == in_german.returncode == OK, in_german.stderr
        assert in_german.stdout == english.stdout, args
    # preflight: the same but for its single-use token and the free space
    english = json.loads(run_client(cli.address, "--json", "preflight", "Future.sar").stdout)
    in_german = json.loads(german(cli, "--json", "preflight", "Future.sar").stdout)
    for report in (english, in_german):
        del report["token"]
        del report["bytes-available"]
    assert in_german == english
    # a restore's report: English error names and messages, stable keys
    pbx(cli.state, "set-fail", "stop")
    result = german(cli, "restore", "--yes", "--json", "-c", "core")
    final = json.loads(result.stdout)
    assert final["result"] == "failed" and final["error"].startswith("de.starface.Backup.Error.")
    assert final["message"] and final["message"].isascii()
    assert "Wiederherstellung" in result.stderr and "fehlgeschlagen" in result.stderr


def test_german_history_and_monitor(cli_factory, workdir):
    cli = cli_factory(stop_delay=1)
    job = cli.start_restore(NEW_NAME)
    number = job.rsplit("/", 1)[1]
    monitor = subprocess.Popen([CLIENT, "monitor"], env=german_env(cli.address),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(monitor.stdout,
                      rf"Auftrag {number}: Wiederherstellung von {re.escape(NEW_NAME)} \(läuft\)")
        wait_for_line(monitor.stdout, rf"Auftrag {number} \(Wiederherstellung von .*\): +\d+ % "
                                      r"Telefonanlage wird gestartet$")
        wait_for_line(monitor.stdout, rf"Auftrag {number} \(Wiederherstellung von .*\): erledigt$")
    finally:
        monitor.send_signal(signal.SIGINT)
        monitor.wait(timeout=10)
    assert monitor.returncode == OK
    junk = workdir / "Junk.sar"
    junk.write_bytes(os.urandom(4096))
    assert german(cli, "upload", str(junk)).returncode == INVALID
    result = german(cli, "history")
    assert result.returncode == OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["BEENDET", "VORGANG", "SICHERUNG", "ERGEBNIS", "UID",
                                "AUSFALLZEIT"]
    assert lines[1].split()[2:5] == ["Hochladen", "Junk.sar", "fehlgeschlagen"]
    assert lines[2].strip() == "Die Datei ist keine gültige Sicherung."
    assert lines[3].strip().startswith("Details: ")
    assert lines[4].split()[2:5] == ["Wiederherstellung", NEW_NAME, "erledigt"]
    assert re.match(r"^    rückgängig machen: restore pre-restore_\S+\.sar$", lines[5])


def test_german_password_prompt_shows_the_policy_in_german(password_user):
    """polkitd answers the agent in its language from the installed policy's
    xml:lang="de" texts (the build merges them in from po/de.po)."""
    cli, password = password_user
    settings = [("LANG", "de_DE.UTF-8"), ("LC_ALL", "de_DE.UTF-8")]
    term = Terminal(["list"], os.environ.copy(),
                    wrapper=as_user_on_bus("sfpassword", cli.svc.bus, env=settings))
    try:
        term.expect("Um die STARFACE-Sicherungen auf diesem Rechner zu sehen, ist eine "
                    "Authentifizierung erforderlich", timeout=30)
        term.wait_for_hidden_input()
        term.send(password + "\n")
        assert term.wait() == OK, term.output
    finally:
        term.kill()
    assert NEW_NAME in term.output


def test_english_needs_no_catalog(cli):
    """C and English locales print the built-in English, whatever catalog is
    at hand."""
    for env in (client_env(cli.address, LC_ALL="C"),
                german_env(cli.address, LC_ALL="C.UTF-8", LANG="C.UTF-8")):
        result = run_client(cli.address, "preflight", NEW_NAME, env=env)
        assert result.returncode == OK
        assert re.search(r"^Logged-in users: +3$", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("args", [["list", "--frobnicate"], ["restore", "-c", "core,,cdr-voicemail"]])
def test_german_option_errors_are_usage_errors(args):
    result = subprocess.run([CLIENT, *args], env=german_env("unix:path=/nonexistent"),
                            capture_output=True, text=True)
    assert result.returncode == USAGE
    assert f"Hilfe erhalten Sie mit »starface-backup {args[0]} --help«." in result.stderr
