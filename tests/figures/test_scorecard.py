"""Verdict logic of the scorecard on fixtures.

Theory rows: a violated theorem never reads "holds". Empirical rows (C5, C6): three outcomes from
paired tests over matched units, flipping with the data (inside the noise, against the claim), and
studies without a weak-ceiling gap excluded and counted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from figures.matched import Obs, drop_pairs
from figures.results_io import ResultSet, RunData, load_result_set
from figures.scorecard import (
    LLM,
    META_ANALYSIS,
    POOLED_ALL,
    POOLED_LLM,
    SYNTHETIC,
    Verdict,
    bounds_rows,
    build_scorecard,
    empirical_rows,
    render_json,
    render_markdown,
    theorem_status,
)
from revkl_core import stats
from revkl_core.runfolder import UserError
from tests.figures.conftest import write_llm_run, write_theory


def _row(rows, cid: str, evidence: str = "certified theory check"):
    return next(r for r in rows if r.claim_id == cid and r.evidence == evidence)


def test_clean_report_verdicts(make_verify) -> None:
    rows = bounds_rows(make_verify())
    assert _row(rows, "C1").verdict is Verdict.HOLDS
    assert _row(rows, "C2").verdict is Verdict.HOLDS
    c3 = _row(rows, "C3")  # T4 holds, counterexamples over softmax heads: holds only under the convexity hypothesis
    assert c3.verdict is Verdict.HOLDS_UNDER and "convex" in c3.hypothesis
    assert _row(rows, "C4").verdict is Verdict.HOLDS  # counterexamples to forward KL were found
    others = {r.claim_id for r in rows if r.evidence == "other verified result"}
    assert others == {"T0", "T5", "T6"}  # every result is shown somewhere


@pytest.mark.parametrize("violated,cid", [(("T1",), "C1"), (("T2",), "C1"), (("T3",), "C2"), (("T4",), "C3")])
def test_violated_theorem_never_holds(make_verify, violated: tuple[str, ...], cid: str) -> None:
    row = _row(bounds_rows(make_verify(violated=violated)), cid)
    assert row.verdict is Verdict.NOT_REPRODUCED
    assert "3 violations" in row.measured


def test_violated_other_theorem_row(make_verify) -> None:
    row = _row(bounds_rows(make_verify(violated=("T5",))), "T5", "other verified result")
    assert row.verdict is Verdict.NOT_REPRODUCED


def test_theorem_status_edge_cases() -> None:
    assert theorem_status(None)[0] is Verdict.NOT_MEASURED
    assert theorem_status({"instances": 10, "hypotheses_met": 0, "violations": 0})[0] is Verdict.NOT_MEASURED
    assert theorem_status({"instances": 10, "hypotheses_met": 0, "violations": 2})[0] is Verdict.NOT_REPRODUCED


def test_no_counterexample_means_claims_change(make_verify) -> None:
    rows = bounds_rows(make_verify(nt_counterexamples={"NT-forward-convex": 0, "NT-reverse-softmax": 0}))
    assert _row(rows, "C3").verdict is Verdict.HOLDS
    assert _row(rows, "C4").verdict is Verdict.NOT_REPRODUCED


def test_empty_results_are_not_yet_measured(tmp_path: Path) -> None:
    rows = build_scorecard(ResultSet(root=tmp_path))  # load_result_set refuses a folder without results
    assert rows and all(r.verdict is Verdict.NOT_MEASURED for r in rows)
    assert "| C1 |" in render_markdown(rows)


def test_scorecard_with_only_bounds(make_verify) -> None:
    rows = build_scorecard(ResultSet(root=Path("."), verify=make_verify()))
    assert _row(rows, "C5", "language models").verdict is Verdict.NOT_MEASURED
    assert _row(rows, "C6", "synthetic simulator").verdict is Verdict.NOT_MEASURED


# -- empirical rows ------------------------------------------------------------------------------


def _emp(rows, cid: str, evidence: str, study: str | None = None):
    return next(r for r in rows if r.claim_id == cid and r.evidence == evidence and (study is None or r.study == study))


def _llm_rows(root: Path):
    return empirical_rows(load_result_set(root))


def _oracle_c5(records: list[dict], loss_pairs=(("reverse_kl", "forward_kl"), ("rce", "ce"))) -> tuple[str, list[int]]:
    """The C5 verdict recomputed straight from synthetic records: noise-free accuracies keyed by every identity field."""
    acc: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in records:
        if r["noise_type"] == "none":
            acc[(r["representation"], r["delta"], r["pretrain_tasks"], r["head_class"], r["K"], r["method"], r["task"])][r["loss"]] = r["acc_sw"]
    comps = []
    for rev, fwd in loss_pairs:
        both = [(100 * v[rev], 100 * v[fwd]) for v in acc.values() if rev in v and fwd in v]
        comps.append(stats.paired([a for a, _ in both], [b for _, b in both]))
    comps = stats.adjust(comps)
    return stats.combine([stats.verdict(c) for c in comps]), [c.n for c in comps]


def test_full_fixture_scorecard(full_results: Path) -> None:
    rs = load_result_set(full_results)
    rows = build_scorecard(rs)
    assert _row(rows, "C3", SYNTHETIC).verdict is Verdict.HOLDS_UNDER
    # The LLM fixture makes reverse losses 2 points better and less hurt by noise, with 0.5 points of spread.
    for cid in ("C5", "C6"):
        assert _row(rows, cid, LLM).verdict is Verdict.HOLDS
        assert _row(rows, cid, POOLED_LLM).verdict is Verdict.HOLDS
    # The synthetic fixture is a real (tiny) study: its verdict is the one the statistics give on its records.
    verdict, ns = _oracle_c5(rs.synthetic.records)
    c5 = _row(rows, "C5", SYNTHETIC)
    assert c5.verdict.value == verdict and [e["n"] for e in c5.effects] == ns
    pooled = _row(rows, "C5", POOLED_ALL)
    assert [e["k"] for e in pooled.effects] == [2, 2]  # the study is the unit: the simulator and the LLM run
    assert [e["unit_pooled"]["n"] for e in pooled.effects] == [n + 12 for n in ns]  # + 2 pairs x 6 seeds of the LLM run
    assert "of 2 studies" in pooled.measured and "pooled as if independent" in pooled.measured
    for e, e_syn, e_llm in zip(pooled.effects, c5.effects, _row(rows, "C5", LLM).effects):  # the studies' own numbers
        assert [(s["mean_diff"], s["n"]) for s in e["studies"]] == [(e_syn["mean_diff"], e_syn["n"]), (e_llm["mean_diff"], e_llm["n"])]
        assert [s[f] for s in e["studies"] for f in ("lo", "hi")] == pytest.approx([x[f] for x in (e_syn, e_llm) for f in ("lo", "hi")])
    empirical = [r for r in rows if r.claim_id in ("C5", "C6")]
    assert {r.evidence for r in empirical} == {SYNTHETIC, LLM, POOLED_LLM, POOLED_ALL}
    for r in empirical:  # every empirical row shows effect, interval, n units (k studies) and the Holm-adjusted p
        assert len(r.effects) == 2
        for e in r.effects:
            size = e["k"] if r.evidence in (POOLED_LLM, POOLED_ALL) else e["n"]
            assert e["lo"] <= e["mean_diff"] <= e["hi"] and size > 0 and e["p"] == e["p_adjusted"] >= e["p_t"]
    md = render_markdown(rows)
    assert "| C5 | " in md and f"{LLM}: llm/fixture-run" in md and f"{POOLED_LLM}: 1 study" in md
    assert "llm/fixture-run/results.jsonl" in md and "synthetic/results.jsonl" in md
    assert json.loads(render_json(rows))


def test_verdict_flips_to_inconclusive_inside_the_noise(tmp_path: Path) -> None:
    clear = tmp_path / "clear"
    write_llm_run(clear / "llm" / "run", effect=0.02, spread=0.003, slope=(0.2, 0.2))
    assert _emp(_llm_rows(clear), "C5", LLM).verdict is Verdict.HOLDS
    noisy = tmp_path / "noisy"  # a tenth of the effect, ten times the seed spread
    write_llm_run(noisy / "llm" / "run", effect=0.002, spread=0.03, slope=(0.2, 0.2))
    rows = _llm_rows(noisy)
    row = _emp(rows, "C5", LLM)
    assert row.verdict is Verdict.INCONCLUSIVE
    assert all(e["lo"] < 0 < e["hi"] for e in row.effects)
    assert _emp(rows, "C6", LLM).verdict is Verdict.INCONCLUSIVE  # same noise slope for both directions


def test_verdict_is_not_reproduced_when_the_opposite_is_significant(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "llm" / "run", effect=-0.02, spread=0.003, slope=(0.4, 0.1))
    rows = _llm_rows(tmp_path)
    for cid in ("C5", "C6"):
        row = _emp(rows, cid, LLM)
        assert row.verdict is Verdict.NOT_REPRODUCED
        assert all(e["hi"] < 0 and e["verdict"] == stats.NOT_REPRODUCED for e in row.effects)


def _synthetic_run(diffs: dict[tuple[str, str], list[float]]) -> RunData:
    """Noise-free synthetic records, one unit per task, where acc(rev) - acc(fwd) = the given differences."""
    recs = []
    for (rev, fwd), ds in diffs.items():
        for task, d in enumerate(ds):
            for loss, acc in ((rev, 0.7 + d), (fwd, 0.7)):
                recs.append({"representation": "controlled", "delta": 0.0, "pretrain_tasks": 0, "head_class": "mixture", "K": 1,
                             "method": "exact", "task": task, "noise_type": "none", "noise_rate": 0.0, "k": 3, "loss": loss, "acc_sw": acc})
    return RunData(Path("synthetic"), "synthetic", recs, None)


def test_a_study_without_noise_has_no_c6_row() -> None:
    """C6 is about noisy weak labels: a noise-free study gets a C5 row and no C6 row (not 'not yet measured')."""
    rows = empirical_rows(ResultSet(Path("."), synthetic=_synthetic_run({("reverse_kl", "forward_kl"): [0.01, 0.02, 0.03]})))
    assert [r.evidence for r in rows if r.claim_id == "C5"] == [LLM, SYNTHETIC]  # LLM: no run records
    assert [(r.evidence, r.verdict) for r in rows if r.claim_id == "C6"] == [(LLM, Verdict.NOT_MEASURED)]


def test_c5_with_reverse_ce_winning_8_of_16_units_is_not_holds() -> None:
    # reverse KL wins 13 of 16 (the 3 losses smallest: significant); reverse CE wins 8 of 16 by about as much as it
    # loses the other 8 (mean +0.05 points, inside the noise): not significant, so C5 cannot hold.
    kl = [0.01 * (i + 4) for i in range(13)] + [-0.001, -0.002, -0.003]
    rce = [0.01 * (i + 1) + 0.001 for i in range(8)] + [-0.01 * (i + 1) for i in range(8)]
    rows = empirical_rows(ResultSet(Path("."), synthetic=_synthetic_run({("reverse_kl", "forward_kl"): kl, ("rce", "ce"): rce})))
    row = _emp(rows, "C5", SYNTHETIC)
    e_kl, e_rce = row.effects
    assert (e_kl["wins"], e_kl["losses"], e_kl["verdict"]) == (13, 3, stats.HOLDS)
    assert (e_rce["wins"], e_rce["losses"], e_rce["verdict"]) == (8, 8, stats.INCONCLUSIVE)
    assert e_rce["mean_diff"] > 0 and e_rce["p"] >= 0.05
    assert row.verdict is Verdict.INCONCLUSIVE


def test_study_without_a_weak_ceiling_gap_is_excluded_and_counted(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "llm" / "a-good", dataset="good")
    write_llm_run(tmp_path / "llm" / "b-no-gap", dataset="flat", gap=0.0, gap_spread=0.01, effect=-0.05)
    write_llm_run(tmp_path / "llm" / "c-one-seed", dataset="single", seeds=1)  # no spread: a gap cannot be judged
    rows = _llm_rows(tmp_path)
    for cid in ("C5", "C6"):
        assert _emp(rows, cid, LLM, "llm/a-good").verdict is Verdict.HOLDS
        for study in ("llm/b-no-gap", "llm/c-one-seed"):
            ex = _emp(rows, cid, LLM, study)
            assert ex.verdict is Verdict.EXCLUDED and ex.effects  # reported with its numbers
            assert not any(g["significant"] for g in ex.gaps.values())
        pooled = _emp(rows, cid, POOLED_LLM)
        assert "2 of 3 studies" in pooled.measured and "holds in 1 of 1 study" in pooled.measured
        assert [e["unit_pooled"]["n"] for e in pooled.effects] == [12, 12]  # only the included study's units
        assert [e["k"] for e in pooled.effects] == [1, 1]  # one study: no pooling, its own interval and p
        good = _emp(rows, cid, LLM, "llm/a-good")
        assert [e[f] for e in pooled.effects for f in ("mean_diff", "p")] == pytest.approx([e[f] for e in good.effects for f in ("mean_diff", "p")])
        assert pooled.verdict is Verdict.HOLDS  # the excluded study's opposite effect does not count
    assert json.loads(render_json(rows))  # the one-seed interval (NaN) is written as null


def _heterogeneous_studies(root: Path) -> None:
    """Three LLM studies whose reverse losses gain 4, 0 and 1 points: consistent inside each study, not between them."""
    for name, effect in (("a", 0.04), ("b", 0.0), ("c", 0.01)):
        write_llm_run(root / "llm" / name, dataset=name, effect=effect, rng_seed=ord(name))


def test_pooled_rows_take_the_study_as_the_unit(tmp_path: Path) -> None:
    """36 units in 3 studies whose effects differ: pooling the units as independent calls it significant; the
    random-effects meta-analysis over the 3 study effects (tau^2 > 0) does not, and that is the verdict."""
    _heterogeneous_studies(tmp_path)
    rows = _llm_rows(tmp_path)
    pooled = _emp(rows, "C5", POOLED_LLM)
    studies = [_emp(rows, "C5", LLM, f"llm/{n}") for n in "abc"]
    assert pooled.verdict is Verdict.INCONCLUSIVE and "holds in 2 of 3 studies" in pooled.measured
    for i, e in enumerate(pooled.effects):
        assert e["analysis"] == META_ANALYSIS and e["k"] == 3 and e["tau2"] > 0 and e["i2"] > 0.5
        assert e["unit_pooled"]["n"] == 36 and e["unit_pooled"]["p"] < 0.05 <= e["p"]
        assert e["pi_lo"] < e["lo"] < e["hi"] < e["pi_hi"]
        # the inputs are the studies' own rows: mean paired difference, se and n of their unit-level comparison
        inputs = [stats.StudyEffect.of(r.study, r.effects[i]["mean_diff"], r.effects[i]["se"], r.effects[i]["n"]) for r in studies]
        m = stats.meta_analysis(inputs)
        assert (e["mean_diff"], e["lo"], e["hi"], e["p_t"], e["tau2"]) == pytest.approx((m.mean_diff, m.lo, m.hi, m.p_t, m.tau2))
    assert [e["p"] for e in pooled.effects] == pytest.approx(stats.holm([e["p_t"] for e in pooled.effects]))
    md = render_markdown(rows)
    assert "over k = 3 studies (τ² = " in md and "pooled as if independent" in md


def test_identical_studies_pool_to_the_fixed_effect_answer(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):  # the same records three times: no between-study variance
        write_llm_run(tmp_path / "llm" / name, dataset="same", rng_seed=3)
    e = _emp(_llm_rows(tmp_path), "C5", POOLED_LLM).effects[0]
    (s, *_), n_studies = e["studies"], len(e["studies"])
    assert (e["k"], e["tau2"], e["i2"]) == (3, 0.0, 0.0)
    assert e["mean_diff"] == pytest.approx(s["mean_diff"]) and e["se"] == pytest.approx(s["se"] / np.sqrt(n_studies))


def test_pair_without_a_gap_is_left_out_of_an_included_study(tmp_path: Path) -> None:
    run = tmp_path / "llm" / "mixed"
    write_llm_run(run, pairs=("minilm->mpnet",), seeds=8)  # 8 units: 6 could not reach p < 0.05 after Holm
    write_llm_run(run, pairs=("mpnet->mpnet",), gap=0.0, gap_spread=0.01, effect=-0.05, rng_seed=2)
    rows = _llm_rows(tmp_path)
    row = _emp(rows, "C5", LLM)
    assert row.verdict is Verdict.HOLDS and [e["n"] for e in row.effects] == [8, 8]
    assert row.gaps["minilm->mpnet"]["significant"] and not row.gaps["mpnet->mpnet"]["significant"]
    assert "0 of 1 studies (and 1 pair(s) inside included studies)" in _emp(rows, "C5", POOLED_LLM).measured


def _obs(unit: str, kind: str, level: float, loss: str, acc: float, k: int = 2) -> Obs:
    from figures.matched import informative

    return Obs((unit,), kind, level, informative(kind, level, k), loss, acc)


def test_informative_noise_levels() -> None:
    from figures.matched import informative

    assert informative("flip", 0.49, 2) and not informative("flip", 0.5, 2) and informative("flip", 0.5, 3)
    assert not informative("flip", 2 / 3, 3) and informative("none", 0.0, 2)
    assert informative("shrink", 1.0, 2, 0.1) and not informative("shrink", 1.0, 2, 0.0) and informative("shrink", 0.3, 2, 0.0)
    assert informative("swap_top", 0.3, 2) and not informative("swap_top", 0.5, 2) and not informative("shrink_all", 1.0, 3, 0.0)
    with pytest.raises(ValueError, match="'blur'"):
        informative("blur", 0.1, 2)


def test_drop_pairs_average_informative_levels_per_unit() -> None:
    obs = [_obs("u", "none", 0.0, "reverse_kl", 0.9), _obs("u", "none", 0.0, "forward_kl", 0.9),
           _obs("u", "flip", 0.2, "reverse_kl", 0.85), _obs("u", "flip", 0.4, "reverse_kl", 0.5),
           _obs("u", "flip", 0.2, "forward_kl", 0.8), _obs("u", "flip", 0.4, "forward_kl", 0.7),
           _obs("u", "flip", 0.5, "reverse_kl", 0.9), _obs("u", "flip", 0.5, "forward_kl", 0.1),
           _obs("v", "none", 0.0, "reverse_kl", 0.9), _obs("v", "flip", 0.2, "reverse_kl", 0.8)]  # v: no forward run
    # Flip rate 0.5 (two classes: labels independent of the truth) is left out; the rest are averaged.
    fwd, rev = drop_pairs(obs, "x")[("reverse_kl", "forward_kl")]
    assert (fwd, rev) == (pytest.approx([0.15]), pytest.approx([0.225]))  # reverse lost more here
    # With three classes a flip rate of 0.5 still carries signal (the truth keeps 1/2 against 1/4 each).
    obs3 = [_obs(o.unit[0], o.noise, o.level, o.loss, o.acc, k=3) for o in obs]
    fwd3, rev3 = drop_pairs(obs3, "x")[("reverse_kl", "forward_kl")]
    assert (fwd3, rev3) == (pytest.approx([(0.1 + 0.2 + 0.8) / 3]), pytest.approx([(0.05 + 0.4 + 0.0) / 3]))


def test_equal_drops_are_a_tie_whatever_the_order_of_levels() -> None:
    """Forward and reverse with the same accuracies at permuted noise levels lose exactly as much: a tie.
    (Plain float sums depend on the order, e.g. 0.3 + 0.6 + 0.1 != 0.3 + 0.1 + 0.6, and a set's order on the process.)"""
    rng = np.random.default_rng(0)
    levels = (0.1, 0.2, 0.3, 0.4)
    for _ in range(50):
        row = rng.integers(0, 401, size=len(levels)) / 400  # accuracies on 400 test items
        accs = {"forward_kl": row, "reverse_kl": rng.permutation(row)}
        obs = [_obs("u", "none", 0.0, loss, 0.9) for loss in accs]
        obs += [_obs("u", "flip", lv, loss, float(a), k=10) for loss, r in accs.items() for lv, a in zip(levels, r)]
        fwd, rev = drop_pairs(obs, "x")[("reverse_kl", "forward_kl")]
        assert fwd == rev


def test_two_records_on_one_unit_name_the_file() -> None:
    run = _synthetic_run({("reverse_kl", "forward_kl"): [0.01, 0.02]})
    run.records.append(dict(run.records[0]))
    with pytest.raises(UserError, match="synthetic/results.jsonl: two records for one matched unit"):
        empirical_rows(ResultSet(Path("."), synthetic=run))


def test_a_record_without_a_field_is_named(tmp_path: Path) -> None:
    run = _synthetic_run({("reverse_kl", "forward_kl"): [0.01, 0.02]})
    del run.records[2]["acc_sw"]
    with pytest.raises(UserError, match=r"synthetic/results.jsonl: record 3 lacks field\(s\) \['acc_sw'\]"):
        empirical_rows(ResultSet(Path("."), synthetic=run))


def test_gap_interval_is_the_student_t_interval_over_seeds(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "llm" / "run", pairs=("minilm->mpnet",), seeds=3, gap=0.1, gap_spread=0.02, rng_seed=5)
    recs = load_result_set(tmp_path).llm[0].records
    per_seed = {r["seed"]: 100 * (r["acc_ceiling"] - r["acc_weak"]) for r in recs}
    g = _emp(_llm_rows(tmp_path), "C5", LLM).gaps["minilm->mpnet"]
    iv = stats.t_interval(list(per_seed.values()))
    assert (g["mean"], g["lo"], g["hi"], g["n"]) == pytest.approx((iv.mean, iv.lo, iv.hi, 3))
    assert g["hi"] - g["lo"] == pytest.approx(2 * 4.302652729911275 * np.std(list(per_seed.values()), ddof=1) / np.sqrt(3))


def test_c2_names_t3_as_the_projects_own_bound(make_verify) -> None:
    row = _row(bounds_rows(make_verify()), "C2")
    assert "T3, the project's own bound, not the paper's" in row.measured


def test_real_feature_rows_come_from_theory_records(tmp_path: Path) -> None:
    """C1/C3/C4 on language-model features: T4 at F° for certified fits, T1-T3 informativeness, read from theory.jsonl."""
    from figures.scorecard import REAL_FEATURES, real_feature_rows
    from revkl_core.runfolder import append_batch, read_records

    run = tmp_path / "llm" / "movie"
    run.mkdir(parents=True)
    write_theory(run, np.random.default_rng(0))
    data = RunData(path=run, rel="llm/movie", records=[], summary=None)
    rows = {r.claim_id: r for r in real_feature_rows([data])}
    assert {r.evidence for r in rows.values()} == {REAL_FEATURES}
    assert rows["C3"].verdict is Verdict.HOLDS and "1/1 certified" in rows["C3"].measured
    assert rows["C4"].verdict is Verdict.HOLDS and "2/2 fail" in rows["C4"].measured  # forward KL and CE, convex head
    assert rows["C1"].verdict is Verdict.HOLDS and "24/24 hold" in rows["C1"].measured

    recs = read_records(run / "theory.jsonl")  # the convex reverse-KL fit now fails T4 at F°: C3 is not reproduced
    for r in recs:
        if r["head"] == "convex" and r["loss"] == "reverse_kl":
            r["theorems"]["T4_ref"].update(slack=-0.01, holds=False)
    (run / "theory.jsonl").unlink()
    append_batch(run / "theory.jsonl", "edited", [{k: v for k, v in r.items() if k not in ("batch", "batch_size")} for r in recs])
    assert {r.claim_id: r for r in real_feature_rows([data])}["C3"].verdict is Verdict.NOT_REPRODUCED
    assert real_feature_rows([RunData(path=tmp_path, rel="x", records=[], summary=None)]) == []
