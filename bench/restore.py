#!/usr/bin/python3
"""Restore benchmark (not a test): a restore against `bsdtar -xf` + `sync`
of the same archive into a fresh directory, measured in the same run.

    SOURCE_ROOT=$PWD BUILD_ROOT=$PWD/build-rel /usr/bin/python3 bench/restore.py \
        [--runs N] [--cold] [--log] [--also BUILD_DIR ...] [SIZE_MB ...]
                                                              (default sizes: 40 250 2048)

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

and each daemon's peak RSS (VmHWM) over all runs.  --also adds the daemon
of another build directory (e.g. an unmodified build, to compare before
and after): each daemon restores the same backup over its own copy of the
live data, and all take turns in every run (in another order each run),
so they share the machine's ups and downs.

Dirty data is written out (sync) before each contender; the backup is
read once first so all start from a warm cache (--cold drops the page
cache before each instead; root only).  The PBX is the project's simulator
(a Python script: its stop and start take some tens of milliseconds each,
inside both the call -> PBX running time and the downtime).  2 GB needs
about 12 GB of free disk per daemon and some minutes; pass the sizes to
run.  Needs a release build (meson setup build-rel -Dbuildtype=release).
TMPDIR chooses the file system everything is made on (data, backups,
copies).  --log shows the timings the daemons log (debug messages; the
unmodified daemon has fewer).
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


class Daemon:
    """One daemon (of one build) on its own bus, with its own data and PBX."""

    def __init__(self, root: Path, build: Path, size_mb: int, backup: Path):
        self.build = build
        self.runs = {"running": [], "whole": [], "downtime": [], "stages": []}
        root.mkdir()
        (root / "bus").mkdir()
        self.bus = Bus(root / "bus")
        (root / "svc").mkdir()
        state = root / "pbx.json"
        self.svc = Service(root / "svc", self.bus, config_extra=f"""[Pbx]
