r"""T1-T6 measured on real language models: certified head fits on a last-layer run's cached features.

In last-layer mode the strong model is a known class over frozen features, so every hypothesis of
T4-T6 can be measured. For each weak -> strong pair of a finished run folder ``DIR``
(``revkl llm theory DIR``):

* **Features.** The strong backbone's cached, standardised text features (``DIR/cache/features-*``)
  are projected on their top ``dim`` (softmax head) or ``convex_dim`` (convex head) principal
  directions and whitened (label-free, over all texts).
  An item's feature is :math:`\phi(x) = f(\text{text})` (classify) or
  :math:`f(\text{chosen}) - f(\text{rejected})` (pairs). Pairs are *symmetrised*: each pair also
  enters reversed, :math:`(-\phi, 1-y, (F_{w,1}, F_{w,0}))`, so no head can score by the fixed
  order "chosen first" (the truth is always class 1 in the stored order).
* **Head classes.** ``softmax``: :math:`F(x) = \mathrm{softmax}(W\phi(x))` (for pairs a logistic
  model :math:`\sigma(w\cdot\phi)`, exactly the pipeline's head restricted to ``dim`` directions; for
  classify :math:`\phi` gets a constant 1 for the bias). ``convex``: :math:`F(x) = A\,h(x)` with
  :math:`A` column-stochastic and :math:`h(x)` soft memberships of :math:`\phi(x)` in ``clusters``
  k-means centres, :math:`h_j \propto \exp(-\|\phi - c_j\|^2 / 2\tau)`, :math:`\tau` the median
  squared distance to the nearest centre: convex in probability space.
* **Fits** (``bounds.solvers.fit``, deterministic) on the weak-labelled part, where the theorems
  are stated: the minimiser :math:`F_{sw}` of each loss to the weak labels :math:`F_w`, and the best
  in-class fit :math:`F^\circ` to the truth (CE to one-hot :math:`F^\star`), whose error is the
  realizability gap :math:`\varepsilon = \mathrm{Err}(F^\circ) = \min_{F\in\mathcal F}\mathrm{Err}(F)`.
* **Theorems** from ``bounds.theorems`` on that part: T4, T5, T6 with :math:`F^\star` the truth
  (T4 and T5 then fail their hypothesis ``realizable``; T6 takes :math:`F^\circ` as its reference),
  and ``T4_ref``, ``T5_ref``: the same theorems with the truth replaced by :math:`F^\circ`, a member
  of the class, where every hypothesis can hold (T5's identity holds for any member). T1-T3 on the
  weak-labelled and the test part, with their informativeness ``ratio`` = bound / |gap| (1 = tight)
  and ``trivial`` = log(1/gamma), the bound every |gap| obeys anyway when predictions are >= gamma;
  and again for gamma-floored predictions :math:`F_\gamma = (1-\gamma)F + \gamma/k` (``floored``).

Records (one per pair, split, class and loss) are appended to ``DIR/theory.jsonl`` with
``revkl_core.runfolder.append_batch``, one batch per (pair, split, class), whose id hashes the schema, the
head's parameters, the config and the content of the cache files: a rerun skips done work. Readers
take the latest record per (pair, split, class, loss) of the current schema (:func:`current_records`).
Fields: :data:`RECORD_FIELDS`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bounds import LOSS_DIRECTION
from bounds.classes import ModelClass, SoftmaxLinearClass, StochasticMatrixClass
from bounds.solvers import Fit, fit
from bounds.theorems import THEOREMS, CheckResult, Instances, breaks
from revkl_core import runfolder
from revkl_core.runfolder import UserError

THEORY_FILE = "theory.jsonl"
CLASSES = ("softmax", "convex")
LOSSES = ("forward_kl", "reverse_kl", "ce", "rce")
#: The solver objective each loss is fitted with: CE = forward KL + H(F_w) has the same minimiser.
SOLVER_LOSS = {"forward_kl": "forward_kl", "ce": "forward_kl", "reverse_kl": "reverse_kl", "rce": "rce"}
#: Mixing weights gamma of the floored variant F_gamma = (1 - gamma) F + gamma / k.
FLOORS = (1e-3, 1e-2, 5e-2, 0.1, 0.2)
SCHEMA = 3  # 2: each T4-T6 result carries ``breaks``; 3: records carry ``schema`` (older records are not read)

RECORD_FIELDS = (
    "kind", "schema", "name", "dataset", "task", "num_classes", "pair", "weak_model", "strong_model", "split_seed", "head", "model_kind",
    "head_params", "loss", "trained_as", "direction", "n_train", "n_test", "certificate", "certificate_kind",
    "converged", "min_hessian_eig", "eps", "eps_certificate", "eps_test", "err_weak", "err_strong", "gain",
    "misfit", "misfit_forward", "misfit_reverse", "acc_weak", "acc_strong", "test", "theorems", "universal",
    "floored", "wall_s",
)


# -- inputs from the run folder ---------------------------------------------------------------------------


@dataclass
class PairInputs:
    """What one weak -> strong pair on one data split needs, read from the run folder's caches."""

    weak: str
    strong: str
    split_seed: int
    parts: dict[str, Any]  # the split's Parts ("weak", "test"), items indexing the run's text table
    features: np.ndarray  # (n_texts, d) the strong backbone's standardised features
    weak_logits: np.ndarray  # weak model on the weak-labelled part
    weak_test_logits: np.ndarray  # weak model on the test part
    digest: str  # content of the config and both cache files


