"""One table for every goal of ``make bench``: figure, gateway, reference, ratio, goal, met?

Each benchmark module that measures a goal exposes ``figures(quick: bool) -> list[Figure]``
and is listed in ``bench/__main__.py``; ``python -m bench`` runs them one after another (each in
its own process, so one crash or a leaked server cannot spoil the others) and prints the table.
Goals are ratios to a reference measured in the same run, because absolute figures move 2-3x
between machines.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its same-run reference.

    ``goal`` is the ratio to reach (``gateway / reference`` when ``higher_is_better``, else the
    ratio to stay under); None for a figure reported without a goal.
    """

    name: str
    gateway: float
    reference: float | None = None
    unit: str = ""
    goal: float | None = None
    higher_is_better: bool = True
    details: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference in (None, 0):
            return None
        return self.gateway / self.reference  # type: ignore[operator]  # reference checked above

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if self.goal is None or ratio is None:
            return None
        return ratio >= self.goal if self.higher_is_better else ratio <= self.goal

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> Figure:
        return cls(**json.loads(line))


MARKER = "BENCH-FIGURE "
"""Prefix of the stdout line that carries one figure from a module's process to the runner."""


def emit(figures: list[Figure]) -> None:
    """Print figures for the runner (and readably for a person running one module)."""
    for figure in figures:
        print(MARKER + figure.to_json(), flush=True)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    """A fixed-width table: figure, gateway, reference, ratio, goal, met?"""
    rows = [("figure", "gateway", "reference", "ratio", "goal", "met?")]
    for f in figures:
        ratio = f.ratio
        goal = "-" if f.goal is None else (">= " if f.higher_is_better else "<= ") + _ratio(f.goal)
        met = {None: "-", True: "yes", False: "NO"}[f.met]
        unit = f" {f.unit}" if f.unit else ""
        rows.append(
            (
                f.name,
                _number(f.gateway) + unit,
                "-" if f.reference is None else _number(f.reference) + unit,
                "-" if ratio is None else _ratio(ratio),
                goal,
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ratio(value: float) -> str:
    return f"{value * 100:.1f} %" if value < 1 else f"{value:.2f}x"


def goal_main(doc: str | None, measure: Callable[[bool], list[Figure]], quick_help: str) -> None:
    """The command line of a goal module: ``--figures`` for ``python -m bench``, else a table."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", action="store_true", help="print figures for python -m bench")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args()
    figures = measure(args.quick)
    emit(figures)
    if not args.figures:
        print(table(figures))
