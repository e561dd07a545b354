"""`core.logging`: one format for every logger, secrets redacted, tracebacks without locals,
rendering off the calling thread.

Each test applies the real process set-up (`configure_logging`) around its body only
(`tests.foundation.logging_support`), logs through real loggers, and reads the lines written.
"""

from __future__ import annotations

import logging
import logging.config
import threading
from typing import Any

import pytest
import structlog
from uvicorn.config import LOGGING_CONFIG

from tests.foundation.logging_support import configured, flush, json_lines

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXZpY2UtNDIifQ.c2lnbmF0dXJlLXZhbHVl"
SECRETS = {
    "token": "tok-7f3a9c1e5b2d4a6f8e0c",
    "access_token": "acc-2b4d6f8a0c1e3g5h7j9k",
    "refresh_token": "ref-9k7j5h3g1e0c8a6f4d2b",
    "device_token": "dev-1a2b3c4d5e6f7g8h9i0j",
    "device_code": "dcode-q1w2e3r4t5y6u7i8o9p0",
    "device_secret": "dsec-z1x2c3v4b5n6m7l8k9j0",
    "claim_code": "BCDF-GHJK",
    "user_code": "LMNP-QRST",
    "password": "correct horse battery staple",
    "authorization": f"Bearer {JWT}",
    "secret": "shh-0a9b8c7d6e5f4a3b2c1d",
    "cookie": "session=sess-5e6f7a8b9c0d1e2f",
}

log = structlog.get_logger("tests.logging")


def leaked(text: str) -> list[str]:
    parts = [*SECRETS.values(), JWT, "sess-5e6f7a8b9c0d1e2f", "BCDFGHJK"]
    return [part for part in parts if part in text]


def test_secret_keys_are_redacted_at_any_depth() -> None:
    with configured() as out:
        log.info(
            "pairing attempt",
            device_id="0b8f7d3e",
            code="authorization_pending",
            token_epoch=3,
            **SECRETS,
            request={"headers": {"Authorization": f"Bearer {JWT}", "Cookie": SECRETS["cookie"]}},
            attempts=[{"claim_code": "BCDF-GHJK", "ip": "10.0.0.1"}],
        )
    [line] = json_lines(out.getvalue())
    for key in SECRETS:
        assert line[key] == "[redacted]", key
    assert line["request"]["headers"] == {"Authorization": "[redacted]", "Cookie": "[redacted]"}
    assert line["attempts"] == [{"claim_code": "[redacted]", "ip": "10.0.0.1"}]
    # what is not a secret stays readable
    assert (line["device_id"], line["code"], line["token_epoch"]) == (
        "0b8f7d3e",
        "authorization_pending",
        3,
    )
    assert leaked(out.getvalue()) == []


def raise_with_secrets_in_message() -> None:
    database_url = "postgresql://signage:Pg-Passw0rd-x9@db.internal:5432/signage"
    raise ConnectionError(
        f"cannot reach {database_url} for token={SECRETS['token']} "
        f"(Authorization: Bearer {JWT}, claim BCDFGHJK, password={SECRETS['password']!r})"
    )


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_secrets_inside_messages_and_exception_text_are_scrubbed(as_json: bool) -> None:
    with configured(json=as_json) as out:
        log.warning(f"retrying with refresh_token={SECRETS['refresh_token']} and Bearer {JWT}")
        try:
            raise_with_secrets_in_message()
        except ConnectionError:
            log.exception("backend unavailable")
    text = out.getvalue()
    assert "backend unavailable" in text and "ConnectionError" in text
    assert "postgresql://signage:[redacted]@db.internal:5432/signage" in text
    assert "Pg-Passw0rd-x9" not in text
    assert leaked(text) == []


def fail_holding_secrets(device_code: str) -> None:
    claim_code = "BCDF-GHJK"  # noqa: F841 - a local the traceback must not show
    headers = {"authorization": f"Bearer {JWT}"}  # noqa: F841
    raise RuntimeError("the database went away")


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_tracebacks_carry_no_local_variables(as_json: bool) -> None:
    with configured(json=as_json) as out:
        try:
            fail_holding_secrets(SECRETS["device_code"])
        except RuntimeError:
            log.exception("unhandled error")
    text = out.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "fail_holding_secrets" in text and "the database went away" in text
    assert leaked(text) == []
    if as_json:
        [line] = json_lines(text)
        assert line["level"] == "error" and "exception" in line


def test_server_loggers_are_taken_over_and_share_the_format() -> None:
    """uvicorn configures its own handlers before our factory runs; ours replace them."""
    with configured() as out:
        logging.config.dictConfig(LOGGING_CONFIG)  # what uvicorn does first...
        from core.logging import configure_logging

        configure_logging("INFO", json=True, stream=out)  # ...then the app factory
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "10.0.0.1:5000",
            "GET",
            f"/v1/device/plan?access_token={SECRETS['access_token']}&device_code=abc123&page=2",
            "1.1",
            200,
        )
        logging.getLogger("dramatiq.worker.Worker").warning("Worker is %s", "slow")
        try:
            fail_holding_secrets(SECRETS["device_code"])
        except RuntimeError as exc:
            logging.getLogger("strawberry.execution").error("boom", exc_info=exc)
    lines = json_lines(out.getvalue())
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("uvicorn.error", "info"),
        ("uvicorn.access", "info"),
        ("dramatiq.worker.Worker", "warning"),
        ("strawberry.execution", "error"),
    ]
    assert lines[0]["event"] == "Started server process [42]"
    assert "access_token=[redacted]&device_code=[redacted]&page=2" in lines[1]["event"]
    assert "fail_holding_secrets" in lines[3]["exception"]
    assert all("timestamp" in line for line in lines)
    assert leaked(out.getvalue()) == []


def test_log_level_applies_to_every_logger() -> None:
    with configured("WARNING") as out:
        log.info("quiet")
        logging.getLogger("uvicorn.error").info("quiet too")
        log.warning("loud")
        logging.getLogger("uvicorn.error").error("loud too")
    assert [line["event"] for line in json_lines(out.getvalue())] == ["loud", "loud too"]


def test_unknown_log_level_is_refused() -> None:
    from core.logging import configure_logging

    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")


class ThreadProbe:
    """Records which thread renders it (its repr is called by the renderer)."""

    def __init__(self) -> None:
        self.rendered_on: list[threading.Thread] = []

    def __repr__(self) -> str:
        self.rendered_on.append(threading.current_thread())
        return "probe"


class ProbedError(Exception):
    def __init__(self, probe: ThreadProbe) -> None:
        super().__init__()
        self.probe = probe

    def __str__(self) -> str:
        return repr(self.probe)


def test_off_thread_rendering_leaves_the_calling_thread_before_formatting() -> None:
    """What the HTTP servers use: the traceback and the line are built on the listener
    thread, never on the caller's (the event loop's) thread."""
    event_probe, exception_probe = ThreadProbe(), ThreadProbe()
    with configured(off_thread=True) as out:
        log.info("with an object", value=event_probe)
        try:
            raise ProbedError(exception_probe)
        except ProbedError:
            log.exception("unhandled error")
        logging.getLogger("uvicorn.error").error("stdlib too: %s", "merged now")
        flush()
    caller = threading.current_thread()
    assert event_probe.rendered_on and caller not in event_probe.rendered_on
    assert exception_probe.rendered_on and caller not in exception_probe.rendered_on
    lines: list[dict[str, Any]] = json_lines(out.getvalue())
    assert [line["event"] for line in lines] == [
        "with an object",
        "unhandled error",
        "stdlib too: merged now",
    ]
    assert "ProbedError: probe" in lines[1]["exception"]
