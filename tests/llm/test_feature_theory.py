"""`revkl llm theory` on a tiny synthetic last-layer run folder built with the pipeline's cache layout."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from bounds.classes import SoftmaxLinearClass
from bounds.solvers import fit
from llm_experiments import feature_theory as ft
from llm_experiments.config import config_from_dict, to_toml
from llm_experiments.study import load_study
from llm_experiments.units import features_key, input_digests, split_stage_key
from revkl.cli import main
from revkl_core.runfolder import UserError

SMOKE = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs" / "smoke.toml"


def _score(text: str) -> int:
    words = text.split()
    return sum(w in ("good", "great", "fine", "superb", "lovely") for w in words) - sum(
        w in ("bad", "awful", "poor", "dull", "weak") for w in words)


def make_run(root: Path, mode: str = "last_layer", n: int = 40, d: int = 12) -> Path:
    """config.toml and cache/{features,weak}-KEY.pt at the keys `revkl llm run` gives them.

    Features: the texts' sentiment score plus noise in one direction, noise elsewhere; the weak
    model's logit is a noisy multiple of the pair's score difference.
    """
    raw = tomllib.loads(SMOKE.read_text())
    raw["data"].update(gt=n, weak=n, test=n)
    raw["models"]["mode"] = mode
    raw["w2s"].update(seeds=[0, 1], seed_scope="head")  # one data split (seed 0) shared by both seeds
    cfg = config_from_dict(raw)
    run = root / "run"
    (run / "cache").mkdir(parents=True)
    (run / "config.toml").write_text(to_toml(cfg))
    study = load_study(cfg, [0])
    rng = np.random.default_rng(0)
    s = np.array([_score(t) for t in study.texts], dtype=float)
    f = rng.normal(size=(len(study.texts), d))
    f[:, 0] += 1.5 * s
    f = (f - f.mean(0)) / f.std(0)
    weak, strong = cfg.models.pairs[0]

    def logits(part: str) -> torch.Tensor:
        it = study.splits[0][part].items
        return torch.as_tensor(0.6 * (s[it[:, 0]] - s[it[:, 1]]) + rng.normal(scale=1.0, size=len(it)))

    digests = input_digests(cfg)
    torch.save({"features": torch.as_tensor(f, dtype=torch.float32), "wall_s": 0.0},
               run / "cache" / f"features-{features_key(cfg, study.texts, strong, digests)}.pt")
    torch.save({"weak_logits": logits("weak"), "test_logits": logits("test"), "wall_s": 0.0},
               run / "cache" / f"weak-{split_stage_key(cfg, digests, 'weak', weak, 0)}.pt")
    return run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = make_run(tmp_path_factory.mktemp("theory"))
    ft.run_theory(run, dim=6, convex_dim=3, clusters=6)
    return run


def test_records_fields_and_theorems(run_dir: Path) -> None:
    recs = ft.load_theory(run_dir)
    assert len(recs) == 8 and {(r["head"], r["loss"]) for r in recs} == {(h, l) for h in ft.CLASSES for l in ft.LOSSES}
    for r in recs:
        assert set(ft.RECORD_FIELDS) <= set(r)
        assert r["n_train"] == 80 and r["gain"] == pytest.approx(r["err_weak"] - r["err_strong"])
        assert r["misfit"] == r[f"misfit_{r['direction']}"] and r["eps"] > 0
        for split in ("train", "test"):
            u = r["universal"][split]
            assert all(u[t]["holds"] for t in ("T1", "T2", "T3"))
            assert u["T1"]["ratio"] == pytest.approx(u["T1"]["bound"] / abs(u["T1"]["gap"]))
            assert u["T3"]["bound"] > 0 and u["T3"]["ratio"] > 0  # the size of T3's lower bound on the gap
            assert set(r["floored"][split]) == {f"{g:g}" for g in ft.FLOORS}
    by = {(r["head"], r["loss"]): r for r in recs}
    rev = by[("convex", "reverse_kl")]
    assert rev["model_kind"] == "probability-convex" and rev["certificate_kind"] == "frank-wolfe-gap"
    # T4 relative to the class's best member F°: every hypothesis met, holds within the certificate.
    t4 = rev["theorems"]["T4_ref"]
    assert t4["hypotheses_met"] and t4["holds"] and t4["lhs"] <= t4["rhs"] + rev["certificate"] + 1e-9
    # Against the one-hot truth (not in the class) T4 names 'realizable' as unmet; T6 applies and holds.
    assert rev["theorems"]["T4"]["failed"] == ["realizable"]
    t6 = rev["theorems"]["T6"]
    assert t6["hypotheses_met"] and t6["holds"] and t6["realizability_term"] > 0
    assert t6["rhs"] == pytest.approx(rev["err_weak"] - rev["misfit"] + rev["certificate"] + t6["realizability_term"])
    # Softmax heads: T6 names the missing convexity; T5 holds at F° for the forward fit (all hypotheses met).
    assert "prob_convex" in by[("softmax", "reverse_kl")]["theorems"]["T6"]["failed"]
    t5 = by[("softmax", "forward_kl")]["theorems"]["T5_ref"]
    assert t5["hypotheses_met"] and t5["holds"]
    assert by[("softmax", "reverse_kl")]["theorems"]["T5_ref"]["failed"] == ["forward_fit"]
    # CE and forward KL share the minimiser; floored errors are reported and differ from the raw ones.
    assert by[("softmax", "ce")]["err_strong"] == by[("softmax", "forward_kl")]["err_strong"]
    fl = rev["floored"]["test"]["0.1"]
    assert fl["err_weak"] != rev["test"]["err_weak"] and fl["T1"]["gamma"] >= 0.05 - 1e-12


def test_eps_and_certificate_match_a_direct_fit(run_dir: Path) -> None:
    """The softmax head rebuilt independently (eigh of the covariance, not the SVD) gives the same numbers."""
    recs = {(r["head"], r["loss"]): r for r in ft.load_theory(run_dir)}
    [f_path], [w_path] = (run_dir / "cache").glob("features-*.pt"), (run_dir / "cache").glob("weak-*.pt")
    f = torch.load(f_path)["features"].double().numpy()
    wl = torch.load(w_path)["weak_logits"].double().numpy()
    study = load_study(config_from_dict(tomllib.loads((run_dir / "config.toml").read_text())), [0])
    X = f - f.mean(0)
    vals, vecs = np.linalg.eigh(X.T @ X)
    Z = X @ vecs[:, ::-1][:, :6]
    Z /= Z.std(0)
    it = study.splits[0]["weak"].items
    phi = Z[it[:, 0]] - Z[it[:, 1]]
    q = 1 / (1 + np.exp(-wl))
    X2 = np.concatenate([phi, -phi])
    fw = np.concatenate([np.stack([1 - q, q], 1), np.stack([q, 1 - q], 1)])
    fstar = np.concatenate([np.tile([0.0, 1.0], (len(q), 1)), np.tile([1.0, 0.0], (len(q), 1))])
    model = SoftmaxLinearClass(X2[None], 2)
    ref = fit(model, fstar, "ce")
    eps = float(np.mean(-np.log(ref.pred[0][fstar == 1])))
    assert recs[("softmax", "reverse_kl")]["eps"] == pytest.approx(eps, rel=1e-7, abs=1e-10)
    fwd = fit(model, fw, "forward_kl")
    r = recs[("softmax", "forward_kl")]
    assert fwd.certificate[0] <= 1e-9 and r["certificate"] <= 1e-9 and r["converged"]
    err = float(np.mean(-np.log(fwd.pred[0][fstar == 1])))
    assert r["err_strong"] == pytest.approx(err, rel=1e-7)


def test_rerun_skips_done_work(run_dir: Path) -> None:
    path = run_dir / ft.THEORY_FILE
    before = path.read_bytes()
    recs = ft.run_theory(run_dir, dim=6, convex_dim=3, clusters=6)
    assert path.read_bytes() == before and len(recs) == 8
    recs = ft.run_theory(run_dir, ("softmax",), dim=5, clusters=6)  # other inputs: a new batch supersedes
    assert len(ft.runfolder.read_records(path)) == 12 and len(recs) == 8 and len(ft.load_theory(run_dir)) == 8
    assert {r["head"] for r in recs[-4:]} == {"softmax"}  # the latest softmax records, not those of dim 6
    assert [r["batch"] for r in recs if r["head"] == "softmax"] != [r["batch"] for r in ft.runfolder.read_records(path)[:4]]


def test_command_prints_the_table_and_user_errors(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["llm", "theory", str(run_dir), "--classes", "convex", "--out", str(out), "--dim", "6", "--convex-dim", "3", "--clusters", "6"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"\| run \S* \| convex \| reverse_kl \|", text) is None  # pair label, not the folder
    assert "| tiny-gpt2->tiny-gpt2-wide | convex | reverse_kl |" in text and "T1-T3 informativeness" in text
    assert len(ft.runfolder.read_records(out)) == 4
    assert main(["llm", "theory", str(run_dir), "--classes", "mixture"]) == 2
    assert "unknown head class 'mixture'" in capsys.readouterr().err
    full = make_run(tmp_path / "full", mode="full")
    with pytest.raises(UserError, match="last_layer"):
        ft.run_theory(full)


def test_cache_files_of_other_inputs_are_never_used(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited data file or model folder changes the stage keys: the old cache files no longer count."""
    import llm_experiments.units as units

    monkeypatch.setattr(units, "input_digests", lambda cfg: {"/data/pairs.jsonl": "edited"})
    with pytest.raises(UserError, match="no cached weak labels for any pair and split of the config's current inputs"):
        ft.load_run(run_dir)


def test_fits_are_deterministic(run_dir: Path, tmp_path: Path) -> None:
    a = ft.run_theory(run_dir, ("convex",), tmp_path / "a.jsonl", dim=6, convex_dim=3, clusters=6)
    b = ft.run_theory(run_dir, ("convex",), tmp_path / "b.jsonl", dim=6, convex_dim=3, clusters=6)
    strip = lambda recs: [{k: v for k, v in r.items() if k != "wall_s"} for r in recs]  # noqa: E731
    assert strip(a) == strip(b)
