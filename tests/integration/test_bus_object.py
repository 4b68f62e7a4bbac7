"""The object on the bus: introspection, dispatch, properties, Peer."""

import subprocess
import xml.etree.ElementTree as ET

import dbus
import pytest

from harness import BUS_NAME, IFACE, OBJECT_PATH, SOURCE_ROOT


def introspect(service, path=OBJECT_PATH):
    proxy = service.proxy(path=path)
    return proxy.Introspect(dbus_interface="org.freedesktop.DBus.Introspectable")


def signature_of(element, direction=None):
    return "".join(
        a.get("type") for a in element.findall("arg")
        if direction is None or a.get("direction", "in") == direction
    )


def test_introspection_matches_interface_xml(service):
    served = ET.fromstring(introspect(service))
    source = ET.fromstring((SOURCE_ROOT / "dbus" / "de.starface.Backup.xml").read_text())
    served_ifaces = {i.get("name"): i for i in served.findall("interface")}
    assert set(served_ifaces) == {
        IFACE,
        "org.freedesktop.DBus.Introspectable",
        "org.freedesktop.DBus.Properties",
        "org.freedesktop.DBus.Peer",
        "org.freedesktop.DBus.ObjectManager",
    }
    for name, iface in served_ifaces.items():
        src = next(i for i in source.findall("interface") if i.get("name") == name)
        for kind in ("method", "signal", "property"):
            want = {e.get("name"): (signature_of(e, "in"), signature_of(e, "out"), e.get("type"))
                    for e in src.findall(kind)}
            got = {e.get("name"): (signature_of(e, "in"), signature_of(e, "out"), e.get("type"))
                   for e in iface.findall(kind)}
            assert got == want, (name, kind)


def test_busctl_introspect_shows_the_contract(service):
    out = subprocess.run(
        ["busctl", f"--address={service.bus.address}", "introspect", BUS_NAME, OBJECT_PATH,
         IFACE],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("."):
            rows[parts[0]] = parts[1:]
    assert rows[".List"][:3] == ["method", "-", "a(sa{sv})"]
    assert rows[".Upload"][:3] == ["method", "sha{sv}", "o"]
    assert rows[".Inspect"][:3] == ["method", "s", "a{sv}"]
    assert rows[".Preflight"][:3] == ["method", "sasa{sv}", "a{sv}"]
    assert rows[".Restore"][:3] == ["method", "sasa{sv}", "o"]
    assert rows[".Progress"][:2] == ["signal", "ouss"]
    assert rows[".Finished"][:2] == ["signal", "osss"]
    assert rows[".InstalledVersion"][:2] == ["property", "s"]
    assert rows[".BackupDirectory"][:2] == ["property", "s"]
    assert rows[".Jobs"][:2] == ["property", "ao"]


def test_busctl_tree_finds_the_object(service):
    out = subprocess.run(
        ["busctl", f"--address={service.bus.address}", "tree", "--list", BUS_NAME],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert OBJECT_PATH in out


def test_properties_get_and_get_all(service):
    props = dbus.Interface(service.proxy(), "org.freedesktop.DBus.Properties")
    assert props.Get(IFACE, "InstalledVersion") == "8.1.2.3"
    assert props.Get(IFACE, "BackupDirectory") == str(service.backups)
    everything = props.GetAll(IFACE)
    assert set(everything) == {"InstalledVersion", "BackupDirectory", "Jobs"}
    assert list(everything["Jobs"]) == []
    assert everything["Jobs"].signature == "o"


def test_properties_refuse_unknown_and_set(service):
    props = dbus.Interface(service.proxy(), "org.freedesktop.DBus.Properties")
    with pytest.raises(dbus.DBusException) as e:
        props.Get(IFACE, "NoSuchThing")
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownProperty"
    with pytest.raises(dbus.DBusException) as e:
        props.Get("de.starface.Nope", "Jobs")
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownInterface"
    with pytest.raises(dbus.DBusException) as e:
        props.Set(IFACE, "BackupDirectory", dbus.String("/tmp", variant_level=1))
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.PropertyReadOnly"


def test_peer_ping_and_machine_id(service):
    peer = dbus.Interface(service.proxy(), "org.freedesktop.DBus.Peer")
    peer.Ping()
    assert len(peer.GetMachineId()) == 32


def test_unknown_method_gets_standard_error(service):
    with pytest.raises(dbus.DBusException) as e:
        service.proxy().Explode(dbus_interface=IFACE)
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownMethod"


def test_unknown_object_gets_standard_error(service):
    with pytest.raises(dbus.DBusException) as e:
        service.proxy(path="/de/starface/Backup/nothing").List(dbus_interface=IFACE)
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownObject"


@pytest.mark.parametrize("args", [(), (42,), ("a.sar", "extra")])
def test_wrong_signature_is_refused_before_the_handler(service, args):
    with pytest.raises(dbus.DBusException) as e:
        service.proxy().Inspect(*args, dbus_interface=IFACE)
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs"
    assert "'s'" in e.value.get_dbus_message()
