"""The installed files, working together.

`meson install` puts this build into a temporary DESTDIR. The installed
files name absolute paths (the activation file's Exec=, the unit's
ExecStart=, the daemon's configuration and its default directories), so to
exercise them exactly as installed, a private bus runs in a mount namespace
of its own where each top-level directory of DESTDIR is laid over the real
one with overlayfs (read-only), and /var is a writable overlay whose changes
stay in the test directory. The bus's configuration names the installed
activation directory and the installed bus policy; the first method call
makes the bus start the installed daemon from the installed activation file,
with the installed default configuration. Nothing on this machine changes.
"""

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import dbus
import pytest

from harness import (BUILD_ROOT, BUS_NAME, IFACE, OBJECT_PATH, SOURCE_ROOT, STOP_TIMEOUT,
                     bus_accepts, call_as, daemon_environment, ensure_user, make_tree,
                     new_tempdir, wait_for)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root for mount namespaces and overlayfs")

# The daemon's built-in defaults, which the installed configuration keeps.
DEFAULT_BACKUP_DIRECTORY = "/var/lib/starface-backup/backups"
DEFAULT_STATE_DIRECTORY = "/var/lib/starface-backup/state"
DEFAULT_VERSION_FILE = "/var/starface/fs-interface/version"

# source or build path (relative) -> where it must end up below the prefix
# (or below sysconfdir, which is /etc for the prefix /usr)
EXPECTED = {
    "service/starface-backupd": "sbin/starface-backupd",
    "client/starface-backup": "bin/starface-backup",
    "service/starface-backupd-pg": "libexec/starface-backupd-pg",
    "data/starface-backupd.service": "lib/systemd/system/starface-backupd.service",
    "dbus/de.starface.Backup.service": "share/dbus-1/system-services/de.starface.Backup.service",
    "dbus/de.starface.Backup.conf": "share/dbus-1/system.d/de.starface.Backup.conf",
    "dbus/de.starface.Backup.xml": "share/dbus-1/interfaces/de.starface.Backup.xml",
    "polkit/de.starface.backup.policy": "share/polkit-1/actions/de.starface.backup.policy",
    "data/starface-backupd.tmpfiles": "lib/tmpfiles.d/starface-backupd.conf",
    "data/backupd.conf": "etc/starface-backup/backupd.conf",
    "docs/starface-backupd.8": "share/man/man8/starface-backupd.8",
    "docs/backupd.conf.5": "share/man/man5/backupd.conf.5",
    "cockpit/manifest.json": "share/cockpit/starface_backup/manifest.json",
    "cockpit/index.html": "share/cockpit/starface_backup/index.html",
    "cockpit/starface-backup.js": "share/cockpit/starface_backup/starface-backup.js",
    "cockpit/starface-backup.css": "share/cockpit/starface_backup/starface-backup.css",
    "cockpit/po.de.js": "share/cockpit/starface_backup/po.de.js",
    "po/de/LC_MESSAGES/starface-backup.mo": "share/locale/de/LC_MESSAGES/starface-backup.mo",
}
# installed by the client's build once it has them
EXPECTED_IF_INSTALLED = {
    "docs/starface-backup.1": "share/man/man1/starface-backup.1",
    "data/bash-completion/starface-backup": "share/bash-completion/completions/starface-backup",
}


class Installed:
    """One `meson install --destdir` of the build under test."""

    def __init__(self, root: Path):
        self.root = root
        self.destdir = root / "destdir"
        meson = shutil.which("meson")
        assert meson, "meson is not on PATH"
        subprocess.run([meson, "install", "-C", str(BUILD_ROOT), "--destdir", str(self.destdir),
                        "--no-rebuild", "--quiet"], check=True, capture_output=True)
        options = json.loads(subprocess.run(
            [meson, "introspect", "--buildoptions", str(BUILD_ROOT)],
            check=True, capture_output=True, text=True).stdout)
        self.option = {o["name"]: o["value"] for o in options}
        self.prefix = self.option["prefix"]
        self.sysconfdir = os.path.join(self.prefix, self.option["sysconfdir"])
        # {file in the source or build tree: absolute installed path}
        self.installed = json.loads(subprocess.run(
            [meson, "introspect", "--installed", str(BUILD_ROOT)],
            check=True, capture_output=True, text=True).stdout)

    def path_of(self, relative):
        """The installed (absolute, not DESTDIR-prefixed) path of a file."""
        for origin in (SOURCE_ROOT / relative, BUILD_ROOT / relative):
            if str(origin) in self.installed:
                return self.installed[str(origin)]
        raise AssertionError(f"{relative} is not installed; installed: {self.installed}")

    def in_destdir(self, path):
        return self.destdir / path.lstrip("/")

    def top_directories(self):
        return sorted({Path(p).parts[1] for p in self.installed.values()})


