#!/usr/bin/python3
"""List benchmark (not a test): how long List takes with many backups in
the directory, against Peer.Ping (the cost of a round trip through the bus
and the daemon's dispatch) measured in the same run.

    SOURCE_ROOT=$PWD BUILD_ROOT=$PWD/build /usr/bin/python3 bench/list.py \\
        [--backups N] [--calls N] [--restarts N] [--load-mb MB] [--no-state-directory]

Prints:
  - Peer.Ping median, List warm median and p99 over --calls calls (default 50),
    with their ratio to Ping;
  - the first List after a restart of the daemon, with the catalog cache on
    disk and without it (median over --restarts restarts, default 5);
  - List p50/p99 while a restore of a --load-mb backup (default 250) and an
    upload of one as large run at the same time (0 skips this part), and
    Peer.Ping p50/p99 meanwhile (a Ping after each List): what the machine
    and the daemon's main loop add under that load, for comparison.

The backups are copies of a few small archives made by the project's
packer, under distinct names; they are left to age for a few seconds
before the first call, as backups on a real machine are (a file changed
within the last CATALOG_SETTLE_SECONDS is read at every List).

Times are taken with two clients: libdbus through ctypes, which only
receives and validates the reply (the cost of the daemon and the bus), and
GDBus (gi.repository.Gio), which also parses it into a GVariant, as a GLib
client does (dbus-python, which turns it into Python objects, takes longer
still).  The restarts and the measurement under load use the first.

--no-state-directory: leave [Paths] StateDirectory out of the daemon's
configuration, for a daemon older than that key (BACKUPD=... of an older
build): its "with cache" restarts are then the same as without.
"""

import argparse
import ctypes
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gi.repository import Gio, GLib  # noqa: E402

from harness import (BUS_NAME, IFACE, JOB_IFACE, OBJECT_PATH, SOURCE_ROOT, Bus,  # noqa: E402
                     Service, make_tree, new_tempdir, pack)
from restore import fill  # noqa: E402

SIMULATOR = SOURCE_ROOT / "data" / "pbx-simulator"
# CATALOG_SETTLE_SECONDS in service/catalog.h, and a margin
SETTLE = 2.5
DISTINCT = 20


class RawClient:
    """Calls through libdbus: the reply is received and validated, not
    parsed into objects."""

    lib = ctypes.CDLL("libdbus-1.so.3")

    class Error(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("message", ctypes.c_char_p),
                    ("bits", ctypes.c_uint), ("padding", ctypes.c_void_p)]

    def __init__(self, address):
        lib = self.lib
        lib.dbus_connection_open_private.restype = ctypes.c_void_p
        lib.dbus_connection_open_private.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.dbus_bus_register.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.dbus_message_new_method_call.restype = ctypes.c_void_p
        lib.dbus_message_new_method_call.argtypes = [ctypes.c_char_p] * 4
        lib.dbus_connection_send_with_reply_and_block.restype = ctypes.c_void_p
        lib.dbus_connection_send_with_reply_and_block.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.dbus_message_get_type.argtypes = [ctypes.c_void_p]
        lib.dbus_message_unref.argtypes = [ctypes.c_void_p]
        lib.dbus_connection_close.argtypes = [ctypes.c_void_p]
        lib.dbus_connection_unref.argtypes = [ctypes.c_void_p]
        lib.dbus_error_init.argtypes = [ctypes.c_void_p]
        lib.dbus_error_free.argtypes = [ctypes.c_void_p]
        error = self.error()
        self.conn = lib.dbus_connection_open_private(address.encode(), ctypes.byref(error))
        if not self.conn or not lib.dbus_bus_register(self.conn, ctypes.byref(error)):
            raise RuntimeError(f"cannot connect to {address}: {error.message}")

    def error(self):
        error = self.Error()
        self.lib.dbus_error_init(ctypes.byref(error))
        return error

    def timed(self, method, interface=IFACE):
        """Milliseconds for a call that must return."""
        lib = self.lib
        message = lib.dbus_message_new_method_call(BUS_NAME.encode(), OBJECT_PATH.encode(),
                                                   interface.encode(), method.encode())
        error = self.error()
        start = time.perf_counter()
        reply = lib.dbus_connection_send_with_reply_and_block(self.conn, message, 600000,
                                                              ctypes.byref(error))
        elapsed = (time.perf_counter() - start) * 1000
        lib.dbus_message_unref(message)
        if not reply:
            raise RuntimeError(f"{method}: {error.name}: {error.message}")
        kind = lib.dbus_message_get_type(reply)
        lib.dbus_message_unref(reply)
        assert kind == 2, f"{method}: not a method return"
        return elapsed

    def close(self):
        self.lib.dbus_connection_close(self.conn)
        self.lib.dbus_connection_unref(self.conn)


