"""`revkl bounds verify`: sample instances for every result, check them, summarise as JSON.

For each result, N instances are drawn in batches of one shape (k uniform in 2..10, n
log-uniform in 1..1000, families as in :mod:`bounds.instances`). A theorem's violations count
instances whose hypotheses hold and whose inequality fails beyond the certificate allowance.
A non-theorem's violations count certified counterexamples.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bounds.instances import GENERATORS, sample_shape
from bounds.theorems import THEOREMS, CheckResult, Instances, NonTheorem

#: Non-theorem searches are capped: each certified softmax fit needs several Newton runs.
NON_THEOREM_CAP = 1000
MAX_POINTS = 2000
BATCH = 256


@dataclass
class _Tally:
    """Running summary of one result's checks."""

    kind: str
    instances: int = 0
    hypotheses_met: int = 0
    violations: int = 0
    max_violation: float = 0.0
    worst: dict[str, Any] | None = None
    worst_score: float = -math.inf
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, res: CheckResult, inst: Instances, flagged: np.ndarray, score: np.ndarray, k: int, n: int) -> None:
        met = res.hypotheses_met
        self.instances += inst.batch
        self.hypotheses_met += int(met.sum())
        self.violations += int(flagged.sum())
        if flagged.any():
            self.max_violation = max(self.max_violation, float(score[flagged].max()))
        score = np.where(met, score, -np.inf)
        i = int(np.argmax(score))
        if met[i] and score[i] > self.worst_score:
            self.worst_score = float(score[i])
            self.worst = _describe(res, inst, i, k, n)
        cols = {"lhs": res.lhs, "rhs": res.rhs, "allowance": res.allowance, "slack": res.slack, "met": met.astype(float),
                "k": np.full(inst.batch, float(k)), "n": np.full(inst.batch, float(n)), **res.extras}
        for key, v in cols.items():
            self.columns.setdefault(key, []).append(np.asarray(v, dtype=np.float64))

    def column(self, key: str) -> np.ndarray:
        return np.concatenate(self.columns[key]) if key in self.columns else np.array([])


def _describe(res: CheckResult, inst: Instances, i: int, k: int, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"family": inst.family, "k": k, "n": n, "lhs": float(res.lhs[i]), "rhs": float(res.rhs[i]),
                           "slack": float(res.slack[i]), "allowance": float(res.allowance[i])}
    if inst.certificate is not None:
        out["certificate"] = float(np.asarray(inst.certificate)[i])
    for key, v in res.extras.items():
        out[key] = float(np.asarray(v)[i])
    if n * k <= 60:  # small enough to print in full: a reader can re-check it by hand
        out["fstar"], out["fw"], out["fsw"] = (inst.fstar[i].tolist(), inst.fw[i].tolist(), inst.fsw[i].tolist())
    return out


def _tightness(name: str, t: _Tally) -> dict[str, Any]:
    met = t.column("met") > 0
    if not met.any():
        return {}
    lhs, rhs, slack = t.column("lhs")[met], t.column("rhs")[met], t.column("slack")[met]
    out: dict[str, Any] = {"median_slack": float(np.median(slack)), "min_slack": float(slack.min())}
    if name in ("T1", "T2"):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rhs > 0, lhs / rhs, np.nan)
        out["median_gap_over_bound"] = float(np.nanmedian(ratio))
        out["max_gap_over_bound"] = float(np.nanmax(ratio))
    if name == "T3":
        g = t.column("gamma")[met]
        l3 = np.maximum(t.column("bound_forward")[met], t.column("bound_reverse")[met])
        l12 = np.maximum(t.column("t1_lower")[met], t.column("t2_lower")[met])
        tighter = l3 > l12 * (1 - 1e-12) + 1e-15
        small = g < 1 / math.e
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(l12 < 0, l3 / l12, np.nan)
        out.update({
            "never_looser": bool(np.all(l3 >= l12 - 1e-12 * np.abs(l12))),
            "fraction_strictly_tighter": float(tighter.mean()),
            "fraction_strictly_tighter_gamma_below_1_over_e": float(tighter[small].mean()) if small.any() else None,
            "median_bound_ratio_t3_over_t1t2": float(np.nanmedian(ratio)),
            "instances_gamma_below_1_over_e": int(small.sum()),
        })
    if name == "T5":
        out["max_abs_identity_residual"] = float(np.abs(t.column("identity_residual")[met]).max())
        out["max_moment_residual"] = float(t.column("moment_residual")[met].max())
    if name in ("T4", "T6", "T0"):
        misfit = t.column("misfit")[met]
        out["median_misfit"] = float(np.median(misfit))
        if "certificate" in t.columns:
            out["max_certificate"] = float(t.column("certificate")[met].max())
    if name.startswith("NT"):
        out["fraction_failing"] = float((slack < 0).mean())
        out["worst_failure"] = float(-slack.min())
    return out


