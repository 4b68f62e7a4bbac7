"""Real processes for the integration tests.

A private dbus-daemon configured like a system bus (deny-by-default plus
the project's own bus policy), starface-backupd from the build tree with a
configuration in a temporary directory, and backups made by the project's
own writer (`starface-backup pack`, i.e. libarchive).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import dbus

SOURCE_ROOT = Path(os.environ.get("SOURCE_ROOT", Path(__file__).resolve().parents[2]))
BUILD_ROOT = Path(os.environ.get("BUILD_ROOT", SOURCE_ROOT / "build"))
BACKUPD = os.environ.get("BACKUPD", str(BUILD_ROOT / "service" / "starface-backupd"))
CLIENT = os.environ.get("BACKUP_CLIENT", str(BUILD_ROOT / "client" / "starface-backup"))


def build_option(name):
    """A meson option of the build tree under test (None if unknown)."""
    try:
        options = json.loads((BUILD_ROOT / "meson-info" / "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return None
    return next((o["value"] for o in options if o["name"] == name), None)


# An ASan/UBSan build: the daemon's leaks are reported when it exits.
SANITIZED = build_option("b_sanitize") not in (None, "none")
# Seconds a daemon may take to exit after SIGTERM (LeakSanitizer's scan at
# exit is slow).
STOP_TIMEOUT = 60 if SANITIZED else 10


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# The fast unwinder stops at GLib's frames; the slow one is four times slower.
LEAK_HINT = (" (for whole allocation stacks run the test again with "
             "ASAN_OPTIONS=...:fast_unwind_on_malloc=0)")


def daemon_environment(**extra):
    """The environment for starface-backupd: GLib criticals are fatal; in a
    sanitizer build GLib 2.74's slice allocator is bypassed (its blocks are
    invisible to LeakSanitizer) and freed memory is cleared (no stale
    pointers keep a leaked block reachable)."""
    env = dict(os.environ, **extra)
    env.setdefault("G_DEBUG", "fatal-criticals")
    if SANITIZED:
        env["G_SLICE"] = "always-malloc"
        if "gc-friendly" not in env["G_DEBUG"]:
            env["G_DEBUG"] += ",gc-friendly"
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    return env


BUS_NAME = "de.starface.Backup"
OBJECT_PATH = "/de/starface/Backup"
IFACE = "de.starface.Backup"
JOB_IFACE = "de.starface.Backup.Job"
ERROR = "de.starface.Backup.Error."


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def bus_accepts(address, socket_path):
    """True once the bus takes connections: its socket file appears at
    bind(), a moment before listen()."""
    if not os.path.exists(socket_path):
        return False
    try:
        dbus.bus.BusConnection(address).close()
        return True
    except dbus.DBusException:
        return False


class Bus:
    """A private dbus-daemon with a system-bus style configuration."""

    def __init__(self, root: Path, kind="system"):
        self.root = root
        self.socket = root / f"{kind}_bus_socket"
        policy_dir = root / "system.d"
        policy_dir.mkdir()
        shutil.copy(SOURCE_ROOT / "dbus" / "de.starface.Backup.conf", policy_dir)
        # polkitd's own bus policy, as installed by Debian's polkitd
        shutil.copy("/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf", policy_dir)
        template = (SOURCE_ROOT / "tests" / f"{kind}-bus.conf.in").read_text()
        self.config = root / f"{kind}-bus.conf"
        self.config.write_text(
            template.replace("@SOCKET@", str(self.socket)).replace("@POLICY_DIR@", str(policy_dir))
        )
        self.address = f"unix:path={self.socket}"
        self.process = subprocess.Popen(
            ["dbus-daemon", "--nofork", "--nopidfile", f"--config-file={self.config}"],
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: bus_accepts(self.address, self.socket), what="the bus")
        # let other users (setpriv callers, polkitd) reach the socket
        for d in (root, root.parent):
            os.chmod(d, 0o755)

    def connect(self):
        return dbus.bus.BusConnection(self.address)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Service:
    """starface-backupd on a private bus, with its own directories."""

    def __init__(self, root: Path, bus: Bus, installed_version="8.1.2.3", config_extra="",
                 state_directory=True, database=None, database_components=None):
        """database: a PgCluster; its [Database] group and the components
        (PgCluster.config(database_components)) go into the configuration."""
        self.root = root
        self.bus = bus
        self.backups = root / "backups"
        self.data = root / "data"
        self.version_file = self.data / "fs-interface" / "version"
        # what the daemon keeps across restarts (the history, the catalog
        # cache); the daemon creates it
        self.state = root / "state"
        self.backups.mkdir()
        (self.data / "fs-interface").mkdir(parents=True)
        if installed_version is not None:
            self.version_file.write_text(installed_version + "\n")
        self.config = root / "backupd.conf"
        # state_directory=False: a configuration without the key (a daemon
        # older than it, for the benchmarks)
        state_line = f"StateDirectory={self.state}\n" if state_directory else ""
        if database is not None:
            config_extra += "\n" + database.config(database_components)
        self.config.write_text(
            f"""[Paths]
