"""Run a config's grid locally, or as jobs on a cluster through ``submitit``.

``local`` (the default) runs every unit in this process, in order. ``submitit-local`` and
``slurm`` split the units that are not done yet into jobs and submit them through
``submitit.AutoExecutor`` (``cluster="local"``: subprocesses of this machine; ``"slurm"``:
``sbatch``). A job is :func:`run_job`, the single-run entry point (``run.run``) restricted to
its units. The units of one weak -> strong pair share the pair's cached stages (weak labels,
ceiling; features), so by default one job takes the units of one pair and split (``[w2s]
seed_scope = "pipeline"`` gives each seed its own split); ``units_per_job`` splits such a group
further (its jobs then compute the group's stages concurrently and keep the first copy).

Jobs write one run folder at once; that is safe by construction (``run.run``): results are
appended as locked batches and read back first-copy-wins, so a unit run twice counts once; stages
are published first-copy-wins; the summary is rebuilt from ``results.jsonl`` under a lock. A
launch into a folder that already holds results submits only the units still missing, so
re-running the same command after failed or timed-out jobs resumes the grid. A Slurm job that dies
without a result is reported as failed even where ``sacct`` has no accounting to say so (:func:`wait_for`).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from llm_experiments import results
from llm_experiments.config import Config, load_config
from llm_experiments.run import prepare, run
from llm_experiments.units import plan_units
from revkl_core.runfolder import UserError

LAUNCHERS = ("local", "submitit-local", "slurm")
JOBS_DIR = "jobs"  # submitit's pickles and per-job logs, inside the run folder


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """Resources of each job (Slurm reads all of them; the local executor only ``timeout_min``)."""

    timeout_min: int = 60
    cpus_per_task: int = 1
    gpus_per_node: int = 0
    mem_gb: float | None = None
    partition: str | None = None
    account: str | None = None
    max_parallel: int = 0  # Slurm job-array parallelism; 0: no limit


def plan(cfg: Config, out: str | Path, units_per_job: int = 0) -> list[list[str]]:
    """The unit keys of each job: the units not yet in ``out``, grouped by pair and split, in chunks of ``units_per_job``."""
    if units_per_job < 0:
        raise UserError(f"--units-per-job: must be >= 0 (0: one job per pair and split), got {units_per_job}")
    done = {r["key"] for r in results.load_results(out)}
    groups: dict[tuple[str, str, int], list[str]] = {}
    for u in plan_units(cfg):
        if u.key not in done:
            groups.setdefault((u.weak, u.strong, u.split_seed), []).append(u.key)
    jobs = []
    for keys in groups.values():
        size = units_per_job or len(keys)
        jobs += [keys[i:i + size] for i in range(0, len(keys), size)]
    return jobs


def run_job(cfg: Config, out: str, keys: list[str]) -> dict[str, Any]:
    """One job: run the units ``keys`` of ``cfg`` into ``out`` (other jobs may write it at once)."""
    summary = run(cfg, out, only=keys)
    return {"units": len(keys), "n_results": summary["n_results"], "complete": summary["complete"]}


def executor(launcher: str, folder: Path, opts: JobOptions) -> Any:
    """A ``submitit.AutoExecutor`` for ``launcher`` with the job resources of ``opts``."""
    import submitit

    ex = submitit.AutoExecutor(folder=folder, cluster="local" if launcher == "submitit-local" else "slurm")
    params: dict[str, Any] = {"timeout_min": opts.timeout_min, "cpus_per_task": opts.cpus_per_task,
                              "name": "revkl-llm"}
    if launcher == "slurm":
        params.update(gpus_per_node=opts.gpus_per_node, slurm_partition=opts.partition, mem_gb=opts.mem_gb,
                      slurm_account=opts.account, slurm_array_parallelism=opts.max_parallel or None)
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def submit(ex: Any, cfg: Config, out: Path, jobs: list[list[str]]) -> list[Any]:
    """Submit one :func:`run_job` per key list (as one Slurm job array); returns the submitit jobs."""
    with ex.batch():
        handles = [ex.submit(run_job, cfg, str(out), keys) for keys in jobs]
    return handles


def summarize(cfg: Config, out: Path) -> dict[str, Any]:
    """The summary of ``out`` rebuilt from ``results.jsonl`` (a run of no unit)."""
    return run(cfg, out, only=())


def check_launcher(launcher: str) -> None:
    """UserError for an unknown launcher, or for ``slurm`` where no ``sbatch`` is on PATH (before anything is written)."""
    if launcher not in LAUNCHERS:
        raise UserError(f"--launcher: unknown launcher {launcher!r}; choose one of {', '.join(LAUNCHERS)}")
    if launcher == "slurm" and shutil.which("sbatch") is None:
        raise UserError("--launcher slurm: no `sbatch` on PATH (Slurm is not installed or not set up here); "
                        "use --launcher local or submitit-local")


def launch(config: Config | str | Path, out: str | Path, launcher: str = "local", *, opts: JobOptions | None = None,
           units_per_job: int = 0, wait: bool = True) -> dict[str, Any]:
    """Run ``config`` into ``out`` with ``launcher``; returns the summary rebuilt from ``results.jsonl``.

    With ``wait=False`` the jobs are submitted and their ids logged; ``revkl llm report OUT``
    reads the folder once they have finished.
    """
    check_launcher(launcher)
    cfg = config if isinstance(config, Config) else load_config(config)
    if launcher == "local":
        return run(cfg, out)
    out = prepare(cfg, out)  # refuses a folder of another config before anything is submitted
    jobs = plan(cfg, out, units_per_job)
    handles = submit(executor(launcher, out / JOBS_DIR, opts or JobOptions()), cfg, out, jobs) if jobs else []
    _say(f"{launcher}: {len(handles)} job(s) for {sum(map(len, jobs))} unit(s) of {cfg.name}"
         + (f" (ids {' '.join(h.job_id for h in handles)}, logs in {out / JOBS_DIR})" if handles else ""))
    if not wait:
        return summarize(cfg, out)
    failed = wait_for(handles, [len(keys) for keys in jobs], slurm=launcher == "slurm")
    summary = summarize(cfg, out)
    if failed:
        _say(f"{len(failed)} of {len(handles)} job(s) failed (logs in {out / JOBS_DIR}); rerun the same command "
             "to retry their units:\n  " + "\n  ".join(failed))
    return summary


#: Slurm job states of a job that can still produce its result.
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                           "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"})


def wait_for(handles: list[Any], units: list[int], *, slurm: bool, poll_s: float = 2.0,
             grace_s: float = 60.0) -> list[str]:
    """Wait until every job has ended; one line per failed job.

    A job ends when submitit sees its result or its failure. On Slurm, a job that has left the queue
    (:func:`slurm_active` is False) without a result for ``grace_s`` seconds (time for the result file to
    reach a shared file system) also counts as failed: without an accounting database, ``sacct`` cannot
    report a job that was killed or ran out of memory, and submitit would wait for it forever.
    """
    failed: list[str] = []
    pending = dict(enumerate(handles))
    left_at: dict[int, float] = {}
    while pending:
        for i, h in list(pending.items()):
            if h.done():
                del pending[i]
                try:
                    h.result()
                except Exception as err:  # a job's failure is reported after every job has ended
                    failed.append(f"job {h.job_id} ({units[i]} units): {str(err).strip().splitlines()[-1]}")
            elif slurm and not slurm_active(h.job_id):
                if time.monotonic() - left_at.setdefault(i, time.monotonic()) > grace_s:
                    del pending[i]
                    failed.append(f"job {h.job_id} ({units[i]} units): left the Slurm queue without a result "
                                  "(killed, out of memory or preempted?)")
        if pending:
            time.sleep(poll_s)
    return failed


def slurm_active(job_id: str) -> bool:
    """Whether Slurm still lists ``job_id`` in a state that can produce its result (``squeue``); an
    unanswered query counts as active, so a slow controller never fails a job."""
    try:
        out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return True
    if out.returncode != 0:
        return "invalid job id" not in out.stderr.lower()  # purged from the controller: gone
    return any(state.strip() in ACTIVE_STATES for state in out.stdout.splitlines())


def _say(line: str) -> None:
    """A launcher message on stderr (the package logger prints only inside a run)."""
    print(f"revkl llm: {line}", file=sys.stderr, flush=True)
