#!/usr/bin/python3
"""Restore benchmark (not a test): peak daemon memory and PBX downtime
(stop to start, from the job's Details and the PBX simulator's log) for
restores of backups of different sizes.

    /usr/bin/python3 bench/restore.py [SIZE_MB ...]     (default: 40 2048)

Needs a build in ./build (BUILD_ROOT to use another).
"""

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import dbus  # noqa: E402

from harness import (SOURCE_ROOT, Bus, Service, SignalRecorder, job_property,  # noqa: E402
                     new_tempdir, pack)

SIMULATOR = SOURCE_ROOT / "data" / "pbx-simulator"


def fill(tree: Path, size_mb: int, seed: bytes):
    """3/4 voicemail audio (incompressible, 4 MiB files), 1/4 text."""
    audio = tree / "cdr-voicemail" / "voicemail"
    text = tree / "core" / "db"
    audio.mkdir(parents=True)
    text.mkdir(parents=True)
    (tree / "announcements").mkdir()
    chunk = 4 * 1024 * 1024
    for i in range(size_mb * 3 // 4 // 4):
        (audio / f"msg{i:05d}.wav").write_bytes(os.urandom(chunk))
    line = b"INSERT INTO cdr VALUES (100, 200, '2026-11-20 02:00:00', 42, '" + seed + b"');\n"
    with open(text / "asterisk.sql", "wb") as f:
        for _ in range(size_mb * 1024 * 1024 // 4 // len(line)):
            f.write(line)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def run(size_mb: int):
    root = new_tempdir("sfrbench-")
    try:
        bus_root = root / "bus"
        bus_root.mkdir()
        bus = Bus(bus_root)
        svc_root = root / "svc"
        svc_root.mkdir()
        state = root / "pbx.json"
        svc = Service(svc_root, bus, config_extra=f"""[Pbx]
SessionsCommand={SIMULATOR} --state={state} sessions
StopCommand={SIMULATOR} --state={state} stop
StartCommand={SIMULATOR} --state={state} start
""")
        fill(svc.data, size_mb, b"live")
        src = root / "src"
        fill(src, size_mb, b"backup")
        backup = pack(src, svc.backups / "Bench.sar")
        shutil.rmtree(src)
        svc.start()
        try:
            rec = SignalRecorder(svc)
            rss_before = peak_rss_kib(svc.process.pid)
            report = rec.manager.Preflight("Bench.sar", dbus.Array([], signature="s"),
                                           dbus.Dictionary({}, signature="sv"))
            start = time.monotonic()
            job = str(rec.manager.Restore("Bench.sar", dbus.Array([], signature="s"),
                                          dbus.Dictionary({"token": report["token"]},
                                                          signature="sv")))
            _, result, name, message = rec.wait_finished(job, timeout=3600)
            elapsed = time.monotonic() - start
            assert result == "done", (result, name, message)
            details = job_property(svc, job, "Details")
            rss_after = peak_rss_kib(svc.process.pid)
            print(f"{backup.stat().st_size / 1e6:9.1f} MB backup  restore {elapsed:7.2f} s  "
                  f"PBX downtime {int(details['pbx-downtime-ms'])} ms  daemon peak RSS "
                  f"{rss_before} KiB before, {rss_after} KiB after", flush=True)
        finally:
            svc.stop()
            bus.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    for mb in [int(a) for a in sys.argv[1:]] or [40, 2048]:
        run(mb)
