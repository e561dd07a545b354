"""The metrics tests run a real stack as processes, which live on the wall clock: tokens the
test mints must be valid for them, so the test's services use the system clock too."""

from __future__ import annotations

import pytest

from core.clock import Clock, SystemClock


@pytest.fixture
def clock() -> Clock:
    return SystemClock()
