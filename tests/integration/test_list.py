"""List: ordering, the latest flag and problem reporting."""

import os

import dbus

from harness import ERROR


def listing(service):
    return [(str(name), {str(k): v for k, v in info.items()})
            for name, info in service.manager().List()]


def test_empty_directory_lists_nothing(service):
    result = service.manager().List()
    assert result.signature == "(sa{sv})"
    assert list(result) == []


def test_orders_by_manifest_creation_time_not_mtime(service, backup_maker):
    # the names deliberately carry no time so only the manifest can order them
    made = [
        backup_maker(service.backups, "oldest.sar", created="2026-01-01T00:00:00Z"),
        backup_maker(service.backups, "middle.sar", created="2026-06-01T00:00:00Z"),
        backup_maker(service.backups, "newest.sar", created="2026-11-01T00:00:00Z"),
    ]
    # mtimes say the opposite
    for age, path in enumerate(made):
        os.utime(path, (2_000_000_000 - age * 1000, 2_000_000_000 - age * 1000))
    names = [name for name, _ in listing(service)]
    assert names == ["newest.sar", "middle.sar", "oldest.sar"]


def test_list_keys_and_types(service, backup_maker):
    path = backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar", process="Nightly",
                        created="2026-11-20T02:00:00Z", version="8.1.2.3")
    [(name, info)] = listing(service)
    assert name == "Nightly_2026-11-20_02-00-00.sar"
    assert info["size"] == path.stat().st_size
    assert isinstance(info["size"], dbus.UInt64)
    assert isinstance(info["created"], dbus.UInt64)
    assert info["created"] == 1795140000  # 2026-11-20T02:00:00Z
    assert info["process"] == "Nightly"
    assert info["version"] == "8.1.2.3"
    # booleans, not numbers that happen to be 1
    for key in ("valid", "compatible", "latest", "undo-point"):
        assert isinstance(info[key], dbus.Boolean), key
    assert info["valid"] and info["compatible"] and info["latest"]
    assert not info["undo-point"]
    assert "problem" not in info


def test_latest_skips_invalid_and_newer_versions(service, backup_maker):
    backup_maker(service.backups, "Nightly_2026-11-01_02-00-00.sar",
                 created="2026-11-01T02:00:00Z", version="8.1.2.3")
    backup_maker(service.backups, "Weekly_2026-11-10_02-00-00.sar", process="Weekly",
                 created="2026-11-10T02:00:00Z", version="8.1.2.2")
    # newer than the installed 8.1.2.3 (numerically: 8.1.10.0 > 8.1.9.9 > 8.1.2.3)
    backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar",
                 created="2026-11-20T02:00:00Z", version="8.1.10.0")
    # newest of all, but corrupt
    (service.backups / "Nightly_2026-11-25_02-00-00.sar").write_bytes(os.urandom(4096))
    result = listing(service)
    assert [n for n, _ in result] == [
        "Nightly_2026-11-25_02-00-00.sar",
        "Nightly_2026-11-20_02-00-00.sar",
        "Weekly_2026-11-10_02-00-00.sar",
        "Nightly_2026-11-01_02-00-00.sar",
    ]
    latest = [n for n, info in result if info["latest"]]
    assert latest == ["Weekly_2026-11-10_02-00-00.sar"]
    info = dict(result)
    assert info["Nightly_2026-11-20_02-00-00.sar"]["valid"] == 1
    assert info["Nightly_2026-11-20_02-00-00.sar"]["compatible"] == 0
    assert info["Nightly_2026-11-25_02-00-00.sar"]["valid"] == 0
    assert info["Nightly_2026-11-25_02-00-00.sar"]["compatible"] == 0