def connect(bus):
    return Gio.DBusConnection.new_for_address_sync(
        bus.address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def call(conn, method, args=None, interface=IFACE, path=OBJECT_PATH, fds=None):
    if fds is not None:
        reply, _ = conn.call_with_unix_fd_list_sync(BUS_NAME, path, interface, method, args,
                                                    None, Gio.DBusCallFlags.NONE, 600000, fds,
                                                    None)
        return reply
    return conn.call_sync(BUS_NAME, path, interface, method, args, None,
                          Gio.DBusCallFlags.NONE, 600000, None)


def timed(conn, method, interface=IFACE):
    start = time.perf_counter()
    reply = call(conn, method, interface=interface)
    return (time.perf_counter() - start) * 1000, reply


def ping(conn):
    return timed(conn, "Ping", interface="org.freedesktop.DBus.Peer")[0]


def listing(conn, expect):
    ms, reply = timed(conn, "List")
    count = reply.get_child_value(0).n_children()
    assert count >= expect, (count, expect)
    return ms


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def make_backups(root: Path, target: Path, count: int):
    samples = []
    for i in range(DISTINCT):
        tree = make_tree(root / f"tree{i}")
        samples.append(pack(tree, root / f"sample{i}.sar", process="Nightly",
                            created=f"2026-{1 + i % 12:02d}-{1 + i:02d}T02:00:00Z").read_bytes())
        shutil.rmtree(tree)
    for i in range(count):
        day, minute = divmod(i, 24 * 60)
        name = f"Nightly_{2020 + day // 365}-{1 + day % 365 // 31:02d}-{1 + day % 31:02d}_" \
               f"{minute // 60:02d}-{minute % 60:02d}-00.sar"
        (target / name).write_bytes(samples[i % DISTINCT])


def first_list_after_start(svc, bus, count, keep_cache):
    svc.stop()
    if not keep_cache and svc.state.exists():
        shutil.rmtree(svc.state)
    svc.start()
    raw = RawClient(bus.address)
    try:
        ms = raw.timed("List")
    finally:
        raw.close()
    # and it was the whole listing
    conn = connect(bus)
    try:
        listing(conn, count)
    finally:
        conn.close_sync(None)
    return ms


def job_state(conn, job):
    reply = call(conn, "Get", GLib.Variant("(ss)", (JOB_IFACE, "State")),
                 interface="org.freedesktop.DBus.Properties", path=job)
    return reply.unpack()[0]


def under_load(svc, bus, root: Path, count: int, size_mb: int):
    """List while a restore and an upload of size_mb backups run."""
    fill(svc.data, size_mb, b"live")
    src = root / "load-src"
    fill(src, size_mb, b"backup")
    pack(src, svc.backups / "Load.sar", created="2026-11-20T02:00:00Z")
    shutil.rmtree(src)
    upload_src = root / "upload-src"
    fill(upload_src, size_mb, b"upload")
    upload_file = pack(upload_src, root / "upload.sar", created="2026-11-21T02:00:00Z")
    shutil.rmtree(upload_src)
    time.sleep(SETTLE)
    os.sync()

    jobs_conn = connect(bus)
    raw = RawClient(bus.address)
    try:
        # warm, with the new backup read once
        listing(jobs_conn, count)
        report = call(jobs_conn, "Preflight",
                      GLib.Variant("(sasa{sv})", ("Load.sar", [], {}))).unpack()[0]
        restore_job = call(jobs_conn, "Restore", GLib.Variant(
            "(sasa{sv})", ("Load.sar", [], {"token": GLib.Variant("s", report["token"])}))
        ).unpack()[0]
        with open(upload_file, "rb") as f:
            fds = Gio.UnixFDList.new()
            fds.append(f.fileno())
            upload_job = call(jobs_conn, "Upload", GLib.Variant("(sha{sv})", ("Up.sar", 0, {})),
                              fds=fds).unpack()[0]
            times, pings = [], []
            start = time.monotonic()
            while True:
                times.append(raw.timed("List"))
                pings.append(raw.timed("Ping", "org.freedesktop.DBus.Peer"))
                states = [job_state(jobs_conn, j) for j in (restore_job, upload_job)]
                if "running" not in states:
                    break
                time.sleep(0.005)
            elapsed = time.monotonic() - start
        assert states == ["done", "done"], states
    finally:
        jobs_conn.close_sync(None)
        raw.close()
    return times, pings, elapsed


def run(args):
    """Prints the rows; returns them: [(label, milliseconds)], the first
    the Ping the others are compared with."""
    root = new_tempdir("sflbench-")
    try:
        bus_root = root / "bus"
        bus_root.mkdir()
        bus = Bus(bus_root)
        svc_root = root / "svc"
        svc_root.mkdir()
        state = root / "pbx.json"
        svc = Service(svc_root, bus, state_directory=not args.no_state_directory,
                      config_extra=f"""[Pbx]
SessionsCommand={SIMULATOR} --state={state} sessions
StopCommand={SIMULATOR} --state={state} stop
StartCommand={SIMULATOR} --state={state} start
""")
        make_backups(root, svc.backups, args.backups)
        time.sleep(SETTLE)
        n = args.backups
        svc.start()
        try:
            raw = RawClient(bus.address)
            conn = connect(bus)
            first_cold = raw.timed("List")
            listing(conn, n)
            for _ in range(5):
                raw.timed("Ping", "org.freedesktop.DBus.Peer")
                raw.timed("List")
            pings, lists, gpings, glists = [], [], [], []
            for _ in range(args.calls):
                pings.append(raw.timed("Ping", "org.freedesktop.DBus.Peer"))
                lists.append(raw.timed("List"))
                gpings.append(ping(conn))
                glists.append(listing(conn, n))
            conn.close_sync(None)
            raw.close()
            with_cache = [first_list_after_start(svc, bus, n, True)
                          for _ in range(args.restarts)]
            without = [first_list_after_start(svc, bus, n, False)
                       for _ in range(args.restarts)]
            # leave the cache in place for what follows
            first_list_after_start(svc, bus, n, True)

            p = statistics.median(pings)
            rows = [
                ("Peer.Ping median", p),
                (f"List warm median ({args.calls} calls)", statistics.median(lists)),
                (f"List warm p99 ({args.calls} calls)", p99(lists)),
                ("GDBus client: Peer.Ping median", statistics.median(gpings)),
                ("GDBus client: List warm median (reply parsed into a GVariant)",
                 statistics.median(glists)),
                ("GDBus client: List warm p99", p99(glists)),
                ("first List after the first start", first_cold),
                (f"first List after restart, cache on disk (median of {args.restarts})",
                 statistics.median(with_cache)),
                (f"first List after restart, no cache (median of {args.restarts})",
                 statistics.median(without)),
            ]
            if args.load_mb > 0:
                times, load_pings, elapsed = under_load(svc, bus, root, n, args.load_mb)
                rows.append((f"List p50 during a {args.load_mb} MB restore + upload "
                             f"({len(times)} calls over {elapsed:.1f} s)",
                             statistics.median(times)))
                rows.append((f"List p99 during a {args.load_mb} MB restore + upload",
                             p99(times)))
                rows.append(("List max during them", max(times)))
                rows.append(("Peer.Ping p50 during them (after each List)",
                             statistics.median(load_pings)))
                rows.append(("Peer.Ping p99 during them", p99(load_pings)))
        finally:
            svc.stop()
            bus.stop()
        print(f"{n} backups in the directory; daemon {os.environ.get('BACKUPD', 'build')}; "
              f"libdbus client unless said otherwise; ratios to its Ping")
        for label, ms in rows:
            print(f"  {label:<72} {ms:9.2f} ms  {ms / p:8.1f} x Ping", flush=True)
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="List benchmark")
    parser.add_argument("--backups", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--load-mb", type=int, default=250,
                        help="size of the restore and the upload that run during the last "
                             "measurement (0: skip it)")
    parser.add_argument("--no-state-directory", action="store_true")
    run(parser.parse_args())