BackupDirectory={self.backups}
DataRoot={self.data}
VersionFile={self.version_file}
{state_line}{config_extra}
"""
        )
        self.log = root / "backupd.log"
        self.process = None
        self.checked = False
        self.allow_warnings = False
        self._conn = None

    def start(self, extra_args=(), wrapper=(), env=None):
        """env: variables added to daemon_environment() (e.g. ASAN_OPTIONS)."""
        self.check_exited()
        env = daemon_environment(DBUS_SYSTEM_BUS_ADDRESS=self.bus.address,
                                 DBUS_SESSION_BUS_ADDRESS=self.bus.address, **(env or {}))
        self.log_file = open(self.log, "ab")
        self.process = subprocess.Popen(
            [*wrapper, BACKUPD, f"--config={self.config}", "--verbose", *extra_args],
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        self.checked = False
        conn = self.bus.connect()
        try:
            def owned():
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"starface-backupd exited with {self.process.returncode}:\n"
                        + self.log.read_text()
                    )
                return conn.name_has_owner(BUS_NAME)

            wait_for(owned, what="starface-backupd to own its name")
        finally:
            conn.close()

    def stop(self):
        """SIGTERM; the daemon must exit with status 0 (a sanitizer report at
        exit makes it fail), and its log must be clean."""
        if self.process is None or self.checked:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.finish()
                raise AssertionError(
                    f"starface-backupd did not exit within {STOP_TIMEOUT} s of SIGTERM:\n"
                    + self.log.read_text(errors="replace"))
            self.finish()
            if self.process.returncode != 0:
                raise AssertionError(
                    f"starface-backupd exited with {self.process.returncode} after SIGTERM:\n"
                    + self.log.read_text(errors="replace"))
            return
        self.check_exited()

    def check_exited(self):
        """A daemon that has ended on its own (its bus went away: status 0)
        or was SIGKILLed by the test; anything else (an abort, a sanitizer's
        exit status, a crash) fails."""
        if self.process is None or self.checked or self.process.poll() is None:
            return
        self.finish()
        if self.process.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(
                f"starface-backupd ended with {self.process.returncode}:\n"
                + self.log.read_text(errors="replace"))

    def finish(self):
        self.checked = True
        self.log_file.close()
        self.check_log()

    def check_log(self):
        """Sanitizer reports and GLib criticals in the daemon's log fail the test."""
        text = self.log.read_text(errors="replace")
        for marker in SANITIZER_MARKERS + ("CRITICAL **",):
            if marker in text and not self.allow_warnings:
                hint = LEAK_HINT if marker == "ERROR: LeakSanitizer" else ""
                raise AssertionError(f"starface-backupd logged '{marker}'{hint}:\n{text}")

    @property
    def conn(self):
        """One connection kept for the test: jobs are canceled when the
        connection that started them goes away."""
        if self._conn is None:
            self._conn = self.bus.connect()
        return self._conn

    def proxy(self, conn=None, path=OBJECT_PATH):
        conn = conn or self.conn
        return conn.get_object(BUS_NAME, path, introspect=False)

    def manager(self, conn=None):
        return dbus.Interface(self.proxy(conn), IFACE)


