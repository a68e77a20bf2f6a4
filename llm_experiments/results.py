r"""Run folders of ``revkl llm run``: the record fields, and the readers figures/ uses.

A run folder ``DIR`` holds

* ``config.toml``   the resolved config (every default filled in);
* ``results.jsonl`` one JSON object per finished weak-to-strong unit (one weak->strong pair,
  one loss, one seed, one noise setting), appended as a one-record batch (id = ``key``) under
  an exclusive lock with fsync, never rewritten; a key written twice counts once;
* ``summary.json``  the aggregate, rewritten (temp file + rename) after every unit;
* ``log.txt``       the human-readable log;
* ``cache/``        stage outputs keyed by a hash of the config fields they depend on
  (features, weak labels, ceiling predictions); safe to delete, they are recomputed.

Notation (docs/CONTRACTS.md): ``F*`` the one-hot ground truth on the test part, ``F_w`` the
weak model, ``F_sw`` the strong model trained on weak labels, ``F_c`` the strong ceiling
(trained on ground truth). ``Err(F) = E_x KL(F*(x) || F(x))`` = the test cross-entropy.
For the pairwise task the distributions are ``(1 - sigma(z), sigma(z))`` with
``z = r(chosen) - r(rejected)``; class 1 is "chosen is better".

Fields of one ``results.jsonl`` record (``kind == "w2s"``):

==================  ================================================================================
``kind``            always ``"w2s"``
``key``             hash of the unit's config; a resumed run skips keys already present
``name``            the config's ``name``
``dataset``         data set registry name (e.g. ``"movie-pairs"``)
``task``            ``"pairs"`` (reward modelling) or ``"classify"`` (k-class)
``num_classes``     k (2 for pairs)
``mode``            ``"full"``, ``"last_layer"`` or ``"lora"``
``weak_model``      model registry name or path of the weak model
``strong_model``    model registry name or path of the strong model
``pair``            ``"weak->strong"``, the row label of the report table
``loss``            one of ``bounds.LOSSES``: ``forward_kl``, ``reverse_kl``, ``ce``, ``rce``
``direction``       ``bounds.LOSS_DIRECTION[loss]``: ``"forward"`` or ``"reverse"``
``aux_conf``        weight alpha of Burns et al.'s auxiliary confidence loss (0 = off)
``symmetric``       weight beta of the mirrored loss in the symmetric mix (0 = off)
``seed``            seed of the strong model's training (init of the head, order of batches)
``noise``           ``{"kind": "none"|"flip"|"shrink", "rate": r, "alpha": a}``; a fraction r of
                    weak labels is flipped, or shrunk p <- 1/k + a (p - 1/k) (for k=2: 0.5 + a(p - 0.5))
``noise_level``     r (0 for ``"none"``), the row of the noise table
``acc_strong``      accuracy of F_sw on the ground-truth test part (pairwise accuracy for pairs)
``acc_weak``        accuracy of F_w on the test part
``acc_ceiling``     accuracy of F_c on the test part
``pgr``             (acc_strong - acc_weak) / (acc_ceiling - acc_weak); null when the denominator is 0
``agreement``       fraction of test examples where argmax F_sw = argmax F_w (noise-free weak labels)
``err_strong``      Err(F_sw) = E KL(F* || F_sw) on the test part, nats
``err_weak``        Err(F_w), nats
``err_ceiling``     Err(F_c), nats
``gain``            err_weak - err_strong, nats
``misfit_forward``  E KL(F_w || F_sw) on the test part, nats (F_w noise-free)
``misfit_reverse``  E KL(F_sw || F_w) on the test part, nats
``misfit``          the misfit in the loss's own direction (one of the two above)
``checks``          ``{theorem name: {"lhs", "rhs", "slack", "hypotheses_met", "holds"}}`` from
                    ``bounds.theorems`` applied to the test predictions with F* one-hot; ``{}`` when
                    ``bounds.theorems`` is not installed
``train_loss``      final training loss (mean over the last epoch), nats
``steps``           optimiser steps taken by the strong model
``n_gt``/``n_weak``/``n_test``  sizes of the ground-truth, weak-labelled and test parts
``wall_s``          wall time of this unit, seconds (stages reused from cache count 0)
``finished_at``     UTC time the record was written, ISO 8601
``config``          the unit's config (the fields its key hashes)
==================  ================================================================================

``summary.json`` fields: ``name``, ``n_results``, ``complete`` (all units done), ``stages``
(``{stage key: {"stage": "weak"|"ceiling"|"features", "model", "acc", "err", "wall_s"}}``),
``table`` (rows of :func:`accuracy_table`), ``noise_table`` (rows of :func:`noise_table`),
``wins`` (:func:`reverse_wins`), ``wall_s`` (total wall time of the runs so far), ``updated_at``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from revkl.runfolder import append_batch, read_records

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.toml"
LOG_FILE = "log.txt"

#: Fields every ``results.jsonl`` record has (documented in the module docstring).
RECORD_FIELDS: tuple[str, ...] = (
    "kind", "key", "name", "dataset", "task", "num_classes", "mode", "weak_model", "strong_model", "pair",
    "loss", "direction", "aux_conf", "symmetric", "seed", "noise", "noise_level",
    "acc_strong", "acc_weak", "acc_ceiling", "pgr", "agreement",
    "err_strong", "err_weak", "err_ceiling", "gain", "misfit_forward", "misfit_reverse", "misfit",
    "checks", "train_loss", "steps", "n_gt", "n_weak", "n_test", "wall_s", "finished_at", "config",
)

#: (reverse loss, forward loss) pairs compared in the "wins" count.
REVERSE_VS_FORWARD: tuple[tuple[str, str], ...] = (("reverse_kl", "forward_kl"), ("rce", "ce"))


def append_record(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one record to ``results.jsonl`` as the batch ``record["key"]`` (one locked, fsynced write).

    Several processes may append to one folder (cluster jobs): ``revkl.runfolder.append_batch``
    serialises the writes, and a unit written twice counts once when read back.
    """
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise ValueError(f"record: missing fields {missing}")
    json.dumps(record, allow_nan=False)  # strict JSON: non-finite floats must already be None
    append_batch(Path(run_dir) / RESULTS_FILE, record["key"], [record])


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to a temp file in the same folder, then ``os.replace`` it into place (never half-written)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of ``DIR/results.jsonl`` in the order written ([] when the file is absent).

    ``revkl.runfolder.read_records``: a torn last write (a kill) is ignored, a unit appended by two
    processes counts once (its first copy), and any other malformed line is a UserError naming it.
    """
    return read_records(Path(run_dir) / RESULTS_FILE)


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """``DIR/summary.json`` as a dict; ValueError naming the folder when it has none."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        raise ValueError(f"run_dir: {run_dir} has no {SUMMARY_FILE} (not a finished or started llm run)")
    return json.loads(path.read_text(encoding="utf-8"))


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var)