@pytest.fixture(scope="module")
def installed():
    root = new_tempdir("sfinstall-")
    yield Installed(root)
    shutil.rmtree(root, ignore_errors=True)


def read_key_file(path, group):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(path)
    return parser[group]


def test_install_puts_every_piece_where_the_system_looks(installed):
    expected = dict(EXPECTED)
    expected.update({relative: suffix for relative, suffix in EXPECTED_IF_INSTALLED.items()
                     if str(SOURCE_ROOT / relative) in installed.installed})
    for relative, suffix in expected.items():
        path = installed.path_of(relative)
        assert installed.in_destdir(path).is_file(), path
        base = installed.sysconfdir if suffix.startswith("etc/") else installed.prefix
        expected = os.path.join(base, suffix.removeprefix("etc/")
                                if suffix.startswith("etc/") else suffix)
        assert path == expected, f"{relative}: installed as {path}, expected {expected}"
    for path in installed.installed.values():
        assert path.startswith((installed.prefix + "/", installed.sysconfdir + "/")), \
            f"{path} is outside the prefix {installed.prefix}"
    daemon = installed.in_destdir(installed.path_of("service/starface-backupd"))
    assert os.access(daemon, os.X_OK)


def test_installed_files_start_the_installed_daemon_with_the_installed_config(installed):
    daemon = installed.path_of("service/starface-backupd")
    config = installed.path_of("data/backupd.conf")
    command = f"{daemon} --config={config}"

    activation = read_key_file(
        installed.in_destdir(installed.path_of("dbus/de.starface.Backup.service")),
        "D-BUS Service")
    assert activation["Name"] == BUS_NAME
    assert activation["Exec"] == command
    assert activation["User"] == "root"
    unit_path = installed.path_of("data/starface-backupd.service")
    assert activation["SystemdService"] == os.path.basename(unit_path)

    unit = read_key_file(installed.in_destdir(unit_path), "Service")
    assert unit["Type"] == "dbus"
    assert unit["BusName"] == BUS_NAME
    assert unit["ExecStart"] == command

    # the default configuration is the documented one, and the sandbox and
    # tmpfiles.d provide the directories it names
    assert installed.in_destdir(config).read_text() == \
        (SOURCE_ROOT / "data" / "backupd.conf").read_text()
    paths = read_key_file(SOURCE_ROOT / "data" / "backupd.conf", "Paths")
    assert paths["BackupDirectory"] == DEFAULT_BACKUP_DIRECTORY
    tmpfiles = installed.in_destdir(
        installed.path_of("data/starface-backupd.tmpfiles")).read_text()
    assert re.search(rf"^d\s+{re.escape(DEFAULT_BACKUP_DIRECTORY)}\s+0750\s+root\s+root",
                     tmpfiles, re.M)
    assert "/var/lib/" + unit["StateDirectory"] + "/" in DEFAULT_BACKUP_DIRECTORY + "/"
    assert paths["StateDirectory"] == DEFAULT_STATE_DIRECTORY
    assert re.search(rf"^d\s+{re.escape(DEFAULT_STATE_DIRECTORY)}\s+0750\s+root\s+root",
                     tmpfiles, re.M)
    assert "/var/lib/" + unit["StateDirectory"] + "/" in DEFAULT_STATE_DIRECTORY + "/"
    assert "/var/starface" in unit["ReadWritePaths"]


def in_namespace(installed, workdir, command):
    """A shell command line run with the installed tree laid over / and a
    writable, throw-away /var."""
    upper, work = workdir / "var-upper", workdir / "var-work"
    for d in (upper, work):
        d.mkdir(exist_ok=True)
    mounts = []
    for top in installed.top_directories():
        if top == "var":
            continue
        mounts.append(f"mount -t overlay overlay "
                      f"-o lowerdir={installed.destdir / top}:/{top} /{top}")
    var_lower = "/var"
    if "var" in installed.top_directories():
        var_lower = f"{installed.destdir / 'var'}:/var"
    mounts.append(f"mount -t overlay overlay "
                  f"-o lowerdir={var_lower},upperdir={upper},workdir={work} /var")
    script = " && ".join(mounts + [f"exec {command}"])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script]


