"""Upload: a .sar over a passed fd, as a job, validated before it appears."""

import hashlib
import io
import os
import subprocess
import tarfile
import threading
import time

import dbus
import pytest

from harness import (ERROR, JOB_IFACE, SignalRecorder, job_property, temporaries, wait_for,
                     wait_job)

NO_OPTIONS = dbus.Dictionary({}, signature="sv")


def upload(service, name, fd, options=NO_OPTIONS, manager=None):
    manager = manager or service.manager()
    return str(manager.Upload(name, dbus.types.UnixFd(fd), options))


def listed(service):
    return [str(name) for name, _ in service.manager().List()]


@pytest.fixture
def sample(workdir, backup_maker):
    tree = {"core": {"db/asterisk.sql": "CREATE TABLE users;\n", "network.conf": "ip=x\n"},
            "cdr-voicemail": {"voicemail/100/msg0001.wav": os.urandom(300_000)}}
    return backup_maker(workdir, "sample.sar", tree=tree)


@pytest.fixture
def svc(service_factory):
    def make(config_extra="[Limits]\nUploadIdleTimeout=2\n"):
        s = service_factory(config_extra=config_extra)
        s.start()
        return s
    return make


def feed_pipe(data, chunk=65536, delay=0.0, keep_open=None):
    read_fd, write_fd = os.pipe()

    def writer():
        try:
            for i in range(0, len(data), chunk):
                os.write(write_fd, data[i:i + chunk])
                if delay:
                    time.sleep(delay)
            if keep_open is not None:
                keep_open.wait(30)
        except BrokenPipeError:
            pass
        finally:
            os.close(write_fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    return read_fd, thread


def test_upload_from_a_regular_file(svc, sample):
    s = svc()
    rec = SignalRecorder(s)
    with open(sample, "rb") as f:
        job = str(rec.manager.Upload("Manual_2026-11-27_10-00-00.sar", dbus.types.UnixFd(f),
                                     NO_OPTIONS))
    assert job.startswith("/de/starface/Backup/job/")
    _, result, name, message = rec.wait_finished(job)
    assert (result, name, message) == ("done", "", "")
    assert (s.backups / "Manual_2026-11-27_10-00-00.sar").read_bytes() == sample.read_bytes()
    assert "Manual_2026-11-27_10-00-00.sar" in listed(s)
    assert temporaries(s.backups) == []
    # progress: monotone, below 100 until the end, stages in order
    percents = [p for j, p, _, _ in rec.progress if j == job]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert all(p < 100 for p in percents[:-1])
    stages = [st for j, _, st, _ in rec.progress if j == job]
    assert "verifying" in stages
    assert job_property(s, job, "State") == "done"
    assert job_property(s, job, "Percent") == 100
    assert job_property(s, job, "Operation") == "upload"
    assert job_property(s, job, "Backup") == "Manual_2026-11-27_10-00-00.sar"


def test_upload_from_a_pipe(svc, sample):
    s = svc()
    read_fd, thread = feed_pipe(sample.read_bytes(), delay=0.001)
    job = upload(s, "Piped.sar", read_fd)
    os.close(read_fd)
    assert wait_job(s, job) == "done"
    thread.join()
    assert (s.backups / "Piped.sar").read_bytes() == sample.read_bytes()
    assert temporaries(s.backups) == []


def test_upload_refuses_umlaut_name_before_reading(svc, sample):
    s = svc()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"x" * 100)
    with pytest.raises(dbus.DBusException) as e:
        upload(s, "Sicherung_März.sar", read_fd)
    assert e.value.get_dbus_name() == ERROR + "InvalidName"
    assert "'ä'" in e.value.get_dbus_message()
    assert "position 12" in e.value.get_dbus_message()
    # nothing was read from the pipe
    os.set_blocking(read_fd, False)
    assert os.read(read_fd, 1000) == b"x" * 100
    assert list(s.backups.iterdir()) == []


@pytest.mark.parametrize("name", ["Backup 1.sar", "a/b.sar", ".hidden.sar", "backup.tar",
                                  "x" * 200 + ".sar", "tab\there.sar", ""])
def test_upload_refuses_bad_names(svc, sample, name):
    s = svc()
    with open(sample, "rb") as f, pytest.raises(dbus.DBusException) as e:
        upload(s, name, f.fileno())
    assert e.value.get_dbus_name() == ERROR + "InvalidName"


