r"""Matched units for the empirical claims (C5, C6), read from the run records.

This is the one place where figures/ names the record fields the empirical verdicts rest on, so a
renamed field is fixed here only. Records come through the packages' readers
(``synthetic.results.load_results``, ``llm_experiments.results.load_results``, via
:mod:`figures.results_io`).

* A **study** is the synthetic run folder, or one (LLM run folder, dataset).
* A **matched unit** is everything that identifies a result except the loss (and, for C6, the noise):
  synthetic: ``synthetic.results.UNIT_FIELDS``; LLM: :data:`LLM_UNIT_FIELDS` (``llm_experiments.results.UNIT_FIELDS``). Two losses are compared on the units where both ran.
* **C5** compares accuracies on noise-free units: :math:`d_u = \mathrm{acc}_u(\text{reverse}) - \mathrm{acc}_u(\text{forward})`.
* **C6** compares the accuracy *lost* to noise, per unit and noise kind:
  :math:`\mathrm{drop}_u(\ell) = \mathrm{acc}_u(\ell, \text{none}) - \operatorname{mean}_{r} \mathrm{acc}_u(\ell, r)` over
  the informative levels r both losses ran, and :math:`d_u = \mathrm{drop}_u(\text{forward}) - \mathrm{drop}_u(\text{reverse})`.
  A level is informative when the noisy labels still carry signal (:func:`informative`): a fraction
  :math:`r < (k-1)/k` of labels moved to another class (LLM ``flip``, synthetic ``swap_top``: the label
  goes to one of the k - 1 other classes at random, so at :math:`r = (k-1)/k` it is independent of the
  truth: 0.5 for two classes); labels shrunk towards uniform (LLM ``shrink``, synthetic ``shrink_all``)
  by a factor :math:`\alpha > 0`, or only part of them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable

from figures.results_io import RunData
from llm_experiments import results as llm_results
from revkl_core import stats
from revkl_core.runfolder import UserError
from synthetic import results as synthetic_results

#: (reverse loss, forward loss) compared head to head in C5 and C6.
PAIRS: tuple[tuple[str, str], ...] = (("reverse_kl", "forward_kl"), ("rce", "ce"))
CLEAN = "none"
#: Per (reverse, forward) pair, two equal-length lists: element i of each from matched unit i.
Units = dict[tuple[str, str], tuple[list[float], list[float]]]


@dataclass(frozen=True)
class Obs:
    """One accuracy: a study's matched unit, its noise (kind; level: synthetic the rate or shrink factor,
    LLM (rate, alpha); informative?) and loss; ``setting`` is the part of the study a weak-ceiling gap
    is measured on (the LLM pair)."""

    unit: tuple[Hashable, ...]
    noise: str
    level: Hashable
    informative: bool
    loss: str
    acc: float
    setting: str = ""


@dataclass
class Study:
    """The observations of one study; ``baselines`` maps a setting (LLM pair) to its per-seed
    (weak accuracy, ceiling accuracy)."""

    name: str
    source: str
    obs: list[Obs]
    baselines: dict[str, list[tuple[float, float]]]


def weak_ceiling_gaps(study: Study) -> dict[str, dict[str, Any]]:
    """Per setting (LLM pair): the ceiling - weak accuracy gap in points with its t-interval over seeds
    (:meth:`revkl_core.stats.Interval.to_dict`), one value per split; ``significant`` when the interval lies above 0
    (never with one split or zero spread: nothing to judge it by)."""
    out = {}
    for setting, values in study.baselines.items():
        iv = stats.t_interval([100 * (c - w) for w, c in values])
        out[setting] = {**iv.to_dict(), "significant": bool(iv.n > 1 and iv.sd > 0 and iv.lo > 0)}
    return out


#: Noise kinds that move a fraction of the labels to another class, and that shrink labels towards uniform.
MOVE_KINDS, SHRINK_KINDS = frozenset({"flip", "swap_top"}), frozenset({"shrink", "shrink_all"})


def informative(kind: str, rate: float, k: int, alpha: float | None = None) -> bool:
    """Whether k-class weak labels keep signal when a fraction ``rate`` of them is moved to another class
    (``rate < (k-1)/k``) or shrunk by the factor ``alpha`` towards uniform (``alpha > 0`` or ``rate < 1``)."""
    if kind == CLEAN:
        return True
    if kind in MOVE_KINDS:
        return rate < (k - 1) / k
    if kind in SHRINK_KINDS:
        return (alpha or 0.0) > 0 or rate < 1
    raise ValueError(f"noise kind {kind!r}: figures.matched.informative does not know whether it leaves signal")


# -- record readers (the record fields used by the verdicts) ----------------------------------------

#: The record fields read here: required ones, and the LLM unit's identity (read as None when absent).
SYNTHETIC_FIELDS = (*synthetic_results.UNIT_FIELDS, "noise_type", "noise_rate", "k", "loss", "acc_sw")
LLM_FIELDS = ("dataset", "pair", "seed", "noise", "num_classes", "loss", "acc_strong", "acc_weak", "acc_ceiling")
LLM_UNIT_FIELDS = llm_results.UNIT_FIELDS  # the one definition of a matched unit, beside the records it reads
#: One weak model and one ceiling per split: under seed_scope = "head" every seed shares them (one measurement).
LLM_SEED_FIELDS = ("split_seed",)


def _require(rec: dict[str, Any], fields: tuple[str, ...], run: RunData, i: int) -> None:
    missing = [f for f in fields if f not in rec]
    if missing:
        raise UserError(f"{run.rel}/results.jsonl: record {i + 1} lacks field(s) {missing} that the scorecard and tables read")


def synthetic_study(run: RunData) -> Study:
    """The synthetic run as one study (fields read: :data:`SYNTHETIC_FIELDS`)."""
    obs = []
    for i, r in enumerate(run.records):
        _require(r, SYNTHETIC_FIELDS, run, i)
        unit = synthetic_results.unit_of(r)
        kind, level = r["noise_type"], float(r["noise_rate"])  # shrink: every label, by the factor noise_rate
        useful = informative(kind, 1.0, int(r["k"]), level) if kind in SHRINK_KINDS else informative(kind, level, int(r["k"]))
        obs.append(Obs(unit, kind, level, useful, r["loss"], float(r["acc_sw"])))
    return Study(run.name, f"{run.rel}/results.jsonl", obs, {})


def llm_studies(run: RunData) -> list[Study]:
    """One study per dataset of an LLM run folder (fields read: :data:`LLM_FIELDS`, ``noise`` as
    {kind, rate, alpha}, and :data:`LLM_UNIT_FIELDS`); weak and ceiling accuracies per pair and seed
    (:data:`LLM_SEED_FIELDS`)."""
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i, r in enumerate(run.records):
        _require(r, LLM_FIELDS, run, i)
        by_dataset[r["dataset"]].append(r)
    studies = []
    for dataset, recs in by_dataset.items():
        obs, by_seed = [], defaultdict(dict)
        for r in recs:
            seed = tuple(r.get(f) for f in LLM_SEED_FIELDS)
            unit = llm_results.unit_of(r)
            nz = r["noise"]
            useful = informative(nz["kind"], float(nz["rate"]), int(r["num_classes"]), nz.get("alpha"))
            level = (float(nz["rate"]), nz.get("alpha"))
            obs.append(Obs(unit, nz["kind"], level, useful, r["loss"], float(r["acc_strong"]), r["pair"]))
            by_seed[r["pair"]].setdefault(seed, (float(r["acc_weak"]), float(r["acc_ceiling"])))
        name = run.rel if len(by_dataset) == 1 else f"{run.rel} ({dataset})"
        baselines = {pair: list(seeds.values()) for pair, seeds in by_seed.items()}
        studies.append(Study(name, f"{run.rel}/results.jsonl", obs, baselines))
    return studies


# -- matched comparisons ---------------------------------------------------------------------------


def _index(obs: Iterable[Obs], source: str) -> dict[tuple[Hashable, ...], float]:
    """(unit, noise, level, loss) -> accuracy; two records on one key mean the unit key misses a field."""
    out: dict[tuple[Hashable, ...], float] = {}
    for o in obs:
        key = (o.unit, o.noise, o.level, o.loss)
        if key in out:
            raise UserError(f"{source}: two records for one matched unit {key}: the records carry a field the unit key lacks")
        out[key] = o.acc
    return out


def clean_pairs(obs: list[Obs], source: str, pairs: tuple[tuple[str, str], ...] = PAIRS) -> Units:
    """C5: per (reverse, forward) pair, the noise-free accuracies of both on the units where both ran."""
    acc = _index(obs, source)
    units = sorted({(o.unit, o.level) for o in obs if o.noise == CLEAN}, key=repr)
    out = {}
    for rev, fwd in pairs:
        both = [(acc[(u, CLEAN, lv, rev)], acc[(u, CLEAN, lv, fwd)]) for u, lv in units
                if (u, CLEAN, lv, rev) in acc and (u, CLEAN, lv, fwd) in acc]
        if both:
            out[(rev, fwd)] = ([a for a, _ in both], [b for _, b in both])
    return out


def drop_pairs(obs: list[Obs], source: str, pairs: tuple[tuple[str, str], ...] = PAIRS) -> Units:
    """C6: per (reverse, forward) pair, the accuracy lost to noise (forward's, reverse's) per (unit, noise kind).

    A (unit, kind) counts when both losses have the noise-free result and at least one informative
    level in common; the drop averages over those common levels.
    """
    acc = _index(obs, source)
    clean = {o.unit: o.level for o in obs if o.noise == CLEAN}
    levels: dict[tuple[Hashable, str], set[Hashable]] = defaultdict(set)
    for o in obs:
        if o.noise != CLEAN and o.informative:
            levels[(o.unit, o.noise)].add(o.level)
    out = {}
    for rev, fwd in pairs:
        fwd_drop, rev_drop = [], []
        for (u, kind), lvls in sorted(levels.items(), key=repr):
            base = [(u, CLEAN, clean.get(u), loss) for loss in (rev, fwd)]
            common = [lv for lv in sorted(lvls, key=repr) if all((u, kind, lv, loss) in acc for loss in (rev, fwd))]
            if not common or not all(b in acc for b in base):
                continue
            for loss, sink in ((fwd, fwd_drop), (rev, rev_drop)):
                # fsum: exactly rounded, so equal drops stay equal (a tie) whatever the order of the levels
                noisy = math.fsum(acc[(u, kind, lv, loss)] for lv in common) / len(common)
                sink.append(acc[(u, CLEAN, clean[u], loss)] - noisy)
        if fwd_drop:
            out[(rev, fwd)] = (fwd_drop, rev_drop)
    return out
