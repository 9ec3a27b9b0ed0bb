"""PostgreSQL and Redis instances of a test's own, to stop, crash and freeze.

Never the shared servers other test runs use: each instance is initialised
in a temporary folder and listens on a free loopback port. PostgreSQL runs
as the ``postgres`` user when the tests run as root (initdb refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if versions:
        return str(versions[-1] / name)
    raise FileNotFoundError(f"{name} not found: install the PostgreSQL server binaries")


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class PostgresInstance:
    """A throwaway PostgreSQL cluster: ``start``, ``stop``, ``crash``, ``freeze``, ``thaw``."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        # Its own folder under the system temp dir: pytest's are private to the user running it.
        root = root or Path(tempfile.mkdtemp(prefix="analytics-pg-"))
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid}
            os.chown(root, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), check=check, capture_output=True, text=True, cwd=self.root, **self._user, timeout=120
        )

    def init(self) -> PostgresInstance:
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                "shared_buffers = 64MB\n"
            )
        return self

    def replica(self) -> PostgresInstance:
        """A streaming replica of this (running) server: ``pg_basebackup -R``, on a port of its own.

        Not started; ``start`` it. The base backup carries this server's
        ``postgresql.conf``: the lines appended after it give the replica its
        own port and socket folder (the last setting of a key wins).
        """
        replica = PostgresInstance()
        replica._run(
            pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(replica.data), "-R", "-X", "stream", "--no-sync",
        )
        with open(replica.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = {replica.port}\nunix_socket_directories = '{replica.root}'\n")
        return replica

    def start(self) -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        _wait(lambda: _accepts(self.port), 30, "PostgreSQL accepting connections")

    def stop(self) -> None:
        """A clean, fast shutdown: clients are told, then disconnected."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop", check=False)

    def crash(self) -> None:
        """``-m immediate``: every server process quits at once; recovery runs at the next start."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "immediate", "stop", check=False)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def processes(self) -> list[int]:
        """The postmaster and every process it started (backends, background workers)."""
        master = self.postmaster_pid()
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [master, *map(int, children)]

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster and all its processes: connections stay open, nothing answers."""
        frozen = self.processes()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        return frozen

    def thaw(self, frozen: list[int]) -> None:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(OSError, ValueError):
                self.thaw(self.processes())
            self.crash()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisInstance:
    """A Redis of its own on a free port, keeping nothing on disk."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.root),
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait(lambda: _accepts(self.port), 30, "Redis accepting connections")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
