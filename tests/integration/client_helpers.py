"""Running the starface-backup client in tests: plainly, in a real
pseudo-terminal (as its controlling terminal, so Ctrl-C works), or as
another user."""

import errno
import fcntl
import os
import pwd
import re
import select
import signal
import subprocess
import termios
import time

from harness import BUILD_ROOT, CLIENT, SOURCE_ROOT

SIMULATOR = str(SOURCE_ROOT / "data" / "pbx-simulator")

# the client's exit statuses (starface-backup(1), client/exit-status.h)
OK, FAILED, USAGE, NOT_AUTHORIZED, NOT_FOUND, INVALID, BUSY, NO_SPACE, CANCELED, \
    UNAVAILABLE, NEEDS_CONFIRMATION = range(11)

STAGES = ("starting", "extracting", "stopping-pbx", "activating", "starting-pbx",
          "saving-previous", "cleanup", "receiving", "verifying", "publishing")
# a progress line when not on a terminal: "percent stage message"
PROGRESS_LINE = re.compile(r"^(\d{1,3}) (%s)( .*)?$" % "|".join(STAGES))


def pbx_config(state, stop_delay=0.0, start_delay=0.0, extra=""):
    return f"""[Pbx]
SessionsCommand={SIMULATOR} --state={state} sessions
StopCommand={SIMULATOR} --state={state} --delay={stop_delay} stop
StartCommand={SIMULATOR} --state={state} --delay={start_delay} start
CommandTimeout=60
{extra}"""


def pbx(state, *args):
    return subprocess.run([SIMULATOR, f"--state={state}", *args], check=True,
                          capture_output=True, text=True).stdout


def client_env(address, **extra):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, LC_ALL="C.UTF-8", TZ="UTC")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env.update(extra)
    return env


def german_env(address, **extra):
    """The client in German, with the translations of this build."""
    settings = dict(LANG="de_DE.UTF-8", LC_ALL="de_DE.UTF-8",
                    STARFACE_BACKUP_LOCALEDIR=str(BUILD_ROOT / "po"))
    settings.update(extra)
    env = client_env(address, **settings)
    env.pop("LANGUAGE", None)
    return env


def run_client(address, *args, input=None, stdin=None, env=None, timeout=120, user=None):
    """Runs the client with stdin not a terminal: /dev/null, the text
    input, or the open file stdin."""
    cmd = [CLIENT, *args]
    if user is not None:
        entry = pwd.getpwnam(user)
        cmd = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
               "--reset-env", "env", f"DBUS_SYSTEM_BUS_ADDRESS={address}", *cmd]
    if input is None and stdin is None:
        stdin = subprocess.DEVNULL
    return subprocess.run(cmd, env=env or client_env(address), capture_output=True, text=True,
                          timeout=timeout, input=input, stdin=stdin)


class Terminal:
    """The client with a pseudo-terminal as stdin, stdout, stderr and
    controlling terminal."""

    def __init__(self, args, env, wrapper=()):
        self.master, slave = os.openpty()
        # a size, so the progress bar knows its width
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x18\x00\x78\x00\x00\x00\x00\x00")

        def become_terminal_owner():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen([*wrapper, CLIENT, *args], stdin=slave, stdout=slave,
                                        stderr=slave, env=env, start_new_session=True,
                                        preexec_fn=become_terminal_owner)
        os.close(slave)
        self.output = ""
        self.position = 0  # expect() looks after its last match

    def _read(self, timeout):
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError as e:
            if e.errno == errno.EIO:  # the client closed the terminal
                return None
            raise
        if not data:
            return None
        self.output += data.decode(errors="replace")
        return True

    def expect(self, text, timeout=60):
        """Waits for text to appear after what the last expect() matched."""
        deadline = time.monotonic() + timeout
        while text not in self.output[self.position:]:
            left = deadline - time.monotonic()
            if left <= 0 or self._read(left) is None:
                raise AssertionError(f"{text!r} did not appear; the terminal showed:\n"
                                     f"{self.output}")
        self.position = self.output.index(text, self.position) + len(text)
        return self.output

    def wait_for_hidden_input(self, timeout=30):
        """Waits until the terminal stops echoing (a password prompt):
        what is typed earlier may be flushed when echo is turned off."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise AssertionError(f"echo stayed on; the terminal showed:\n{self.output}")
            self._read(0.05)

    def send(self, text):
        os.write(self.master, text.encode())

    def interrupt(self):
        """Ctrl-C as typed: the terminal sends SIGINT to the client."""
        self.send("\x03")

    def wait(self, timeout=120):
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0.1):
            pass
        if self.process.poll() is None:
            raise AssertionError(f"the client did not end; the terminal showed:\n{self.output}")
        os.close(self.master)
        return self.process.returncode

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def as_user_on_bus(user, bus, env=()):
    """A wrapper (for Terminal) that runs the client as user, with the
    private bus also at the standard system bus path in a private mount
    namespace: polkit's setuid password helper ignores the environment and
    answers polkitd on that path."""
    entry = pwd.getpwnam(user)
    settings = " ".join(f"{k}={v}" for k, v in env)
    script = ("mkdir -p /run/dbus && mount -t tmpfs tmpfs /run/dbus && "
              "touch /run/dbus/system_bus_socket && "
              f"mount --bind {bus.socket} /run/dbus/system_bus_socket && "
              f"exec setpriv --reuid={entry.pw_uid} --regid={entry.pw_gid} --init-groups "
              f"--reset-env env TERM=dumb DBUS_SYSTEM_BUS_ADDRESS={bus.address} {settings} "
              '"$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
