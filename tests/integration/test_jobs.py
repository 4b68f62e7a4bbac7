"""Job objects: their paths are never reused, not even after a restart."""

import re

import dbus
import pytest

from harness import job_property, wait_job

JOB_PATH = re.compile(r"^/de/starface/Backup/job/[A-Za-z0-9_]+$")
RESTARTS = 3
JOBS_PER_RUN = 3


def upload(service, source, name):
    with open(source, "rb") as f:
        return str(service.manager().Upload(name, dbus.types.UnixFd(f),
                                            dbus.Dictionary({"replace": True}, signature="sv")))


def test_job_paths_differ_across_restarts(service_factory, backup_maker, workdir):
    source = backup_maker(workdir, "sample.sar")
    svc = service_factory()
    seen = []
    for run in range(RESTARTS):
        svc.start()
        for i in range(JOBS_PER_RUN):
            job = upload(svc, source, f"Run{run}_{i}.sar")
            assert JOB_PATH.match(job), job
            assert wait_job(svc, job) == "done"
            assert job_property(svc, job, "Backup") == f"Run{run}_{i}.sar"
            assert job not in seen, (run, job, seen)
            seen.append(job)
        svc.stop()
    assert len(set(seen)) == RESTARTS * JOBS_PER_RUN


def test_an_old_job_path_finds_nothing_after_a_restart(service_factory, backup_maker, workdir):
    source = backup_maker(workdir, "sample.sar")
    svc = service_factory()
    svc.start()
    old = upload(svc, source, "Before.sar")
    assert wait_job(svc, old) == "done"
    svc.stop()
    svc.start()
    new = upload(svc, source, "After.sar")
    assert wait_job(svc, new) == "done"
    assert new != old
    with pytest.raises(dbus.DBusException) as e:
        job_property(svc, old, "Backup")
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownObject"
    props = dbus.Interface(svc.proxy(), "org.freedesktop.DBus.Properties")
    assert [str(p) for p in props.Get("de.starface.Backup", "Jobs")] == [new]
