#!/usr/bin/python3
"""Upload benchmark (not a test): time and peak daemon memory of an Upload
of a large backup, against `cp` of the same file plus `bsdtar -tf` of it,
measured in the same run.

    SOURCE_ROOT=$PWD BUILD_ROOT=$PWD/build /usr/bin/python3 bench/upload.py \
        [--runs N] [--cold] [SIZE_MB ...]                    (default: 40 400)

Each size is measured --runs times (default 3), the contenders taking turns,
and the medians are compared.  Dirty data is written out (sync) before each
contender, so one's writeback does not slow the next.  --cold drops the page
cache before each contender (root only); otherwise the backup is read once
first, so both start from a warm cache.  The upload includes its fsyncs,
which cp does not do.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import dbus  # noqa: E402

from harness import Bus, Service, SignalRecorder, new_tempdir, pack  # noqa: E402


def make_backup(root: Path, size_mb: int) -> Path:
    """A PBX-like tree: 3/4 voicemail audio (incompressible), 1/4 text."""
    tree = root / f"tree{size_mb}"
    audio = tree / "cdr-voicemail" / "voicemail"
    text = tree / "core" / "db"
    audio.mkdir(parents=True)
    text.mkdir(parents=True)
    (tree / "announcements").mkdir()
    chunk = 4 * 1024 * 1024
    audio_bytes = size_mb * 1024 * 1024 * 3 // 4
    for i in range(audio_bytes // chunk):
        (audio / f"msg{i:04d}.wav").write_bytes(os.urandom(chunk))
    line = b"INSERT INTO cdr VALUES (100, 200, '2026-11-20 02:00:00', 42, 'ANSWERED');\n"
    with open(text / "asterisk.sql", "wb") as f:
        for _ in range(size_mb * 1024 * 1024 // 4 // len(line)):
            f.write(line)
    out = pack(tree, root / f"bench{size_mb}.sar")
    shutil.rmtree(tree)
    return out


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def settle(cold: bool):
    """Writes out dirty data, and empties the page cache if cold."""
    os.sync()
    if cold:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def baseline(path: Path, target_dir: Path, cold: bool, durable=False) -> float:
    """cp + bsdtar -tf; durable: with an fsync of the copy in between, as
    the upload must do."""
    target = target_dir / "copy.sar"
    settle(cold)
    start = time.monotonic()
    subprocess.run(["cp", str(path), str(target)], check=True)
    if durable:
        subprocess.run(["sync", str(target)], check=True)
    subprocess.run(["bsdtar", "-tf", str(target)], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    target.unlink()
    return elapsed


def upload(rec, svc, path: Path, name: str, cold: bool) -> float:
    settle(cold)
    with open(path, "rb") as f:
        start = time.monotonic()
        job = str(rec.manager.Upload(name, dbus.types.UnixFd(f),
                                     dbus.Dictionary({}, signature="sv")))
        _, result, error, message = rec.wait_finished(job, timeout=1200)
        elapsed = time.monotonic() - start
    assert result == "done", (result, error, message)
    (svc.backups / name).unlink()
    return elapsed


def run(size_mb: int, runs: int, cold: bool):
    root = new_tempdir("sfbench-")
    try:
        backup = make_backup(root, size_mb)
        bus_root = root / "bus"
        bus_root.mkdir()
        bus = Bus(bus_root)
        svc_root = root / "svc"
        svc_root.mkdir()
        svc = Service(svc_root, bus)
        svc.start()
        try:
            rec = SignalRecorder(svc)
            rss_before = peak_rss_kib(svc.process.pid)
            if not cold:
                subprocess.run(["cat", str(backup)], stdout=subprocess.DEVNULL, check=True)
            uploads, bases, durables = [], [], []
            for i in range(runs):
                bases.append(baseline(backup, svc.backups, cold))
                uploads.append(upload(rec, svc, backup, f"Bench-{i}.sar", cold))
                durables.append(baseline(backup, svc.backups, cold, durable=True))
            rss_after = peak_rss_kib(svc.process.pid)
            size = backup.stat().st_size
            up, base = statistics.median(uploads), statistics.median(bases)
            durable = statistics.median(durables)
            print(f"{size / 1e6:8.1f} MB {'cold' if cold else 'warm'}  upload {up:6.2f} s  "
                  f"cp+bsdtar -tf {base:6.2f} s  ratio {up / base:4.2f}  "
                  f"(cp+fsync+bsdtar -tf {durable:6.2f} s)  "
                  f"daemon peak RSS {rss_before} KiB before, {rss_after} KiB after", flush=True)
            print("    runs: upload " + " ".join(f"{t:.2f}" for t in uploads)
                  + "  cp+bsdtar " + " ".join(f"{t:.2f}" for t in bases)
                  + "  cp+fsync+bsdtar " + " ".join(f"{t:.2f}" for t in durables), flush=True)
        finally:
            svc.stop()
            bus.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Upload benchmark")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each")
    parser.add_argument("sizes", nargs="*", type=int, default=[40, 400], metavar="SIZE_MB")
    args = parser.parse_args()
    for mb in args.sizes:
        run(mb, args.runs, args.cold)
