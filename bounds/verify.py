"""`revkl bounds verify`: sample instances for every result, check them, summarise as JSON.

For each result, N instances are drawn in batches of one shape (k uniform in 2..10, n
log-uniform in 1..1000, families as in :mod:`bounds.instances`). A theorem's violations count
instances whose hypotheses hold and whose inequality fails beyond the certificate allowance.
Every check the floats flag is decided again in interval arithmetic (:func:`bounds.rigorous.confirm`):
it counts only when proven violated (or when only floats can decide it), and the report says per
result how its flagged checks were decided (``decided``). A non-theorem's violations count certified
counterexamples.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bounds.instances import sample_shape
from bounds.rigorous import confirm
from revkl_core.progress import Meter
from revkl_core.runfolder import UserError, atomic_write_json, read_json_object
from bounds.theorems import THEOREMS, CheckResult, Instances, NonTheorem, Theorem, fit_search

#: Non-theorem searches are capped: each certified softmax fit needs several Newton runs.
NON_THEOREM_CAP = 1000
MAX_POINTS = 2000
#: Bumped when the report's meaning changes (2: each result records its relation; T3 stores gap >= bound unsigned;
#: 3: violations are the float-flagged checks that interval arithmetic proves or cannot decide, see ``decided``).
REPORT_FORMAT = 3
BATCH = 256
POINT_KEYS = ("lhs", "rhs", "allowance", "tol", "slack", "ratio", "gamma", "misfit", "certificate", "gap", "met",
              "bound_forward", "bound_reverse", "t1_lower", "t2_lower", "misfit_reverse")


@dataclass
class _Tally:
    """Running summary of one result's checks."""

    thm: Theorem
    instances: int = 0
    hypotheses_met: int = 0
    violations: int = 0
    max_violation: float = 0.0
    worst: dict[str, Any] | None = None
    worst_score: float = -math.inf
    families: dict[str, int] = field(default_factory=dict)
    decided: dict[str, int] = field(default_factory=dict)
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, res: CheckResult, inst: Instances, flagged: np.ndarray, score: np.ndarray, family: str) -> None:
        met = res.hypotheses_met
        self.instances += inst.batch
        self.hypotheses_met += int(met.sum())
        self.violations += int(flagged.sum())
        self.families[family] = self.families.get(family, 0) + inst.batch
        if flagged.any():
            self.max_violation = max(self.max_violation, float(score[flagged].max()))
        score = np.where(met, score, -np.inf)
        i = int(np.argmax(score))
        if met[i] and score[i] > self.worst_score:
            self.worst_score = float(score[i])
            self.worst = _describe(res, inst, i)
        _, n, k = inst.fstar.shape
        cols = {"lhs": res.lhs, "rhs": res.rhs, "allowance": res.allowance, "tol": res.tol, "slack": res.slack,
                "ratio": res.ratio, "met": met.astype(float), "k": np.full(inst.batch, float(k)),
                "n": np.full(inst.batch, float(n)), **res.extras}
        for key, v in cols.items():
            self.columns.setdefault(key, []).append(np.broadcast_to(np.asarray(v, dtype=np.float64), (inst.batch,)))

    def column(self, key: str) -> np.ndarray:
        return np.concatenate(self.columns[key]) if key in self.columns else np.array([])

    def tightness(self) -> dict[str, Any]:
        met = self.column("met") > 0
        return self.thm.tightness({key: self.column(key)[met] for key in self.columns})


def _describe(res: CheckResult, inst: Instances, i: int) -> dict[str, Any]:
    _, n, k = inst.fstar.shape
    out: dict[str, Any] = {"family": inst.family, "k": k, "n": n, "lhs": float(res.lhs[i]), "rhs": float(res.rhs[i]),
                           "slack": float(res.slack[i]), "allowance": float(res.allowance[i]), "tol": float(res.tol[i])}
    if inst.certificate is not None:
        out["certificate"] = float(np.asarray(inst.certificate)[i])
    for key, v in res.extras.items():
        out[key] = float(np.asarray(v)[i])
    if "fit_starts" in out:  # a non-convex fit: say what kind of minimiser it is
        out["fit_search"] = fit_search(k, out["global_certified"], out["fit_starts"])
    if n * k <= 60:  # small enough to print in full: a reader can re-check it by hand
        out["fstar"], out["fw"], out["fsw"] = (inst.fstar[i].tolist(), inst.fw[i].tolist(), inst.fsw[i].tolist())
    return out