def pack(source_dir: Path, out: Path, version="8.1.2.3", process="Nightly",
         created="2026-11-20T02:00:00Z", extra=()):
    """Makes a .sar with the project's own writer (libarchive)."""
    args = [CLIENT, "pack", str(source_dir), str(out), f"--version={version}",
            f"--process={process}", f"--created={created}", *extra]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pack failed: {result.stderr}")
    return out


def make_tree(root: Path, components=None):
    """A small PBX data tree: one sub-directory per component."""
    components = components or {
        "core": {"db/asterisk.sql": "CREATE TABLE users;\n", "network.conf": "ip=192.0.2.10\n"},
        "cdr-voicemail": {"cdr/2026-11.csv": "a,b,c\n", "voicemail/100/msg0001.wav": "RIFF...."},
        "announcements": {"de/welcome.txt": "Willkommen\n"},
    }
    for component, files in components.items():
        base = root / component
        base.mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            path = base / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def new_tempdir(prefix="sftest-"):
    return Path(tempfile.mkdtemp(prefix=prefix))


def job_property(service, job_path, name, conn=None):
    proxy = service.proxy(conn, path=job_path)
    return proxy.Get(JOB_IFACE, name, dbus_interface="org.freedesktop.DBus.Properties")


def wait_job(service, job_path, timeout=60.0, conn=None):
    """Polls the job's State until it leaves 'running'; returns the state."""
    conn = conn or service.conn
    return wait_for(
        lambda: (lambda s: s if s != "running" else None)(
            str(job_property(service, job_path, "State", conn))),
        timeout=timeout, what=f"{job_path} to finish")


def temporaries(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith("."))


class SignalRecorder:
    """Records the manager's Progress and Finished signals on a GLib main
    loop (dbus-python's mainloop integration)."""

    def __init__(self, service):
        from dbus.mainloop.glib import DBusGMainLoop
        from gi.repository import GLib

        self.GLib = GLib
        self.conn = dbus.bus.BusConnection(service.bus.address,
                                           mainloop=DBusGMainLoop())
        self.progress = []
        self.finished = []
        self.conn.add_signal_receiver(
            lambda job, percent, stage, message: self.progress.append(
                (str(job), int(percent), str(stage), str(message))),
            signal_name="Progress", dbus_interface=IFACE, path=OBJECT_PATH)
        self.conn.add_signal_receiver(
            lambda job, result, name, message: self.finished.append(
                (str(job), str(result), str(name), str(message))),
            signal_name="Finished", dbus_interface=IFACE, path=OBJECT_PATH)
        self.manager = dbus.Interface(
            self.conn.get_object(BUS_NAME, OBJECT_PATH, introspect=False), IFACE)

    def run_until(self, predicate, timeout=60.0):
        loop = self.GLib.MainLoop()
        deadline = time.monotonic() + timeout

        def check():
            if predicate() or time.monotonic() > deadline:
                loop.quit()
                return False
            return True

        self.GLib.timeout_add(20, check)
        loop.run()
        if not predicate():
            raise TimeoutError("signals did not arrive in time")

    def wait_finished(self, job_path, timeout=60.0):
        self.run_until(lambda: any(f[0] == job_path for f in self.finished), timeout)
        return next(f for f in self.finished if f[0] == job_path)


CALLER = str(Path(__file__).resolve().parent / "caller.py")


def ensure_user(name):
    """A real local account for calls as another user (tests run as root)."""
    import pwd
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=True)
        return pwd.getpwnam(name)


def call_as(user, address, method, signature="", args=(), *, path=OBJECT_PATH, interface=IFACE,
            interactive=False, no_wait=False, wait_job=False, timeout=150):
    """Runs caller.py as a real user through setpriv; returns its JSON."""
    import json
    import pwd
    entry = pwd.getpwnam(user)
    cmd = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
           "--reset-env", "/usr/bin/python3", CALLER, address, method, signature,
           json.dumps(list(args)), f"--path={path}", f"--interface={interface}"]
    if interactive:
        cmd.append("--interactive")
    if no_wait:
        cmd.append("--no-wait")
    if wait_job:
        cmd.append("--wait-job")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"caller.py as {user} failed: {result.stderr}")
    return json.loads(result.stdout)


