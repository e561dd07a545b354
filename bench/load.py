"""A load tool for the HTTP benchmarks: wrk when installed, else a lean asyncio client.

Both replay a fixed list of requests round-robin over keep-alive connections for a fixed
time, and report requests/s and how many answers were not 2xx/3xx. Use the same tool and the
same settings for the edge and the baseline in one run; only the ratio is meaningful on a
shared 2-core machine.

    result = run_load("http://127.0.0.1:8001", requests, connections=64, duration_s=10)
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    failures: int
    seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode()
    return '"' + "".join(f"\\{b}" for b in raw) + '"'


def _lua_script(requests: Sequence[RequestSpec]) -> str:
    lines = ["local reqs = {}"]
    for spec in requests:
        headers = ", ".join(
            f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in spec.headers.items()
        )
        body = _lua_string(spec.body) if spec.body else "nil"
        lines.append(
            f"reqs[#reqs + 1] = wrk.format({_lua_string(spec.method)}, "
            f"{_lua_string(spec.path)}, {{{headers}}}, {body})"
        )
    # Each wrk thread (own Lua state) starts at a different offset to spread the devices.
    lines += [
        "local i = math.random(#reqs)",
        "request = function()",
        "  i = i % #reqs + 1",
        "  return reqs[i]",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(
    base_url: str,
    requests: Sequence[RequestSpec],
    *,
    connections: int,
    duration_s: int,
    threads: int = 1,
) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(_lua_script(requests))
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration_s}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url,
        ]
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", output)
    if total is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    seconds = float(total.group(2)) * unit
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failures = int(bad.group(1)) if bad else 0
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return LoadResult("wrk", int(total.group(1)), failures, seconds)


async def _connection(
    host: str,
    port: int,
    payloads: Sequence[bytes],
    offset: int,
    deadline: float,
    counts: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = offset
    try:
        while time.perf_counter() < deadline:
            writer.write(payloads[index % len(payloads)])
            index += 1
            status_line = await reader.readline()
            status = int(status_line.split(b" ", 2)[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            counts[0] += 1
            if status >= 400:
                counts[1] += 1
    finally:
        writer.close()


async def run_asyncio(
    base_url: str, requests: Sequence[RequestSpec], *, connections: int, duration_s: int
) -> LoadResult:
    """Raw HTTP/1.1 over asyncio streams: far cheaper per request than a full client."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    payloads = []
    for spec in requests:
        head = [f"{spec.method} {spec.path} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{k}: {v}" for k, v in spec.headers.items()]
        head.append(f"Content-Length: {len(spec.body)}")
        payloads.append(("\r\n".join(head) + "\r\n\r\n").encode() + spec.body)
    counts = [0, 0]
    started = time.perf_counter()
    deadline = started + duration_s
    step = max(1, len(payloads) // connections)
    await asyncio.gather(
        *(_connection(host, port, payloads, i * step, deadline, counts) for i in range(connections))
    )
    return LoadResult("asyncio", counts[0], counts[1], time.perf_counter() - started)


def run_load(
    base_url: str,
    requests: Sequence[RequestSpec],
    *,
    connections: int = 64,
    duration_s: int = 10,
    tool: str = "auto",
) -> LoadResult:
    if tool == "wrk" or (tool == "auto" and shutil.which("wrk")):
        return run_wrk(base_url, requests, connections=connections, duration_s=duration_s)
    return asyncio.run(
        run_asyncio(base_url, requests, connections=connections, duration_s=duration_s)
    )
