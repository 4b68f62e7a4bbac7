import os
import shutil

import pytest

from harness import Bus, PgCluster, Service, make_tree, new_tempdir, pack


@pytest.fixture
def workdir():
    path = new_tempdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bus(workdir):
    bus_root = workdir / "bus"
    bus_root.mkdir()
    bus = Bus(bus_root)
    yield bus
    bus.stop()


@pytest.fixture
def service_factory(workdir, bus):
    """Creates (not starts) services; all are stopped at the end."""
    services = []

    def factory(**kwargs):
        root = workdir / f"service{len(services)}"
        root.mkdir()
        svc = Service(root, bus, **kwargs)
        services.append(svc)
        return svc

    yield factory
    # every service is stopped, even when one of them fails its exit check
    failures = []
    for svc in services:
        try:
            svc.stop()
        except AssertionError as e:
            failures.append(e)
    if failures:
        raise failures[0]


@pytest.fixture
def service(service_factory):
    svc = service_factory()
    svc.start()
    return svc


@pytest.fixture
def backup_maker(workdir):
    """make(name_dir, name, **pack_args) packs a sample tree into a .sar."""
    counter = [0]

    def make(target_dir, name, tree=None, **kwargs):
        counter[0] += 1
        src = workdir / f"tree{counter[0]}"
        make_tree(src, tree)
        return pack(src, target_dir / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL 15 cluster for the whole session (see
    harness.PgCluster), stopped at its end.  It needs root (it runs as the
    OS users sfpg and sfdb); as root nothing is skipped."""
    if os.geteuid() != 0:
        pytest.skip("the PostgreSQL cluster needs root (OS users sfpg and sfdb)")
    root = new_tempdir("sfpg-")
    cluster = PgCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg(pg_cluster):
    """The session's cluster with the sample database starface made anew
    (and no starface__sf_restore or starface__sf_previous)."""
    pg_cluster.create_sample()
    return pg_cluster