class Polkit:
    """The real polkitd on the private bus, in its own mount namespace where
    the project's action policy and a test rules file are bind-mounted over
    polkit's directories."""

    def __init__(self, root: Path, bus: Bus, rules: str):
        self.root = root
        self.bus = bus
        actions = root / "actions"
        rules_dir = root / "rules.d"
        empty = root / "empty"
        for d in (actions, rules_dir, empty):
            d.mkdir()
            d.chmod(0o755)
        # the built policy: the source with the translations merged in
        shutil.copy(BUILD_ROOT / "polkit" / "de.starface.backup.policy", actions)
        (rules_dir / "50-starface-backup-test.rules").write_text(rules)
        for f in list(actions.iterdir()) + list(rules_dir.iterdir()):
            f.chmod(0o644)
        self.script = (
            f"mount --bind {actions} /usr/share/polkit-1/actions && "
            f"mount --bind {rules_dir} /etc/polkit-1/rules.d && "
            f"mount --bind {empty} /usr/share/polkit-1/rules.d && "
            "exec /usr/lib/polkit-1/polkitd --no-debug"
        )
        self.log = root / "polkitd.log"
        self.process = None

    def start(self):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.log_file = open(self.log, "ab")
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", self.script],
            env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        conn = self.bus.connect()
        try:
            def owned():
                if self.process.poll() is not None:
                    raise RuntimeError("polkitd exited:\n" + self.log.read_text())
                return conn.name_has_owner("org.freedesktop.PolicyKit1")
            wait_for(owned, what="polkitd to own its name")
        finally:
            conn.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.log_file.close()


# --- PostgreSQL -----------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The cluster's superuser (initdb -U) and [Database] RunAs: an OS user and
# a role of the same name (peer authentication).
PG_SUPERUSER = "sfpg"
# The owner of the sample database: a plain role that may log in, and the
# OS user of the same name that loads dumps as it.
PG_OWNER = "sfdb"
PG_DATABASE = "starface"
PG_HELPER = os.environ.get("PG_HELPER", str(BUILD_ROOT / "service" / "starface-backupd-pg"))

# The sample database: what a PBX keeps, in miniature.
PG_SAMPLE_SQL = """
CREATE TABLE users (id serial PRIMARY KEY, login text NOT NULL UNIQUE, name text);
CREATE TABLE cdr (id bigserial PRIMARY KEY, caller text, callee text,
                  started timestamptz NOT NULL DEFAULT now(), seconds integer);
CREATE VIEW long_calls AS SELECT * FROM cdr WHERE seconds > 60;
CREATE FUNCTION user_count() RETURNS bigint LANGUAGE plpgsql AS
  $$ BEGIN RETURN (SELECT count(*) FROM users); END $$;
INSERT INTO users (login, name) VALUES ('anna', 'Anna Berg'), ('bernd', 'Bernd Kühn'),
  ('carla', 'Carla Diaz');
INSERT INTO cdr (caller, callee, seconds) VALUES ('100', '200', 42), ('200', '0301234', 125),
  ('101', '100', 7);
"""