def test_upload_refuses_existing_name_unless_replace(svc, sample, backup_maker, workdir):
    s = svc()
    (s.backups / "Same.sar").write_bytes(b"old")
    with open(sample, "rb") as f, pytest.raises(dbus.DBusException) as e:
        upload(s, "Same.sar", f.fileno())
    assert e.value.get_dbus_name() == ERROR + "AlreadyExists"
    assert "replace" in e.value.get_dbus_message()
    assert (s.backups / "Same.sar").read_bytes() == b"old"
    with open(sample, "rb") as f:
        job = upload(s, "Same.sar", f.fileno(),
                     dbus.Dictionary({"replace": dbus.Boolean(True)}, signature="sv"))
    assert wait_job(s, job) == "done"
    assert (s.backups / "Same.sar").read_bytes() == sample.read_bytes()


@pytest.mark.parametrize("options", [
    {"overwrite": dbus.Boolean(True)},
    {"replace": dbus.String("yes")},
])
def test_upload_refuses_unknown_or_mistyped_options(svc, sample, options):
    s = svc()
    with open(sample, "rb") as f, pytest.raises(dbus.DBusException) as e:
        upload(s, "Opt.sar", f.fileno(), dbus.Dictionary(options, signature="sv"))
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs"
    assert list(options)[0] in e.value.get_dbus_message()


def test_upload_refuses_unusable_descriptors(svc, sample, workdir):
    s = svc()
    cases = {
        "directory": os.open(workdir, os.O_RDONLY | os.O_DIRECTORY),
        "character device": os.open("/dev/null", os.O_RDONLY),
        "writing only": os.open(workdir / "wo.bin", os.O_WRONLY | os.O_CREAT),
        "O_PATH": os.open(sample, os.O_PATH),
    }
    for what, fd in cases.items():
        with pytest.raises(dbus.DBusException) as e:
            upload(s, "Fd.sar", fd)
        os.close(fd)
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs", what
        assert what in e.value.get_dbus_message(), what
    assert list(s.backups.iterdir()) == []