def _load_pt(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, weights_only=False)


def load_run(run_dir: str | Path) -> tuple[Any, Any, list[PairInputs]]:
    """(config, Study, one PairInputs per pair and data split with cached weak labels) of a last-layer run folder.

    The splits and the shared text table are rebuilt as the run built them (``study.load_study``).
    """
    from llm_experiments.config import load_config, to_dict
    from llm_experiments.study import load_study
    from llm_experiments.units import features_key, input_digests, split_seed, split_stage_key

    run_dir = Path(run_dir)
    cfg_path, cache = run_dir / "config.toml", run_dir / "cache"
    if not cfg_path.exists():
        raise UserError(f"{run_dir}: no config.toml; give the folder of a finished `revkl llm run`")
    try:
        cfg = load_config(cfg_path)
    except ValueError as err:
        raise UserError(str(err)) from None
    if cfg.models.mode != "last_layer":
        raise UserError(f"{cfg_path}: [models].mode is {cfg.models.mode!r}; the theory needs mode = \"last_layer\" "
                        "(a known head class over frozen features)")
    seeds = sorted({split_seed(cfg, s) for s in cfg.w2s.seeds})
    study = load_study(cfg, seeds)
    digests = input_digests(cfg)  # the cache keys of today's inputs: files computed from other inputs never match
    cfg_hash = runfolder.config_hash(to_dict(cfg))
    pairs = []
    for weak, strong in cfg.models.pairs:
        f_path = cache / f"features-{features_key(cfg, study.texts, strong, digests)}.pt"
        if not f_path.exists():
            raise UserError(f"{run_dir}: no cached features of {strong!r} for the config's current inputs; run "
                            f"`revkl llm run --config {cfg_path} --out {run_dir}` first (its data or model changed?)")
        feats = _load_pt(f_path)["features"].double().numpy()
        if feats.shape[0] != len(study.texts):
            raise UserError(f"{f_path}: {feats.shape[0]} feature rows but the config's data has {len(study.texts)} texts")
        for sp in seeds:
            w_path = cache / f"weak-{split_stage_key(cfg, digests, 'weak', weak, sp)}.pt"
            if not w_path.exists():
                continue  # this split's weak labels are not cached (yet)
            W = _load_pt(w_path)
            wl, wt = W["weak_logits"].double().numpy(), W["test_logits"].double().numpy()
            parts = study.splits[sp]
            if len(wl) != len(parts["weak"]) or len(wt) != len(parts["test"]):
                raise UserError(f"{w_path}: weak logits for {len(wl)}/{len(wt)} items, but split {sp}'s weak/test parts "
                                f"have {len(parts['weak'])}/{len(parts['test'])}")
            digest = runfolder.config_hash({"config": cfg_hash, "features": runfolder.content_digest(f_path),
                                            "weak": runfolder.content_digest(w_path), "split_seed": sp})
            pairs.append(PairInputs(weak, strong, sp, parts, feats, wl, wt, digest))
    if not pairs:
        raise UserError(f"{run_dir}: no cached weak labels for any pair and split of the config's current inputs; "
                        f"run `revkl llm run --config {cfg_path} --out {run_dir}` first")
    return cfg, study, pairs


