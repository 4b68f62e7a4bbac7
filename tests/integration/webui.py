"""The Cockpit page under test: the package as `meson install` puts it,
cockpit-ws with a local session (no login) whose bridge reaches the test's
private system bus, and headless Chromium driven by Selenium.

cockpit-ws inherits DBUS_SYSTEM_BUS_ADDRESS and hands it to the bridge;
XDG_DATA_DIRS makes the bridge find the package below the DESTDIR; PATH
puts the installed client first (the page spawns it for uploads).
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import BUILD_ROOT, new_tempdir, wait_for

PACKAGE = "starface_backup"
PAGE_PATH = f"/cockpit/@localhost/{PACKAGE}/index.html"
COCKPIT_WS_CANDIDATES = ("/usr/lib/cockpit/cockpit-ws", "/usr/libexec/cockpit-ws")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# where screenshots of the tests go (not part of the source tree)
SCREENSHOTS = Path(os.environ.get("COCKPIT_SCREENSHOTS", BUILD_ROOT / "cockpit-screenshots"))


def cockpit_ws_binary():
    for path in COCKPIT_WS_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("cockpit-ws")
    if found:
        return found
    raise AssertionError("cockpit-ws is not installed (tools/setup installs it)")


class InstalledPackage:
    """`meson install --destdir` of the build under test; the page, its
    generated po.de.js and the client as they are installed."""

    def __init__(self):
        self.root = new_tempdir("sfcockpit-")
        self.destdir = self.root / "destdir"
        meson = shutil.which("meson")
        assert meson, "meson is not on PATH"
        subprocess.run([meson, "install", "-C", str(BUILD_ROOT), "--destdir", str(self.destdir),
                        "--no-rebuild", "--quiet"], check=True, capture_output=True)
        options = json.loads(subprocess.run(
            [meson, "introspect", "--buildoptions", str(BUILD_ROOT)],
            check=True, capture_output=True, text=True).stdout)
        option = {o["name"]: o["value"] for o in options}
        prefix = self.destdir / option["prefix"].lstrip("/")
        self.datadir = prefix / option["datadir"]
        self.bindir = prefix / option["bindir"]
        self.package = self.datadir / "cockpit" / PACKAGE
        assert (self.package / "manifest.json").is_file(), f"no package in {self.package}"
        # other users (the unprivileged Cockpit user) read it too
        for d in [self.root, *self.destdir.rglob("*")]:
            if d.is_dir():
                d.chmod(0o755)

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CockpitWs:
    """cockpit-ws on 127.0.0.1 without TLS; its local session runs
    cockpit-bridge as the user running cockpit-ws (root, or `user` through
    setpriv)."""

    def __init__(self, root: Path, package: InstalledPackage, bus_address, user=None):
        self.root = root
        self.port = free_port()
        self.log = root / f"cockpit-ws-{self.port}.log"
        env = {
            "PATH": f"{package.bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "DBUS_SYSTEM_BUS_ADDRESS": bus_address,
            "XDG_DATA_DIRS": f"{package.datadir}:/usr/local/share:/usr/share",
            "LANG": "C.UTF-8",
        }
        # a sanitizer build's client (spawned for uploads) keeps the suite's options
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "G_SLICE"):
            if name in os.environ:
                env[name] = os.environ[name]
        command = [cockpit_ws_binary(), "--no-tls", "--local-session=cockpit-bridge",
                   "--address=127.0.0.1", f"--port={self.port}"]
        if user is not None:
            import pwd
            entry = pwd.getpwnam(user)
            runtime = root / f"runtime-{user}"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.chown(runtime, entry.pw_uid, entry.pw_gid)
            env.update(HOME=str(runtime), USER=user, LOGNAME=user, XDG_RUNTIME_DIR=str(runtime))
            command = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                       "--init-groups", "--"] + command
        else:
            env["HOME"] = os.environ.get("HOME", "/root")
        # A session bus of its own, stopped with it: without one the
        # bridge autolaunches a session dbus-daemon that outlives the test
        # (and each holds an inotify instance, a per-user limit).
        where = root if user is None else runtime
        session_command = ["dbus-daemon", "--session", "--nofork", "--print-address=1",
                           f"--address=unix:path={where}/session-bus-{self.port}"]
        if user is not None:
            session_command = command[:command.index("--") + 1] + session_command
        self.session_bus = subprocess.Popen(session_command, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, env=env)
        env["DBUS_SESSION_BUS_ADDRESS"] = self.session_bus.stdout.readline().decode().strip()
        self.log_file = open(self.log, "ab")
        self.process = subprocess.Popen(command, env=env, stdout=self.log_file,
                                        stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self._serving, timeout=20, what="cockpit-ws to serve the package")

    def _serving(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"cockpit-ws exited with {self.process.returncode}:\n"
                               + self.log.read_text(errors="replace"))
        try:
            with urllib.request.urlopen(self.url + f"/cockpit/@localhost/{PACKAGE}/manifest.json",
                                        timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def page_url(self):
        return self.url + PAGE_PATH

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        self.session_bus.terminate()
        self.session_bus.wait(timeout=10)
        self.session_bus.stdout.close()


class Browser:
    """Headless Chromium (as root: no sandbox) with a fresh profile and the
    given browser language (Accept-Language and navigator.languages)."""

    def __init__(self, language="en"):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService

        self.profile = tempfile.mkdtemp(prefix="sfchromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1400",
                         f"--user-data-dir={self.profile}", f"--lang={language}"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, max(900, min(int(height) + 40, 4000)))
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self):
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """The STARFACE backup page in a Browser."""

    def __init__(self, browser: Browser, url):
        from selenium.webdriver.common.by import By
        self.By = By
        self.browser = browser
        self.driver = browser.driver
        self.url = url

    def open(self):
        self.driver.get(self.url)
        self.wait_ready()
        return self

    def reload(self):
        self.driver.refresh()
        self.wait_ready()

    def wait_ready(self):
        self.wait(lambda: self.driver.execute_script(
            "var p = document.getElementById('page'); return p && p.dataset.ready === 'true';"),
            what="the page to load")

    def wait(self, predicate, timeout=30.0, what="the page"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as e:  # an element replaced while reading it
                last = e
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}" + (f" ({last!r})" if last else "")
                           + f"; console: {self.browser.console_errors()}")

    def find(self, css):
        return self.driver.find_element(self.By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(self.By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text

    def visible(self, css):
        elements = self.find_all(css)
        return bool(elements) and elements[0].is_displayed()

    def click(self, css):
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()

    # the list of backups

    def rows(self):
        return [r.get_attribute("data-name") for r in self.find_all("#backups-body tr")]

    def row(self, name):
        for r in self.find_all("#backups-body tr"):
            if r.get_attribute("data-name") == name:
                return r
        raise AssertionError(f"{name} is not listed; listed: {self.rows()}")

    def selected(self):
        checked = [r.get_attribute("value") for r in self.find_all("#backups-body input[type=radio]")
                   if r.is_selected()]
        return checked[0] if checked else None

    def choose(self, name):
        """Select a backup and continue to its Inspect step."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});",
                                   self.row(name))
        self.row(name).find_element(self.By.CSS_SELECTOR, "input[type=radio]").click()
        self.click("#choose-button")
        self.wait(lambda: self.visible("#inspect-card") and name in self.text("#inspect-title"),
                  what=f"the inspect step of {name}")

    def preflight(self):
        self.click("#preflight-button")
        self.wait(lambda: self.visible("#preflight-card") or self.find_all("#inspect-alert .sf-alert"),
                  what="the preflight step")

    def job_state(self):
        card = self.find("#job-card")
        if not card.is_displayed():
            return None
        return card.get_attribute("data-state")
