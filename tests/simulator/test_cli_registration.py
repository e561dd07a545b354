"""`signage simulate` reaches the simulator's own argument parser."""

from __future__ import annotations

import pytest

from core.cli.main import main


def test_signage_simulate_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--help"])
    assert exit_info.value.code == 0
    assert "usage: signage simulate" in capsys.readouterr().out


def test_signage_simulate_rejects_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--no-such-option"])
    assert exit_info.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err
