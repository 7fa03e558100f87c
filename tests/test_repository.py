"""The repository's own habits: its comments and docs cite nothing outside it, and no missing file."""

from __future__ import annotations

import re

from conftest import ROOT

SOURCES = ("catalog", "streaming", "gateway", "tests", "bench", "docs", "scripts")
# reference notes and spec checkouts kept beside a working copy are not part of the repository
OUTSIDE = re.compile(r"\.\./shared|[A-Z]+-NOTES\b")
CITED_FILE = re.compile(r"\b((?:tests|docs|bench|scripts|catalog|streaming|gateway)/[\w/.-]+\.(?:py|md|sh))\b")


def _files() -> list:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for top in SOURCES:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".md", ".sh") and p.is_file()]
    return [p for p in files if "node_modules" not in p.parts]


def test_nothing_cites_a_file_outside_the_repository():
    this = ROOT / "tests" / "test_repository.py"
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _files()
        if p != this
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_every_cited_repository_file_exists():
    missing = [
        f"{p.relative_to(ROOT)}:{n}: {ref}"
        for p in _files()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        for ref in CITED_FILE.findall(line)
        if not (ROOT / ref).exists()
    ]
    assert not missing, "\n".join(missing)