def _points(t: _Tally, rng: np.random.Generator) -> dict[str, list[float]]:
    n = len(t.column("lhs"))
    idx = np.sort(rng.choice(n, size=min(n, MAX_POINTS), replace=False)) if n else np.array([], int)
    return {k: [float(x) for x in t.column(k)[idx]] for k in POINT_KEYS if k in t.columns}


def _resolve(results: list[str | Theorem] | None) -> dict[str, Theorem]:
    """Names of the project's results or Theorem objects (a user's), by name; ValueError for an unknown name or a clash."""
    out: dict[str, Theorem] = {}
    for r in list(THEOREMS) if results is None else results:
        if not isinstance(r, Theorem) and r not in THEOREMS:
            raise ValueError(f"unknown result {r!r}; known: {', '.join(THEOREMS)}")
        thm = r if isinstance(r, Theorem) else THEOREMS[r]
        if thm.name in out and out[thm.name] is not thm:
            raise ValueError(f"two results are named {thm.name!r}; rename one")
        out[thm.name] = thm
    return out


def verify(instances: int = 2000, seed: int = 0, results: list[str | Theorem] | None = None, progress: bool = True,
           log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Check every result on ``instances`` random instances each; returns the report dictionary.

    ``results``: names in ``THEOREMS`` or :class:`~bounds.theorems.Theorem` objects (a user's own, e.g. from
    :func:`load_theorem`), default all of ``THEOREMS``. Batches of each result cycle through its instance families
    (``Theorem.families``) in order. ``progress``: a bar on a terminal, else progress lines every 30 s to ``log``
    (default stderr).
    """
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    thms = _resolve(results)
    rng = np.random.default_rng(seed)
    plan: list[tuple[str, str, int]] = []
    for name, thm in thms.items():
        total = min(instances, NON_THEOREM_CAP) if isinstance(thm, NonTheorem) else instances
        fams = list(thm.families)
        plan += [(name, fams[i % len(fams)], min(BATCH, total - s)) for i, s in enumerate(range(0, total, BATCH))]
    tallies = {name: _Tally(thm) for name, thm in thms.items()}
    start = time.perf_counter()
    meter = Meter("verify", len(plan), "batches", show=progress, emit=log)
    for name, family, size in plan:
        k, n = sample_shape(rng)
        thm = thms[name]
        inst = thm.families[family](rng, size, n, k)
        res = thm.check(inst)
        if isinstance(thm, NonTheorem):
            flagged = thm.counterexamples(res, inst)
            score = -res.slack
        else:
            flagged, decided = confirm(name, res, inst, res.hypotheses_met & ~res.holds, thm.exact)
            for key, count in decided.items():
                tallies[name].decided[key] = tallies[name].decided.get(key, 0) + count
            score = np.where(flagged, res.violation, -res.slack)
        tallies[name].add(res, inst, flagged, score, family)
        meter.update(1, note=name)
    meter.close()
    report: dict[str, Any] = {}
    prng = np.random.default_rng(seed + 1)
    for name, t in tallies.items():
        thm = t.thm
        report[name] = {
            "kind": thm.kind, "relation": thm.relation, "title": thm.title, "statement": thm.statement,
            "hypotheses": {h.name: h.text for h in thm.hypotheses}, "families": t.families,
            "instances": t.instances, "hypotheses_met": t.hypotheses_met,
            "violations": t.violations, "max_violation": t.max_violation, "decided": t.decided,
            "worst_instance": t.worst, "tightness": t.tightness(), "points": _points(t, prng),
        }
    report["_meta"] = {"instances": instances, "seed": seed, "elapsed_s": round(time.perf_counter() - start, 3),
                       "non_theorem_cap": NON_THEOREM_CAP, "format": REPORT_FORMAT}
    return report


def failed(report: dict[str, Any]) -> list[str]:
    """Theorems violated beyond their certificate."""
    return [k for k, v in report.items() if not k.startswith("_") and v["kind"] == "theorem" and v["violations"] > 0]


def unrefuted(report: dict[str, Any]) -> list[str]:
    """Non-theorems for which no certified counterexample was found."""
    return [k for k, v in report.items() if not k.startswith("_") and v["kind"] == "non-theorem" and v["violations"] == 0]


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report atomically (revkl_core.runfolder); check the path first with revkl_core.runfolder.check_writable_file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, report, allow_nan=True)


#: What every result entry of a report holds (readers such as the scorecard rely on them).
ENTRY_FIELDS = ("kind", "instances", "hypotheses_met", "violations", "max_violation", "tightness")


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report written by :func:`write_json`; UserError naming the file and the entry if it is not one."""
    data = read_json_object(path)
    if not isinstance(data.get("_meta"), dict):
        raise UserError(f"{path}: not a `revkl bounds verify` report (no _meta object)")
    for name, entry in data.items():
        if name.startswith("_"):
            continue
        if not isinstance(entry, dict):
            raise UserError(f"{path}: result {name!r} is a {type(entry).__name__}, expected an object")
        missing = [f for f in ENTRY_FIELDS if f not in entry]
        if missing:
            raise UserError(f"{path}: result {name!r} lacks {', '.join(missing)}")
    return data


def load_theorem(spec: str) -> Theorem:
    """``path/to/file.py:Name``: the :class:`~bounds.theorems.Theorem` named ``Name`` in a user's file (imported
    as a module of its own); UserError naming the file or the name on any problem."""
    import importlib.util

    path, sep, attr = spec.rpartition(":")
    if not sep or not path or not attr:
        raise UserError(f"--theorem: expected path/to/file.py:Name, got {spec!r}")
    file = Path(path)
    if not file.is_file() or file.suffix != ".py":
        raise UserError(f"--theorem: {file}: not a Python file")
    module_spec = importlib.util.spec_from_file_location(f"revkl_user_theorem_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the user's code: report it in one line, naming the file
        raise UserError(f"--theorem: {file}: importing it raised {type(err).__name__}: {err}") from None
    thm = getattr(module, attr, None)
    if not isinstance(thm, Theorem):
        what = "is not defined" if thm is None else f"is of type {type(thm).__name__}, not a bounds.theorems.Theorem"
        raise UserError(f"--theorem: {file}: {attr} {what}")
    if not thm.families:
        raise UserError(f"--theorem: {file}: {attr} has no instance families to draw from")
    return thm


def format_table(report: dict[str, Any], theorems: dict[str, Theorem] | None = None) -> str:
    """One line per result: instances, hypotheses met, violations / counterexamples, how tight (as the result prints it).
    ``theorems``: results beyond ``THEOREMS`` (a user's) by name, for their tightness line."""
    rows = [f"{'result':<20} {'kind':<11} {'instances':>9} {'hyp. met':>9} {'violations':>10} {'max viol.':>10}  tightness"]
    for name, v in report.items():
        if name.startswith("_"):
            continue
        thm = (theorems or {}).get(name) or THEOREMS.get(name)
        note = thm.describe(v["tightness"]) if thm is not None else ""
        label = "counterex. " if v["kind"] == "non-theorem" else ""
        decided = v.get("decided")
        if decided:
            note += "; float-flagged checks decided as " + ", ".join(f"{k} {n}" for k, n in sorted(decided.items()))
        rows.append(f"{name:<20} {v['kind']:<11} {v['instances']:>9} {v['hypotheses_met']:>9} {v['violations']:>10} "
                    f"{v['max_violation']:>10.2e}  {label}{note}")
    return "\n".join(rows)
