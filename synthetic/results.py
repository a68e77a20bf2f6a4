r"""The result files of a synthetic run, their fields, and the readers figures/ uses.

A run folder ``DIR`` holds ``config.toml`` (the resolved config), ``results.jsonl`` (one JSON
record per (setting, task, loss, method), appended one chunk per batch by
:func:`revkl_core.runfolder.append_batch`), ``summary.json`` (aggregates, written atomically) and ``log.txt``.

Notation (see DESIGN.md): :math:`\mathrm{Err}(F) = \mathbb{E}_x \mathrm{KL}(F^*(x)\,\|\,F(x))`;
forward misfit :math:`\mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})`, reverse misfit
:math:`\mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)`. "train" quantities are averages over the
weak-labelled transfer set the strong head was fitted on (where the theorems are exact);
the others are averages over a fresh test set of the same task.

``results.jsonl`` record fields
-------------------------------
Identity
  ``setting`` (str): setting id, e.g. ``"stochastic_matrix|swap_top=0.2|controlled=0"``.
  ``head_class`` (str): a name in ``synthetic.heads.HEAD_CLASSES``: ``stochastic_matrix`` |
  ``mixture`` | ``softmax_mixture`` | ``softmax_linear``.
  ``K`` (int): number of softmax components for ``softmax_mixture`` (1 for the other classes).
  ``probability_convex`` (bool): the class is convex in probability space (T4's hypothesis).
  ``noise_type`` (str): ``none`` | ``swap_top`` | ``shrink_all`` (see :mod:`synthetic.weak`; not
  llm_experiments' ``flip``/``shrink``); ``noise_rate`` (float): the probability in [0, 0.5] that an
  example's top class is swapped for ``swap_top``, the factor alpha in [0, 1] of
  p <- 1/k + alpha (p - 1/k) on every example for ``shrink_all`` (0 for ``none``).
  ``representation`` (str): ``controlled`` | ``pretrained``; ``delta`` (float): size of the
  perturbation of the strong representation (controlled; 0 = the truth's own features);
  ``pretrain_tasks`` (int): number of pre-training tasks (pretrained; 0 for controlled).
  ``task`` (int): task index within the setting; ``task_seed`` (int): the seed that generated it.
  ``loss`` (str): a name in ``bounds.LOSSES`` (``forward_kl``, ``reverse_kl``, ``ce``, ``rce``,
  ``symmetric_kl`` = the mean of forward and reverse KL).
  ``direction`` (str): ``forward`` | ``reverse`` | ``symmetric``: the misfit the loss trains.
  ``method`` (str): ``exact`` (a certified solver of ``bounds.solvers``) | ``sgd`` (mini-batch
  Adam with early stopping on weak-labelled validation data).
  ``k`` (int) classes; ``n_transfer`` (int) weak-labelled training examples.

Errors and accuracies (test set)
  ``err_w``, ``err_sw``, ``err_ceiling`` (float): Err of the weak model, of the strong model
  trained on weak labels, and of the strong model trained on the truth (same head class, loss
  forward KL = minimum Err).
  ``acc_w``, ``acc_sw``, ``acc_ceiling`` (float): agreement of argmax F with argmax F*.
  ``misfit_forward``, ``misfit_reverse`` (float): E KL(F_w||F_sw), E KL(F_sw||F_w) on test.
  ``misfit`` (float): the test misfit in ``direction`` (for ``symmetric``: the mean of both).
  ``gain`` (float): ``err_w - err_sw`` (test).
  ``pgr`` (float | null): (acc_sw - acc_w) / (acc_ceiling - acc_w); null when the denominator
  is below ``bounds.metrics.PGR_MIN_GAP`` (1e-12).

Train-set quantities (transfer set, the distribution the theorems are stated on)
  ``err_labels_train`` (float): Err of the weak labels the strong head saw (after noise).
  ``err_sw_train`` (float), ``misfit_train`` (float, in ``direction``; for ``symmetric`` the mean).
  ``epsilon`` (float): realizability gap, the ceiling's train Err = min over the class of Err
  (for ``method = "exact"`` a certified minimum up to the solver tolerance).

Solver state
  ``objective`` (float): final training objective (mean loss on the transfer set).
  ``certificate`` (float | null): exact fits: the solver's certificate (Frank-Wolfe gap for the
  probability-convex classes, gradient norm for softmax-linear); SGD fits on probability-convex
  classes with a certified loss: the Frank-Wolfe gap of the fitted parameters; null otherwise
  (SGD on softmax heads, or ``symmetric_kl``).
  ``converged`` (bool), ``iterations`` (int): solver iterations or SGD epochs run.

Theorem checks (``bounds.theorems`` on the transfer set, the weak labels the strong head saw as F_w)
  ``checks`` (list of dict): every result among T1-T6 whose hypotheses hold for the record, plus
  T4 always; each with ``name``, ``statement`` (LaTeX), ``lhs``, ``rhs``, ``slack`` (= rhs - lhs,
  negative when the inequality fails), ``tolerance`` (certificate allowance + rounding),
  ``hypotheses_met`` (bool), ``holds`` (bool, as bounds decides it). T5 is an identity that
  bounds writes as lhs = |residual|, rhs = 0.
  ``t4_slack`` (float): the T4 residual Err(labels) - E KL(F_sw||labels) - Err(F_sw) on the
  train set, recorded for every record (whether or not T4's hypotheses hold) so the figures can plot it.
  ``t4_tolerance`` (float): the allowance T4's residual gets: the Frank-Wolfe gap of the fit
  (exact or SGD) plus rounding on probability-convex classes, rounding only on softmax heads.
  A record "violates T4's inequality" when it fails beyond its tolerance by more than the counterexample
  margin: ``-t4_slack - t4_tolerance > COUNTEREXAMPLE_MARGIN`` (1e-6; ``bounds.theorems.fails_beyond``, the one rule).
  ``class_residual`` (float): max |F* - F_theta*| on the train set, theta* the truth's parameters
  on the strong features (0 exactly when F* is in the class: T4/T5's realizability hypothesis).

Batch bookkeeping (the append/resume rule of :mod:`revkl_core.runfolder`)
  ``batch`` (str): id of the chunk of tasks computed and appended together (one chunk = one
  batch); ``batch_size`` (int): how many records that batch holds.

``summary.json`` fields
-----------------------
  ``config_hash`` (str), ``name`` (str), ``records`` (int), ``tasks_done`` (int: distinct
  (setting, task) pairs), ``elapsed_s`` (float: wall time of the last ``run`` call),
  ``compute_s`` (float: total wall time of every ``run`` call on the folder that wrote a summary),
  ``groups`` (list of dict), one per (head_class, K, loss, method, noise_type, noise_rate, delta,
  pretrain_tasks); ``by_class_loss``, the same pooled over noise, one per (head_class, K,
  representation, delta, pretrain_tasks, method, loss); ``by_noise_loss``, pooled over head
  classes and representations, one per (noise_type, noise_rate, method, loss). Each entry has
  its identity fields plus ``n`` (records), ``n_certified`` (records with some check whose
  hypotheses hold), ``violation_rate`` (fraction of those failing such a check; null when none),
  ``t4_certified`` (records where T4's hypotheses hold), ``t4_certified_violations`` (of those,
  how many fail T4), ``t4_violation_rate`` (fraction violating T4's inequality as above,
  hypotheses or not), ``worst_slack`` (min ``t4_slack``), ``worst_violation`` (max of
  ``-t4_slack - t4_tolerance`` and 0), ``acc_sw_mean``, ``acc_sw_ci`` ([lo, hi] 95% Student-t
  interval of :func:`revkl_core.stats.t_interval`; null with one task), ``acc_w_mean``, ``acc_ceiling_mean``, ``pgr_mean``, ``pgr_ci`` (the same, over the records with a PGR), ``gain_mean``,
  ``misfit_mean``, ``epsilon_mean``, ``slope_gain_vs_misfit`` (least-squares slope of gain on
  misfit, test; null with fewer than 3 points).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revkl_core import runfolder

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.toml"
LOG_FILE = "log.txt"
#: A matched unit: the fields that identify a result besides its loss and noise. Two losses (or two noise
#: settings) are compared on records that agree on all of them; figures.matched reads the same tuple.
UNIT_FIELDS: tuple[str, ...] = ("representation", "delta", "pretrain_tasks", "head_class", "K", "method", "task")


def unit_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """The record's matched unit (:data:`UNIT_FIELDS`)."""
    return tuple(record[f] for f in UNIT_FIELDS)

