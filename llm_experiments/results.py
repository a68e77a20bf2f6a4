r"""Run folders of ``revkl llm run``: the record fields, and the readers figures/ uses.

A run folder ``DIR`` holds

* ``config.toml``   the resolved config (every default filled in; ``revkl_core.runfolder.dumps_toml``);
* ``results.jsonl`` one batch of one record per finished weak-to-strong unit (one weak->strong pair,
  one loss, one seed, one noise setting), written by ``revkl_core.runfolder.append_batch`` with the
  unit key as batch id and read by :func:`load_results` (``runfolder.read_records``): a torn
  last write is ignored, a unit written twice counts once;
* ``summary.json``  the aggregate, rewritten atomically after every unit;
* ``log.txt``       the human-readable log;
* ``cache/``        stage outputs keyed by a hash of the config fields and the content of the
  local inputs they depend on (features, weak labels, ceiling predictions); safe to delete.

Notation (docs/CONTRACTS.md): ``F*`` the one-hot ground truth on the test part, ``F_w`` the
weak model, ``F_sw`` the strong model trained on weak labels, ``F_c`` the strong ceiling
(trained on ground truth). ``Err(F) = E_x KL(F*(x) || F(x))`` = the test cross-entropy.
For the pairwise task the distributions are ``(1 - sigma(z), sigma(z))`` with
``z = r(chosen) - r(rejected)``; class 1 is "chosen is better".

Fields of one ``results.jsonl`` record (``kind == "w2s"``):

==================  ================================================================================
``kind``            always ``"w2s"``
``key``             hash of the unit's config and of the content of its local inputs; a resumed run
                    skips keys already present (also the record's ``batch`` id)
``batch``/``batch_size``  the runfolder batch fields (the unit key, 1)
``name``            the config's ``name``
``dataset``         data set registry name (e.g. ``"movie-pairs"``)
``data_name``       the name reports show: ``"jsonl (reviews.jsonl)"`` for a local file, else ``dataset``
``inputs``          ``{path: content digest}`` of the local data files and model folders the unit read
``task``            ``"pairs"`` (reward modelling) or ``"classify"`` (k-class)
``num_classes``     k (2 for pairs)
``mode``            ``"full"``, ``"last_layer"`` or ``"lora"``
``weak_model``      model registry name or path of the weak model
``strong_model``    model registry name or path of the strong model
``pair``            ``"weak->strong"``, the row label of the report table
``loss``            one of ``bounds.LOSSES``: ``forward_kl``, ``reverse_kl``, ``ce``, ``rce``
``direction``       ``bounds.LOSS_DIRECTION[loss]``: ``"forward"`` or ``"reverse"``
``aux_conf``        weight alpha of Burns et al.'s auxiliary confidence loss (0 = off)
``mirror_weight``   weight beta of the mirrored loss (forward <-> reverse) in the objective (0 = off)
``seed``            the unit's seed: the strong model's initialisation and batch order, and with
                    ``seed_scope == "pipeline"`` also the data split, the weak model and the ceiling
``seed_scope``      ``"pipeline"`` (the seed re-draws the split and retrains weak model and ceiling)
                    or ``"head"`` (one fixed split, weak model and ceiling for every seed)
``split_seed``      the seed that drew this unit's gt / weak / test split
``noise``           ``{"kind": "none"|"flip"|"shrink", "rate": r, "alpha": a}``; a fraction r of
                    weak labels is flipped, or shrunk p <- 1/k + a (p - 1/k) (for k=2: 0.5 + a(p - 0.5))
``noise_level``     r (0 for ``"none"``), the row of the noise table
``acc_strong``      accuracy of F_sw on the ground-truth test part (pairwise accuracy for pairs)
``acc_weak``        accuracy of F_w on the test part
``acc_ceiling``     accuracy of F_c on the test part
``pgr``             (acc_strong - acc_weak) / (acc_ceiling - acc_weak); null unless the ceiling is above the weak model
``agreement``       fraction of test examples where argmax F_sw = argmax F_w (noise-free weak labels)
``err_strong``      Err(F_sw) = E KL(F* || F_sw) on the test part, nats
``err_weak``        Err(F_w), nats
``err_ceiling``     Err(F_c), nats
``gain``            err_weak - err_strong, nats
``misfit_forward``  E KL(F_w || F_sw) on the test part, nats (F_w noise-free)
``misfit_reverse``  E KL(F_sw || F_w) on the test part, nats
``misfit``          the misfit in the loss's own direction (one of the two above)
``checks``          ``{theorem name: {"lhs", "rhs", "slack", "hypotheses_met", "holds"}}`` from
                    ``bounds.theorems`` applied to the test predictions with F* one-hot
``train_loss``      final training loss (mean over the last epoch), nats
``steps``           optimiser steps taken by the strong model
``n_gt``/``n_weak``/``n_test``  sizes of the ground-truth, weak-labelled and test parts
``wall_s``          wall time of this unit's strong training and evaluation, seconds
``finished_at``     UTC time the record was written, ISO 8601
``config``          the unit's config (the fields its key hashes)
==================  ================================================================================

``summary.json`` fields: ``name``, ``seed_scope``, ``n_units`` (units the config plans),
``n_results`` (of them finished), ``complete`` (all done), ``keys`` (the planned unit keys: reports
read only these records, so records left from an edited input never mix in), ``inputs``
(``{path: digest}`` of the local inputs), ``sizes`` (``{split seed: {part: [obtained, requested]}}``),
``stages`` (``{stage key: {"stage": "weak"|"ceiling"|"features", "model", "split_seed", "acc",
"err", "wall_s"}}``), ``table`` (rows of :func:`accuracy_table`), ``noise_table`` (rows of
:func:`noise_table`), ``wins`` (:func:`reverse_wins`), ``wins_by_noise`` (rows of
:func:`wins_by_noise`), ``compute_s`` (seconds of compute behind every stage and unit in the folder,
whichever call did it), ``last_call_s`` (wall time of the latest ``run`` call), ``calls_s`` (wall
time of every call so far, summed), ``updated_at``. Intervals are 95% Student-t intervals over seeds
(``revkl_core.stats``); null where n = 1.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from bounds.metrics import pgr
from revkl_core.runfolder import UserError, append_batch, read_json_object, read_records
from revkl_core.stats import paired, t_interval

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.toml"
LOG_FILE = "log.txt"

#: Fields every ``results.jsonl`` record has (documented in the module docstring).
RECORD_FIELDS: tuple[str, ...] = (
    "kind", "key", "name", "dataset", "data_name", "inputs", "task", "num_classes", "mode", "weak_model",
    "strong_model", "pair", "loss", "direction", "aux_conf", "mirror_weight", "seed", "seed_scope", "split_seed",
    "noise", "noise_level", "acc_strong", "acc_weak", "acc_ceiling", "pgr", "agreement",
    "err_strong", "err_weak", "err_ceiling", "gain", "misfit_forward", "misfit_reverse", "misfit",
    "checks", "train_loss", "steps", "n_gt", "n_weak", "n_test", "wall_s", "finished_at", "config",
)

#: (reverse loss, forward loss) pairs compared in the "wins" count.
REVERSE_VS_FORWARD: tuple[tuple[str, str], ...] = (("reverse_kl", "forward_kl"), ("rce", "ce"))
#: A matched unit: the fields that identify a result besides its loss and noise. Two losses (or two noise
#: settings) are compared on records that agree on all of them; figures.matched reads the same tuple.
UNIT_FIELDS: tuple[str, ...] = ("dataset", "pair", "seed", "seed_scope", "split_seed", "aux_conf", "mirror_weight")


def unit_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """The record's matched unit (:data:`UNIT_FIELDS`; a field absent from older records reads as None)."""
    return tuple(record.get(f) for f in UNIT_FIELDS)


