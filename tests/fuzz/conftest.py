"""The fuzzing gate runs on the wall clock: schemathesis is a separate process whose requests
carry no notion of the suite's frozen time, and tokens must stay valid while it runs."""

from __future__ import annotations

import pytest

from core.clock import Clock, SystemClock


@pytest.fixture
def clock() -> Clock:
    return SystemClock()