# -- samples and head classes -----------------------------------------------------------------------------


def principal_features(features: np.ndarray, dim: int) -> np.ndarray:
    """Scores on the top ``dim`` principal directions (sign: largest loading positive), unit variance each."""
    X = features - features.mean(0)
    dim = min(dim, *X.shape)
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    V = Vt[:dim]
    V = V * np.sign(V[np.arange(dim), np.abs(V).argmax(1)])[:, None]
    Z = X @ V.T
    return Z / np.maximum(Z.std(0), 1e-12)


@dataclass
class Sample:
    """One part as a theory instance: item features, one-hot truth, weak labels (rows in the simplex)."""

    phi: np.ndarray  # (n, r)
    fstar: np.ndarray  # (n, k)
    fw: np.ndarray  # (n, k)


def make_sample(task: str, k: int, Z: np.ndarray, items: np.ndarray, labels: np.ndarray, weak_logits: np.ndarray) -> Sample:
    """Item features and distributions; pairs also enter reversed (see the module docstring)."""
    import torch

    from llm_experiments.losses import distribution

    fw = distribution(torch.as_tensor(weak_logits), task).probs.numpy()
    y = labels.astype(np.int64)
    if task == "pairs":
        phi = Z[items[:, 0]] - Z[items[:, 1]]
        phi, y, fw = np.concatenate([phi, -phi]), np.concatenate([y, 1 - y]), np.concatenate([fw, fw[:, ::-1]])
    else:
        phi = Z[items[:, 0]]
    return Sample(phi, np.eye(k)[y], fw)


@dataclass
class Head:
    """A head class on the train sample, and the same member evaluated on the test sample."""

    name: str
    model: ModelClass
    test_model: ModelClass
    params: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.model.kind

    def predict_test(self, f: Fit) -> np.ndarray:
        return self.test_model.predict(f.theta if f.theta is not None else f.params)[0]


def kmeans(X: np.ndarray, m: int, seed: int = 0, iters: int = 30) -> np.ndarray:
    """Lloyd's algorithm from a k-means++ start (seeded): ``m`` centres of the rows of X."""
    rng = np.random.default_rng(seed)
    C = [X[rng.integers(len(X))]]
    d2 = ((X - C[0]) ** 2).sum(1)
    for _ in range(1, m):
        C.append(X[rng.choice(len(X), p=d2 / d2.sum())] if d2.sum() > 0 else X[rng.integers(len(X))])
        d2 = np.minimum(d2, ((X - C[-1]) ** 2).sum(1))
    C = np.array(C)
    for _ in range(iters):
        lab = _sq_dist(X, C).argmin(1)
        for j in range(m):
            if np.any(lab == j):
                C[j] = X[lab == j].mean(0)
    return C


def _sq_dist(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    return np.maximum((X**2).sum(1)[:, None] - 2 * X @ C.T + (C**2).sum(1)[None], 0.0)


def memberships(X: np.ndarray, C: np.ndarray, tau: float) -> np.ndarray:
    r"""Soft memberships :math:`h_j \propto \exp(-\|x - c_j\|^2 / 2\tau)` (rows in the simplex)."""
    d2 = _sq_dist(X, C)
    e = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * tau))
    return e / e.sum(1, keepdims=True)


