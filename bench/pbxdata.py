"""PBX-like data for the benchmarks (not a test).

The shape of a real STARFACE backup, scaled by size: per 250 MB about
3,000 small CDR files (text, compressible), 150 voicemail messages
(audio, incompressible) and one 6 MB SQL file, plus a few small
configuration files.
"""

import os
import random
import statistics
import subprocess
import time
from pathlib import Path


def fill(tree: Path, size_mb: int, seed: str):
    """Writes the component trees core/, cdr-voicemail/ and announcements/
    below tree: about size_mb MB of data."""
    rng = random.Random(f"{seed}-{size_mb}")
    core = tree / "core"
    cdr = tree / "cdr-voicemail" / "cdr"
    voicemail = tree / "cdr-voicemail" / "voicemail"
    announcements = tree / "announcements" / "de"
    for d in (core / "db", core / "etc", cdr, voicemail, announcements):
        d.mkdir(parents=True, exist_ok=True)

    n_cdr = max(1, size_mb * 12)
    n_voicemail = max(1, size_mb * 150 // 250)
    sql_bytes = max(64 * 1024, size_mb * 6 * 1024 * 1024 // 250)
    voicemail_bytes = size_mb * 225 * 1024 * 1024 // 250 // n_voicemail
    cdr_bytes = 6 * 1024

    # a pool of CDR lines, so the text compresses like real call lists
    pool = [(f"{rng.randrange(100, 999)};{rng.randrange(10**9, 10**10)};"
             f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} "
             f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d};"
             f"{rng.randrange(3600)};{rng.choice(['ANSWERED', 'NO ANSWER', 'BUSY'])};"
             f"{seed}\n").encode() for _ in range(4096)]
    for i in range(n_cdr):
        month = cdr / f"2026-{i % 12 + 1:02d}"
        month.mkdir(exist_ok=True)
        data = bytearray()
        while len(data) < cdr_bytes:
            data += pool[rng.randrange(len(pool))]
        (month / f"cdr-{i:06d}.csv").write_bytes(bytes(data[:cdr_bytes]))
    for i in range(n_voicemail):
        box = voicemail / f"{100 + i % 50}"
        box.mkdir(exist_ok=True)
        (box / f"msg{i:05d}.wav").write_bytes(os.urandom(voicemail_bytes))
    with open(core / "db" / "asterisk.sql", "wb") as f:
        written = 0
        while written < sql_bytes:
            line = (f"INSERT INTO cdr VALUES ({written}, {rng.randrange(100, 999)}, "
                    f"'2026-11-20 02:00:00', {rng.randrange(3600)}, '{seed}');\n").encode()
            f.write(line)
            written += len(line)
    (core / "network.conf").write_text("ip=192.0.2.10\n")
    for i in range(20):
        (core / "etc" / f"setting{i:02d}.conf").write_text(f"key{i}={seed}\n" * 20)
    for i in range(10):
        (announcements / f"greeting{i}.txt").write_text(f"Willkommen {i} {seed}\n" * 50)


def count_files(tree: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(tree))


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def settle(cold: bool = False):
    """Writes out dirty data (so one contender's writeback does not slow
    the next), and empties the page cache if cold."""
    os.sync()
    if cold:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def warm(path: Path):
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


def median(values):
    return statistics.median(values)


def runs_text(values, fmt="{:.2f}"):
    return " ".join(fmt.format(v) for v in values)


def wait_finished(rec, job: str, timeout: float):
    """Like SignalRecorder.wait_finished, but looks every millisecond (its
    20 ms would be a tenth of an upload)."""
    loop = rec.GLib.MainLoop()
    deadline = time.monotonic() + timeout

    def check():
        if any(f[0] == job for f in rec.finished) or time.monotonic() > deadline:
            loop.quit()
            return False
        return True

    rec.GLib.timeout_add(1, check)
    loop.run()
    return next(f for f in rec.finished if f[0] == job)