def test_corrupt_and_odd_files_are_listed_with_a_problem(service, backup_maker):
    good = backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar")
    data = good.read_bytes()
    (service.backups / "Truncated_2026-11-21_02-00-00.sar").write_bytes(data[: len(data) // 3])
    (service.backups / "Random_2026-11-22_02-00-00.sar").write_bytes(os.urandom(10000))
    (service.backups / "Empty_2026-11-23_02-00-00.sar").write_bytes(b"")
    (service.backups / "Dir_2026-11-24_02-00-00.sar").mkdir()
    os.symlink(good, service.backups / "Link_2026-11-24_03-00-00.sar")
    (service.backups / "notes.txt").write_text("not a backup")
    (service.backups / ".upload-tmp.sar").write_bytes(data)
    result = dict(listing(service))
    assert set(result) == {
        "Nightly_2026-11-20_02-00-00.sar",
        "Truncated_2026-11-21_02-00-00.sar",
        "Random_2026-11-22_02-00-00.sar",
        "Empty_2026-11-23_02-00-00.sar",
        "Dir_2026-11-24_02-00-00.sar",
        "Link_2026-11-24_03-00-00.sar",
    }
    for name, info in result.items():
        if name.startswith("Nightly"):
            assert info["valid"] == 1 and info["latest"] == 1
            continue
        assert info["valid"] == 0, name
        assert info["latest"] == 0, name
        assert len(info["problem"]) > 5, name
        # process and time come from the name when the manifest is unreadable
        assert info["process"] == name.split("_")[0], name
    assert "symbolic link" in result["Link_2026-11-24_03-00-00.sar"]["problem"]


def test_process_from_manifest_wins_over_name(service, backup_maker):
    backup_maker(service.backups, "Renamed_2026-11-20_02-00-00.sar", process="Weekly-NAS")
    [(_, info)] = listing(service)
    assert info["process"] == "Weekly-NAS"


def test_unknown_installed_version_makes_nothing_compatible(service_factory, backup_maker):
    svc = service_factory(installed_version=None)
    backup_maker(svc.backups, "Nightly_2026-11-20_02-00-00.sar")
    svc.start()
    [(_, info)] = listing(svc)
    assert info["valid"] == 1
    assert info["compatible"] == 0
    assert info["latest"] == 0


def test_malformed_installed_version_is_not_a_crash(service_factory, backup_maker):
    svc = service_factory(installed_version="8.1.x")
    backup_maker(svc.backups, "Nightly_2026-11-20_02-00-00.sar")
    svc.start()
    [(_, info)] = listing(svc)
    assert info["compatible"] == 0
    assert svc.process.poll() is None


def test_a_creation_time_in_the_future_is_never_latest(service, backup_maker):
    """A manifest claiming a time far ahead (a wrong clock, or a crafted
    file) must not become the preselected backup; it is listed with a
    problem but stays valid and restorable by name."""
    backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar",
                 created="2026-11-20T02:00:00Z")
    backup_maker(service.backups, "Future.sar", created="2099-01-01T00:00:00Z")
    result = listing(service)
    assert [n for n, _ in result] == ["Future.sar", "Nightly_2026-11-20_02-00-00.sar"]
    info = dict(result)
    assert info["Future.sar"]["latest"] == 0
    assert info["Future.sar"]["valid"] == 1 and info["Future.sar"]["compatible"] == 1
    assert "future" in info["Future.sar"]["problem"]
    assert "2099-01-01" in info["Future.sar"]["problem"]
    assert info["Nightly_2026-11-20_02-00-00.sar"]["latest"] == 1
    assert "problem" not in info["Nightly_2026-11-20_02-00-00.sar"]


def test_a_creation_time_within_the_clock_skew_can_be_latest(service, backup_maker):
    """Another machine's clock may run a little ahead: up to a day is fine."""
    import datetime
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    backup_maker(service.backups, "Soon.sar", created=soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    backup_maker(service.backups, "Older.sar", created="2026-01-01T00:00:00Z")
    info = dict(listing(service))
    assert info["Soon.sar"]["latest"] == 1
    assert "problem" not in info["Soon.sar"]


def test_a_file_name_that_is_not_utf8_is_listed_escaped(service, backup_maker):
    """D-Bus strings are UTF-8: such a name is never sent as it is (the
    daemon would fail to build the reply), but listed with its other bytes
    as \\xNN, as invalid, with a problem saying to rename it."""
    good = backup_maker(service.backups, "Nightly_2026-11-20_02-00-00.sar")
    raw = os.path.join(os.fsencode(service.backups), b"Sicherung-\xe4_2026-11-21_02-00-00.sar")
    with open(raw, "wb") as f:
        f.write(good.read_bytes())
    result = dict(listing(service))
    assert set(result) == {"Nightly_2026-11-20_02-00-00.sar",
                           "Sicherung-\\xE4_2026-11-21_02-00-00.sar"}
    odd = result["Sicherung-\\xE4_2026-11-21_02-00-00.sar"]
    assert odd["valid"] == 0 and odd["latest"] == 0
    assert "not valid UTF-8" in odd["problem"] and "rename" in odd["problem"]
    assert odd["process"] == "Sicherung-\\xE4"
    assert result["Nightly_2026-11-20_02-00-00.sar"]["latest"] == 1
