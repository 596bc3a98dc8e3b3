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
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import datatrove.executor.base as _dt_base
import datatrove.executor.ray as _dt_ray
import multiprocess
from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.utils.stats import PipelineStats
from loguru import logger

from lusomix.errors import PassFailed, UsageError
from lusomix.pipeline.progress import PassProgress, TaskCounter, with_counter
from lusomix.ray_address import check_reachable
from lusomix.run_folder import RunFolder


def terminal_log_level() -> str:
    return os.environ.get("LUSOMIX_LOG_LEVEL", "WARNING")


def _task_logger(logging_dir, rank, local_rank=0, node_rank=-1):
    """datatrove's task logger with the terminal sink at LUSOMIX_LOG_LEVEL (WARNING unless -v): with many
    tasks the terminal shows progress and the summary; each task's full log still goes to
    LOGGING_DIR/logs/task_RRRRR.log."""
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    # catch=False: a log that cannot be written (a full disk) fails the task with that error, rather than
    # loguru printing a wall of "Logging error" to the terminal
    logger.add(logfile, level="DEBUG", colorize=False, catch=False)
    logger.add(sys.stderr, level=terminal_log_level(), colorize=False, filter=_terminal_filter)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


def _terminal_filter(record) -> bool:
    """A failed task's traceback goes to its log file only (the run's last line names that file), unless
    -v asked for everything."""
    return record["exception"] is None or terminal_log_level() == "INFO"


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


class _RankWorker(_dt_ray.RankWorker):
    """datatrove's Ray actor, running its ranks in the actor's own process. datatrove's runs each rank in a
    child of the actor (a multiprocess pool), and a pool whose child dies (the OOM killer, a kill -9) waits
    for it for ever: the run hangs. Here the actor dies with its work, Ray reports the actor's death, and the
    executor resubmits the task (datatrove: at most 3 times)."""

    def run_for_rank(self, executor_ref, ranks: list[int], node_ips: list[str], node_idx: int) -> PipelineStats:
        os.environ["RAY_NODELIST"] = ",".join(node_ips)
        os.environ["RAY_NODEID"] = str(node_idx)
        node_rank = -1 if executor_ref.nodes_per_task == 1 else node_idx
        first_id = 0 if executor_ref.log_first else 1  # as datatrove numbers them: who logs to the console
        for rank_id, rank in enumerate(ranks, start=first_id):
            executor_ref._run_for_rank(rank, rank_id, node_rank=node_rank)
        return PipelineStats()


# looked up by datatrove's task manager, in the driver, each time it starts an actor
_dt_ray.RankWorker = _RankWorker  # type: ignore[misc]


class NodesGone(Exception):
    """Under Ray: no node of the cluster has had a CPU for the configured wait (every worker node gone)."""


