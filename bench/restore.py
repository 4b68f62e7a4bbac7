#!/usr/bin/python3
"""Restore benchmark (not a test): a restore against `bsdtar -xf` + `sync`
of the same archive into a fresh directory, measured in the same run.

    SOURCE_ROOT=$PWD BUILD_ROOT=$PWD/build-rel /usr/bin/python3 bench/restore.py \
        [--runs N] [--cold] [--log] [SIZE_MB ...]            (default: 40 250 2048)

For each size: a PBX-like backup (bench/pbxdata.py: per 250 MB about 3,000
CDR files, 150 voicemail messages and a 6 MB SQL file) is restored over
live data of the same shape, --runs times (default 3), taking turns with
the baseline; the medians are compared:

  bsdtar -xf + sync     `bsdtar -xf BACKUP -C fresh-dir`, then `sync -f` of it
  call -> PBX running   from the Restore call until the PBX start command ended
                        (the job's pbx-started-at): extraction, every SHA-256
                        checked, sync, stop, swap, start
  whole job             from the Restore call until Finished: also the undo
                        (pre-restore) backup written, synced and read back, and
                        the old trees removed
  PBX downtime          stop command ended -> start command ended (the job's
                        pbx-downtime-ms)

and the daemon's peak RSS (VmHWM) over all runs.  Dirty data is written out
(sync) before each contender; the backup is read once first so both start
from a warm cache (--cold drops the page cache before each instead; root
only).  The PBX is the project's simulator (a Python script: its stop and
start take some tens of milliseconds each, inside both the call -> PBX
running time and the downtime).  2 GB needs about 12 GB of free disk and
some minutes; pass the sizes to run.  Needs a release build
(meson setup build-rel -Dbuildtype=release).  TMPDIR chooses
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

from harness import (BUILD_ROOT, SOURCE_ROOT, Bus, Service, SignalRecorder,  # noqa: E402
                     job_property, new_tempdir, pack)
from pbxdata import (count_files, fill, median, peak_rss_kib, runs_text, settle,  # noqa: E402
                     wait_finished, warm)

SIMULATOR = SOURCE_ROOT / "data" / "pbx-simulator"
STAGES = ("extracting", "stopping-pbx", "activating", "starting-pbx", "saving-previous",
          "cleanup")


def bsdtar_extract(backup: Path, target: Path, cold: bool) -> float:
    target.mkdir()
    settle(cold)
    start = time.monotonic()
    subprocess.run(["bsdtar", "-xf", str(backup), "-C", str(target)], check=True)
    subprocess.run(["sync", "-f", str(target)], check=True)
    elapsed = time.monotonic() - start
    shutil.rmtree(target)
    return elapsed


class StageClock:
    """When each stage of a job was first reported, in seconds after t0."""

    def __init__(self, rec):
        self.t0 = 0.0
        self.job = None
        self.seen = {}
        rec.conn.add_signal_receiver(self.progress, signal_name="Progress",
                                     dbus_interface="de.starface.Backup",
                                     path="/de/starface/Backup")

    def progress(self, job, percent, stage, message):
        if str(job) == self.job and str(stage) not in self.seen:
            self.seen[str(stage)] = time.monotonic() - self.t0


def restore(rec, clock, svc, cold: bool):
    report = rec.manager.Preflight("Bench.sar", dbus.Array([], signature="s"),
                                   dbus.Dictionary({}, signature="sv"))
    assert report["token"], list(report["blockers"])
    settle(cold)
    clock.seen = {}
    wall = time.time()
    clock.t0 = start = time.monotonic()
    job = str(rec.manager.Restore("Bench.sar", dbus.Array([], signature="s"),
                                  dbus.Dictionary({"token": report["token"]}, signature="sv")))
    clock.job = job
    _, result, name, message = wait_finished(rec, job, timeout=3600)
    whole = time.monotonic() - start
    assert result == "done", (result, name, message)
    details = job_property(svc, job, "Details")
    assert "warning" not in details, details["warning"]
    running = int(details["pbx-started-at"]) / 1e6 - wall
    downtime = int(details["pbx-downtime-ms"]) / 1000
    (svc.backups / str(details["pre-restore-backup"])).unlink()
    return running, whole, downtime, dict(clock.seen)


def run(size_mb: int, runs: int, cold: bool, log: bool):
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
        fill(svc.data, size_mb, "live")
        src = root / "src"
        fill(src, size_mb, "backup")
        files = count_files(src)
        backup = pack(src, svc.backups / "Bench.sar")
        shutil.rmtree(src)
        svc.start()
        try:
            rec = SignalRecorder(svc)
            clock = StageClock(rec)
            if not cold:
                warm(backup)
            bases, running, whole, downtime, stages = [], [], [], [], []
            for i in range(runs):
                bases.append(bsdtar_extract(backup, root / f"bsdtar-{i}", cold))
                r, w, d, s = restore(rec, clock, svc, cold)
                running.append(r)
                whole.append(w)
                downtime.append(d)
                stages.append(s)
            rss = peak_rss_kib(svc.process.pid)
        finally:
            svc.stop()
            bus.stop()
        if log:
            for line in svc.log.read_text(errors="replace").splitlines():
                if " in " in line and (" s" in line) or "down for" in line:
                    print("    log: " + line.split(": ", 1)[-1])
        base = median(bases)
        print(f"{size_mb} MB: backup {backup.stat().st_size / 1e6:.1f} MB, {files} files, "
              f"{runs} runs, medians ({'cold' if cold else 'warm'} cache)")
        print(f"  bsdtar -xf + sync      {base:7.2f} s           runs {runs_text(bases)}")
        print(f"  call -> PBX running    {median(running):7.2f} s  {median(running) / base:5.2f}x"
              f"   runs {runs_text(running)}")
        print(f"  whole job              {median(whole):7.2f} s  {median(whole) / base:5.2f}x"
              f"   runs {runs_text(whole)}")
        print(f"  PBX downtime           {median(downtime) * 1000:7.0f} ms"
              f"          runs {runs_text([d * 1000 for d in downtime], '{:.0f}')}")
        print(f"  daemon peak RSS        {rss / 1024:7.1f} MiB")
        print("  stages (median s after the call): " + ", ".join(
            f"{stage} {median([s[stage] for s in stages]):.2f}" for stage in STAGES
            if all(stage in s for s in stages)), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Restore benchmark")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each")
    parser.add_argument("--log", action="store_true",
                        help="show the timings the daemon logs (its debug messages)")
    parser.add_argument("sizes", nargs="*", type=int, default=[40, 250, 2048], metavar="SIZE_MB")
    args = parser.parse_args()
    print(f"daemon: {BUILD_ROOT}", flush=True)
    for mb in args.sizes:
        run(mb, args.runs, args.cold, args.log)
