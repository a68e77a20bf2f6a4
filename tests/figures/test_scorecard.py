"""Verdict logic of the scorecard on fixtures: a violated theorem never reads "holds"."""

from __future__ import annotations

from pathlib import Path

import pytest

from figures.results_io import ResultSet, load_result_set
from figures.scorecard import (
    Verdict,
    bounds_rows,
    build_scorecard,
    compare_drops,
    noise_drops,
    render_markdown,
    theorem_status,
)


def _row(rows, cid: str, evidence: str = "certified theory check"):
    return next(r for r in rows if r.claim_id == cid and r.evidence == evidence)


def test_clean_report_verdicts(make_verify) -> None:
    rows = bounds_rows(make_verify())
    assert _row(rows, "C1").verdict is Verdict.HOLDS
    assert _row(rows, "C2").verdict is Verdict.HOLDS
    c3 = _row(rows, "C3")  # T4 holds, counterexamples over softmax heads: holds only under the convexity hypothesis
    assert c3.verdict is Verdict.HOLDS_UNDER and "convex" in c3.hypothesis
    assert _row(rows, "C4").verdict is Verdict.HOLDS  # counterexamples to forward KL were found
    others = {r.claim_id for r in rows if r.evidence == "other verified result"}
    assert others == {"T0", "T5", "T6"}  # every result is shown somewhere


@pytest.mark.parametrize("violated,cid", [(("T1",), "C1"), (("T2",), "C1"), (("T3",), "C2"), (("T4",), "C3")])
def test_violated_theorem_never_holds(make_verify, violated: tuple[str, ...], cid: str) -> None:
    row = _row(bounds_rows(make_verify(violated=violated)), cid)
    assert row.verdict is Verdict.NOT_REPRODUCED
    assert "3 violations" in row.measured


def test_violated_other_theorem_row(make_verify) -> None:
    row = _row(bounds_rows(make_verify(violated=("T5",))), "T5", "other verified result")
    assert row.verdict is Verdict.NOT_REPRODUCED


def test_theorem_status_edge_cases() -> None:
    assert theorem_status(None)[0] is Verdict.NOT_MEASURED
    assert theorem_status({"instances": 10, "hypotheses_met": 0, "violations": 0})[0] is Verdict.NOT_MEASURED
    assert theorem_status({"instances": 10, "hypotheses_met": 0, "violations": 2})[0] is Verdict.NOT_REPRODUCED


def test_no_counterexample_means_claims_change(make_verify) -> None:
    rows = bounds_rows(make_verify(nt_counterexamples={"NT-forward-convex": 0, "NT-reverse-softmax": 0}))
    assert _row(rows, "C3").verdict is Verdict.HOLDS
    assert _row(rows, "C4").verdict is Verdict.NOT_REPRODUCED


def test_empty_results_are_not_yet_measured(tmp_path: Path) -> None:
    rows = build_scorecard(load_result_set(tmp_path))
    assert rows and all(r.verdict is Verdict.NOT_MEASURED for r in rows)
    assert "| C1 |" in render_markdown(rows)


def test_full_fixture_scorecard(full_results: Path) -> None:
    rows = build_scorecard(load_result_set(full_results))
    assert _row(rows, "C3", "synthetic simulator").verdict is Verdict.HOLDS_UNDER
    # The LLM fixture makes reverse losses better and less hurt by noise in every pair.
    assert _row(rows, "C5", "language models").verdict is Verdict.HOLDS
    assert _row(rows, "C6", "language models").verdict is Verdict.HOLDS
    # The synthetic fixture is a real (tiny) study: its noise verdict is whatever it measured, but measured.
    assert _row(rows, "C6", "synthetic simulator").verdict in (Verdict.HOLDS, Verdict.NOT_REPRODUCED)
    md = render_markdown(rows)
    assert "llm/fixture-run/summary.json" in md and "synthetic/results.jsonl" in md


def test_noise_drop_majority() -> None:
    entries = [(("s",), "none", 0.0, "reverse_kl", 0.9), (("s",), "none", 0.0, "forward_kl", 0.9),
               (("s",), "flip", 0.2, "reverse_kl", 0.85), (("s",), "flip", 0.4, "reverse_kl", 0.5),
               (("s",), "flip", 0.2, "forward_kl", 0.8), (("s",), "flip", 0.4, "forward_kl", 0.7),
               (("s",), "flip", 0.5, "reverse_kl", 0.9), (("s",), "flip", 0.5, "forward_kl", 0.1)]
    drops = noise_drops(entries)
    # Flip rate 0.5 (labels independent of the truth) is left out; the rest are averaged.
    assert drops[(("s",), "flip")] == pytest.approx({"reverse_kl": 0.225, "forward_kl": 0.15})
    wins, total, _ = compare_drops(drops)
    assert (wins, total) == (0, 1)  # reverse lost more on average: the claim is not supported here


def test_scorecard_with_only_bounds(make_verify) -> None:
    rows = build_scorecard(ResultSet(root=Path("."), verify=make_verify()))
    assert _row(rows, "C5", "language models").verdict is Verdict.NOT_MEASURED


def test_c2_names_t3_as_the_projects_own_bound(make_verify) -> None:
    row = _row(bounds_rows(make_verify()), "C2")
    assert "T3, the project's own bound, not the paper's" in row.measured
