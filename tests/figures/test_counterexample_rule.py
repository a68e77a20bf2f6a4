"""One counterexample rule: the scorecard's C3 and C4 rows, the simulator's report and ``bounds.theorems.breaks``
all decide "T4's inequality fails" with ``bounds.theorems.fails_beyond``: the slack must be below
``-(tolerance + COUNTEREXAMPLE_MARGIN)``. Within the tolerance (slack = -tol/2) nothing is refuted; beyond it
(slack = -2 tol, with tol above the margin) the record is a counterexample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bounds.quantities import Instances
from bounds.theorems import CERTIFIED, COUNTEREXAMPLE_MARGIN, CheckResult, breaks, fails_beyond
from figures.results_io import RunData
from figures.scorecard import Verdict, synthetic_guarantee_rows
from synthetic.report import t4_violated

TOL = 1e-3  # far above the margin, so -2 TOL fails beyond it and -TOL/2 lies inside the tolerance
#: (slack, tolerance, is a counterexample): the two cases of the rule and the boundary cases of the margin.
CASES = [(-TOL / 2, TOL, False), (-2 * TOL, TOL, True), (-TOL - COUNTEREXAMPLE_MARGIN / 2, TOL, False),
         (-TOL - 2 * COUNTEREXAMPLE_MARGIN, TOL, True), (-1e-15, 1e-12, False), (0.0, 0.0, False),
         (-2 * COUNTEREXAMPLE_MARGIN, 0.0, True), (float("nan"), TOL, False), (-float("inf"), TOL, True)]


def _record(loss: str, convex: bool, slack: float, tol: float) -> dict:
    """A synthetic record of a certified exact fit with F* in the class (fields synthetic.results documents)."""
    direction = "reverse" if loss in ("reverse_kl", "rce") else "forward"
    return {"loss": loss, "direction": direction, "probability_convex": convex, "method": "exact",
            "certificate": CERTIFIED / 10, "class_residual": 0.0, "t4_slack": slack, "t4_tolerance": tol,
            "checks": [{"name": "T4", "hypotheses_met": convex and loss == "reverse_kl", "holds": True, "slack": 0.1}]}


def _run(*recs: dict) -> RunData:
    return RunData(Path("synthetic"), "synthetic", list(recs), None)


@pytest.mark.parametrize("slack, tol, counterexample", CASES)
def test_report_scorecard_and_breaks_apply_one_rule(slack: float, tol: float, counterexample: bool) -> None:
    rec = _record("reverse_kl", False, slack, tol)
    assert bool(fails_beyond(slack, tol, 0.0)) is counterexample
    assert t4_violated(rec) is counterexample
    # breaks on a certified CheckResult whose slack and allowance are these (no rounding on exact sides)
    lhs = np.array([1.0])
    res = CheckResult("T4", lhs=lhs, rhs=lhs + slack, allowance=np.array([tol]), hypotheses={})
    p = np.full((1, 1, 2), 0.5)
    if np.isfinite(slack) and slack != 0:
        assert res.slack[0] == pytest.approx(slack, rel=1e-12)
    assert bool(breaks(res, Instances(fstar=p, fw=p, fsw=p, certificate=np.array([0.0])))[0]) is counterexample


@pytest.mark.parametrize("slack, counterexample", [(-TOL / 2, False), (-2 * TOL, True), (-1e-15, False)])
def test_c3_counts_softmax_counterexamples_by_the_rule(slack: float, counterexample: bool) -> None:
    """C3: a convex reverse-KL fit meets T4's hypotheses (and holds); a certified reverse-KL fit on a softmax head
    that fails T4 beyond its tolerance restricts the claim to its hypothesis (holds under)."""
    tol = 1e-12 if slack == -1e-15 else TOL
    row = synthetic_guarantee_rows(_run(_record("reverse_kl", True, 0.1, tol), _record("reverse_kl", False, slack, tol)))[0]
    assert row.claim_id == "C3"
    assert row.verdict is (Verdict.HOLDS_UNDER if counterexample else Verdict.HOLDS)
    assert f"{int(counterexample)}/1 violate it" in row.measured


@pytest.mark.parametrize("slack, counterexample", [(-TOL / 2, False), (-2 * TOL, True), (-1e-15, False)])
def test_c4_needs_a_forward_fit_failing_beyond_its_tolerance(slack: float, counterexample: bool) -> None:
    """C4 (forward training has no such guarantee) holds only with a certified forward fit on a convex head that
    fails T4 beyond its tolerance; a slack inside it (the issue's -1e-15 against 1e-12 included) refutes nothing."""
    tol = 1e-12 if slack == -1e-15 else TOL
    row = synthetic_guarantee_rows(_run(_record("reverse_kl", True, 0.1, tol), _record("forward_kl", True, slack, tol)))[1]
    assert row.claim_id == "C4"
    assert row.verdict is (Verdict.HOLDS if counterexample else Verdict.NOT_REPRODUCED)
    assert row.measured.startswith(f"certified forward fits on probability-convex heads with F* in the class: {int(counterexample)}/1")
