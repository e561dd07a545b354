"""The embedded PostgreSQL 16, from the binaries in the `pgserver` wheel."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from ops.embedded.base import (
    PG_SYSTEM_USER,
    EmbeddedServiceError,
    ServerProcess,
    discard_short_socket_dir,
    log,
    package_dir,
    socket_dir_for,
    take_over,
)


class EmbeddedPostgres(ServerProcess):
    def __init__(self, data_dir: Path, *, timeout_s: float) -> None:
        super().__init__(data_dir=data_dir, timeout_s=timeout_s, name="postgres")
        root = package_dir("pgserver") / "pginstall"
        self.bin = root / "bin"
        self.pgdata = data_dir / "pg"
        self.run_as: pwd.struct_passwd | None = None
        self.socket_dir = self.pgdata

    def _run(
        self, tool: str, *args: str, stdin_text: str | None = None, as_server: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool; clients run as us, only server-side tools as its user."""
        return subprocess.run(  # noqa: S603 - fixed binaries from the wheel
            [str(self.bin / tool), *args],
            input=stdin_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=self.timeout_s,
            **(self._user_kwargs() if as_server else {}),
        )

    def _user_kwargs(self) -> dict[str, Any]:
        if self.run_as is None:
            return {}
        return {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}

    def start(self) -> None:
        self.lock.acquire("PostgreSQL")
        try:
            self._prepare_directory()
            take_over(
                self.pgdata / "postmaster.pid", (str(self.pgdata),), signal.SIGINT, "postgres"
            )
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self.socket_dir = socket_dir_for(self.pgdata, "pg")
            if self.run_as is not None and self.socket_dir != self.pgdata:
                os.chown(self.socket_dir, self.run_as.pw_uid, self.run_as.pw_gid)
            argv = [str(self.bin / "postgres"), "-D", str(self.pgdata)]
            argv += ["-c", "listen_addresses=", "-k", str(self.socket_dir), "-p", "5432"]
            self._spawn(argv, **self._user_kwargs())
            self._wait_until(self._accepting)
        except BaseException:
            self.stop()
            raise
        log.info("embedded PostgreSQL ready", pgdata=str(self.pgdata))

    def _prepare_directory(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            self.pgdata.chmod(0o700)
            return
        self.run_as = _ensure_system_user(PG_SYSTEM_USER)
        _allow_traversal(self.pgdata.parent)
        _allow_traversal(self.bin.parent)
        self.pgdata.chmod(0o700)
        for path in (self.pgdata, self.log_path):
            path.touch(exist_ok=True)
            os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)

    def _initdb(self) -> None:
        log.info("initialising embedded PostgreSQL cluster", pgdata=str(self.pgdata))
        result = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
            as_server=True,
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def _accepting(self) -> bool:
        ready = self._run("pg_isready", "-q", "-h", str(self.socket_dir), "-p", "5432")
        return ready.returncode == 0

    def ensure_database(self, name: str) -> None:
        """Create database `name` if missing (psql quotes it: `:'v'` literal, `:"v"` name)."""
        query = "SELECT 1 FROM pg_database WHERE datname = :'name'"
        found = self._psql(name, query)
        if found.returncode != 0:
            raise EmbeddedServiceError(f"psql failed: {found.stderr}")
        if found.stdout.strip() != "1":
            created = self._psql(name, 'CREATE DATABASE :"name"')
            if created.returncode != 0:
                raise EmbeddedServiceError(f"CREATE DATABASE failed: {created.stderr}")

    def _psql(self, name: str, statement: str) -> subprocess.CompletedProcess[str]:
        return self._run(
            "psql",
            *("-h", str(self.socket_dir), "-U", "postgres", "-d", "postgres"),
            *("-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-v", f"name={name}"),
            stdin_text=statement + ";\n",
        )

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        self._terminate(signal.SIGINT)
        discard_short_socket_dir(self.socket_dir, self.pgdata)

    def restart(self) -> None:
        """After the postmaster died: end the backends it left behind, then start again.

        A backend notices its postmaster's death only when it next waits, so one busy with
        a statement runs on, and a new postmaster refuses to start while it still uses the
        old shared memory. PostgreSQL's own answer to a crashed process is to end all the
        others and recover from the WAL on the next start; we do the same for the crashed
        postmaster."""
        dead = self.process.pid if self.process is not None else None
        if dead is not None and self.exit_code() is not None:
            _end_orphaned_backends(self.pgdata / "postmaster.pid", dead)
        super().restart()


def _end_orphaned_backends(pidfile: Path, postmaster: int, timeout_s: float = 10.0) -> None:
    """SIGKILL every process still attached to the dead `postmaster`'s shared memory.

    The segment's key is in postmaster.pid (line 7) and is unique to the data directory;
    /proc/<pid>/maps names the segments a process has attached (`/SYSV<key in hex>`), so
    only this cluster's processes match. Without /proc nothing is done: PostgreSQL keeps
    refusing to start until they have exited by themselves."""
    try:
        lines = pidfile.read_text(errors="replace").splitlines()
    except OSError:
        return
    if not lines or lines[0].strip() != str(postmaster) or len(lines) < 7:
        return  # not the postmaster we lost: leave it to PostgreSQL's own checks
    key = lines[6].split()[0] if lines[6].split() else ""
    if not key.isdigit() or int(key) == 0 or not Path("/proc").is_dir():
        return
    segment = f"/SYSV{int(key):08x}"
    attached = _processes_attached_to(segment)
    if attached:
        log.warning("ending backends left by a dead postmaster", pids=sorted(attached))
    for pid in attached:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while attached and time.monotonic() < deadline:
        time.sleep(0.05)
        attached = _processes_attached_to(segment)


def _processes_attached_to(segment: str) -> set[int]:
    found = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if segment in text:
            found.add(int(maps.parent.name))
    return found


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    log.info("creating system user to run PostgreSQL (it refuses to run as root)", user=name)
    subprocess.run(  # noqa: S603 - fixed arguments
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def _allow_traversal(directory: Path) -> None:
    """Let the PostgreSQL user reach its directory: add o+x (search only) where missing."""
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("allowing other users to traverse directory", path=str(path))
            path.chmod(mode | stat.S_IXOTH)
