"""`llm report`: t-intervals over seeds, PGR with its interval, a paired win table per noise level."""

from pathlib import Path

from llm_experiments import results
from llm_experiments.config import config_from_dict, to_toml
from llm_experiments.report import format_report
from revkl_core.runfolder import atomic_write_json
from revkl_core.stats import paired, t_interval

LEVELS = (0.0, 0.3)


def _acc(loss: str, seed: int, level: float) -> float:
    return 0.70 + 0.01 * seed + (0.05 if loss == "reverse_kl" else 0.0) * (1 + level) - 0.2 * level + 0.003 * (seed * seed % 3)


def _folder(tmp_path: Path, ceiling: float = 0.9) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    data = tmp_path / "reviews.jsonl"
    data.write_text('{"text": "a", "label": 0}\n')
    cfg = config_from_dict({"name": "rep", "data": {"dataset": "jsonl", "options": {"path": str(data)}},
                            "models": {"pairs": [["tiny-gpt2", "tiny-gpt2-wide"]]}})
    (run / "config.toml").write_text(to_toml(cfg))
    for loss in ("forward_kl", "reverse_kl"):
        for seed in range(4):
            for level in LEVELS:
                acc = _acc(loss, seed, level)
                nz = {"kind": "none", "rate": 0.0, "alpha": None} if level == 0 else {"kind": "flip", "rate": level, "alpha": None}
                rec = {f: None for f in results.RECORD_FIELDS}
                rec.update({"kind": "w2s", "key": f"{loss}-{seed}-{level}", "name": "rep", "dataset": "jsonl",
                            "data_name": "jsonl (reviews.jsonl)", "pair": "w->s", "loss": loss, "aux_conf": 0.0,
                            "mirror_weight": 0.0, "seed": seed, "seed_scope": "pipeline", "split_seed": seed, "noise": nz,
                            "noise_level": level, "acc_strong": acc, "acc_weak": 0.6, "acc_ceiling": ceiling,
                            "pgr": (acc - 0.6) / (ceiling - 0.6)})
                results.append_record(run, rec)
    recs = results.load_results(run)
    atomic_write_json(run / "summary.json", {"keys": [r["key"] for r in recs]})
    return run


def test_report_cells_come_from_revkl_stats(tmp_path: Path) -> None:
    text = format_report(_folder(tmp_path))
    accs = [_acc("reverse_kl", s, 0.0) for s in range(4)]
    iv = t_interval(accs)
    assert f"{100 * iv.mean:.2f} [{100 * iv.lo:.2f}, {100 * iv.hi:.2f}] (n=4)" in text
    p = t_interval([(a - 0.6) / 0.3 for a in accs])
    assert f"{p.mean:.2f} [{p.lo:.2f}, {p.hi:.2f}] (n=4)" in text
    for level in LEVELS:
        c = paired([_acc("reverse_kl", s, level) for s in range(4)], [_acc("forward_kl", s, level) for s in range(4)])
        row = (f"| {level:g} | reverse_kl>forward_kl | 4 | {100 * c.mean_diff:.2f} [{100 * c.lo:.2f}, {100 * c.hi:.2f}] | "
               f"{c.wins} / {c.ties} / {c.losses} | {c.p_t:.3g} | {c.p_wilcoxon:.3g} | {c.p_sign:.3g} |")
        assert row in text
    assert "| jsonl (reviews.jsonl) | w->s |" in text and "| jsonl | w->s |" not in text


def test_report_reads_only_the_units_of_the_latest_plan(tmp_path: Path) -> None:
    run = _folder(tmp_path)
    keep = [k for k in results.load_summary(run)["keys"] if not k.startswith("forward_kl")]
    atomic_write_json(run / "summary.json", {"keys": keep})
    text = format_report(run)
    assert "forward_kl" not in text and "reverse_kl" in text


def test_pgr_is_undefined_when_the_ceiling_is_below_the_weak_model(tmp_path: Path) -> None:
    """It printed a confident 'PGR 0.86 [0.34, 1.38]' over a negative denominator (ceiling 44 %, weak 64 %)."""
    text = format_report(_folder(tmp_path, ceiling=0.44))
    row = next(ln for ln in text[text.index("PGR ="):].splitlines() if ln.startswith("| jsonl (reviews.jsonl) | w->s |"))
    assert row.count("undefined: ceiling 44.00 <= weak 60.00") == 2 and "(n=" not in row
