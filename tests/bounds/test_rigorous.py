"""Checks that floats cannot decide are decided in interval arithmetic, and the certificate is rounded up.

Regression: `revkl bounds verify --instances 10000 --seed 0` reported two T6 violations of 1e-16
(tests/bounds/data/t6_false_alarms.json). They were T6's equality case: the Frank-Wolfe vertex is F*
itself, so the exact slack is g_true - g, and g was the gap rounded to nearest.
"""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from mpmath import iv

from bounds import rigorous
from bounds.classes import StochasticMatrixClass
from bounds.instances import approximate_or_misspecified, fitted_convex, universal
from bounds.solvers import frank_wolfe_gap
from bounds.theorems import T4, T6, THEOREMS, Instances
from bounds.verify import verify

CASES = json.loads((Path(__file__).parent / "data" / "t6_false_alarms.json").read_text())["cases"]


def _arr(rows: list[list[str]]) -> np.ndarray:
    return np.array([[float.fromhex(x) for x in row] for row in rows])[None]


def _case(case: dict, certificate: np.ndarray | None = None) -> Instances:
    model = StochasticMatrixClass(_arr(case["features"]), 2)
    theta, fw, fstar = _arr(case["theta"]), _arr(case["fw"]), _arr(case["fstar"])
    w = np.full((1, fw.shape[1]), 1.0 / fw.shape[1])
    cert = frank_wolfe_gap(model, theta, fw, "reverse_kl", w) if certificate is None else certificate
    return Instances(fstar, fw, model.predict(theta), model_kind=model.kind, trained_with="reverse_kl",
                     certificate=cert, fref=fstar)


@pytest.mark.parametrize("case", CASES, ids=["case127", "case201"])
def test_t6_false_alarms_of_verify_10000_hold(case: dict) -> None:
    res = T6.check(_case(case))
    assert res.hypotheses_met[0] and res.holds[0] and res.slack[0] >= 0


@pytest.mark.parametrize("case", CASES, ids=["case127", "case201"])
def test_with_the_certificate_rounded_to_nearest_they_fail_and_are_exact_equality_cases(case: dict) -> None:
    inst = _case(case, certificate=np.array([float.fromhex(case["certificate_before"])]))  # as the old code gave it
    res = T6.check(inst)
    assert not res.holds[0] and -1e-15 < res.slack[0] < 0  # the old false alarm, reproduced
    # In exact arithmetic the bound with that certificate fails too: the float certificate was below the gap.
    assert rigorous.decide("T6", "upper", inst, 0)[0] == "violated"
    # With the certificate rounded up (bounds.solvers.frank_wolfe_gap), exact arithmetic proves the bound.
    assert rigorous.decide("T6", "upper", _case(case), 0)[0] == "holds"


def _exact_margin_without(inst: Instances, name: str) -> float:
    """slack + allowance of instance 0 in 160-bit arithmetic, with the certificate set to 0."""
    zero = Instances(inst.fstar, inst.fw, inst.fsw, model_kind=inst.model_kind, trained_with=inst.trained_with,
                     certificate=np.zeros(1), fref=inst.fref, fstar_class_residual=inst.fstar_class_residual)
    with rigorous.precision():
        m = rigorous.margin("upper", rigorous.EXACT[name](zero, 0))
        return float(m.mid)


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("name", ["T4", "T6"])
def test_slacks_of_1e_15_relative_are_decided_by_interval_arithmetic(name: str, sign: int) -> None:
    """A certificate set so that the exact slack is +-1e-15 of the sides: below the float tolerance, decided exactly."""
    rng = np.random.default_rng(3)
    base = (fitted_convex(rng, 1, 5, 3, "noisy", "reverse_kl") if name == "T4"
            else approximate_or_misspecified(rng, 1, 5, 3, "noisy"))
    thm = THEOREMS[name]
    need = -_exact_margin_without(base, name)  # the certificate at which the check is an exact equality
    scale = float(thm.check(base).lhs[0])
    cert = float(need + sign * 1e-15 * scale)
    inst = Instances(base.fstar, base.fw, base.fsw, model_kind=base.model_kind, trained_with=base.trained_with,
                     certificate=np.array([cert]), fref=base.fref, fstar_class_residual=base.fstar_class_residual)
    res = thm.check(inst)
    assert abs(res.slack[0] + res.allowance[0]) < res.tol[0], "floats cannot decide this one"
    assert rigorous.decide(name, "upper", inst, 0)[0] == ("holds" if sign > 0 else "violated")
    flagged, how = rigorous.confirm(name, res, inst, np.array([True]))
    assert bool(flagged[0]) == (sign < 0) and how == {f"interval: {'holds' if sign > 0 else 'violated'}": 1}


def _families(name: str) -> list:
    thm = THEOREMS[name]
    return [partial(f, B=2, n=4, k=3) for f in thm.families.values()]


@pytest.mark.parametrize("name", sorted(rigorous.EXACT))
def test_interval_sides_enclose_what_the_floats_compute(name: str) -> None:
    """The interval formulas mirror bounds.theorems: each float side lies within its tolerance of the enclosure."""
    thm = THEOREMS[name]
    rng = np.random.default_rng(0)
    for make in _families(name):
        inst = make(rng)
        res = thm.check(inst)
        for i in range(inst.batch):
            if not (np.isfinite(res.lhs[i]) and np.isfinite(res.rhs[i])):
                continue
            with rigorous.precision():
                e = rigorous.EXACT[name](inst, i)
                for got, enc in ((res.lhs[i], e.lhs), (res.rhs[i], e.rhs), (res.allowance[i], e.allowance)):
                    assert abs(float(got) - float(enc.mid)) <= res.tol[i] + 1e-12 * abs(float(got)), (name, i)


def test_an_infinite_side_is_left_to_the_floats() -> None:
    fstar = np.array([[[0.5, 0.5]]])
    inst = Instances(fstar, np.array([[[1.0, 0.0]]]), np.array([[[0.5, 0.5]]]))
    assert rigorous.decide("T2", "upper", inst, 0) is None


def test_a_universal_check_within_its_tolerance_is_not_counted() -> None:
    inst = universal(np.random.default_rng(1), 1, 3, 2, "dirichlet")
    res = THEOREMS["T1"].check(inst)
    assert res.holds[0]  # nothing to confirm: confirm keeps only what it is given
    flagged, how = rigorous.confirm("T1", res, inst, np.array([False]))
    assert not flagged[0] and how == {}


def test_verify_reports_how_flagged_checks_were_decided() -> None:
    report = verify(instances=30, seed=0, results=["T4", "T6"], progress=False)
    for name in ("T4", "T6"):
        assert report[name]["violations"] == 0 and isinstance(report[name]["decided"], dict)


def test_a_wrong_float_formula_is_inconsistent_with_the_interval_one_and_stays_a_violation(monkeypatch) -> None:
    """T1 with a constant a million times too small: the interval sides (the right constant) must not clear it."""
    import bounds.theorems as theorems

    monkeypatch.setattr(theorems, "pinsker_constant", lambda g: 1e-6 / (g * np.sqrt(2.0)))
    inst = universal(np.random.default_rng(0), 4, 5, 3, "dirichlet")
    res = THEOREMS["T1"].check(inst)
    flagged, how = rigorous.confirm("T1", res, inst, ~res.holds)
    assert (~res.holds).any() and flagged.sum() == (~res.holds).sum() and set(how) == {"inconsistent"}