def build_head(name: str, train: Sample, test: Sample, k: int, task: str, clusters: int) -> Head:
    if name == "softmax":
        def feats(s: Sample) -> np.ndarray:
            return s.phi if task == "pairs" else np.concatenate([s.phi, np.ones((len(s.phi), 1))], 1)

        return Head(name, SoftmaxLinearClass(feats(train)[None], k), SoftmaxLinearClass(feats(test)[None], k),
                    {"dim": train.phi.shape[1], "bias": task != "pairs"})
    if name == "convex":
        C = kmeans(train.phi, min(clusters, len(train.phi)))
        tau = float(np.median(_sq_dist(train.phi, C).min(1)))
        tau = tau if tau > 0 else 1.0
        return Head(name, StochasticMatrixClass(memberships(train.phi, C, tau)[None], k),
                    StochasticMatrixClass(memberships(test.phi, C, tau)[None], k),
                    {"dim": train.phi.shape[1], "clusters": len(C), "tau": tau})
    raise UserError(f"--classes: unknown head class {name!r}; known: {', '.join(CLASSES)}")


# -- measurements -----------------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    x = float(np.asarray(x).reshape(-1)[0])
    return x if math.isfinite(x) else None


def _err(fstar: np.ndarray, F: np.ndarray) -> float:
    return float(Instances(fstar=fstar, fw=F, fsw=F).err(F)[0])


def _summary(fstar: np.ndarray, fw: np.ndarray, fsw: np.ndarray, loss: str) -> dict[str, Any]:
    inst = Instances(fstar=fstar, fw=fw, fsw=fsw)
    ew, es = float(inst.err(fw)[0]), float(inst.err(fsw)[0])
    mf, mr = float(inst.kl_mean(fw, fsw)[0]), float(inst.kl_mean(fsw, fw)[0])
    y = fstar.argmax(1)
    return {"err_weak": ew, "err_strong": es, "gain": ew - es, "misfit": mf if LOSS_DIRECTION[loss] == "forward" else mr,
            "misfit_forward": mf, "misfit_reverse": mr, "acc_weak": float((fw.argmax(1) == y).mean()),
            "acc_strong": float((fsw.argmax(1) == y).mean())}


def theorem_result(res: CheckResult, inst: Instances, extras: tuple[str, ...] = ()) -> dict[str, Any]:
    """One check as plain numbers, with the hypotheses that failed named (non-finite sides -> None) and
    ``breaks``: the inequality fails on a certified fit beyond allowance and margin (``bounds.theorems.breaks``),
    a counterexample to the statement without its failed hypotheses."""
    with np.errstate(invalid="ignore"):  # T5 without parameters has NaN sides: reported as None, unmet
        violation, holds, broken = _num(res.violation), bool(res.holds[0]), bool(breaks(res, inst)[0])
    out = {"lhs": _num(res.lhs), "rhs": _num(res.rhs), "slack": _num(res.slack), "allowance": _num(res.allowance),
           "violation": violation, "hypotheses_met": bool(res.hypotheses_met[0]), "holds": holds, "breaks": broken,
           "failed": [h for h, ok in res.hypotheses.items() if not ok[0]]}
    out.update({e: _num(res.extras[e]) for e in extras if e in res.extras})
    return out


