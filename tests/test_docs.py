"""Docs that cannot go stale: the lists in docs are compared with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

from revkl import reproduce as R
from revkl.cli_reference import reference

ROOT = Path(__file__).resolve().parents[1]


def _table_column(text: str, header: str) -> list[str]:
    """The first column of the Markdown table right below the line ``header``."""
    lines = text[text.index(header):].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append(ln.split("|")[1].strip())
    return rows


def test_cli_reference_is_what_the_parser_says():
    """docs/cli.md lists every subcommand and flag; regenerate it with `python -m revkl.cli_reference > docs/cli.md`."""
    assert (ROOT / "docs/cli.md").read_text() == reference()


def test_reproduce_stage_table_lists_every_stage():
    text = (ROOT / "docs/figures.md").read_text()
    first = _table_column(text, "checks this table against `revkl.reproduce.STAGES`")
    documented = [re.match(r"`([^`]+)`", cell).group(1) for cell in first]
    assert documented == [st.name for st in R.STAGES]
    for st in R.STAGES:  # --full marks exactly the full-only stages
        cell = first[documented.index(st.name)]
        assert ("(`--full`)" in cell) == st.full_only, st.name


def test_matched_unit_fields_in_docs_are_the_code():
    from llm_experiments import results as llm
    from synthetic import results as synthetic

    lines = {ln.split(",")[0]: ln for ln in (ROOT / "docs/figures.md").read_text().splitlines()
             if ln.startswith("A matched unit (")}
    for label, module in (("A matched unit (LLM", llm), ("A matched unit (synthetic", synthetic)):
        fields = re.findall(r"`([A-Za-z_]+)`", lines[label].split(":", 1)[1])
        assert tuple(fields) == module.UNIT_FIELDS, label


def test_layout_table_lists_the_packages():
    from tests.core.test_layers import FLOOR

    text = (ROOT / "README.md").read_text()
    documented = [re.match(r"`([a-z_]+)/`", cell).group(1) for cell in _table_column(text, "## Layout")]
    assert sorted(documented) == sorted(FLOOR)