def _as_user(name):
    import pwd
    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _pg_env():
    return {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


class PgCluster:
    """A throwaway PostgreSQL 15 cluster run by the unprivileged OS user
    sfpg (its superuser role too): initdb and pg_ctl from PG_BIN, the
    socket in a directory of its own, no TCP, local peer authentication
    only.  start() also creates the owner role sfdb (LOGIN, no superuser;
    an OS user of the same name) and the sample database starface.

    One cluster serves a whole test session (the `pg_cluster` fixture);
    tests get their own databases or reset the sample (`pg` fixture)."""

    def __init__(self, root: Path, port=5432):
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgresql.log"
        self.port = port
        self.superuser = PG_SUPERUSER
        self.owner = PG_OWNER
        self.started = False

    def _run(self, user, args, input=None, check=True, timeout=120):
        result = subprocess.run(args, input=input, capture_output=True, text=True,
                                env=_pg_env(), cwd="/", timeout=timeout, **_as_user(user))
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} as {user} failed "
                               f"({result.returncode}):\n{result.stderr}")
        return result

    def start(self):
        for name in (self.superuser, self.owner):
            ensure_user(name)
        su = _as_user(self.superuser)
        os.chmod(self.root, 0o755)
        for d in (self.data, self.socket_dir):
            d.mkdir()
            os.chown(d, su["user"], su["group"])
        os.chmod(self.data, 0o700)
        os.chmod(self.socket_dir, 0o755)
        self.log.touch()
        os.chown(self.log, su["user"], su["group"])
        self._run(self.superuser, [PG_BIN / "initdb", "-D", self.data, "-U", self.superuser,
                                   "--auth-local=peer", "--auth-host=reject", "--encoding=UTF8",
                                   "--locale=C.UTF-8", "--no-sync"])
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"""
listen_addresses = ''
unix_socket_directories = '{self.socket_dir}'
port = {self.port}
max_connections = 40
fsync = off
synchronous_commit = off
full_page_writes = off
""")
        (self.data / "pg_hba.conf").write_text("local all all peer\n")
        self._run(self.superuser, [PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                                   "-t", "60", "start"])
        self.started = True
        self.sql(f"CREATE ROLE {self.owner} LOGIN")
        self.create_sample()

    def stop(self):
        if not self.started:
            return
        self.started = False
        self._run(self.superuser, [PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w",
                                   "-t", "60", "stop"], check=False)
        # nothing of the cluster may outlive the session
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def restart(self):
        """Starts the cluster again after stop() (its data kept)."""
        self._run(self.superuser, [PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                                   "-t", "60", "start"])
        self.started = True

    def psql(self, sql, database="postgres", user=None, check=True):
        """Runs SQL (several statements may be given) with psql as user (an
        OS user and role of the same name; default the superuser); returns
        the CompletedProcess (stdout: unaligned rows, fields split by |)."""
        user = user or self.superuser
        return self._run(user, [PG_BIN / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                "-h", self.socket_dir, "-p", str(self.port), "-d", database,
                                "-f", "-"], input=sql, check=check)

    def sql(self, sql, database="postgres", user=None):
        return self.psql(sql, database, user).stdout

    def rows(self, query, database=PG_DATABASE, user=None):
        """The rows of a query as tuples of strings."""
        out = self.sql(query, database, user)
        return [tuple(line.split("|")) for line in out.splitlines() if line != ""]

    def value(self, query, database="postgres", user=None):
        rows = self.rows(query, database, user)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    def exists(self, database):
        return self.value(f"SELECT count(*) FROM pg_database WHERE datname = '{database}'") == "1"

    def oid(self, database):
        out = self.sql(f"SELECT oid FROM pg_database WHERE datname = '{database}'").strip()
        return int(out) if out else 0

    def drop(self, database):
        self.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def create_sample(self, database=PG_DATABASE, owner=None, locale="de_DE.UTF-8"):
        """(Re)creates the sample database, owned by owner (default sfdb),
        its tables made by the owner; drops the restore's staging and
        previous copies of it too."""
        owner = owner or self.owner
        for name in (database, database + "__sf_restore", database + "__sf_previous"):
            self.drop(name)
        self.sql(f'CREATE DATABASE "{database}" OWNER "{owner}" TEMPLATE template0 '
                 f"ENCODING 'UTF8' LC_COLLATE '{locale}' LC_CTYPE '{locale}'")
        self.sql(PG_SAMPLE_SQL, database, user=owner)

    def sessions(self, database):
        """Client sessions on database now."""
        return int(self.value("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              f"'{database}' AND backend_type = 'client backend'"))

    def config(self, components=None):
        """The [Database] group for backupd.conf, and [Component ...] groups:
        components maps a component id to its database (or None); default
        the three standard components, core holding starface."""
        if components is None:
            components = {"core": PG_DATABASE, "cdr-voicemail": None, "announcements": None}
        text = (f"[Database]\nHost={self.socket_dir}\nPort={self.port}\n"
                f"RunAs={self.superuser}\nToolsDirectory={PG_BIN}\n")
        for component, database in components.items():
            text += f"\n[Component {component}]\nPath={component}\n"
            if database:
                text += f"Database={database}\n"
        return text

    def write_config(self, path, components=None):
        """A whole backupd.conf (for pgdb-tool): Paths in a scratch place."""
        scratch = Path(path).parent
        Path(path).write_text(f"[Paths]\nBackupDirectory={scratch}/backups\nDataRoot={scratch}\n"
                              + self.config(components))
        return path