def universal(fstar: np.ndarray, fw: np.ndarray, fsw: np.ndarray) -> dict[str, Any]:
    r"""T1-T3 with informativeness: ``ratio`` = bound / |gap|, ``trivial`` = log(1/gamma).

    Every |gap| is at most log(1/gamma) when both predictions are >= gamma (Err(F) <= log(1/min F)),
    and the gain side of T3 at most log(1/gamma_w); a bound above that says nothing new.
    """
    inst = Instances(fstar=fstar, fw=fw, fsw=fsw)
    out: dict[str, Any] = {}
    for name in ("T1", "T2", "T3"):
        with np.errstate(invalid="ignore", divide="ignore"):  # saturated predictions: gamma = 0, infinite sides
            res = THEOREMS[name].check(inst)
            holds = bool(res.holds[0])
        gamma = float(res.extras["gamma_w" if name == "T3" else "gamma"][0])
        # T3 bounds the gap from below (gap >= -b); its size b is what is compared with |gap|.
        bound, gap = abs(float(res.rhs[0])), float(res.extras["gap"][0])
        trivial = -math.log(gamma) if gamma > 0 else math.inf
        ratio = bound / abs(gap) if gap and math.isfinite(gap) else math.nan
        out[name] = {"gap": _num(gap), "bound": _num(bound), "ratio": _num(ratio), "gamma": gamma,
                     "trivial": _num(trivial), "beats_trivial": bool(bound < trivial), "holds": holds,
                     "hypotheses_met": bool(res.hypotheses_met[0])}
    return out


def floored(fstar: np.ndarray, fw: np.ndarray, fsw: np.ndarray) -> dict[str, Any]:
    """T1-T3 on F_gamma = (1 - gamma) F + gamma/k for each gamma in FLOORS, with the floored errors."""
    k = fw.shape[1]
    out = {}
    for g in FLOORS:
        a, b = (1 - g) * fw + g / k, (1 - g) * fsw + g / k
        out[f"{g:g}"] = {"err_weak": _err(fstar, a), "err_strong": _err(fstar, b), **universal(fstar, a, b)}
    return out


def _theorems(head: Head, train: Sample, fsw: Fit, ref: Fit, trained_as: str) -> dict[str, Any]:
    """T4-T6 against the truth, and T4/T5 against the class's best fit F° (where 'realizable' holds)."""
    softmax = isinstance(head.model, SoftmaxLinearClass)
    cert = np.asarray(fsw.certificate)
    fref = ref.pred[0]
    common = dict(fw=train.fw, fsw=fsw.pred[0], model_kind=head.kind, trained_with=trained_as, certificate=cert,
                  features=head.model.features if softmax else None, w_sw=fsw.params if softmax else None)
    truth = Instances(fstar=train.fstar, fstar_class_residual=np.array([np.abs(train.fstar - fref).max()]), fref=fref, **common)
    at_ref = Instances(fstar=fref, fstar_class_residual=np.zeros(1), w_star=ref.params if softmax else None, **common)
    checks = {"T4": ("T4", truth, ()), "T5": ("T5", truth, ()), "T6": ("T6", truth, ("realizability_term", "eps")),
              "T4_ref": ("T4", at_ref, ()), "T5_ref": ("T5", at_ref, ("moment_residual",))}
    return {key: theorem_result(THEOREMS[name].check(inst), inst, extras) for key, (name, inst, extras) in checks.items()}


def head_records(head: Head, train: Sample, test: Sample, losses: tuple[str, ...] = LOSSES) -> list[dict[str, Any]]:
    """Fit the class to the truth (epsilon) and to the weak labels with each loss; one record per loss."""
    t0 = time.time()
    ref = fit(head.model, train.fstar, "ce")
    ref_test = head.predict_test(ref)
    fits: dict[str, Fit] = {}
    out = []
    for loss in losses:
        t1 = time.time()
        solver_loss = SOLVER_LOSS[loss]
        if solver_loss not in fits:
            fits[solver_loss] = fit(head.model, train.fw, solver_loss)
        f = fits[solver_loss]
        pred, pred_test = f.pred[0], head.predict_test(f)
        rec = {
            "head": head.name, "model_kind": head.kind, "head_params": head.params, "loss": loss,
            "trained_as": solver_loss, "direction": LOSS_DIRECTION[loss], "n_train": len(train.phi), "n_test": len(test.phi),
            "certificate": float(f.certificate[0]), "certificate_kind": f.certificate_kind,
            "converged": bool(f.converged[0]),
            "min_hessian_eig": None if f.min_hessian_eig is None else float(f.min_hessian_eig[0]),
            "eps": _err(train.fstar, ref.pred[0]), "eps_certificate": float(ref.certificate[0]),
            "eps_test": _err(test.fstar, ref_test),
            **_summary(train.fstar, train.fw, pred, loss),
            "test": _summary(test.fstar, test.fw, pred_test, loss),
            "theorems": _theorems(head, train, f, ref, solver_loss),
            "universal": {"train": universal(train.fstar, train.fw, pred), "test": universal(test.fstar, test.fw, pred_test)},
            "floored": {"train": floored(train.fstar, train.fw, pred), "test": floored(test.fstar, test.fw, pred_test)},
            "wall_s": time.time() - t1 + (t1 - t0 if not out else 0.0),
        }
        out.append(rec)
    return out


