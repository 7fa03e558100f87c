"""Benchmark fixtures; figures recorded with ``report_figure`` are printed after the run even without ``-s``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_FIGURES: list[str] = []


@pytest.fixture
def report_figure() -> Callable[[str], None]:
    def report(line: str) -> None:
        _FIGURES.append(line)
        print("\n" + line)

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("TAMS gateway figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
