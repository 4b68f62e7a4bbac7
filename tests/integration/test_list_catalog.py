"""List keeps what it read of each backup (the catalog) and stays correct
when files change behind the daemon's back, across restarts too; the
catalog cache on disk is input like any other.

A file is kept only once its last change (ctime) lies CATALOG_SETTLE_SECONDS
back (service/catalog.h); before that it is read at every List. So these
tests let their files settle before the first List: only then is the
catalog's stat check what stands between a changed file and a stale entry.
(The wait makes nothing pass or fail by timing: without it the tests would
still pass, but prove less.)
"""

import hashlib
import os
import shutil
import time

import pytest

from harness import wait_for

# service/catalog.h and service/catalog-cache.c
SETTLE_SECONDS = 2
CACHE = "catalog.cache"
MAGIC = b"SFBKCAT\n"
CACHE_TYPE = "(utsa(stttxxxxbxssss))"


def listing(service):
    return {str(name): {str(k): v for k, v in info.items()}
            for name, info in service.manager().List()}


def settle(*paths):
    """Waits until the files' last change is old enough for the catalog to
    keep them."""
    newest = max(os.stat(p).st_ctime for p in paths)
    wait_for(lambda: time.time() > newest + SETTLE_SECONDS + 0.1, timeout=30,
             what="the files to settle")


def make(backup_maker, directory, name, process, **kwargs):
    return backup_maker(directory, name, process=process, **kwargs)


@pytest.fixture
def two_backups(service, backup_maker):
    """Two settled backups, listed once (so the catalog keeps them);
    uncompressed, so that backups of other content have the same size."""
    a = make(backup_maker, service.backups, "A.sar", "Nightly", created="2026-11-01T02:00:00Z",
             extra=("--compression=none",))
    b = make(backup_maker, service.backups, "B.sar", "Weekly", created="2026-11-02T02:00:00Z",
             extra=("--compression=none",))
    settle(a, b)
    first = listing(service)
    assert {n: i["process"] for n, i in first.items()} == {"A.sar": "Nightly", "B.sar": "Weekly"}
    return a, b


def test_a_file_added_between_two_lists_is_listed(service, backup_maker, two_backups):
    make(backup_maker, service.backups, "C.sar", "Monthly", created="2026-11-03T02:00:00Z")
    result = listing(service)
    assert list(result) == ["C.sar", "B.sar", "A.sar"]
    assert result["C.sar"]["process"] == "Monthly"
    assert result["C.sar"]["latest"] and not result["B.sar"]["latest"]


def test_a_file_removed_between_two_lists_is_gone(service, two_backups):
    a, b = two_backups
    b.unlink()
    result = listing(service)
    assert list(result) == ["A.sar"]
    assert result["A.sar"]["latest"]


def test_a_file_rewritten_in_place_with_same_size_and_mtime_is_read_again(
        service, backup_maker, workdir):
    """Same name, same inode, same size, the old mtime set back to the
    nanosecond: only the ctime tells, and it must."""
    path = make(backup_maker, service.backups, "A.sar", "Nightly",
                extra=("--compression=none",))
    other = make(backup_maker, workdir, "other.sar", "Monthly", extra=("--compression=none",))
    assert path.stat().st_size == other.stat().st_size
    settle(path)
    assert listing(service)["A.sar"]["process"] == "Nightly"

    before = path.stat()
    with open(path, "r+b") as f:
        f.write(other.read_bytes())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == \
        (before.st_ino, before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns
    assert listing(service)["A.sar"]["process"] == "Monthly"


def test_a_file_replaced_by_renaming_another_over_it_is_read_again(
        service, backup_maker, workdir, two_backups):
    a, b = two_backups
    # settled too, with B's size and times: only the inode (and ctime) differ
    other = make(backup_maker, workdir, "other.sar", "Monthly", created="2026-11-02T02:00:00Z",
                 extra=("--compression=none",))
    assert other.stat().st_size == b.stat().st_size
    hidden = service.backups / ".incoming"
    os.rename(other, hidden)
    os.utime(hidden, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns))
    settle(hidden)
    os.rename(hidden, b)
    result = listing(service)
    assert result["B.sar"]["process"] == "Monthly"
    assert result["A.sar"]["process"] == "Nightly"


def test_a_file_replaced_by_a_broken_one_becomes_invalid(service, two_backups):
    a, b = two_backups
    data = bytearray(b.read_bytes())
    data[:1024] = os.urandom(1024)  # the manifest's header
    before = b.stat()
    b.write_bytes(bytes(data))
    os.utime(b, ns=(before.st_atime_ns, before.st_mtime_ns))
    result = listing(service)
    assert result["B.sar"]["valid"] == 0 and "problem" in result["B.sar"]
    assert result["A.sar"]["latest"]