# -- the command ------------------------------------------------------------------------------------------


def run_theory(run_dir: str | Path, classes: tuple[str, ...] = CLASSES, out: str | Path | None = None, *,
               dim: int = 32, convex_dim: int = 4, clusters: int = 32,
               say: Callable[[str], None] = lambda _m: None) -> list[dict[str, Any]]:
    """Append the theory records of every (pair, class) not yet in ``out``; return all records of ``out``.

    ``dim`` principal directions feed the softmax head, ``convex_dim`` the convex head's k-means (on the
    movie-pairs study a 4-dimensional clustering has a far smaller realizability gap than a 32-dimensional one).
    """
    for c in classes:
        if c not in CLASSES:
            raise UserError(f"--classes: unknown head class {c!r}; known: {', '.join(CLASSES)}")
    if dim < 1 or convex_dim < 1 or clusters < 2:
        raise UserError(f"--dim and --convex-dim must be >= 1 and --clusters >= 2 (got {dim}, {convex_dim}, {clusters})")
    run_dir = Path(run_dir)
    out_path = runfolder.check_writable_file(run_dir / THEORY_FILE if out is None else out)
    cfg, study, pairs = load_run(run_dir)
    done = {r["batch"] for r in runfolder.read_records(out_path)}
    k, task = study.num_classes, study.task
    for p in pairs:
        wp, tp = p.parts["weak"], p.parts["test"]
        for c in classes:
            params = {"dim": dim} if c == "softmax" else {"dim": convex_dim, "clusters": clusters}
            batch = runfolder.config_hash({"schema": SCHEMA, "inputs": p.digest, "pair": [p.weak, p.strong],
                                           "split_seed": p.split_seed, "head": c, **params})
            if batch in done:
                say(f"{p.weak}->{p.strong} split {p.split_seed} {c}: done (batch {batch})")
                continue
            t0 = time.time()
            Z = principal_features(p.features, params["dim"])
            train = make_sample(task, k, Z, wp.items, wp.labels, p.weak_logits)
            test = make_sample(task, k, Z, tp.items, tp.labels, p.weak_test_logits)
            head = build_head(c, train, test, k, task, clusters)
            base = {"kind": "theory", "schema": SCHEMA, "name": cfg.name, "dataset": cfg.data.dataset, "task": task, "num_classes": k,
                    "pair": f"{p.weak}->{p.strong}", "weak_model": p.weak, "strong_model": p.strong,
                    "split_seed": p.split_seed}
            recs = [{**base, **r} for r in head_records(head, train, test)]
            runfolder.append_batch(out_path, batch, recs)
            say(f"{p.weak}->{p.strong} split {p.split_seed} {c}: {len(recs)} records in {time.time() - t0:.1f}s")
    return current_records(out_path)


def current_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a theory file that count ([] when absent): those of this :data:`SCHEMA`, and per
    (pair, split, head class, loss) the one written last, so a rerun with other ``--dim``/``--clusters``
    or after an input edit supersedes the earlier records instead of adding to them."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in runfolder.read_records(path):
        if r.get("schema") == SCHEMA:
            latest.pop(key := (r["pair"], r["split_seed"], r["head"], r["loss"]), None)
            latest[key] = r
    return list(latest.values())


