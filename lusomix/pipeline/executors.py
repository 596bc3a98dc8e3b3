"""Executors: run a list of datatrove steps as N tasks, locally (processes) or on Ray.

Both are datatrove's own executors, so tasks, completion markers (resume) and per-task stats work the same
way; this module adds what a batch user needs around them: a progress line, quiet workers (task logs go
to LOGGING_DIR/logs/, not the terminal), and a hard failure when a task did not complete — datatrove's Ray
executor only warns, and a run that silently produced fewer rows is the worst outcome.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import datatrove.executor.base as _dt_base
import datatrove.executor.ray as _dt_ray
from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.io import get_datafolder
from loguru import logger

from lusomix.errors import PassFailed, UsageError
from lusomix.ray_address import check_reachable


def terminal_log_level() -> str:
    return os.environ.get("LUSOMIX_LOG_LEVEL", "WARNING")


def _task_logger(logging_dir, rank, local_rank=0, node_rank=-1):
    """datatrove's task logger with the terminal sink at LUSOMIX_LOG_LEVEL (WARNING unless -v): with many
    tasks the terminal shows progress and the summary; each task's full log still goes to
    LOGGING_DIR/logs/task_RRRRR.log."""
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    logger.add(logfile, level="DEBUG", colorize=False)
    logger.add(sys.stderr, level=terminal_log_level(), colorize=False)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


def _close_task_logger(logfile):
    logger.complete()
    logger.remove()
    logger.add(sys.stderr, level=terminal_log_level(), colorize=False)
    logfile.close()


# datatrove hard-codes its terminal sink at INFO; these modules are imported in every worker that unpickles
# one of the executors below, so the replacement applies there too.
for _module in (_dt_base, _dt_ray):
    _module.add_task_logger = _task_logger
    _module.close_task_logger = _close_task_logger


class _LocalExecutor(LocalPipelineExecutor):
    """datatrove's, defined here so that worker processes unpickling it import this module (and its
    quiet task logger)."""


class _RayExecutor(RayPipelineExecutor):
    __doc__ = _LocalExecutor.__doc__


class TaskFailed(PassFailed):
    """Some tasks of a pass did not complete (their logs say why)."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class _Progress:
    """Counts completion markers while a pass runs and prints 'PASS: done/total tasks'."""

    def __init__(self, label: str, logging_dir: str, total: int, stream=None):
        self.label, self.total, self.stream = label, total, stream or sys.stderr
        self.completions = Path(logging_dir) / "completions" if "://" not in logging_dir else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._last = -1

    def _done(self) -> int:
        return len(os.listdir(self.completions)) if self.completions and self.completions.is_dir() else 0

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._print()

    def _print(self, final: bool = False) -> None:
        done = self._done()
        if done != self._last or final:
            self._last = done
            end = "\n" if final or not self.stream.isatty() else "\r"
            self.stream.write(f"  {self.label}: {done}/{self.total} tasks done{end}")
            self.stream.flush()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._print(final=True)


def ensure_ray(address: str | None, workers: int) -> None:
    import ray

    if ray.is_initialized():
        return
    # Ray's start-up lines only with -v, like datatrove's progress logs
    level = logging.INFO if os.environ.get("LUSOMIX_LOG_LEVEL") == "INFO" else logging.ERROR
    if address:
        check_reachable(address)
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=level)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=level)


def run_tasks(
    label: str,
    pipeline: list,
    tasks: int,
    logging_dir: str,
    kind: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    resume: bool = True,
) -> None:
    """Run ``pipeline`` as ``tasks`` tasks; with ``resume``, tasks completed by an earlier run are skipped."""
    workers = min(workers or default_workers(), max(tasks, 1))
    if tasks == 0:
        return
    if kind == "local":
        executor = _LocalExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, skip_completed=resume
        )
    elif kind == "ray":
        try:
            ensure_ray(ray_address, workers)
        except ConnectionError as err:
            raise UsageError(f"cannot join the Ray cluster at {ray_address}: {err}") from None
        executor = _RayExecutor(
            pipeline,
            tasks=tasks,
            workers=workers,
            logging_dir=logging_dir,
            cpus_per_task=1,
            mem_per_cpu_gb=1,
            skip_completed=resume,
        )
    else:
        raise UsageError(f"unknown executor: {kind}")
    if not resume:  # markers of an earlier run must not count as this run's completions
        folder = get_datafolder(logging_dir)
        if folder.exists("completions"):
            folder.rm("completions", recursive=True)
    logger.remove()  # datatrove resets loguru to INFO on import
    logger.add(sys.stderr, level=terminal_log_level(), colorize=False)
    error = None
    with _Progress(label, logging_dir, tasks):
        try:
            executor.run()
        except Exception as err:  # a task raised: report which tasks are missing, below
            error = err
    missing = executor.get_incomplete_ranks(range(tasks), skip_completed=True)
    if missing or error:
        folder = get_datafolder(logging_dir)
        first = missing[0] if missing else 0
        raise TaskFailed(
            f"{label}: {len(missing)} of {tasks} tasks did not complete"
            + (f" ({type(error).__name__}: {error})" if error else "")
            + f"; see {folder.path}/logs/task_{first:05d}.log"
        )
