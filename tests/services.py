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
        return [master, *_children(master)]

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster and all its processes: connections stay open, nothing answers.

        The postmaster first: stopped, it forks no new backend, so the list of its
        children read afterwards is complete (read while it runs, the list can miss
        a backend forked meanwhile, which would go on answering its connection). The
        list is read again until it holds no process left running, and every process
        is checked to be stopped before this returns: a test relying on the freeze
        never runs against a database that still answers.
        """
        master = self.postmaster_pid()
        os.kill(master, signal.SIGSTOP)
        frozen = [master]
        while new := [pid for pid in _children(master) if pid not in frozen]:
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            frozen += new
        _wait(lambda: all(_stopped(pid) for pid in frozen), 10, "every PostgreSQL process stopped")
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


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _stopped(pid: int) -> bool:
    """Stopped by a signal, or gone (a process that exited answers nothing either)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("T", "t", "Z", "X")


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


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and not _accepts(port + 10000):
            return port


class RedisClusterInstance:
    """A real Redis Cluster of ``size`` primaries (no replicas), each a ``redis-server`` on a free port.

    The slots are spread by ``redis-cli --cluster create``; a stopped node keeps
    its ``nodes.conf`` and rejoins with its slots when started again.
    """

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.ports = [_cluster_port() for _ in range(size)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start_node(self, port: int) -> None:
        folder = self.root / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(folder), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "1000",
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait(lambda: _accepts(port), 30, f"Redis cluster node {port} accepting connections")

    def stop_node(self, port: int) -> None:
        process = self.processes.pop(port)
        process.terminate()
        process.wait(timeout=30)

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{port}" for port in self.ports), "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        self.wait_healthy()

    def healthy(self) -> bool:
        for port in self.ports:
            result = subprocess.run(
                [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "cluster", "info"],
                capture_output=True, text=True, timeout=10,
            )
            if "cluster_state:ok" not in result.stdout:
                return False
        return True

    def wait_healthy(self, timeout: float = 30) -> None:
        _wait(self.healthy, timeout, "the Redis Cluster reporting cluster_state:ok on every node")

    def stop(self) -> None:
        for port in list(self.processes):
            self.stop_node(port)


class RedisSentinelInstance:
    """A Redis primary, one replica and one Sentinel watching them as service ``analytics``.

    ``fail_primary`` stops the primary; the Sentinel promotes the replica after
    ``down-after-milliseconds`` (one second here), as in production.
    """

    service = "analytics"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.primary, self.replica, self.sentinel = (free_port() for _ in range(3))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{self.service}"

    def _server(self, port: int, *args: str) -> None:
        folder = self.root / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", *args,
             "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        _wait(lambda: _accepts(port), 30, f"Redis on {port} accepting connections")

    def start(self) -> None:
        self._server(self.primary)
        self._server(self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        config = self.root / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary} 1\n"
            f"sentinel down-after-milliseconds {self.service} 1000\n"
            f"sentinel failover-timeout {self.service} 5000\n"
        )
        self._server(self.sentinel, str(config), "--sentinel")
        _wait(lambda: self.replica_in_sync(), 30, "the Redis replica in sync")

    def _cli(self, port: int, *args: str) -> str:
        return subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "-p", str(port), *args],
            capture_output=True, text=True, timeout=10,
        ).stdout

    def replica_in_sync(self) -> bool:
        return "master_link_status:up" in self._cli(self.replica, "info", "replication")

    def primary_port(self) -> int:
        """The port the Sentinel currently names as the primary."""
        lines = self._cli(self.sentinel, "sentinel", "get-master-addr-by-name", self.service).split()
        return int(lines[1]) if len(lines) == 2 else 0

    def fail_primary(self) -> None:
        process = self.processes.pop(self.primary)
        process.terminate()
        process.wait(timeout=30)

    def wait_failover(self, timeout: float = 30) -> None:
        _wait(lambda: self.primary_port() == self.replica, timeout, "the Sentinel promoting the replica")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
            process.wait(timeout=30)
        self.processes.clear()
