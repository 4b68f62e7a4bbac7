"""Configuration errors stop the daemon at start, naming file, group and key."""

import subprocess

import pytest

from harness import BACKUPD, SANITIZER_MARKERS, daemon_environment


def run_daemon(args, bus):
    """The daemon, expected to refuse to start: it must still exit cleanly
    (no sanitizer report, which would only change a non-zero status)."""
    result = subprocess.run([BACKUPD, *args],
                            env=daemon_environment(DBUS_SYSTEM_BUS_ADDRESS=bus.address),
                            capture_output=True, text=True, timeout=60)
    for marker in SANITIZER_MARKERS:
        assert marker not in result.stderr, result.stderr
    return result


def run_with_config(tmp_path, text, bus):
    config = tmp_path / "backupd.conf"
    config.write_text(text)
    return config, run_daemon([f"--config={config}"], bus)


@pytest.mark.parametrize(
    "text, group, key",
    [
        ("[Paths]\nBackupDirectory=relative/dir\n", "Paths", "BackupDirectory"),
        ("[Paths]\nBackupDirektory=/tmp/x\n", "Paths", "BackupDirektory"),
        ("[Limits]\nMaxBackupSize=lots\n", "Limits", "MaxBackupSize"),
        ("[Limits]\nMaxEntries=0\n", "Limits", "MaxEntries"),
        ("[Pbx]\nStopCommand=/bin/echo 'unterminated\n", "Pbx", "StopCommand"),
        ("[Pbx]\nStartCommand=pbx start\n", "Pbx", "StartCommand"),
        ("[Component Core Data]\nPath=core\n", "Component Core Data", "(group name)"),
        ("[Component core]\nPath=../etc\n", "Component core", "Path"),
        ("[Component core]\nPath=pbx\n[Component cdr]\nPath=pbx/cdr\n", "Component cdr", "Path"),
        # database names the restore could not derive its own names from,
        # or that are its own
        ("[Component core]\nDatabase=Starface\n", "Component core", "Database"),
        ("[Component core]\nDatabase=9db\n", "Component core", "Database"),
        ("[Component core]\nDatabase=star;face\n", "Component core", "Database"),
        ("[Component core]\nDatabase=" + "a" * 51 + "\n", "Component core", "Database"),
        ("[Component core]\nDatabase=starface__sf_previous\n", "Component core", "Database"),
        ("[Component core]\nDatabase=starface__sf_restore\n", "Component core", "Database"),
        ("[Component core]\nDatabase=starface\n[Component cdr]\nDatabase=starface\n",
         "Component cdr", "Database"),
        ("[Database]\nRunAs=no-such-user-here\n[Component core]\nDatabase=starface\n",
         "Database", "RunAs"),
        ("[Database]\nRunAs=root\n[Component core]\nDatabase=starface\n", "Database", "RunAs"),
        ("[Database]\nPort=0\n", "Database", "Port"),
        ("[Database]\nPort=65536\n", "Database", "Port"),
        ("[Database]\nHost=/run/postgresql host=evil\n", "Database", "Host"),
        ("[Database]\nToolsDirectory=bin\n", "Database", "ToolsDirectory"),
        ("[Database]\nLoadAs=no-such-user-here\n", "Database", "LoadAs"),
        ("[Database]\nUser=postgres\n", "Database", "User"),
    ],
)
def test_bad_configuration_stops_daemon_naming_file_group_key(tmp_path, bus, text, group, key):
    config, result = run_with_config(tmp_path, text, bus)
    assert result.returncode != 0
    assert str(config) in result.stderr
    assert f"[{group}] {key}" in result.stderr


@pytest.mark.parametrize("value", ["0", "1h", "-5", "604801", ""])
def test_upload_timeout_is_checked(tmp_path, bus, value):
    config, result = run_with_config(tmp_path, f"[Limits]\nUploadTimeout={value}\n", bus)
    assert result.returncode != 0
    assert f"{config}: [Limits] UploadTimeout: " in result.stderr
    assert "unknown key" not in result.stderr


def test_unknown_group_is_refused(tmp_path, bus):
    config, result = run_with_config(tmp_path, "[Pathz]\nDataRoot=/x\n", bus)
    assert result.returncode != 0
    assert f"{config}: [Pathz]: unknown group" in result.stderr


def test_unparsable_file_is_refused(tmp_path, bus):
    config, result = run_with_config(tmp_path, "this is not a key file\n", bus)
    assert result.returncode != 0
    assert str(config) in result.stderr


def test_missing_explicit_config_is_refused(tmp_path, bus):
    result = run_daemon([f"--config={tmp_path}/nope.conf"], bus)
    assert result.returncode != 0
    assert "nope.conf" in result.stderr