#: Fields every record carries (the reader checks them; figures may rely on them).
RECORD_FIELDS: tuple[str, ...] = (
    "setting", "head_class", "K", "probability_convex", "noise_type", "noise_rate", "representation",
    "delta", "pretrain_tasks", "task", "task_seed", "loss", "direction", "method", "k", "n_transfer",
    "err_w", "err_sw", "err_ceiling", "acc_w", "acc_sw", "acc_ceiling", "misfit_forward",
    "misfit_reverse", "misfit", "gain", "pgr", "err_labels_train", "err_sw_train", "misfit_train",
    "epsilon", "objective", "certificate", "converged", "iterations", "checks", "t4_slack", "t4_tolerance", "class_residual",
    "batch", "batch_size",
)


def append_chunk(run_dir: str | Path, chunk: str, records: list[dict[str, Any]]) -> None:
    """Append one chunk's records to ``results.jsonl`` as one batch of :func:`revkl_core.runfolder.append_batch`."""
    runfolder.append_batch(Path(run_dir) / RESULTS_FILE, chunk, records)


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of complete chunks in ``DIR/results.jsonl``, in file order (:func:`revkl_core.runfolder.read_records`).

    UserError naming the file and the record when a record lacks one of :data:`RECORD_FIELDS`
    (another kind of run folder placed here, say).
    """
    path = Path(run_dir) / RESULTS_FILE
    records = runfolder.read_records(path)
    for i, rec in enumerate(records, start=1):
        missing = [f for f in RECORD_FIELDS if f not in rec]
        if missing:
            raise runfolder.UserError(f"{path}: record {i} is not a synthetic result (lacks {', '.join(missing[:4])}"
                                      f"{', ...' if len(missing) > 4 else ''})")
    return records


def completed_chunks(run_dir: str | Path) -> set[str]:
    """Ids of the chunks whose records are all in ``results.jsonl`` (the batch ids read back)."""
    return {rec["batch"] for rec in load_results(run_dir)}


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``summary.json`` (fields documented in this module); UserError when it is absent."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        raise runfolder.UserError(f"no {SUMMARY_FILE} in {run_dir}: run `revkl synthetic run` first")
    return runfolder.read_json_object(path)


def log_line(run_dir: str | Path, text: str) -> None:
    """Append one line to ``DIR/log.txt`` (flushed)."""
    with open(Path(run_dir) / LOG_FILE, "a") as fh:
        fh.write(text.rstrip("\n") + "\n")
        fh.flush()
