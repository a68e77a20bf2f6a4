"""``make mutate``: mutation testing of the core modules with mutmut 3, each module with the tests that cover it.

For each entry of :data:`MODULES` (all, or the file names given as arguments): a fresh ``mutants/``, mutmut
mutating only that file, running the mutants whose names match the entry's globs (``module.x_function``,
``module.xǁClassǁmethod``), each with the entry's tests that call the mutated function. Then one line per module:
mutants, killed, survived, other (no covering test, timeout, suspicious), and

    score = killed / (killed + survived + other),

and the names of the surviving mutants. ``mutants/`` is left from the last module, so ``.venv/bin/mutmut show
NAME`` prints a survivor's diff after ``make mutate MODULES=that/module.py``. Shared settings (the packages
copied into ``mutants/``) are ``[tool.mutmut]`` in pyproject.toml.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: file -> (mutant-name globs: the functions mutated, tests that cover them)
MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "revkl_core/stats.py": (("revkl_core.stats.*",), ("tests/core/test_stats.py", "tests/core/test_meta.py")),
    "revkl_core/runfolder.py": (("revkl_core.runfolder.*",), ("tests/core/test_runfolder.py",)),
    "revkl_core/config.py": (("revkl_core.config.x_numbers_hash*", "revkl_core.config.x_plain*"),
                             ("tests/core/test_config.py", "tests/llm/test_keys.py", "tests/synthetic/test_config_keys.py")),
    "bounds/divergences.py": (("bounds.divergences.*",), ("tests/bounds/test_divergences.py",)),
    "bounds/theorems.py": (("bounds.theorems.*",), ("tests/bounds/test_theorems.py", "tests/bounds/test_rounding.py",
                                                    "tests/figures/test_counterexample_rule.py")),
    "bounds/solvers.py": (tuple(f"bounds.solvers.x_{f}*" for f in ("frank_wolfe_gap", "gap_rounding", "pointwise",
                                                                     "objective")), ("tests/bounds/test_solvers.py",)),
    "llm_experiments/units.py": (tuple(f"llm_experiments.units.x_{f}*" for f in (
        "split_seed", "input_digests", "_model_spec", "stage_base", "split_stage_key", "features_key", "plan_units")),
        ("tests/llm/test_keys.py",)),
    "llm_experiments/config.py": (("llm_experiments.config.x_stage_key*", "llm_experiments.config.x_numbers_hash*"),
                                  ("tests/llm/test_keys.py",)),
    "llm_experiments/noise.py": (("llm_experiments.noise.*",), ("tests/llm/test_noise_metrics.py",)),
    "llm_experiments/metrics.py": (("llm_experiments.metrics.*",), ("tests/llm/test_noise_metrics.py",)),
    "figures/scorecard.py": (tuple(f"figures.scorecard.x_{f}*" for f in (
        "theorem_status", "counterexample_status", "guarantee_verdict", "_exact_realizable", "_t4_inequality_fails",
        "judge")), ("tests/figures/test_scorecard.py", "tests/figures/test_counterexample_rule.py")),
}
#: Runs mutmut with this module's file and tests in place of pyproject's (argv: file, tests, workers, globs...).
RUNNER = """
import sys
from mutmut import configuration
cfg = configuration.config()
cfg.only_mutate, cfg.pytest_add_cli_args_test_selection = [sys.argv[1]], sys.argv[2].split(",")
from mutmut.__main__ import cli
cli(["run", "--max-children", sys.argv[3], *sys.argv[4:]])
"""


def run_module(path: str, workers: int) -> Counter[str]:
    """Mutate ``path``; the status of each of its selected mutants (mutmut's names), survivors printed."""
    from mutmut.stats import status_by_exit_code

    globs, tests = MODULES[path]
    shutil.rmtree("mutants", ignore_errors=True)
    subprocess.run([sys.executable, "-c", RUNNER, path, ",".join(tests), str(workers), *globs], check=False)
    meta = Path("mutants") / f"{path}.meta"
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
    chosen = {k: c for k, c in codes.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
    status = {k: status_by_exit_code[c] for k, c in chosen.items()}
    for name in sorted(k for k, s in status.items() if s == "survived"):
        print(f"survived: {name}")
    return Counter(status.values())


def main(argv: list[str]) -> int:
    workers = 2
    chosen = argv or list(MODULES)
    unknown = [p for p in chosen if p not in MODULES]
    if unknown:
        print(f"mutate: unknown module(s) {unknown}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    counts = {path: run_module(path, workers) for path in chosen}
    print("\nmutation score per module:")
    for path, c in [*counts.items(), ("all", sum(counts.values(), Counter()))]:
        n, killed = sum(c.values()), c["killed"]
        score = f"{100 * killed / n:.1f} %" if n else "no mutants"
        print(f"{path}: {n} mutants, {killed} killed, {c['survived']} survived, {n - killed - c['survived']} other "
              f"{dict(c)}; score {score}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
