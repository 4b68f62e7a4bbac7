#!/usr/bin/python3
"""Database restore benchmark (not a test): a restore of a backup whose core
component carries a PostgreSQL database of realistic size, against
`pg_restore` of the same dump into an empty database, measured in the same
run on the same throwaway PostgreSQL 15 cluster (harness.PgCluster; root
only).

    SOURCE_ROOT=$PWD BUILD_ROOT=$PWD/build-rel /usr/bin/python3 bench/database.py \
        [--runs N] [--rows N]                       (default: 3 runs, 1000000 CDR rows)

The database: the sample schema (users, cdr with a view and a function)
with --rows CDR rows and two indexes on cdr.  The backup: the project's
writer (pack --database core=starface, zstd) with a small file tree.

  pg_restore            `pg_restore --exit-on-error --no-owner --no-tablespaces
                        -d <empty db>` of the dump (taken out of the backup)
                        as the owner role: the baseline
  call -> PBX stopping  from the Restore call until the job's stage is
                        stopping-pbx: the dump checked (its schema against
                        the live database), the staging database created,
                        the dump loaded while the archive is extracted
  PBX downtime          stop command ended -> start command ended (the job's
                        pbx-downtime-ms): the two renames, the sessions
                        ended, the file trees swapped
  whole job             until Finished: also the old database dumped into
                        the undo, read back, and dropped

Runs take turns with the baseline; medians are compared.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dbus  # noqa: E402

from harness import (CLIENT, PG_BIN, PG_DATABASE, SOURCE_ROOT, Bus, PgCluster,  # noqa: E402
                     Service, SignalRecorder, job_property, make_tree, new_tempdir)
from pbxdata import median, peak_rss_kib, runs_text, wait_finished  # noqa: E402

SIMULATOR = SOURCE_ROOT / "data" / "pbx-simulator"


def fill_database(pg, rows):
    pg.create_sample()
    pg.sql(f"""
INSERT INTO cdr (caller, callee, started, seconds)
  SELECT (100 + g % 400)::text, '0' || (30000000 + g * 7 % 9999999)::text,
         timestamptz '2024-01-01' + g * interval '37 seconds', g % 3600
  FROM generate_series(1, {rows}) g;
CREATE INDEX cdr_started ON cdr (started);
CREATE INDEX cdr_caller ON cdr (caller);
ANALYZE;
""", PG_DATABASE, user=pg.owner)


def baseline(pg, dump: Path) -> float:
    """pg_restore of the dump into an empty database, as the owner."""
    pg.drop("bench_empty")
    pg.sql(f"CREATE DATABASE bench_empty OWNER {pg.owner} TEMPLATE template0")
    start = time.monotonic()
    with open(dump, "rb") as f:
        subprocess.run([PG_BIN / "pg_restore", "--exit-on-error", "--no-owner",
                        "--no-tablespaces", "-h", str(pg.socket_dir), "-p", str(pg.port),
                        "-U", pg.owner, "-d", "bench_empty"], stdin=f, check=True,
                       env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
                       user=pg.owner, group=pg.owner, extra_groups=[])
    elapsed = time.monotonic() - start
    pg.drop("bench_empty")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description="Database restore benchmark")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1000000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (the cluster runs as the users sfpg and sfdb)")

    root = new_tempdir("sfdbbench-")
    os.chmod(root, 0o755)  # the cluster runs as another user
    pg = PgCluster(root / "pg")
    (root / "pg").mkdir()
    pg.start()
    bus = svc = None
    try:
        (root / "bus").mkdir()
        bus = Bus(root / "bus")
        (root / "svc").mkdir()
        state = root / "pbx.json"
        db = (f"--db-name={PG_DATABASE} --db-host={pg.socket_dir} --db-port={pg.port} "
              f"--db-user={pg.owner} --db-tools={PG_BIN}")
        svc = Service(root / "svc", bus, database=pg, config_extra=f"""[Pbx]
SessionsCommand={SIMULATOR} --state={state} sessions
StopCommand={SIMULATOR} --state={state} {db} stop
StartCommand={SIMULATOR} --state={state} {db} start
""")
        make_tree(svc.data)
        fill_database(pg, args.rows)
        src = root / "src"
        make_tree(src)
        backup = svc.backups / "Bench.sar"
        subprocess.run([CLIENT, "pack", str(src), str(backup), "--version=8.1.2.3",
                        "--process=Nightly", "--created=2026-11-20T02:00:00Z",
                        f"--database=core={PG_DATABASE}", f"--config={svc.config}"], check=True)
        dump = root / "core.pgdump"
        subprocess.run(["bsdtar", "-xf", str(backup), "-C", str(root), "core.pgdump"],
                       check=True)
        db_size = pg.value(f"SELECT pg_size_pretty(pg_database_size('{PG_DATABASE}'))")
        svc.start()
        rec = SignalRecorder(svc)
        stages = {}

        def progress(job, percent, stage, message):
            stages.setdefault((str(job), str(stage)), time.monotonic())

        rec.conn.add_signal_receiver(progress, signal_name="Progress",
                                     dbus_interface="de.starface.Backup",
                                     path="/de/starface/Backup")
        bases, to_stop, whole, downtime = [], [], [], []
        for _ in range(args.runs):
            subprocess.run(["sync"], check=True)
            bases.append(baseline(pg, dump))
            subprocess.run(["sync"], check=True)
            report = rec.manager.Preflight("Bench.sar", dbus.Array([], signature="s"),
                                           dbus.Dictionary({}, signature="sv"))
            assert report["token"], list(report["blockers"])
            start = time.monotonic()
            job = str(rec.manager.Restore("Bench.sar", dbus.Array([], signature="s"),
                                          dbus.Dictionary({"token": report["token"]},
                                                          signature="sv")))
            _, result, name, message = wait_finished(rec, job, timeout=3600)
            whole.append(time.monotonic() - start)
            assert result == "done", (result, name, message)
            details = job_property(svc, job, "Details")
            assert "warning" not in details, details["warning"]
            to_stop.append(stages[(job, "stopping-pbx")] - start)
            downtime.append(int(details["pbx-downtime-ms"]) / 1000)
            (svc.backups / str(details["pre-restore-backup"])).unlink()
        base = median(bases)
        print(f"{args.rows} CDR rows: database {db_size}, dump {dump.stat().st_size / 1e6:.1f} MB, "
              f"backup {backup.stat().st_size / 1e6:.1f} MB, {args.runs} runs, medians")
        print(f"  pg_restore (empty db)   {base:7.2f} s           runs {runs_text(bases)}")
        print(f"  call -> PBX stopping    {median(to_stop):7.2f} s  {median(to_stop) / base:5.2f}x"
              f"   runs {runs_text(to_stop)}")
        print(f"  whole job               {median(whole):7.2f} s  {median(whole) / base:5.2f}x"
              f"   runs {runs_text(whole)}")
        print(f"  PBX downtime            {median(downtime) * 1000:7.0f} ms"
              f"          runs {runs_text([d * 1000 for d in downtime], '{:.0f}')}")
        print(f"  daemon peak RSS         {peak_rss_kib(svc.process.pid) / 1024:7.1f} MiB")
    finally:
        if svc is not None and svc.process is not None:
            svc.stop()
        if bus is not None:
            bus.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
