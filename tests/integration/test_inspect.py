"""Inspect: every key, and its errors."""

import os

import dbus
import pytest

from harness import ERROR


def inspect(service, name):
    return {str(k): v for k, v in service.manager().Inspect(name).items()}


def test_inspect_returns_every_key(service, backup_maker):
    path = backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar", process="Nightly",
                        created="2026-11-20T02:00:00Z", version="8.1.2.2",
                        extra=["--hostname=pbx-berlin", "--ip-address=192.0.2.10"])
    info = inspect(service, "Nightly_2026-11-20_02-00-00.sar")
    assert info["name"] == "Nightly_2026-11-20_02-00-00.sar"
    assert info["version"] == "8.1.2.2"
    assert info["created"] == 1795140000 and isinstance(info["created"], dbus.UInt64)
    assert info["process"] == "Nightly"
    assert info["hostname"] == "pbx-berlin"
    assert info["ip-address"] == "192.0.2.10"
    assert info["size"] == path.stat().st_size and isinstance(info["size"], dbus.UInt64)
    assert info["compatible"] == 1
    assert info["installed-version"] == "8.1.2.3"
    components = [(str(i), dict(d)) for i, d in info["components"]]
    assert [c for c, _ in components] == ["core", "cdr-voicemail", "announcements"]
    by_id = dict(components)
    assert by_id["core"]["label"] == "Core data"
    assert by_id["core"]["files"] == 2 and isinstance(by_id["core"]["files"], dbus.UInt32)
    assert by_id["core"]["bytes"] == len("CREATE TABLE users;\n") + len("ip=192.0.2.10\n")
    assert by_id["cdr-voicemail"]["label"] == "CDR and voicemails"
    assert by_id["cdr-voicemail"]["files"] == 2
    assert by_id["announcements"]["label"] == "Voicemail announcements"
    assert by_id["announcements"]["bytes"] == len("Willkommen\n")


def test_inspect_newer_backup_is_not_compatible(service, backup_maker):
    backup_maker(service.backups, "New.sar", version="8.1.10.0")
    info = inspect(service, "New.sar")
    assert info["compatible"] == 0
    assert info["version"] == "8.1.10.0"


@pytest.mark.parametrize("name", ["../etc/passwd", "Sicherung_März.sar", "", ".hidden.sar",
                                  "a/b.sar", "x.tar"])
def test_inspect_refuses_bad_names(service, name):
    with pytest.raises(dbus.DBusException) as e:
        service.manager().Inspect(name)
    assert e.value.get_dbus_name() == ERROR + "InvalidName"


def test_inspect_names_the_umlaut_and_its_position(service):
    with pytest.raises(dbus.DBusException) as e:
        service.manager().Inspect("Sicherung_März.sar")
    message = e.value.get_dbus_message()
    # S-i-c-h-e-r-u-n-g-_-M is 11 characters: the umlaut is the 12th
    assert "'ä'" in message and "position 12" in message


def test_inspect_missing_backup_is_not_found(service):
    with pytest.raises(dbus.DBusException) as e:
        service.manager().Inspect("Nothing_2026-01-01_00-00-00.sar")
    assert e.value.get_dbus_name() == ERROR + "NotFound"


def test_inspect_corrupt_backup_is_invalid(service):
    (service.backups / "Broken.sar").write_bytes(os.urandom(5000))
    with pytest.raises(dbus.DBusException) as e:
        service.manager().Inspect("Broken.sar")
    assert e.value.get_dbus_name() == ERROR + "InvalidBackup"
    assert "Broken.sar" in e.value.get_dbus_message()


def test_inspect_does_not_follow_symlinks(service, backup_maker, workdir):
    outside = backup_maker(workdir, "outside.sar")
    os.symlink(outside, service.backups / "Link.sar")
    with pytest.raises(dbus.DBusException) as e:
        service.manager().Inspect("Link.sar")
    assert e.value.get_dbus_name() == ERROR + "NotFound"


def test_inspect_reads_only_the_metadata(service, backup_maker):
    # A valid header followed by garbage: Inspect must not notice the
    # garbage, because it stops after the first two members.
    big = {"core": {"blob.bin": os.urandom(2 * 1024 * 1024)}}
    path = backup_maker(service.backups, "Big.sar", tree=big,
                        extra=["--compression=none"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    info = inspect(service, "Big.sar")
    assert info["version"] == "8.1.2.3"
