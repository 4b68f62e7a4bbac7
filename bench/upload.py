#!/usr/bin/python3
"""Upload benchmark (not a test): time and peak daemon memory of an Upload
of a backup from a regular file, against `cp` of the same file, `sync` of
the copy and `bsdtar -tf` of it (what an upload does: copy, make durable,
read the whole archive), measured in the same run.

    SOURCE_ROOT=$PWD BUILD_ROOT=$PWD/build-rel /usr/bin/python3 bench/upload.py \
        [--runs N] [--cold] [--log] [--also BUILD_DIR ...] [SIZE_MB ...]  (default: 250)

The backup is PBX-like (bench/pbxdata.py: per 250 MB about 3,000 CDR files,
150 voicemail messages, a 6 MB SQL file).  Each size is measured --runs
times (default 3), the contenders taking turns, and the medians are
compared; the ratio is against cp + sync + bsdtar -tf (cp + bsdtar -tf,
without making the copy durable, is shown too).  --also adds the daemon of
another build directory (e.g. an unmodified build, to compare before and
after): all take turns in every run.  Dirty data is written out (sync)
before each contender, so one's writeback does not slow the next.  --cold
drops the page cache before each contender (root only); otherwise the
backup is read once first, so all start from a warm cache.  Needs a
release build (meson setup build-rel -Dbuildtype=release).  TMPDIR chooses
the file system everything is made on (data, backups, copies).
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dbus  # noqa: E402

import harness  # noqa: E402
from harness import BUILD_ROOT, Bus, Service, SignalRecorder, new_tempdir, pack  # noqa: E402
from pbxdata import (fill, median, peak_rss_kib, runs_text, settle, wait_finished,  # noqa: E402
                     warm)


def make_backup(root: Path, size_mb: int, compression: str = "zstd") -> Path:
    tree = root / f"tree{size_mb}"
    fill(tree, size_mb, "backup")
    out = pack(tree, root / f"bench{size_mb}-{compression}.sar",
               extra=(f"--compression={compression}",))
    shutil.rmtree(tree)
    return out


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
        _, result, error, message = wait_finished(rec, job, timeout=1200)
        elapsed = time.monotonic() - start
    assert result == "done", (result, error, message)
    (svc.backups / name).unlink()
    return elapsed


def run(size_mb: int, runs: int, cold: bool, log: bool, builds, backup: Path = None,
        compression: str = "zstd"):
    """Prints the comparison; returns {"durable": s, "copy": s, "bytes": n,
    "daemons": [{"build", "upload", "rss_mib"}]} (medians in seconds).
    backup: one made by make_backup() (else one is made)."""
    root = new_tempdir("sfbench-")
    services = []
    try:
        if backup is None:
            backup = make_backup(root, size_mb, compression)
        for i, build in enumerate(builds):
            (root / f"bus-{i}").mkdir()
            bus = Bus(root / f"bus-{i}")
            (root / f"svc-{i}").mkdir()
            svc = Service(root / f"svc-{i}", bus)
            harness.BACKUPD = str(build / "service" / "starface-backupd")
            services.append((build, bus, svc))
            svc.start()
        recs = [SignalRecorder(svc) for _, _, svc in services]
        if not cold:
            warm(backup)
        uploads = [[] for _ in services]
        bases, durables = [], []
        for i in range(runs):
            bases.append(baseline(backup, root, cold))
            durables.append(baseline(backup, root, cold, durable=True))
            order = list(range(len(services)))
            order = order[i % len(order):] + order[:i % len(order)]
            for k in order:
                uploads[k].append(upload(recs[k], services[k][2], backup, f"Bench-{i}.sar", cold))
        rss = [peak_rss_kib(svc.process.pid) for _, _, svc in services]
        size = backup.stat().st_size
        base, durable = median(bases), median(durables)
        print(f"{size_mb} MB ({compression}): backup {size / 1e6:.1f} MB, {runs} runs, medians "
              f"({'cold' if cold else 'warm'} cache)")
        print(f"  cp + sync + bsdtar -tf   {durable:6.2f} s          runs {runs_text(durables)}")
        print(f"  (cp + bsdtar -tf         {base:6.2f} s           runs {runs_text(bases)})")
        for k, (build, _, svc) in enumerate(services):
            up = median(uploads[k])
            print(f"  daemon {build}")
            print(f"    upload                 {up:6.2f} s  {up / durable:5.2f}x  "
                  f"runs {runs_text(uploads[k])}")
            print(f"    daemon peak RSS        {rss[k] / 1024:6.1f} MiB")
        sys.stdout.flush()
        return {"durable": durable, "copy": base, "bytes": size,
                "daemons": [{"build": str(build), "upload": median(uploads[k]),
                             "rss_mib": rss[k] / 1024}
                            for k, (build, _, _) in enumerate(services)]}
    finally:
        for _, bus, svc in services:
            try:
                svc.stop()
            finally:
                bus.stop()
        if log:
            for build, _, svc in services:
                for line in svc.log.read_text(errors="replace").splitlines():
                    if "received" in line:
                        print(f"    log ({build.name}): " + line.split(": ", 1)[-1])
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Upload benchmark")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each")
    parser.add_argument("--log", action="store_true",
                        help="show the timings the daemon logs (its debug messages)")
    parser.add_argument("--also", action="append", default=[], metavar="BUILD_DIR",
                        help="compare with the daemon of this build directory too")
    parser.add_argument("--compression", choices=("zstd", "gzip"), default="zstd")
    parser.add_argument("sizes", nargs="*", type=int, default=[250], metavar="SIZE_MB")
    args = parser.parse_args()
    builds = [Path(BUILD_ROOT)] + [Path(b) for b in args.also]
    for mb in args.sizes:
        run(mb, args.runs, args.cold, args.log, builds, compression=args.compression)