class _RayTaskManager(_dt_ray.RayTaskManager):
    """datatrove's, made to end when nodes go. Theirs waits for ever when no node is left to run a task (a
    placement group that cannot be placed stays pending): here, once the cluster has had no node with a CPU
    for ``no_nodes_wait_s`` (an autoscaler's replacement gets that long to join), the pass ends with
    :class:`NodesGone`; completed tasks keep their markers, so the same command resumes. A task waiting for
    its placement gives up at that point too, so that datatrove's clean-up, which waits for its submitting
    threads, ends. And a task whose actor is lost before the task starts is placed again (see submit_task)."""

    no_nodes_wait_s = 600.0  # run_tasks sets its pass's value (in the driver, the only process using this)
    _POLL_S = 5.0
    _PLACE_TRIES = 3  # as datatrove's resubmissions of a task that failed once started

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._no_nodes_since: float | None = None
        self._stopping = threading.Event()

    def submit_task(self, executor_ref, ranks_to_submit: list[int], remote_options: dict) -> Future:
        """datatrove's, made to end: the placement wait gives up when the pass stops, and a task whose actor
        died before the task started (its node lost) is placed again. In datatrove's, either left the task's
        future unresolved and the run waiting for it for ever."""
        pg_future: Future = Future()

        def submit() -> None:
            error: BaseException = NodesGone("the task was never placed")
            for _ in range(self._PLACE_TRIES):
                try:
                    pg_future.set_result(self._place(executor_ref, ranks_to_submit, remote_options))
                    return
                except NodesGone as err:
                    error = err
                    break
                except Exception as err:  # e.g. RayActorError: the actor's node went before its task started
                    logger.warning(f"task {ranks_to_submit} could not start ({type(err).__name__}): placing it again")
                    error = err
            pg_future.set_exception(error)  # datatrove drops the task: run_tasks reports it as not completed

        self.pg_futures.append(self.executor.submit(submit))
        return pg_future

    def _place(self, executor_ref, ranks_to_submit: list[int], remote_options: dict) -> list:
        """A placement group, the task's actors in it, and the task started on them (datatrove's steps)."""
        import ray

        bundle = _dt_ray.convert_remote_options_to_bundle(remote_options)
        pg = ray.util.placement_group([bundle] * self.nodes_per_task)
        try:
            self._await([pg.ready()])
            options = {"placement_group": pg, **remote_options}
            workers: list[Any] = [
                ray.remote(_RankWorker).options(placement_group_bundle_index=i, **options).remote()
                for i in range(self.nodes_per_task)
            ]
            node_ips = self._await([worker.get_node_ip.remote() for worker in workers])
        except BaseException:
            ray.util.remove_placement_group(pg)
            raise
        tasks = [
            worker.run_for_rank.remote(executor_ref, ranks_to_submit, node_ips, node_idx)
            for node_idx, worker in enumerate(workers)
        ]
        group = _dt_ray.TaskGroup(tasks=tasks, workers=workers, placement_group=pg, ranks=ranks_to_submit)
        for task in tasks:
            self.task_to_group[task] = group
            self.timeout_manager.add_task(task)
        return tasks

    def _await(self, refs: list) -> list:
        """``ray.get(refs)`` that gives up when the pass stops. A plain ``ray.get`` can wait for ever: when the
        placement group's node goes after the group was placed, the group is placed again, and its actors'
        creation waits with it until a node comes back; the pass's clean-up then waits for this thread."""
        import ray

        while len(ray.wait(refs, num_returns=len(refs), timeout=self._POLL_S)[0]) < len(refs):
            if self._stopping.is_set():
                raise NodesGone("the task was never placed")
        return ray.get(refs)

    def wait(self, tasks, timeout: int = 0, num_returns: int = 1):
        finished, unfinished = super().wait(tasks, timeout=timeout, num_returns=num_returns)
        if not finished:
            self._check_nodes()
        return finished, unfinished

    def _check_nodes(self) -> None:
        import ray

        if any(node["Alive"] and node["Resources"].get("CPU", 0) > 0 for node in ray.nodes()):
            self._no_nodes_since = None
            return
        now = time.monotonic()
        self._no_nodes_since = self._no_nodes_since or now
        if now - self._no_nodes_since >= self.no_nodes_wait_s:
            raise NodesGone(
                f"no node of the Ray cluster has had a CPU for {self.no_nodes_wait_s:g} s: every worker node is gone"
                " (executor.no_nodes_wait_s); rerun the same command once nodes are back to resume"
            )

    def clean_up(self) -> None:
        self._stopping.set()
        super().clean_up()


_dt_ray.RayTaskManager = _RayTaskManager  # type: ignore[misc]


class _LocalExecutor(LocalPipelineExecutor):
    """datatrove's, defined here so that worker processes unpickling it import this module (and its
    quiet task logger)."""


class _RayExecutor(RayPipelineExecutor):
    __doc__ = _LocalExecutor.__doc__