def test_compatible_and_latest_follow_the_installed_version(service, backup_maker):
    """They are worked out at every List, not kept with the file."""
    old = make(backup_maker, service.backups, "Old.sar", "Nightly", version="8.1.2.3",
               created="2026-11-01T02:00:00Z")
    new = make(backup_maker, service.backups, "New.sar", "Nightly", version="8.2.0.0",
               created="2026-11-02T02:00:00Z")
    settle(old, new)
    result = listing(service)
    assert result["Old.sar"]["latest"] and not result["New.sar"]["compatible"]
    service.version_file.write_text("8.2.0.0\n")
    result = listing(service)
    assert result["New.sar"]["latest"] and result["New.sar"]["compatible"]
    assert not result["Old.sar"]["latest"] and result["Old.sar"]["compatible"]
    service.version_file.unlink()
    result = listing(service)
    assert not any(i["compatible"] or i["latest"] for i in result.values())


# --- across restarts: the cache file ----------------------------------------

def restart(service):
    service.stop()
    service.start()


@pytest.fixture
def cached(service, backup_maker):
    """Two settled backups, listed, the daemon stopped: the cache is on disk."""
    a = make(backup_maker, service.backups, "A.sar", "Nightly", created="2026-11-01T02:00:00Z")
    b = make(backup_maker, service.backups, "B.sar", "Weekly", created="2026-11-02T02:00:00Z")
    settle(a, b)
    expected = listing(service)
    service.stop()
    assert (service.state / CACHE).is_file()
    return a, b, expected


def test_a_file_changed_while_the_daemon_was_stopped_is_read_again(service, backup_maker,
                                                                   workdir, cached):
    a, b, expected = cached
    other = make(backup_maker, workdir, "other.sar", "Monthly", created="2026-11-02T02:00:00Z")
    before = b.stat()
    shutil.copyfile(other, b)
    os.utime(b, ns=(before.st_atime_ns, before.st_mtime_ns))
    make(backup_maker, service.backups, "C.sar", "Yearly", created="2026-11-03T02:00:00Z")
    a.unlink()
    service.start()
    result = listing(service)
    assert {n: i["process"] for n, i in result.items()} == {"B.sar": "Monthly", "C.sar": "Yearly"}


def read_cache(path):
    from gi.repository import GLib
    data = path.read_bytes()
    assert data[:8] == MAGIC and hashlib.sha256(data[40:]).digest() == data[8:40]
    return GLib.Variant.new_from_bytes(GLib.VariantType(CACHE_TYPE), GLib.Bytes(data[40:]),
                                       False).unpack()


def write_cache(path, value):
    """A cache file as the daemon writes it, checksum and all."""
    from gi.repository import GLib
    data = GLib.Variant(CACHE_TYPE, value).get_data_as_bytes().get_data()
    path.write_bytes(MAGIC + hashlib.sha256(data).digest() + data)


def with_entry(value, target, **changes):
    """The cache's content with fields of one entry changed."""
    fields = ["name", "dev", "ino", "size", "mtime", "mtime_ns", "ctime", "ctime_ns", "valid",
              "created", "process", "version", "hostname", "problem"]
    fmt, order, directory, entries = value
    out = []
    for entry in entries:
        entry = list(entry)
        if entry[0] == target:
            for key, new in changes.items():
                entry[fields.index(key)] = new
        out.append(tuple(entry))
    return (fmt, order, directory, out)


def test_an_entry_of_the_cache_is_used_only_for_a_file_stat_identical_to_it(service, cached):
    """The daemon trusts the cache for a file whose device, inode, size,
    mtime and ctime it records (that is what makes the first List fast), and
    for nothing else: the same entry, one nanosecond off in its ctime, is
    not used."""
    a, b, expected = cached
    cache = service.state / CACHE
    value = read_cache(cache)
    assert sorted(e[0] for e in value[3]) == ["A.sar", "B.sar"]
    write_cache(cache, with_entry(value, "B.sar", process="FromTheCache"))
    service.start()
    assert listing(service)["B.sar"]["process"] == "FromTheCache"

    service.stop()
    entry = next(e for e in value[3] if e[0] == "B.sar")
    ctime_ns = entry[7] + 1 if entry[7] < 999_999_999 else entry[7] - 1
    write_cache(cache, with_entry(value, "B.sar", process="FromTheCache", ctime_ns=ctime_ns))
    service.start()
    assert listing(service) == expected


DAMAGES = {
    "garbage": lambda data: os.urandom(len(data)),
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) * 2 // 3],
    "header only": lambda data: data[:40],
    "a flipped bit": lambda data: data[:-20] + bytes([data[-20] ^ 1]) + data[-19:],
    "appended bytes": lambda data: data + b"\0" * 8,
    "another format": lambda data: b"SFBKCAT\r" + data[8:],
}


