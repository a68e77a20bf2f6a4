r"""The study-suite table: one block per run folder, with the weak-ceiling gap that makes PGR meaningful.

For each weak -> strong pair of a run, over its splits s (with ``seed_scope = "pipeline"`` each
seed draws its own split and retrains the weak model and the ceiling; with ``"head"`` there is
one split and no interval):

* weak and ceiling test accuracy, and the gap :math:`g_s = \mathrm{acc}_{ceil,s} - \mathrm{acc}_{weak,s}`,
  each a mean with its 95% Student-t interval (:func:`revkl_core.stats.t_interval`); the gap is
  **significant** when the interval's lower end is above 0, and a study without a significant
  gap is reported but should not feed a claim (PGR divides by the gap);
* per noise level and loss: strong-student accuracy and PGR, mean [95% t-interval] over seeds.

:func:`compare_runs` sets two runs of the same study side by side (e.g. ``feature_bf16`` on and
off): over the units both ran (same pair, noise, loss, seed), the paired difference of the
strong-student accuracy, and per split of the weak and ceiling accuracies (:func:`revkl_core.stats.paired`).

``python -m llm_experiments.suite DIR [DIR ...]`` prints the tables as Markdown;
``python -m llm_experiments.suite --compare A B`` prints the comparison of run A minus run B.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Iterable

from llm_experiments import results
from revkl_core.stats import Interval, Paired, paired, t_interval

LOSSES = ("forward_kl", "reverse_kl", "ce", "rce")


def _cell(iv: Interval, scale: float = 100.0, digits: int = 1) -> str:
    """``mean [lo, hi]`` (``mean (n=1)`` without an interval), times ``scale``."""
    m, lo, hi = (f"{scale * v:.{digits}f}" for v in (iv.mean, iv.lo, iv.hi))
    return f"{m} (n=1)" if math.isnan(iv.lo) else f"{m} [{lo}, {hi}]"


def per_split(records: Iterable[dict[str, Any]], field: str) -> dict[int, float]:
    """``{split seed: value}`` of a field that is constant within a split (weak, ceiling accuracy)."""
    out: dict[int, float] = {}
    for r in records:
        sp = int(r["split_seed"])
        if sp in out and out[sp] != r[field]:
            raise ValueError(f"records of split {sp} disagree on {field}: {out[sp]} vs {r[field]}")
        out[sp] = r[field]
    return out


def gap(records: list[dict[str, Any]]) -> Interval:
    """The weak-ceiling accuracy gap over splits (one value per split)."""
    weak, ceiling = per_split(records, "acc_weak"), per_split(records, "acc_ceiling")
    return t_interval([ceiling[s] - weak[s] for s in sorted(weak)])


def study_table(run_dir: str | Path) -> str:
    """Markdown: for each pair of the run in ``run_dir``, the gap line and the accuracy / PGR table."""
    recs = results.current_records(run_dir)
    if not recs:
        raise ValueError(f"{run_dir}: no results")
    lines = []
    for pair in sorted({r["pair"] for r in recs}):
        rows = [r for r in recs if r["pair"] == pair]
        g = gap(rows)
        weak = t_interval(per_split(rows, "acc_weak").values())
        ceil = t_interval(per_split(rows, "acc_ceiling").values())
        sig = ("one split: no interval" if g.n == 1 else
               "significant" if g.lo > 0 else "NOT significant: excluded from the claims")
        lines += [f"**{rows[0]['name']}** ({rows[0]['dataset']}, k = {rows[0]['num_classes']}, {pair}, "
                  f"{g.n} splits): weak {_cell(weak)}, ceiling {_cell(ceil)}, gap {_cell(g)} points ({sig}).", "",
                  "| noise | " + " | ".join(f"{l} acc" for l in LOSSES) + " | " + " | ".join(f"{l} PGR" for l in LOSSES) + " |",
                  "|---" * (1 + 2 * len(LOSSES)) + "|"]
        for level in sorted({r["noise_level"] for r in rows}):
            at = [r for r in rows if r["noise_level"] == level]
            acc = [_cell(t_interval(r["acc_strong"] for r in at if r["loss"] == l)) for l in LOSSES]
            pg = [_cell(t_interval(r["pgr"] for r in at if r["loss"] == l and r["pgr"] is not None), 1.0, 2)
                  for l in LOSSES]
            lines.append(f"| {level:g} | " + " | ".join(acc) + " | " + " | ".join(pg) + " |")
        lines.append("")
    return "\n".join(lines)


def _unit(r: dict[str, Any]) -> tuple[Any, ...]:
    """A result's identity across two runs: its matched unit (``results.unit_of``), noise and loss."""
    return *results.unit_of(r), r["noise_level"], r["noise"]["kind"], r["loss"]


def _by_unit(run_dir: str | Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The run's current records by :func:`_unit`; two records of one unit are an error, never silently one."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in results.current_records(run_dir):
        if out.setdefault(_unit(r), r) is not r:
            raise ValueError(f"{run_dir}: two records of one unit {_unit(r)} (keys {out[_unit(r)]['key']}, {r['key']})")
    return out


def compare_runs(a: str | Path, b: str | Path) -> dict[str, Paired]:
    """Paired differences a - b: ``"strong"`` over matched units, ``"weak"`` / ``"ceiling"`` over matched splits."""
    ra, rb = (_by_unit(d) for d in (a, b))
    common = sorted(set(ra) & set(rb), key=repr)
    if not common:
        raise ValueError(f"{a} and {b} share no unit (same pair, noise, loss, seed)")
    out = {"strong": paired([ra[k]["acc_strong"] for k in common], [rb[k]["acc_strong"] for k in common])}
    for field, name in (("acc_weak", "weak"), ("acc_ceiling", "ceiling")):
        sa, sb = (per_split([r[k] for k in common], field) for r in (ra, rb))
        splits = sorted(set(sa) & set(sb))
        out[name] = paired([sa[s] for s in splits], [sb[s] for s in splits])
    return out


def _compare_text(a: str, b: str) -> str:
    lines = [f"{a} minus {b}: mean accuracy difference in points [95% t-interval], wins/ties/losses, p (paired t; Wilcoxon)"]
    for name, c in compare_runs(a, b).items():
        lines.append(f"  {name:8s} n={c.n:3d}  {100 * c.mean_diff:+.2f} [{100 * c.lo:+.2f}, {100 * c.hi:+.2f}]  "
                     f"{c.wins}/{c.ties}/{c.losses}  p={c.p_t:.3g}; {c.p_wilcoxon:.3g}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--compare"]:
        if len(argv) != 3:
            print("usage: python -m llm_experiments.suite --compare RUN_A RUN_B", file=sys.stderr)
            return 2
        print(_compare_text(argv[1], argv[2]))
        return 0
    for d in argv:
        print(study_table(d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
