"""skiffctl run in this process (``skiff.cli.main.main``), for unit tests of its output and exit codes."""

from __future__ import annotations

import pytest

from skiff.cli.main import main


def skiffctl(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one skiffctl command line."""
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