def load_theory(run_dir: str | Path) -> list[dict[str, Any]]:
    """The current records of ``DIR/theory.jsonl`` (:func:`current_records`)."""
    return current_records(Path(run_dir) / THEORY_FILE)


# -- the report -------------------------------------------------------------------------------------------


def _f(x: Any, spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec)


def _slack(t: dict[str, Any]) -> str:
    if t["hypotheses_met"]:
        return f"{_f(t['slack'], '+.3g')} {'holds' if t['holds'] else 'fails'}"
    return f"{_f(t['slack'], '+.3g')} (unmet: {', '.join(t['failed'])})"


def format_theory(records: list[dict[str, Any]], units: list[dict[str, Any]] = ()) -> str:
    """Markdown tables of the fits (weak-labelled part) and of T1-T3 informativeness."""
    lines = ["| pair | head | loss | eps | certificate | gain | misfit | T4 slack | T5 slack | T6 slack | T4 @F° | T5 @F° |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        t = r["theorems"]
        lines.append(f"| {r['pair']} | {r['head']} | {r['loss']} | {_f(r['eps'], '.4f')} | {_f(r['certificate'], '.1e')} "
                     f"({r['certificate_kind']}) | {_f(r['gain'], '+.4f')} | {_f(r['misfit'], '.4f')} | {_slack(t['T4'])} "
                     f"| {_slack(t['T5'])} | {_slack(t['T6'])} | {_slack(t['T4_ref'])} | {_slack(t['T5_ref'])} |")
    lines += ["", "T1-T3 informativeness on the test part (bound / |gap|; trivial bound log(1/gamma)):", "",
              "| source | n | T1 ratio (median, range) | T2 ratio | T3 ratio | beats trivial (T1/T2/T3) |", "|---|---|---|---|---|---|"]
    rows = [("theory fits", [r["universal"]["test"] for r in records])]
    rows += [(f"theory fits, floored gamma={g}", [r["floored"]["test"][g] for r in records]) for g in (records[0]["floored"]["test"] if records else [])]
    if units:
        rows.append(("run units (results.jsonl)", [unit_informativeness(u) for u in units]))
    for label, us in rows:
        if not us:
            continue
        cells = []
        for n in ("T1", "T2", "T3"):
            v = [u[n]["ratio"] for u in us if u[n]["ratio"] is not None]
            cells.append(f"{np.median(v):.3g} ({min(v):.3g}-{max(v):.3g})" if v else "n/a")
        beats = "/".join("n/a" if any(u[n]["beats_trivial"] is None for u in us) else str(sum(u[n]["beats_trivial"] for u in us))
                         for n in ("T1", "T2", "T3"))
        lines.append(f"| {label} | {len(us)} | {' | '.join(cells)} | {beats} of {len(us)} |")
    return "\n".join(lines)


def unit_informativeness(rec: dict[str, Any]) -> dict[str, Any]:
    r"""T1-T3 ratio = bound / |gap| of one pipeline unit's stored checks (gap = err_strong - err_weak).

    T1/T2's gamma is recovered from bound = sqrt(M/2)/gamma, so ``beats_trivial`` (bound < log(1/gamma))
    is known for them; T3's gamma_w is not stored (None).
    """
    gap = rec["err_strong"] - rec["err_weak"]
    out = {}
    for n, m in (("T1", "misfit_forward"), ("T2", "misfit_reverse"), ("T3", None)):
        rhs = rec["checks"][n]["rhs"]
        rhs = None if rhs is None else abs(rhs)  # T3's rhs is the (negative) lower bound on the gap
        beats = None
        if m is not None and rhs and rec[m] > 0:
            beats = bool(rhs < -math.log(math.sqrt(rec[m] / 2) / rhs))
        out[n] = {"ratio": rhs / abs(gap) if gap and rhs is not None else None, "beats_trivial": beats}
    return out