SessionsCommand={SIMULATOR} --state={state} sessions
StopCommand={SIMULATOR} --state={state} stop
StartCommand={SIMULATOR} --state={state} start
""")
        fill(self.svc.data, size_mb, "live")
        shutil.copy(backup, self.svc.backups / "Bench.sar")
        harness.BACKUPD = str(build / "service" / "starface-backupd")
        self.svc.start()
        self.rec = SignalRecorder(self.svc)
        self.clock = StageClock(self.rec)

    def restore(self, cold: bool):
        rec, clock, svc = self.rec, self.clock, self.svc
        report = rec.manager.Preflight("Bench.sar", dbus.Array([], signature="s"),
                                       dbus.Dictionary({}, signature="sv"))
        assert report["token"], list(report["blockers"])
        settle(cold)
        clock.seen = {}
        wall = time.time()
        clock.t0 = start = time.monotonic()
        job = str(rec.manager.Restore("Bench.sar", dbus.Array([], signature="s"),
                                      dbus.Dictionary({"token": report["token"]},
                                                      signature="sv")))
        clock.job = job
        _, result, name, message = wait_finished(rec, job, timeout=3600)
        whole = time.monotonic() - start
        assert result == "done", (result, name, message)
        details = job_property(svc, job, "Details")
        assert "warning" not in details, details["warning"]
        self.runs["running"].append(int(details["pbx-started-at"]) / 1e6 - wall)
        self.runs["whole"].append(whole)
        self.runs["downtime"].append(int(details["pbx-downtime-ms"]) / 1000)
        self.runs["stages"].append(dict(clock.seen))
        (svc.backups / str(details["pre-restore-backup"])).unlink()

    def stop(self):
        self.rss = peak_rss_kib(self.svc.process.pid)
        try:
            self.svc.stop()
        finally:
            self.bus.stop()

    def results(self):
        """The medians, in seconds (RSS in MiB)."""
        return {"running": median(self.runs["running"]), "whole": median(self.runs["whole"]),
                "downtime": median(self.runs["downtime"]), "rss_mib": self.rss / 1024}

    def report(self, base: float, log: bool):
        running, whole = self.runs["running"], self.runs["whole"]
        downtime, stages = self.runs["downtime"], self.runs["stages"]
        print(f"  daemon {self.build}")
        print(f"    call -> PBX running  {median(running):7.2f} s  "
              f"{median(running) / base:5.2f}x   runs {runs_text(running)}")
        print(f"    whole job            {median(whole):7.2f} s  {median(whole) / base:5.2f}x   "
              f"runs {runs_text(whole)}")
        print(f"    PBX downtime         {median(downtime) * 1000:7.0f} ms"
              f"          runs {runs_text([d * 1000 for d in downtime], '{:.0f}')}")
        print(f"    daemon peak RSS      {self.rss / 1024:7.1f} MiB")
        print("    stages (median s after the call): " + ", ".join(
            f"{stage} {median([s[stage] for s in stages]):.2f}" for stage in STAGES
            if all(stage in s for s in stages)))
        if log:
            for line in self.svc.log.read_text(errors="replace").splitlines():
                if (" in " in line and " s" in line) or "down for" in line:
                    print("      log: " + line.split(": ", 1)[-1])


def make_backup(root: Path, size_mb: int, compression: str = "zstd"):
    """A PBX-like backup of about size_mb MB of data (bench/pbxdata.py):
    (its path, the number of files in it)."""
    src = root / f"src-{size_mb}-{compression}"
    fill(src, size_mb, "backup")
    files = count_files(src)
    backup = pack(src, root / f"Bench-{size_mb}-{compression}.sar",
                  extra=(f"--compression={compression}",))
    shutil.rmtree(src)
    return backup, files


def run(size_mb: int, runs: int, cold: bool, log: bool, builds, backup=None,
        compression: str = "zstd"):
    """Prints the comparison; returns {"bsdtar": s, "files": n, "bytes": n,
    "daemons": [{"build", "running", "whole", "downtime", "rss_mib"}]}.
    backup: what make_backup() returned for size_mb (else one is made)."""
    root = new_tempdir("sfrbench-")
    daemons = []
    try:
        backup, files = backup if backup is not None else make_backup(root, size_mb, compression)
        for i, build in enumerate(builds):
            daemons.append(Daemon(root / f"daemon-{i}", build, size_mb, backup))
        if not cold:
            warm(backup)
        bases = []
        for i in range(runs):
            bases.append(bsdtar_extract(backup, root / f"bsdtar-{i}", cold))
            turn = daemons[i % len(daemons):] + daemons[:i % len(daemons)]
            for daemon in turn:
                daemon.restore(cold)
        for daemon in daemons:
            daemon.stop()
        base = median(bases)
        print(f"{size_mb} MB ({compression}): backup {backup.stat().st_size / 1e6:.1f} MB, "
              f"{files} files, {runs} runs, medians ({'cold' if cold else 'warm'} cache)")
        print(f"  bsdtar -xf + sync      {base:7.2f} s           runs {runs_text(bases)}")
        for daemon in daemons:
            daemon.report(base, log)
        sys.stdout.flush()
        return {"bsdtar": base, "files": files, "bytes": backup.stat().st_size,
                "daemons": [dict(build=str(d.build), **d.results()) for d in daemons]}
    finally:
        for daemon in daemons:
            if daemon.svc.process is not None and not daemon.svc.checked:
                daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Restore benchmark")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each")
    parser.add_argument("--log", action="store_true",
                        help="show the timings the daemon logs (its debug messages)")
    parser.add_argument("--also", action="append", default=[], metavar="BUILD_DIR",
                        help="compare with the daemon of this build directory too")
    parser.add_argument("--compression", choices=("zstd", "gzip"), default="zstd")
    parser.add_argument("sizes", nargs="*", type=int, default=[40, 250, 2048], metavar="SIZE_MB")
    args = parser.parse_args()
    builds = [Path(BUILD_ROOT)] + [Path(b) for b in args.also]
    for mb in args.sizes:
        run(mb, args.runs, args.cold, args.log, builds, compression=args.compression)