def test_installed_client_speaks_german_and_the_installed_policy_too(installed):
    """The installed client finds its installed catalog (LOCALEDIR) without
    help from the environment; the installed policy has the German texts."""
    workdir = installed.root / "german"
    workdir.mkdir(exist_ok=True)
    client = installed.path_of("client/starface-backup")
    command = f"env -u STARFACE_BACKUP_LOCALEDIR -u LANGUAGE LC_ALL=de_DE.UTF-8 {client} --help"
    result = subprocess.run(in_namespace(installed, workdir, command), capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Aufruf: starface-backup"), result.stdout
    policy = installed.in_destdir(installed.path_of("polkit/de.starface.backup.policy"))
    actions = ET.parse(policy).getroot().findall("action")
    assert len(actions) == 4
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    for action in actions:
        for element in ("description", "message"):
            german = [e for e in action.findall(element) if e.get(lang) == "de"]
            assert len(german) == 1 and german[0].text, (action.get("id"), element)
            english = [e for e in action.findall(element) if e.get(lang) is None]
            assert english[0].text != german[0].text


def test_installed_unit_loads_and_keeps_its_sandbox(installed):
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: tools/setup installs systemd"
    workdir = installed.root / "analyze"
    workdir.mkdir(exist_ok=True)
    unit = installed.path_of("data/starface-backupd.service")
    # verify checks ExecStart's binary and the man pages in Documentation=
    # at their installed paths, hence inside the namespace
    result = subprocess.run(in_namespace(installed, workdir, f"{analyze} verify {unit}"),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr
    # the exposure the unit's header comment reports; a weaker sandbox fails
    # (2.3: CAP_SETUID and CAP_SETGID, for the database's tools as the
    # database's users, cost 0.3; 2.4: setpriority() and ioprio_set() for the
    # jobs' lower priorities)
    result = subprocess.run([analyze, "security", "--offline=true", "--threshold=24",
                             str(installed.in_destdir(unit))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout).group(1)
    header = installed.in_destdir(unit).read_text()
    assert f"rates this unit\n# {score} " in header or f"rates this unit {score} " in header, \
        f"the unit's header comment does not report the current score {score}"


class ActivatingBus:
    """A private system-style bus in the namespace above, configured with
    the installed activation directory and bus policy only. /var holds what
    the default configuration expects on a STARFACE machine: the installed
    version and the backup directory (put backups into .backups before
    start())."""

    def __init__(self, installed, workdir: Path):
        self.installed = installed
        self.workdir = workdir
        self.socket = workdir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.process = None
        upper = workdir / "var-upper"
        version = upper / DEFAULT_VERSION_FILE.removeprefix("/var/")
        version.parent.mkdir(parents=True)
        version.write_text("8.1.2.3\n")
        self.backups = upper / DEFAULT_BACKUP_DIRECTORY.removeprefix("/var/")
        self.backups.mkdir(parents=True)

    def start(self):
        services = os.path.dirname(self.installed.path_of("dbus/de.starface.Backup.service"))
        policies = os.path.dirname(self.installed.path_of("dbus/de.starface.Backup.conf"))
        # The project's test bus (deny by default), reading the installed
        # policy directory, plus the installed activation directory. No
        # <servicehelper>: the bus then starts services itself, as its own
        # user (root here). With one, as on a real system bus, it would run
        # the setuid dbus-daemon-launch-helper, which reads only the
        # machine's own /usr/share/dbus-1/system.conf and so could not find
        # this bus's services. Exec= and the daemon's environment
        # (DBUS_SYSTEM_BUS_ADDRESS, set by the bus for a <type>system</type>
        # bus) are the same either way.
        template = (SOURCE_ROOT / "tests" / "system-bus.conf.in").read_text()
        config = template.replace("@SOCKET@", str(self.socket)) \
                         .replace("@POLICY_DIR@", policies) \
                         .replace("</busconfig>", f"  <servicedir>{services}</servicedir>\n"
                                                  "</busconfig>")
        config_path = self.workdir / "install-bus.conf"
        config_path.write_text(config)
        self.log = self.workdir / "bus.log"
        self.log_file = open(self.log, "ab")
        # the bus passes its environment on to the daemon it activates
        env = daemon_environment()
        for variable in ("DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(variable, None)
        self.process = subprocess.Popen(
            in_namespace(self.installed, self.workdir,
                         f"dbus-daemon --nofork --nopidfile --config-file={config_path}"),
            env=env, stdout=self.log_file, stderr=subprocess.STDOUT)

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError("the bus exited:\n" + self.log.read_text())
            return bus_accepts(self.address, self.socket)

        wait_for(ready, what="the bus")
        # let other users (call_as) reach the socket
        for d in (self.workdir, self.workdir.parent):
            os.chmod(d, 0o755)
        self.conn = dbus.bus.BusConnection(self.address)
        assert not self.conn.name_has_owner(BUS_NAME), "something started the daemon early"
        assert BUS_NAME in self.conn.list_activatable_names()

    def daemon_pid(self):
        bus_daemon = dbus.Interface(
            self.conn.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"),
            "org.freedesktop.DBus")
        return int(bus_daemon.GetConnectionUnixProcessID(BUS_NAME))

    def stop(self):
        if self.process is None:
            return
        try:
            conn = getattr(self, "conn", None)
            if conn is not None and conn.name_has_owner(BUS_NAME):
                pid = self.daemon_pid()
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=STOP_TIMEOUT,
                         what="the daemon to exit")
        finally:
            # whatever failed above, the bus goes (and with it a daemon
            # that is still running: it exits when its bus closes)
            if getattr(self, "conn", None) is not None:
                self.conn.close()
            if self.process.poll() is None:
                self.process.terminate()
                self.process.wait(timeout=10)
            self.log_file.close()
        text = self.log.read_text(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "CRITICAL **"):
            assert marker not in text, f"the activated daemon logged '{marker}':\n{text}"


@pytest.fixture
def activating_bus(installed):
    workdir = Path(tempfile.mkdtemp(prefix="bus", dir=installed.root))  # short: a socket path
    bus = ActivatingBus(installed, workdir)
    yield bus
    bus.stop()


def pack_with_installed_client(installed, workdir, out, process, created):
    client = installed.in_destdir(installed.path_of("client/starface-backup"))
    tree = make_tree(workdir / f"tree-{process}")
    subprocess.run([str(client), "pack", str(tree), str(out), "--version=8.1.2.3",
                    f"--process={process}", f"--created={created}"],
                   check=True, capture_output=True)


def assert_started_from_installed_files(bus):
    installed = bus.installed
    cmdline = Path(f"/proc/{bus.daemon_pid()}/cmdline").read_bytes().split(b"\0")[:-1]
    assert [a.decode() for a in cmdline] == [
        installed.path_of("service/starface-backupd"),
        f"--config={installed.path_of('data/backupd.conf')}"]
    # its output goes to the bus's log: on the system bus, with the
    # installed configuration's backup directory
    assert (f"serving {BUS_NAME} on the system bus; backups in {DEFAULT_BACKUP_DIRECTORY}"
            in bus.log.read_text()), bus.log.read_text()


def test_first_call_activates_installed_daemon_with_installed_config(activating_bus):
    bus = activating_bus
    pack_with_installed_client(bus.installed, bus.workdir,
                               bus.backups / "Nightly_2026-11-20_02-00-00.sar",
                               "Nightly", "2026-11-20T02:00:00Z")
    bus.start()

    manager = dbus.Interface(bus.conn.get_object(BUS_NAME, OBJECT_PATH), IFACE)
    backups = manager.List()  # no one started the daemon: this call does
    assert [str(name) for name, _ in backups] == ["Nightly_2026-11-20_02-00-00.sar"]
    assert bool(backups[0][1]["latest"]) and bool(backups[0][1]["compatible"])
    assert_started_from_installed_files(bus)
    properties = dbus.Interface(bus.conn.get_object(BUS_NAME, OBJECT_PATH),
                                "org.freedesktop.DBus.Properties")
    assert properties.Get(IFACE, "BackupDirectory") == DEFAULT_BACKUP_DIRECTORY

    # the installed bus policy lets every user call the service (polkit
    # decides the rest): Introspect needs no authorization
    ensure_user("sftest-plain")
    answer = call_as("sftest-plain", bus.address, "Introspect",
                     interface="org.freedesktop.DBus.Introspectable")
    assert "reply" in answer, answer
    assert '<interface name="de.starface.Backup">' in answer["reply"][0]


def installed_client_knows(installed, command):
    client = installed.in_destdir(installed.path_of("client/starface-backup"))
    usage = subprocess.run([str(client), "--help"], capture_output=True, text=True)
    return re.search(rf"^\s+{command}\s", usage.stdout + usage.stderr, re.M) is not None


def find_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from find_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from find_strings(item)


def test_installed_client_activates_and_lists(activating_bus):
    bus = activating_bus
    assert installed_client_knows(bus.installed, "list")
    older = "Weekly-NAS_2026-11-13_03-00-00.sar"
    newer = "Nightly_2026-11-20_02-00-00.sar"
    pack_with_installed_client(bus.installed, bus.workdir, bus.backups / older, "Weekly-NAS",
                               "2026-11-13T03:00:00Z")
    pack_with_installed_client(bus.installed, bus.workdir, bus.backups / newer, "Nightly",
                               "2026-11-20T02:00:00Z")
    bus.start()

    client = bus.installed.in_destdir(bus.installed.path_of("client/starface-backup"))
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus.address)
    result = subprocess.run([str(client), "list", "--json"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    names = [s for s in find_strings(json.loads(result.stdout)) if s.endswith(".sar")]
    assert names == [newer, older]
    assert_started_from_installed_files(bus)