class TaskFailed(PassFailed):
    """Some tasks of a pass did not complete (their logs say why); ``cause``: the error a task raised."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def ensure_ray(address: str | None, workers: int) -> None:
    import ray

    if address:  # checked even where this process runs a Ray already: the address the user gave must answer
        check_reachable(address)
    if ray.is_initialized():
        return
    # Ray's start-up lines only with -v, like datatrove's progress logs
    level = logging.INFO if os.environ.get("LUSOMIX_LOG_LEVEL") == "INFO" else logging.ERROR
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=level)
    else:
        # "local": a Ray of this run's own, even where another cluster runs on the machine (Ray would join it)
        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=level)


def run_tasks(
    label: str,
    pipeline: list,
    tasks: int,
    logs: RunFolder,
    kind: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    resume: bool = True,
    inputs: list[str] | None = None,  # each task's input file: progress and time left by bytes read
    earlier: Callable[[int], dict] | None = None,  # a completed task's captures and documents, for resumed runs
    no_nodes_wait_s: float = 600.0,  # under Ray: how long a cluster with no node that has a CPU is waited for
    units: int | None = None,  # progress in units of work, one item handed on by a task per unit (dedup)
) -> None:
    """Run ``pipeline`` as ``tasks`` tasks, logging to ``logs`` (the pass's logging folder: task logs, stats,
    completion markers); with ``resume``, tasks completed by an earlier run are skipped."""
    logging_dir = logs.datafolder()
    workers = min(workers or default_workers(), max(tasks, 1))
    if tasks == 0:
        return
    counter = TaskCounter()  # what each task hands its last step, sent to the run's process for PassProgress
    pipeline = with_counter(pipeline, counter)
    if kind == "local":
        # datatrove's local workers start from a forkserver: the step modules (trafilatura, fastText, the
        # signals) and pyarrow's first-write imports (pandas) loaded there once are inherited by every worker,
        # instead of ~1 s of imports per worker (only where the forkserver is not running yet)
        modules = {type(step).__module__ for step in pipeline}
        multiprocess.get_context("forkserver").set_forkserver_preload(["pyarrow.parquet", "pandas", *sorted(modules)])
        executor = _LocalExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, skip_completed=resume
        )
    elif kind == "ray":
        try:
            ensure_ray(ray_address, workers)
        except ConnectionError as err:
            raise UsageError(f"cannot join the Ray cluster at {ray_address}: {err}") from None
        _RayTaskManager.no_nodes_wait_s = no_nodes_wait_s
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
        logs.rm("completions", recursive=True)
    logger.remove()  # datatrove resets loguru to INFO on import
    logger.add(sys.stderr, level=terminal_log_level(), colorize=False)
    error = None
    done_before = frozenset(range(tasks)) - frozenset(executor.get_incomplete_ranks(range(tasks)))
    with PassProgress(label, tasks, kind, counter, done_before, inputs, earlier=earlier, units=units):
        try:
            executor.run()
        except Exception as err:  # a task raised: report which tasks are missing, below
            error = err
    missing = executor.get_incomplete_ranks(range(tasks), skip_completed=True)
    if isinstance(error, NodesGone):  # not a task's fault: no log to point at
        raise TaskFailed(f"{label}: {len(missing)} of {tasks} tasks did not complete: {error}", cause=error)
    if missing or error:
        log = f"logs/task_{missing[0] if missing else 0:05d}.log"
        if logs.exists(log) or kind != "ray":
            see = logs.url_of(log)
        else:  # datatrove's Ray tasks write their log at the end: a task whose worker died has none
            see = f"Ray's worker logs in {_ray_logs()} (the task's worker died before writing {logs.url_of(log)})"
        raise TaskFailed(
            f"{label}: {len(missing)} of {tasks} tasks did not complete"
            + (f" ({type(error).__name__}: {error})" if error else "")
            + f"; see {see}",
            cause=error,
        )


def _ray_logs() -> str:
    try:  # no public API names the session's log folder
        from ray._private import worker

        return str(worker._global_node.get_logs_dir_path())  # type: ignore[attr-defined]
    except Exception:
        return "/tmp/ray/session_latest/logs"
