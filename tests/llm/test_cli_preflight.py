"""`revkl llm run`: what a user can get wrong is refused in one line before anything is written."""

from pathlib import Path

import pytest

from revkl.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs"
BOW_CONFIGS = sorted(p for p in CONFIGS.glob("*.toml") if "bow:" in p.read_text() or "-bow" in p.name
                     or p.name in ("offline-sms-spam.toml", "offline-bbc-news.toml", "offline-movie-sentiment3.toml"))


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("config", BOW_CONFIGS, ids=lambda p: p.name)
def test_dry_run_on_every_bag_of_words_config(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It ended in HFValidationError: 'bow:256' (the README's own example)."""
    assert main(["llm", "run", "--config", str(config), "--dry-run"]) == 0
    assert "hashed bag of words (no download)" in capsys.readouterr().out


def test_a_hub_config_offline_is_refused_before_anything_is_written(tmp_path: Path, capsys, monkeypatch) -> None:
    """It was a 45-line ConnectionError after the run folder was made."""
    from llm_experiments import plan

    monkeypatch.setattr(plan, "model_availability", lambda spec: (False, f"hub {spec.source} (needs --online)"))
    line = _one_line_exit_2(["llm", "run", "--config", str(CONFIGS / "gpt2-hh-rlhf.toml"), "--out", str(tmp_path / "o")],
                            capsys)
    assert "not available offline" in line and "--online" in line and not (tmp_path / "o").exists()


def test_slurm_without_sbatch_is_refused_before_anything_is_written(tmp_path: Path, capsys, monkeypatch) -> None:
    """It was a traceback after config.toml had been written into --out."""
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None if cmd == "sbatch" else real(cmd, *a, **k))
    line = _one_line_exit_2(["llm", "run", "--config", str(CONFIGS / "smoke.toml"), "--out", str(tmp_path / "o"),
                             "--launcher", "slurm"], capsys)
    assert "sbatch" in line and not (tmp_path / "o").exists()


def test_a_negative_data_seed_is_refused_before_anything_is_written(tmp_path: Path, capsys) -> None:
    """It was a traceback after the run folder had been written."""
    text = (CONFIGS / "smoke.toml").read_text()
    assert "\nseed = " in text.split("[data]", 1)[1].split("\n[", 1)[0]
    head, rest = text.split("[data]", 1)
    data, tail = rest.split("\n[", 1)
    data = "\n".join("seed = -1" if ln.startswith("seed = ") else ln for ln in data.splitlines())
    (tmp_path / "c.toml").write_text(f"{head}[data]{data}\n[{tail}")
    line = _one_line_exit_2(["llm", "run", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o")], capsys)
    assert "[data].seed" in line and not (tmp_path / "o").exists()