def test_upload_stops_at_max_backup_size(svc, sample):
    s = svc("[Limits]\nMaxBackupSize=3000\n")
    data = sample.read_bytes()
    assert len(data) > 3000
    rec = SignalRecorder(s)
    read_fd, thread = feed_pipe(data + os.urandom(1_000_000))
    job = str(rec.manager.Upload("Big.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    _, result, name, message = rec.wait_finished(job)
    assert (result, name) == ("failed", ERROR + "TooLarge")
    assert "3000" in message
    assert list(s.backups.iterdir()) == []


def test_stalled_pipe_fails_after_idle_timeout(svc, sample):
    s = svc("[Limits]\nUploadIdleTimeout=1\n")
    rec = SignalRecorder(s)
    hold = threading.Event()
    read_fd, thread = feed_pipe(sample.read_bytes()[:1000], keep_open=hold)
    job = str(rec.manager.Upload("Stall.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    _, result, name, message = rec.wait_finished(job, timeout=30)
    hold.set()
    assert result == "failed"
    assert "1 seconds" in message and "1000 bytes" in message
    assert list(s.backups.iterdir()) == []


def test_trickling_pipe_fails_at_the_upload_deadline(svc, sample):
    """One byte now and then keeps the idle timeout from firing, but not the
    overall deadline: the upload slot is freed and nothing is left."""
    s = svc("[Limits]\nUploadIdleTimeout=10\nUploadTimeout=2\nMaxConcurrentUploads=1\n")
    rec = SignalRecorder(s)
    stop = threading.Event()
    read_fd, write_fd = os.pipe()

    def trickle():
        try:
            for byte in sample.read_bytes():
                if stop.wait(0.2):
                    break
                os.write(write_fd, bytes([byte]))
        except BrokenPipeError:
            pass
        finally:
            os.close(write_fd)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    job = str(rec.manager.Upload("Trickle.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    try:
        _, result, name, message = rec.wait_finished(job, timeout=60)
    finally:
        stop.set()
        thread.join()
    assert (result, name) == ("failed", ERROR + "Failed")
    assert "2 seconds" in message and "UploadTimeout" in message
    assert list(s.backups.iterdir()) == []
    # the slot is free again
    with open(sample, "rb") as f:
        assert wait_job(s, upload(s, "After.sar", f.fileno())) == "done"


def test_cancel_removes_everything(svc, sample):
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    rec = SignalRecorder(s)
    hold = threading.Event()
    read_fd, thread = feed_pipe(sample.read_bytes()[:2000], keep_open=hold)
    job = str(rec.manager.Upload("Cancel.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    wait_for(lambda: temporaries(s.backups), what="the temporary file")
    dbus.Interface(rec.conn.get_object("de.starface.Backup", job, introspect=False),
                   JOB_IFACE).Cancel()
    _, result, name, _ = rec.wait_finished(job, timeout=10)
    hold.set()
    assert (result, name) == ("canceled", ERROR + "Canceled")
    assert list(s.backups.iterdir()) == []


def test_client_disconnect_cancels_upload(svc, sample):
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    rec = SignalRecorder(s)
    hold = threading.Event()
    read_fd, thread = feed_pipe(sample.read_bytes()[:2000], keep_open=hold)
    uploader = s.bus.connect()
    job = upload(s, "Gone.sar", read_fd, manager=s.manager(uploader))
    os.close(read_fd)
    wait_for(lambda: temporaries(s.backups), what="the temporary file")
    uploader.close()
    _, result, _, _ = rec.wait_finished(job, timeout=10)
    hold.set()
    assert result == "canceled"
    assert list(s.backups.iterdir()) == []


def test_a_forged_name_owner_changed_does_not_cancel_an_upload(svc, sample):
    """Only the bus says who left it: a NameOwnerChanged that another
    client sends straight to the daemon (a signal may be sent to anyone)
    claiming the uploader is gone changes nothing."""
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    rec = SignalRecorder(s)
    hold = threading.Event()
    read_fd, thread = feed_pipe(sample.read_bytes()[:2000], keep_open=hold)
    uploader = s.bus.connect()
    job = upload(s, "Kept.sar", read_fd, manager=s.manager(uploader))
    os.close(read_fd)
    wait_for(lambda: temporaries(s.backups), what="the temporary file")
    attacker = s.bus.connect()
    daemon = attacker.get_name_owner("de.starface.Backup")
    victim = uploader.get_unique_name()
    forged = dbus.lowlevel.SignalMessage("/org/freedesktop/DBus", "org.freedesktop.DBus",
                                         "NameOwnerChanged")
    forged.append(victim, victim, "", signature="sss")
    forged.set_destination(daemon)
    attacker.send_message(forged)
    attacker.flush()
    time.sleep(1)
    assert job_property(s, job, "State") == "running"
    hold.set()
    uploader.close()
    rec.wait_finished(job, timeout=10)


def test_same_name_twice_at_once_one_wins(svc, sample):
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    hold = threading.Event()
    data = sample.read_bytes()
    read_fd, thread = feed_pipe(data[:1000], keep_open=hold)
    first = upload(s, "Twice.sar", read_fd)
    os.close(read_fd)
    with open(sample, "rb") as f, pytest.raises(dbus.DBusException) as e:
        upload(s, "Twice.sar", f.fileno(),
               dbus.Dictionary({"replace": dbus.Boolean(True)}, signature="sv"))
    assert e.value.get_dbus_name() == ERROR + "Busy"
    hold.set()
    assert wait_job(s, first) == "failed"  # it got only 1000 bytes: invalid
    assert list(s.backups.iterdir()) == []


def test_file_appearing_during_upload_wins_over_it(svc, sample):
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    hold = threading.Event()
    data = sample.read_bytes()
    read_fd, write_fd = os.pipe()
    job = upload(s, "Raced.sar", read_fd)
    os.close(read_fd)
    (s.backups / "Raced.sar").write_bytes(b"placed by someone else")
    os.write(write_fd, data)
    os.close(write_fd)
    rec_state = wait_job(s, job)
    assert rec_state == "failed"
    assert (s.backups / "Raced.sar").read_bytes() == b"placed by someone else"
    assert temporaries(s.backups) == []


def test_corrupt_upload_never_appears(svc, sample):
    s = svc()
    rec = SignalRecorder(s)
    data = bytearray(sample.read_bytes())
    data[-2000:-1000] = os.urandom(1000)
    read_fd, write_fd = os.pipe()
    job = str(rec.manager.Upload("Corrupt.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    os.write(write_fd, bytes(data[:500]))
    wait_for(lambda: temporaries(s.backups), what="the temporary file")
    assert listed(s) == []  # a partial upload is not listed
    os.write(write_fd, bytes(data[500:]))
    os.close(write_fd)
    _, result, name, _ = rec.wait_finished(job)
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert listed(s) == []
    assert list(s.backups.iterdir()) == []


def test_random_bytes_upload_is_invalid(svc, workdir):
    s = svc()
    junk = workdir / "junk.sar"
    junk.write_bytes(os.urandom(100_000))
    with open(junk, "rb") as f:
        job = upload(s, "Junk.sar", f.fileno())
    assert wait_job(s, job) == "failed"
    assert list(s.backups.iterdir()) == []


def test_jobs_property_and_expiry(svc, sample):
    s = svc("[Limits]\nFinishedJobLifetime=1\n")
    props = dbus.Interface(s.proxy(), "org.freedesktop.DBus.Properties")
    with open(sample, "rb") as f:
        job = upload(s, "Expire.sar", f.fileno())
    assert job in [str(p) for p in props.Get("de.starface.Backup", "Jobs")]
    assert wait_job(s, job) == "done"
    wait_for(lambda: job not in [str(p) for p in props.Get("de.starface.Backup", "Jobs")],
             timeout=10, what="the job to expire")
    with pytest.raises(dbus.DBusException) as e:
        job_property(s, job, "State")
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownObject"


def test_stale_temporaries_are_swept_at_start(service_factory, sample):
    s = service_factory()
    (s.backups / ".upload-Old.sar-abc123").write_bytes(b"left over by a crash")
    (s.backups / "Keep.sar").write_bytes(sample.read_bytes())
    s.start()
    assert temporaries(s.backups) == []
    assert (s.backups / "Keep.sar").exists()


def test_too_many_concurrent_uploads_are_busy(svc, sample):
    s = svc("[Limits]\nMaxConcurrentUploads=1\nUploadIdleTimeout=600\n")
    hold = threading.Event()
    read_fd, thread = feed_pipe(b"", keep_open=hold)
    first = upload(s, "One.sar", read_fd)
    os.close(read_fd)
    with open(sample, "rb") as f, pytest.raises(dbus.DBusException) as e:
        upload(s, "Two.sar", f.fileno())
    assert e.value.get_dbus_name() == ERROR + "Busy"
    hold.set()
    assert wait_job(s, first) == "failed"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a private mount namespace")
def test_no_space_leaves_nothing_behind(service_factory, workdir, backup_maker):
    big = backup_maker(workdir, "big.sar",
                       tree={"core": {"blob.bin": os.urandom(3 * 1024 * 1024)}},
                       extra=["--compression=none"])
    s = service_factory(config_extra="[Limits]\nUploadIdleTimeout=30\n")
    # the daemon runs in its own mount namespace with a 1 MiB tmpfs as its
    # backup directory
    s.start(wrapper=["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     f"mount -t tmpfs -o size=1m tmpfs {s.backups} && exec \"$@\"", "sh"])
    rec = SignalRecorder(s)
    with open(big, "rb") as f:
        job = str(rec.manager.Upload("Full.sar", dbus.types.UnixFd(f), NO_OPTIONS))
    _, result, name, message = rec.wait_finished(job)
    assert (result, name) == ("failed", ERROR + "NoSpace")
    inside = subprocess.run(["nsenter", f"--target={s.process.pid}", "--mount", "ls", "-A",
                             str(s.backups)], capture_output=True, text=True, check=True)
    assert inside.stdout.split() == []
    df = subprocess.run(["nsenter", f"--target={s.process.pid}", "--mount", "df",
                         "--output=used", "-B1", str(s.backups)],
                        capture_output=True, text=True, check=True)
    assert int(df.stdout.split()[-1]) < 64 * 1024


def test_corrupt_upload_fails_before_the_pipe_ends(svc, backup_maker, workdir):
    """Verification runs while the data arrives: damage fails the upload at
    once, not when the sender finally closes its end."""
    audio = os.urandom(300_000)
    backup = backup_maker(workdir, "early.sar", extra=["--compression=none"],
                          tree={"cdr-voicemail": {"voicemail/100/msg0001.wav": audio},
                                "core": {"db/asterisk.sql": "CREATE TABLE users;\n"}})
    data = bytearray(backup.read_bytes())
    at = data.find(audio[:64])
    assert at > 0
    data[at + 1000] ^= 0xFF
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    rec = SignalRecorder(s)
    hold = threading.Event()
    read_fd, thread = feed_pipe(bytes(data), keep_open=hold)
    job = str(rec.manager.Upload("Damaged.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    try:
        # the sender keeps its end open (for 30 s at most): no EOF before
        # this times out, and the idle timeout is far away
        _, result, name, message = rec.wait_finished(job, timeout=10)
    finally:
        hold.set()
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert "msg0001.wav" in message and "SHA-256" in message
    assert list(s.backups.iterdir()) == []


def test_garbage_fails_before_the_pipe_ends(svc):
    s = svc("[Limits]\nUploadIdleTimeout=600\n")
    rec = SignalRecorder(s)
    hold = threading.Event()
    read_fd, thread = feed_pipe(os.urandom(200_000), keep_open=hold)
    job = str(rec.manager.Upload("Garbage.sar", dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    try:
        _, result, name, message = rec.wait_finished(job, timeout=10)
    finally:
        hold.set()
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert "not a SAR file" in message
    assert list(s.backups.iterdir()) == []


def test_large_upload_from_a_pipe_in_small_pieces(svc, backup_maker, workdir):
    """The verifier keeps pace with a pipe delivering many small writes."""
    tree = {"cdr-voicemail": {f"voicemail/100/msg{i:04d}.wav": os.urandom(200_000)
                              for i in range(20)},
            "core": {"db/asterisk.sql": "INSERT INTO cdr VALUES (1);\n" * 20_000}}
    backup = backup_maker(workdir, "pieces.sar", tree=tree)
    s = svc()
    read_fd, thread = feed_pipe(backup.read_bytes(), chunk=4093)
    job = upload(s, "Pieces.sar", read_fd)
    os.close(read_fd)
    assert wait_job(s, job) == "done"
    thread.join()
    assert (s.backups / "Pieces.sar").read_bytes() == backup.read_bytes()
    assert temporaries(s.backups) == []


# --- archives made by other tools ---------------------------------------------


def handmade_sar(files, fmt=tarfile.PAX_FORMAT, components=("core",), dirs=()):
    """A SAR file's bytes made with Python's tarfile: manifest.ini and
    SHA256SUMS describing `files` ({path: bytes}, paths as str or bytes),
    then `dirs` (directory members) and the files, in that order."""
    def raw(path):
        return path if isinstance(path, bytes) else path.encode()

    counts = {c: [0, 0] for c in components}
    sums = b""
    for path, data in files.items():
        counts[raw(path).split(b"/")[0].decode()][0] += 1
        counts[raw(path).split(b"/")[0].decode()][1] += len(data)
        sums += hashlib.sha256(data).hexdigest().encode() + b"  " + raw(path) + b"\n"
    manifest = ("[Backup]\nFormat=1\nVersion=8.1.2.3\nCreated=2026-11-20T02:00:00Z\n"
                "Process=manual\nHostname=pbx\nComponents=" + ";".join(components) + "\n")
    for c in components:
        manifest += f"\n[Component {c}]\nLabel={c}\nFiles={counts[c][0]}\nBytes={counts[c][1]}\n"
    out = io.BytesIO()
    # surrogateescape: names are written as the given bytes
    with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8",
                      errors="surrogateescape") as tar:
        members = [("manifest.ini", manifest.encode()), ("SHA256SUMS", sums)]
        members += [(d, None) for d in dirs] + list(files.items())
        for path, data in members:
            name = raw(path).decode("utf-8", "surrogateescape")
            info = tarfile.TarInfo(name)
            info.mtime = 1795140000
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def upload_bytes(service, name, data, timeout=60):
    """Uploads data through a pipe; returns (result, error name, message)."""
    rec = SignalRecorder(service)
    read_fd, thread = feed_pipe(data)
    job = str(rec.manager.Upload(name, dbus.types.UnixFd(read_fd), NO_OPTIONS))
    os.close(read_fd)
    _, result, error_name, message = rec.wait_finished(job, timeout=timeout)
    thread.join()
    return result, error_name, message


def test_upload_refuses_a_name_component_longer_than_255_bytes(svc):
    """Such a name cannot be created on restore, so it is refused on upload."""
    s = svc()
    long_name = "core/" + "x" * 256
    result, name, message = upload_bytes(s, "Long.sar", handmade_sar({long_name: b"x\n"}))
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert "256 bytes long" in message and "at most 255" in message
    assert list(s.backups.iterdir()) == []
    # 255 bytes are fine
    ok = "core/" + "y" * 255
    assert upload_bytes(s, "Longest.sar", handmade_sar({ok: b"y\n"}))[0] == "done"


@pytest.mark.parametrize("compression, command", [
    ("xz", ["xz", "-c"]),
    ("lzma", ["bsdtar", "--lzma", "-cf", "-", "@-"]),
    ("lzip", ["bsdtar", "--lzip", "-cf", "-", "@-"]),
    ("lz4", ["bsdtar", "--lz4", "-cf", "-", "@-"]),
])
def test_upload_refuses_compressions_without_a_memory_bound(svc, backup_maker, workdir,
                                                           compression, command):
    """xz, lzma and lzip decoders take as much memory as the file asks for;
    such uploads are refused by name before any decoder runs."""
    plain = backup_maker(workdir, "plain.sar", extra=["--compression=none"])
    data = subprocess.run(command, input=plain.read_bytes(), capture_output=True,
                          check=True).stdout
    s = svc()
    result, name, message = upload_bytes(s, "Packed.sar", data)
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert f"compressed with {compression}; use zstd or gzip" in message
    assert list(s.backups.iterdir()) == []


@pytest.mark.parametrize("flag", ["--gzip", "--bzip2", "--zstd"])
@pytest.mark.parametrize("output", ["pipe", "file"])
def test_upload_takes_bounded_compressions_made_by_bsdtar(svc, backup_maker, workdir, flag,
                                                          output):
    """bsdtar pads what it writes to a pipe with zeros to a 10240-byte
    record (after the compressed data), but not what it writes to a file.
    libarchive cannot read zstd followed by anything, not even bsdtar's own
    padding (docs/sar-format.md says so): that one is refused."""
    plain = backup_maker(workdir, "plain.sar", extra=["--compression=none"])
    out = workdir / "bsdtar.sar"
    data = subprocess.run(["bsdtar", flag, "-cf", "-" if output == "pipe" else str(out), "@-"],
                          input=plain.read_bytes(), capture_output=True, check=True).stdout
    if output == "file":
        data = out.read_bytes()
    else:
        assert len(data) % 10240 == 0 and data.endswith(b"\0" * 100)
    s = svc()
    result = upload_bytes(s, "Packed.sar", data)
    if flag == "--zstd" and output == "pipe":
        assert result[:2] == ("failed", ERROR + "InvalidBackup")
        assert "Zstd decompression failed" in result[2]
    else:
        assert result == ("done", "", "")


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
@pytest.mark.parametrize("trailer", ["junk", "zeros"])
def test_upload_refuses_data_after_the_end_of_the_archive(svc, backup_maker, workdir,
                                                          compression, trailer):
    """Bytes after the archive would be stored unverified with it: junk, or
    a run of zeros (a sparse hole) longer than the padding of one record."""
    backup = backup_maker(workdir, "good.sar", extra=[f"--compression={compression}"])
    extra = b"#!/bin/sh\necho hidden\n" if trailer == "junk" else bytes(3 * 1024 * 1024)
    s = svc()
    result, name, message = upload_bytes(s, "Trailer.sar", backup.read_bytes() + extra)
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    if compression != "zstd":  # libarchive's zstd reader fails on its own (docs/sar-format.md)
        assert "follows the end of the" in message or "10240-byte record" in message
    assert list(s.backups.iterdir()) == []
    # the same file from disk: the upload copies what it is given, and the
    # copy is refused the same way
    path = workdir / "trailer.sar"
    path.write_bytes(backup.read_bytes() + extra)
    with open(path, "rb") as f:
        assert wait_job(s, upload(s, "Trailer.sar", f.fileno())) == "failed"
    assert list(s.backups.iterdir()) == []


def test_upload_takes_archives_of_tar_and_python(svc, backup_maker, workdir):
    """GNU tar and Python's tarfile pad the tar stream with zeros to a
    10240-byte record, inside the compression or not."""
    s = svc()
    unpacked = workdir / "unpacked"
    unpacked.mkdir()
    subprocess.run(["bsdtar", "-xf", str(backup_maker(workdir, "x.sar")), "-C", str(unpacked)],
                   check=True)
    members = ["manifest.ini", "SHA256SUMS", "core", "cdr-voicemail", "announcements"]
    for option in ["", "z", "j"]:
        out = workdir / f"gnu{option}.sar"
        subprocess.run(["tar", f"-c{option}f", str(out), "--format=pax", "-C", str(unpacked),
                        *members], check=True)
        assert upload_bytes(s, f"Gnu{option}.sar", out.read_bytes()) == ("done", "", ""), option
    for mode in ["w", "w:gz", "w:bz2"]:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode=mode, format=tarfile.PAX_FORMAT) as tar:
            for member in members:
                tar.add(unpacked / member, arcname=member)
        name = "Py-" + mode.replace(":", "") + ".sar"
        assert upload_bytes(s, name, data.getvalue()) == ("done", "", ""), mode


NFD_NAMES = {
    "core/A\u0308rger/a\u0308.txt": b"decomposed\n",   # "Ärger/ä.txt", as macOS writes it
    "core/\u00c4rger/x": b"composed\n",                 # "Ärger", the other name
    "core/\u212a.txt": b"kelvin\n",                     # KELVIN SIGN, composed: "K"
}


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_upload_takes_decomposed_names(svc, fmt):
    """Names in Unicode's decomposed form match SHA256SUMS byte for byte,
    whether a pax header holds them as UTF-8 or a GNU header as bytes."""
    s = svc()
    data = handmade_sar(NFD_NAMES, fmt=fmt, dirs=["core/A\u0308rger/"])
    assert upload_bytes(s, "Nfd.sar", data) == ("done", "", "")
    assert (s.backups / "Nfd.sar").read_bytes() == data


def test_upload_takes_decomposed_names_packed_by_the_client(svc, workdir):
    """The client's pack (the daemon's writer) keeps such names too."""
    from harness import make_tree, pack
    src = workdir / "nfd-src"
    make_tree(src, {"core": {k.split("/", 1)[1]: v for k, v in NFD_NAMES.items()},
                    "cdr-voicemail": {"x": "x\n"}, "announcements": {"x": "x\n"}})
    backup = pack(src, workdir / "nfd.sar")
    s = svc()
    with open(backup, "rb") as f:
        assert wait_job(s, upload(s, "Packed-nfd.sar", f.fileno())) == "done"


def sparse_sar(workdir, version, damage=False):
    """A SAR file whose one member is a sparse file (a hole and some data),
    written by GNU tar; damaged: its sparse map (pax format 1.0) is not
    a number."""
    root = workdir / f"sparse-{version}"
    (root / "core").mkdir(parents=True)
    hole = root / "core" / "hole.bin"
    with open(hole, "wb") as f:
        f.truncate(1024 * 1024)
        f.seek(500_000)
        f.write(b"data")
    data = hole.read_bytes()
    (root / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  core/hole.bin\n")
    (root / "manifest.ini").write_text(
        "[Backup]\nFormat=1\nVersion=8.1.2.3\nCreated=2026-11-20T02:00:00Z\nProcess=manual\n"
        "Hostname=pbx\nComponents=core\n\n[Component core]\nLabel=Core data\nFiles=1\n"
        f"Bytes={len(data)}\n")
    out = workdir / f"sparse-{version}.sar"
    subprocess.run(["tar", "--sparse", f"--sparse-version={version}", "--format=posix", "-cf",
                    str(out), "-C", str(root), "manifest.ini", "SHA256SUMS", "core/hole.bin"],
                   check=True)
    archive = bytearray(out.read_bytes())
    if damage:
        # the map at the start of the data: number of entries, then offset
        # and size of each ("2\n499712\n4096\n1048576\n0\n")
        at = archive.find(b"2\n499712\n4096\n")
        assert at > 0
        archive[at:at + 2] = b"x\n"
    return bytes(archive)


@pytest.mark.parametrize("version, damage", [("0.1", False), ("1.0", False), ("1.0", True)])
def test_upload_refuses_sparse_files_saying_so(svc, workdir, version, damage):
    s = svc()
    result, name, message = upload_bytes(s, "Sparse.sar", sparse_sar(workdir, version, damage))
    assert (result, name) == ("failed", ERROR + "InvalidBackup")
    assert "sparse files are not supported" in message
    assert "unknown error" not in message
    assert list(s.backups.iterdir()) == []