def accuracy_table(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's table, noise-free units only: one row per (dataset, pair) and loss.

    Row fields: ``dataset``, ``pair``, ``loss``, ``n_seeds``, ``acc_mean``, ``acc_std``,
    ``pgr_mean``, ``acc_weak``, ``acc_ceiling`` (accuracies in [0, 1]).
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["noise_level"] == 0 and r["noise"]["kind"] == "none":
            groups[(r["dataset"], r["pair"], r["loss"])].append(r)
    rows = []
    for (dataset, pair, loss), rs in groups.items():
        mean, std = _mean_std([r["acc_strong"] for r in rs])
        pgrs = [r["pgr"] for r in rs if r["pgr"] is not None]
        rows.append({
            "dataset": dataset, "pair": pair, "loss": loss, "n_seeds": len(rs), "acc_mean": mean, "acc_std": std,
            "pgr_mean": sum(pgrs) / len(pgrs) if pgrs else None,
            "acc_weak": rs[0]["acc_weak"], "acc_ceiling": rs[0]["acc_ceiling"],
        })
    return rows


def noise_table(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy against weak-label noise: one row per (dataset, pair, noise kind, level, loss).

    Row fields: ``dataset``, ``pair``, ``noise_kind``, ``noise_level``, ``alpha``, ``loss``,
    ``n_seeds``, ``acc_mean``, ``acc_std``.
    """
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for r in records:
        nz = r["noise"]
        groups[(r["dataset"], r["pair"], nz["kind"], r["noise_level"], nz.get("alpha"), r["loss"])].append(r["acc_strong"])
    rows = []
    for (dataset, pair, kind, level, alpha, loss), accs in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        mean, std = _mean_std(accs)
        rows.append({"dataset": dataset, "pair": pair, "noise_kind": kind, "noise_level": level, "alpha": alpha,
                     "loss": loss, "n_seeds": len(accs), "acc_mean": mean, "acc_std": std})
    return rows


def reverse_wins(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Head-to-head counts over matched units (same dataset, pair, seed, noise, aux, symmetric).

    ``{"reverse_kl>forward_kl": {"wins": w, "ties": t, "losses": l}, "rce>ce": {...}}``.
    """
    by_unit: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for r in records:
        unit = (r["dataset"], r["pair"], r["seed"], json.dumps(r["noise"], sort_keys=True), r["aux_conf"], r["symmetric"])
        by_unit[unit][r["loss"]] = r["acc_strong"]
    out: dict[str, dict[str, int]] = {}
    for rev, fwd in REVERSE_VS_FORWARD:
        c = {"wins": 0, "ties": 0, "losses": 0}
        for accs in by_unit.values():
            if rev in accs and fwd in accs:
                d = accs[rev] - accs[fwd]
                c["wins" if d > 0 else "losses" if d < 0 else "ties"] += 1
        out[f"{rev}>{fwd}"] = c
    return out
