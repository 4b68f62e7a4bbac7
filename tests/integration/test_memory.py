"""The daemon's memory and descriptors under many read calls.

List, Inspect and Preflight are the calls agents make all day long: a
few thousand of them, pipelined on one connection, must leave the daemon's
resident memory (after a warm-up) and its open descriptors where they were;
and many at once must not parse many backups' metadata at once.
"""

import os
import shutil

import dbus
import pytest
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

from harness import BUS_NAME, IFACE, JOB_IFACE, OBJECT_PATH, SANITIZED, new_tempdir, pack, \
    wait_job

BACKUPS = 10
# one List, one Inspect and one Preflight each; long enough for the malloc
# arenas of every worker thread to reach their working size (with 100, a
# run now and then still grew by 5 MB while warming up)
WARM_UP_ROUNDS = 500
MEASURED_ROUNDS = 1000    # 3000 calls
IN_FLIGHT = 16
# What the measured calls may add to the resident set: allocator noise, the
# Preflight tokens (kept until they expire) and the like; measured: about
# 0.7 MiB, 2.3 MiB with ASan's allocator (redzones, per-thread caches).  The
# replies leaked before (one reference too many) grew it by 64 MiB.
RSS_GROWTH_LIMIT_KB = (8 if SANITIZED else 4) * 1024


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_env():
    """ASan keeps freed memory in quarantine, which would count as growth."""
    if not SANITIZED:
        return {}
    options = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    return {"ASAN_OPTIONS": options + ":quarantine_size_mb=0"}


class Pipeline:
    """Calls on one connection with up to IN_FLIGHT replies outstanding,
    each reply checked."""

    def __init__(self, service):
        self.in_flight = IN_FLIGHT
        self.conn = dbus.bus.BusConnection(service.bus.address, mainloop=DBusGMainLoop())
        self.manager = dbus.Interface(
            self.conn.get_object(BUS_NAME, OBJECT_PATH, introspect=False), IFACE)

    def run(self, calls):
        calls = iter(calls)
        loop = GLib.MainLoop()
        state = {"in_flight": 0, "answered": 0, "failures": []}

        def send_next():
            call = next(calls, None)
            if call is None:
                if state["in_flight"] == 0:
                    loop.quit()
                return
            method, args, check = call
            state["in_flight"] += 1

            def replied(*reply):
                state["in_flight"] -= 1
                state["answered"] += 1
                try:
                    check(*reply)
                except AssertionError as e:
                    state["failures"].append(f"{method}: {e!r}")
                send_next()

            def failed(error):
                state["in_flight"] -= 1
                state["failures"].append(f"{method}: {error}")
                send_next()

            getattr(self.manager, method)(*args, reply_handler=replied, error_handler=failed,
                                          timeout=300)

        def give_up():
            state["guard"] = None
            state["failures"].append("the calls did not all end within 15 minutes")
            loop.quit()
            return False

        for _ in range(self.in_flight):
            send_next()
        state["guard"] = GLib.timeout_add_seconds(900, give_up)
        if state["in_flight"] > 0:
            loop.run()
        if state["guard"] is not None:
            GLib.source_remove(state["guard"])
        assert not state["failures"], state["failures"][:5]
        return state["answered"]

    def close(self):
        self.conn.close()


def read_calls(names, rounds):
    def check_list(backups):
        assert len(backups) == BACKUPS

    def check_inspect(name):
        def check(info):
            assert str(info["name"]) == name
        return check

    def check_preflight(report):
        assert len(report["token"]) == 32

    for i in range(rounds):
        name = names[i % len(names)]
        yield "List", (), check_list
        yield "Inspect", (name,), check_inspect(name)
        yield "Preflight", (name, dbus.Array([], signature="s"),
                            dbus.Dictionary({}, signature="sv")), check_preflight


@pytest.fixture
def busy_service(service_factory, backup_maker):
    svc = service_factory()
    names = []
    for day in range(1, BACKUPS + 1):
        name = f"Nightly_2026-11-{day:02d}_02-00-00.sar"
        backup_maker(svc.backups, name, created=f"2026-11-{day:02d}T02:00:00Z")
        names.append(name)
    svc.start(env=memory_env())
    return svc, names