def _points(t: _Tally, rng: np.random.Generator) -> dict[str, list[float]]:
    n = len(t.column("lhs"))
    idx = np.sort(rng.choice(n, size=min(n, MAX_POINTS), replace=False)) if n else np.array([], int)
    keys = ["lhs", "rhs", "allowance", "gamma", "misfit", "certificate", "gap", "met",
            "bound_forward", "bound_reverse", "t1_lower", "t2_lower", "misfit_reverse"]
    return {k: [float(x) for x in t.column(k)[idx]] for k in keys if k in t.columns}


def verify(instances: int = 2000, seed: int = 0, results: list[str] | None = None, progress: bool = True) -> dict[str, Any]:
    """Check every result on ``instances`` random instances each; returns the report dictionary."""
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    names = list(THEOREMS) if results is None else results
    unknown = [r for r in names if r not in THEOREMS]
    if unknown:
        raise ValueError(f"unknown result(s) {unknown}; known: {', '.join(THEOREMS)}")
    rng = np.random.default_rng(seed)
    plan: list[tuple[str, int]] = []
    for name in names:
        total = min(instances, NON_THEOREM_CAP) if isinstance(THEOREMS[name], NonTheorem) else instances
        plan += [(name, min(BATCH, total - s)) for s in range(0, total, BATCH)]
    tallies = {name: _Tally(THEOREMS[name].kind) for name in names}
    start = time.perf_counter()
    bar = _progress(len(plan), progress)
    for name, size in plan:
        k, n = sample_shape(rng)
        inst = GENERATORS[name](rng, size, n, k)
        thm = THEOREMS[name]
        res = thm.check(inst)
        if isinstance(thm, NonTheorem):
            flagged = thm.counterexamples(res, inst)
            score = res.lhs - res.rhs
        else:
            flagged = res.hypotheses_met & ~res.holds
            score = np.where(res.holds, -res.slack, res.violation)
        tallies[name].add(res, inst, flagged, score, k, n)
        bar.update(1)
        bar.set_postfix_str(name)
    bar.close()
    report: dict[str, Any] = {}
    prng = np.random.default_rng(seed + 1)
    for name, t in tallies.items():
        thm = THEOREMS[name]
        report[name] = {
            "kind": thm.kind, "title": thm.title, "statement": thm.statement,
            "hypotheses": {h.name: h.text for h in thm.hypotheses},
            "instances": t.instances, "hypotheses_met": t.hypotheses_met,
            "violations": t.violations, "max_violation": t.max_violation,
            "worst_instance": t.worst, "tightness": _tightness(name, t), "points": _points(t, prng),
        }
    report["_meta"] = {"instances": instances, "seed": seed, "elapsed_s": round(time.perf_counter() - start, 3),
                       "non_theorem_cap": NON_THEOREM_CAP}
    return report


def failed(report: dict[str, Any]) -> list[str]:
    """Theorems violated beyond their certificate."""
    return [k for k, v in report.items() if not k.startswith("_") and v["kind"] == "theorem" and v["violations"] > 0]


def unrefuted(report: dict[str, Any]) -> list[str]:
    """Non-theorems for which no certified counterexample was found."""
    return [k for k, v in report.items() if not k.startswith("_") and v["kind"] == "non-theorem" and v["violations"] == 0]


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Atomic write: a temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, allow_nan=True))
    os.replace(tmp, path)


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report written by :func:`write_json`; ValueError naming the file if it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of results, got {type(data).__name__}")
    return data


def format_table(report: dict[str, Any]) -> str:
    """One line per result: instances, hypotheses met, violations / counterexamples, worst case."""
    rows = [f"{'result':<20} {'kind':<11} {'instances':>9} {'hyp. met':>9} {'violations':>10} {'max viol.':>10}  tightness"]
    for name, v in report.items():
        if name.startswith("_"):
            continue
        t = v["tightness"]
        if name == "T3" and t:
            note = f"tighter than T1/T2 on {100 * t['fraction_strictly_tighter']:.1f}%, median ratio {t['median_bound_ratio_t3_over_t1t2']:.3f}"
        elif name in ("T1", "T2") and t:
            note = f"median |gap|/bound {t['median_gap_over_bound']:.3g}"
        elif name == "T5" and t:
            note = f"max |identity residual| {t['max_abs_identity_residual']:.2e}"
        elif name.startswith("NT") and t:
            note = f"claim fails on {100 * t['fraction_failing']:.1f}%, worst by {t['worst_failure']:.3g} nats"
        elif t:
            note = f"min slack {t['min_slack']:.3g}, median {t['median_slack']:.3g}"
        else:
            note = "no instance met the hypotheses"
        label = "counterex." if v["kind"] == "non-theorem" else ""
        rows.append(f"{name:<20} {v['kind']:<11} {v['instances']:>9} {v['hypotheses_met']:>9} {v['violations']:>10} "
                    f"{v['max_violation']:>10.2e}  {label + ' ' if label else ''}{note}")
    return "\n".join(rows)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="verify", unit="batch", disable=not enabled, leave=False)
