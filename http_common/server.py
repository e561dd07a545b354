"""The HTTP protocol both servers run under uvicorn: its httptools protocol, plus the request
limits it lacks.

uvicorn bounds a request head only with h11 (`--h11-max-incomplete-event-size`); with
httptools (the fast parser, used whenever it is installed) a client may send headers of any
size, and may take forever to send a head or a body, holding a connection and, with
`--limit-concurrency`, a slot every honest client needs. `LimitedHttpToolsProtocol` keeps
httptools and adds:

- a bound on the request head (request line and headers) of `h11_max_incomplete_event_size`
  bytes, the same uvicorn option (`HTTP_MAX_HEADER_BYTES`): beyond it, 431 and the
  connection closes, whether the head arrived whole or is still arriving;
- a deadline of `HTTP_REQUEST_TIMEOUT_S` for a head, counted from the connection (or the
  request's first byte), and the same deadline for a body, counted from the end of its head:
  past it, 408 and the connection closes (slow-loris). Signed uploads to local storage are
  large by design and only need to keep moving: for them the body deadline restarts with
  every chunk.

`ops.cli.processes` selects it with `--http http_common.server:LimitedHttpToolsProtocol`.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from core.config import get_settings
from http_common.storage_routes import UPLOAD_PATH

DEFAULT_MAX_HEAD_BYTES = 16 * 1024
UPLOAD_PREFIX = UPLOAD_PATH.split("{", 1)[0].encode()

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    # None: HTTP_REQUEST_TIMEOUT_S from the settings; a subclass may fix it.
    request_timeout_s: ClassVar[float | None] = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self.deadline_s = (
            self.request_timeout_s
            if self.request_timeout_s is not None
            else float(get_settings().http_request_timeout_s)
        )
        self._reading_head = False
        self._head_bytes = 0  # of the current head, as parsed so far
        self._unparsed_head_bytes = 0  # received while the head is still incomplete
        self._reading_body = False
        self._restart_per_chunk = False
        self._deadline: asyncio.TimerHandle | None = None

    # --- the deadline -------------------------------------------------------------------
    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.deadline_s, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        # (while a head is read, `self.cycle` is still the previous request's)
        answered = self._reading_body and self.cycle is not None and self.cycle.response_started
        if (self._reading_head or self._reading_body) and not answered:
            self._refuse(408)
        else:  # nothing to answer: not a byte of a request yet, or the app already answered
            self._reading_head = self._reading_body = False
            self.transport.close()

    # --- the head's size --------------------------------------------------------------------
    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            # Stops the parser; uvicorn answers through `send_400_response`, below.
            raise HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes > self.max_head_bytes:
            self._refuse(431)
        else:
            super().send_400_response(msg)

    def _refuse(self, status: int) -> None:
        self._disarm()
        self._reading_head = self._reading_body = False
        reason = _REASONS[status]
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: text/plain; charset=utf-8\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(reason))
        self.transport.write(b"".join(head) + reason)
        self.transport.close()

    # --- uvicorn's protocol, observed -------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request must come, whole, within the deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading_head and not self.transport.is_closing():
            # Still no end of head: everything received since it began is head.
            self._unparsed_head_bytes += len(data)
            if self._unparsed_head_bytes > self.max_head_bytes:
                self._head_bytes = self._unparsed_head_bytes
                self._refuse(431)
        elif self._reading_body and self._restart_per_chunk:
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = self._unparsed_head_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self.parser.should_upgrade() and self._should_upgrade():
            self._disarm()  # a websocket: its protocol takes the connection over
        else:
            self._reading_body = True
            self._restart_per_chunk = self.url.startswith(UPLOAD_PREFIX)
            self._arm()  # now for the body
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        self._reading_head = self._reading_body = False
        super().handle_websocket_upgrade()

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._disarm()
        super().on_message_complete()


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limit."""