def test_a_damaged_cache_file_is_ignored_and_rebuilt(service, cached):
    a, b, expected = cached
    cache = service.state / CACHE
    good = cache.read_bytes()
    for damage, spoil in sorted(DAMAGES.items()):
        cache.write_bytes(spoil(good))
        log_start = service.log.stat().st_size
        service.start()
        assert listing(service) == expected, damage
        assert service.process.poll() is None, damage
        assert "ignoring the catalog cache" in service.log.read_text()[log_start:], damage
        service.stop()
        # rebuilt: a good one again (written by the time the daemon exits)
        assert read_cache(cache)[2] == str(service.backups), damage


HOSTILE = {
    # well-formed and signed, but not what the daemon writes
    "an unparsable version": dict(version="8.x"),
    "a name with a slash": dict(name="../B.sar"),
    "a hidden name": dict(name=".B.sar"),
    "a name that is not a backup's": dict(name="B sar.sar"),
    "a valid entry with a problem": dict(problem="no"),
    "an invalid entry with a version": dict(valid=False, problem="bad"),
    "an empty process": dict(process=""),
    "a control character": dict(hostname="pbx\x1b[2J"),
    "nanoseconds out of range": dict(ctime_ns=1_000_000_000),
    "a negative size": dict(size=2**63),
}


def test_a_hostile_cache_file_is_ignored_as_a_whole(service, cached):
    """One entry that the daemon would never write makes it ignore every
    entry, including the other, harmless-looking one claiming a different
    process for A."""
    a, b, expected = cached
    cache = service.state / CACHE
    value = with_entry(read_cache(cache), "A.sar", process="FromTheCache")
    for hostile, changes in sorted(HOSTILE.items()):
        write_cache(cache, with_entry(value, "B.sar", **changes))
        log_start = service.log.stat().st_size
        service.start()
        assert listing(service) == expected, hostile
        assert service.process.poll() is None, hostile
        assert "ignoring the catalog cache" in service.log.read_text()[log_start:], hostile
        service.stop()


def test_a_cache_of_another_directory_or_a_duplicate_entry_is_ignored(service, cached):
    a, b, expected = cached
    cache = service.state / CACHE
    fmt, order, directory, entries = with_entry(read_cache(cache), "A.sar", process="Cached")
    write_cache(cache, (fmt, order, directory + "-other", entries))
    service.start()
    assert listing(service) == expected
    service.stop()
    write_cache(cache, (fmt, order, directory, entries + [entries[0]]))
    service.start()
    assert listing(service) == expected


def test_a_cache_file_that_is_not_a_regular_file_is_ignored(service, cached):
    a, b, expected = cached
    cache = service.state / CACHE
    good = cache.read_bytes()
    elsewhere = service.root / "elsewhere"
    elsewhere.write_bytes(good)
    cache.unlink()
    cache.symlink_to(elsewhere)
    service.start()
    assert listing(service) == expected
    assert "ignoring the catalog cache" in service.log.read_text()
    service.stop()
    # replaced by a file: the link itself, never what it points to
    assert cache.is_file() and not cache.is_symlink()
    assert elsewhere.read_bytes() == good


# --- the catalog does not grow ------------------------------------------------

def test_the_catalog_keeps_only_the_files_there_are(service, backup_maker, workdir):
    """Files that come and go leave nothing behind: after 500 of them were
    listed (and kept) and removed again, the cache on disk is the one of the
    files that stayed, byte for byte.  (The daemon writes the cache in the
    background, and by the time it exits: the file is looked at with the
    daemon stopped.)"""
    stays = make(backup_maker, service.backups, "Stays.sar", "Nightly")
    settle(stays)
    listing(service)
    cache = service.state / CACHE
    service.stop()
    baseline = cache.read_bytes()
    assert [e[0] for e in read_cache(cache)[3]] == ["Stays.sar"]
    service.start()

    sample = make(backup_maker, workdir, "sample.sar", "Weekly").read_bytes()
    for rounds in range(2):
        names = [f"Come-and-go-{rounds}-{i:03d}.sar" for i in range(250)]
        for name in names:
            (service.backups / name).write_bytes(sample)
        settle(*(service.backups / n for n in names))
        assert len(listing(service)) == 251
        if rounds == 0:
            service.stop()
            assert len(read_cache(cache)[3]) == 251
            service.start()
        for name in names:
            (service.backups / name).unlink()
        assert list(listing(service)) == ["Stays.sar"]
        service.stop()
        assert cache.read_bytes() == baseline
        service.start()
    # and files that are listed only while they are new are not kept at all
    for i in range(100):
        fresh = service.backups / f"Fresh-{i:03d}.sar"
        fresh.write_bytes(sample)
        assert len(listing(service)) == 2
        fresh.unlink()
    assert list(listing(service)) == ["Stays.sar"]
    service.stop()
    assert cache.read_bytes() == baseline