def append_record(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one unit's record as one ``runfolder`` batch whose id is its ``key``."""
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise AssertionError(f"record: missing fields {missing}")
    append_batch(Path(run_dir) / RESULTS_FILE, record["key"], [record])


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every finished record of ``DIR/results.jsonl`` in file order (``runfolder.read_records``)."""
    return read_records(Path(run_dir) / RESULTS_FILE)


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """``DIR/summary.json`` as a dict; UserError naming the folder when it has none."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        raise UserError(f"{run_dir}: no {SUMMARY_FILE} (not an llm run folder, or no run has started in it)")
    return read_json_object(path)


def current_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of the units the folder's latest run planned (``summary.json`` ``keys``)."""
    recs = load_results(run_dir)
    if (Path(run_dir) / SUMMARY_FILE).is_file():
        keys = set(load_summary(run_dir).get("keys", [r["key"] for r in recs]))
        recs = [r for r in recs if r.get("key") in keys]
    return recs


def _interval(values: list[float], prefix: str) -> dict[str, Any]:
    """``{prefix_mean, prefix_lo, prefix_hi}`` from ``revkl_core.stats.t_interval`` (None bounds for n = 1)."""
    if not values:
        return {f"{prefix}_mean": None, f"{prefix}_lo": None, f"{prefix}_hi": None}
    iv = t_interval(values)
    fin = (lambda x: x if math.isfinite(x) else None)
    return {f"{prefix}_mean": iv.mean, f"{prefix}_lo": fin(iv.lo), f"{prefix}_hi": fin(iv.hi)}


def _std(values: list[float]) -> float:
    """Sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0


def accuracy_table(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's table, noise-free units only: one row per (dataset, pair) and loss.

    Row fields: ``dataset``, ``data_name``, ``pair``, ``loss``, ``seed_scope``, ``n_seeds``,
    ``acc_mean``, ``acc_std``, ``acc_lo``, ``acc_hi`` (95% t-interval over seeds), ``pgr_mean``,
    ``pgr_lo``, ``pgr_hi``, ``pgr_n`` (seeds with a defined PGR), ``acc_weak``, ``acc_ceiling``
    (means over the seeds' weak models and ceilings); accuracies in [0, 1].
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["noise_level"] == 0 and r["noise"]["kind"] == "none":
            groups[(r["dataset"], r["pair"], r["loss"])].append(r)
    rows = []
    for (dataset, pair, loss), rs in groups.items():
        accs = [r["acc_strong"] for r in rs]
        pgrs = [g for r in rs if (g := pgr(r["acc_strong"], r["acc_weak"], r["acc_ceiling"])) is not None]
        rows.append({
            "dataset": dataset, "data_name": rs[0].get("data_name", dataset), "pair": pair, "loss": loss,
            "seed_scope": rs[0].get("seed_scope"), "n_seeds": len(rs), **_interval(accs, "acc"), "acc_std": _std(accs),
            **_interval(pgrs, "pgr"), "pgr_n": len(pgrs),
            "acc_weak": sum(r["acc_weak"] for r in rs) / len(rs), "acc_ceiling": sum(r["acc_ceiling"] for r in rs) / len(rs),
        })
    return rows


def noise_table(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy against weak-label noise: one row per (dataset, pair, noise kind, level, loss).

    Row fields: ``dataset``, ``data_name``, ``pair``, ``noise_kind``, ``noise_level``, ``alpha``,
    ``loss``, ``n_seeds``, ``acc_mean``, ``acc_std``, ``acc_lo``, ``acc_hi``.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        nz = r["noise"]
        groups[(r["dataset"], r["pair"], nz["kind"], r["noise_level"], nz.get("alpha"), r["loss"])].append(r)
    rows = []
    for (dataset, pair, kind, level, alpha, loss), rs in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        accs = [r["acc_strong"] for r in rs]
        rows.append({"dataset": dataset, "data_name": rs[0].get("data_name", dataset), "pair": pair, "noise_kind": kind,
                     "noise_level": level, "alpha": alpha, "loss": loss, "n_seeds": len(accs), **_interval(accs, "acc"),
                     "acc_std": _std(accs)})
    return rows


def _matched(records: Iterable[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, float]]:
    """``{(matched unit, noise as JSON): {loss: acc_strong}}`` (:func:`unit_of`); UserError naming the record when
    two records share a unit, noise and loss (they carry a field the unit lacks: one would silently hide the other)."""
    by_unit: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for r in records:
        accs = by_unit[(unit_of(r), json.dumps(r["noise"], sort_keys=True))]
        if r["loss"] in accs:
            raise UserError(f"record {r.get('key')}: a second {r['loss']} result for the matched unit {unit_of(r)} "
                            f"with noise {r['noise']}; the records carry a field UNIT_FIELDS {UNIT_FIELDS} lacks")
        accs[r["loss"]] = r["acc_strong"]
    return by_unit


def reverse_wins(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Head-to-head counts over all matched units, every noise setting pooled.

    ``{"reverse_kl>forward_kl": {"wins": w, "ties": t, "losses": l}, "rce>ce": {...}}``.
    """
    by_unit = _matched(records)
    out: dict[str, dict[str, int]] = {}
    for rev, fwd in REVERSE_VS_FORWARD:
        c = {"wins": 0, "ties": 0, "losses": 0}
        for accs in by_unit.values():
            if rev in accs and fwd in accs:
                d = accs[rev] - accs[fwd]
                c["wins" if d > 0 else "losses" if d < 0 else "ties"] += 1
        out[f"{rev}>{fwd}"] = c
    return out


def wins_by_noise(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reverse vs forward per (dataset, pair, noise setting): ``revkl_core.stats.paired`` over matched units.

    Row fields: ``dataset``, ``data_name``, ``pair``, ``noise_kind``, ``noise_level``, ``alpha``,
    ``comparison`` (``"reverse_kl>forward_kl"`` or ``"rce>ce"``), ``n``, ``mean_diff`` (accuracy of
    the reverse loss minus the forward one, in [−1, 1]), ``lo``, ``hi`` (95% t-interval; null for
    n = 1), ``wins``, ``ties``, ``losses``, ``p_t`` (paired t-test), ``p_sign`` (exact sign test), ``p_wilcoxon``.
    """
    recs = list(records)
    names = {r["dataset"]: r.get("data_name", r["dataset"]) for r in recs}
    by_unit = _matched(recs)
    groups: dict[tuple[Any, ...], list[dict[str, float]]] = defaultdict(list)
    for (unit, noise), accs in by_unit.items():
        groups[(unit[UNIT_FIELDS.index("dataset")], unit[UNIT_FIELDS.index("pair")], noise)].append(accs)
    rows = []
    def order(item: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
        (dataset, pair, noise), _ = item
        nz = json.loads(noise)
        return dataset, pair, nz["kind"] != "none", nz["kind"], nz["rate"], str(nz.get("alpha"))

    for (dataset, pair, noise), units in sorted(groups.items(), key=order):
        nz = json.loads(noise)
        for rev, fwd in REVERSE_VS_FORWARD:
            both = [u for u in units if rev in u and fwd in u]
            if not both:
                continue
            c = paired([u[rev] for u in both], [u[fwd] for u in both])
            fin = (lambda x: x if math.isfinite(x) else None)
            rows.append({"dataset": dataset, "data_name": names[dataset], "pair": pair, "noise_kind": nz["kind"],
                         "noise_level": nz["rate"], "alpha": nz.get("alpha"), "comparison": f"{rev}>{fwd}", "n": c.n,
                         "mean_diff": c.mean_diff, "lo": fin(c.lo), "hi": fin(c.hi), "wins": c.wins, "ties": c.ties,
                         "losses": c.losses, "p_t": c.p_t, "p_sign": c.p_sign, "p_wilcoxon": c.p_wilcoxon})
    return rows