def test_thousands_of_reads_keep_memory_and_descriptors_flat(busy_service):
    svc, names = busy_service
    pid = svc.process.pid
    pipeline = Pipeline(svc)
    try:
        assert pipeline.run(read_calls(names, WARM_UP_ROUNDS)) == 3 * WARM_UP_ROUNDS
        rss_before = status_kb(pid, "VmRSS")
        fds_before = open_fds(pid)
        assert pipeline.run(read_calls(names, MEASURED_ROUNDS)) == 3 * MEASURED_ROUNDS
        rss_after = status_kb(pid, "VmRSS")
        fds_after = open_fds(pid)
    finally:
        pipeline.close()
    print(f"VmRSS {rss_before} kB -> {rss_after} kB ({rss_after - rss_before:+d} kB) over "
          f"{3 * MEASURED_ROUNDS} calls; descriptors {fds_before} -> {fds_after}")
    assert rss_after - rss_before <= RSS_GROWTH_LIMIT_KB, (rss_before, rss_after)
    assert fds_after == fds_before


def test_job_properties_read_and_announced_are_freed(service, backup_maker, workdir):
    """A job's Details (kept by the job, handed out by reference) are read
    with Get and GetAll and announced with PropertiesChanged; the daemon's
    exit then shows (in a sanitizer build) that nothing kept them alive."""
    sample = backup_maker(workdir, "sample.sar")
    with open(sample, "rb") as f:
        job = str(service.manager().Upload("Up.sar", dbus.types.UnixFd(f),
                                           dbus.Dictionary({}, signature="sv")))
    assert wait_job(service, job) == "done"
    props = dbus.Interface(service.proxy(path=job), "org.freedesktop.DBus.Properties")
    for _ in range(50):
        assert props.Get(JOB_IFACE, "Details") == {}
        assert props.GetAll(JOB_IFACE)["State"] == "done"
    service.stop()


# A backup whose SHA256SUMS is close to the 4 MiB that metadata may have:
# each Inspect of it holds several MiB while it parses.
BIG_FILES = (100, 200)   # directories, files in each
PARALLEL_INSPECTS = 24
# List, Inspect and Preflight parse in a pool of this many threads.
READ_WORKERS = 2


@pytest.fixture(scope="module")
def big_sums_backup():
    root = new_tempdir()
    tree = root / "tree" / "core"
    for d in range(BIG_FILES[0]):
        directory = tree / f"directory-with-a-rather-long-name-{d:03d}" / "and-a-second-level"
        directory.mkdir(parents=True)
        for f in range(BIG_FILES[1]):
            (directory / f"file-number-{f:05d}-with-a-long-descriptive-name.txt").touch()
    path = pack(root / "tree", root / "big.sar")
    yield path
    shutil.rmtree(root, ignore_errors=True)


def test_parallel_inspects_are_all_answered_and_parse_a_few_at_a_time(service_factory,
                                                                       big_sums_backup):
    svc = service_factory()
    name = "Big_2026-11-20_02-00-00.sar"
    shutil.copy(big_sums_backup, svc.backups / name)
    svc.start(env=memory_env())
    pid = svc.process.pid
    pipeline = Pipeline(svc)
    files = BIG_FILES[0] * BIG_FILES[1]

    def check(info):
        assert str(info["name"]) == name
        [(component, details)] = info["components"]
        assert (component, int(details["files"])) == ("core", files)

    try:
        # what one parse costs: the peak of the first Inspect over the
        # resident set before it
        rss = status_kb(pid, "VmRSS")
        assert pipeline.run([("Inspect", (name,), check)]) == 1
        one_parse = status_kb(pid, "VmHWM") - rss
        # warm the pool's threads up: READ_WORKERS at a time
        pipeline.in_flight = READ_WORKERS
        assert pipeline.run([("Inspect", (name,), check)] * 2 * READ_WORKERS) == 2 * READ_WORKERS
        peak_bounded = status_kb(pid, "VmHWM")
        # now all at once
        pipeline.in_flight = PARALLEL_INSPECTS
        assert pipeline.run([("Inspect", (name,), check)] * PARALLEL_INSPECTS) == \
            PARALLEL_INSPECTS
        peak = status_kb(pid, "VmHWM")
    finally:
        pipeline.close()
    print(f"one parse {one_parse} kB; peak with {READ_WORKERS} at a time {peak_bounded} kB, "
          f"with {PARALLEL_INSPECTS} sent at once {peak} kB")
    # at most READ_WORKERS parses at once: no higher a peak than with
    # READ_WORKERS calls at a time, give or take one parse
    assert peak <= peak_bounded + one_parse, (one_parse, peak_bounded, peak)
