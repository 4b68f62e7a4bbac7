#!/usr/bin/python3
"""Upload benchmark (not a test): time and peak daemon memory of an Upload
of a large backup, against `cp` of the same file plus `bsdtar -tf` of it,
measured in the same run.

    /usr/bin/python3 bench/upload.py [SIZE_MB ...]     (default: 40 400)

Needs a build in ./build (./run-tests --quick or ninja -C build).
"""

import os
import shutil
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


def baseline(path: Path, target_dir: Path) -> float:
    target = target_dir / "copy.sar"
    start = time.monotonic()
    subprocess.run(["cp", str(path), str(target)], check=True)
    subprocess.run(["bsdtar", "-tf", str(target)], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    target.unlink()
    return elapsed


def run(size_mb: int):
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
            # page cache warm for both contenders
            subprocess.run(["cat", str(backup)], stdout=subprocess.DEVNULL, check=True)
            base = baseline(backup, svc.backups)
            with open(backup, "rb") as f:
                start = time.monotonic()
                job = str(rec.manager.Upload("Bench.sar", dbus.types.UnixFd(f),
                                             dbus.Dictionary({}, signature="sv")))
                _, result, name, message = rec.wait_finished(job, timeout=1200)
                upload = time.monotonic() - start
            assert result == "done", (result, name, message)
            rss_after = peak_rss_kib(svc.process.pid)
            size = backup.stat().st_size
            print(f"{size / 1e6:8.1f} MB  upload {upload:6.2f} s  cp+bsdtar -tf {base:6.2f} s  "
                  f"ratio {upload / base:4.2f}  daemon peak RSS {rss_before} KiB before, "
                  f"{rss_after} KiB after", flush=True)
        finally:
            svc.stop()
            bus.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    for mb in [int(a) for a in sys.argv[1:]] or [40, 400]:
        run(mb)
