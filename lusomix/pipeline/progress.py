"""Progress of a pass a person can watch: captures and documents done, bytes read, rate and time left
(``PassProgress``, for the passes run as tasks); rows read and written for a mix (``MixProgress``).

Tasks count what they hand to their last step (the writer) in a ``TaskCounter`` and send their running
totals, at most every ``SEND_EVERY_S`` seconds and once at their end, to a tally the run's process reads:
a ``multiprocess`` manager's dict under the local executor (its proxy pickles into datatrove's forkserver
workers), a Ray actor under Ray (tasks on other nodes reach it through Ray itself). Nothing is written to
the output folder, which may be an object store. Each task sends its own running totals, not increments,
so a task Ray runs again replaces its first try's counts instead of adding to them.

``PassProgress`` shows the sum: on a terminal a tqdm bar, redrawn in place; elsewhere (a CI or scheduler
log) one plain line every ``LUSOMIX_PROGRESS_EVERY`` seconds and a last one when the pass ends, with the
same totals as the pass's stats. ``LUSOMIX_PROGRESS_EVERY=0`` (``lusomix run -q``) shows nothing.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from datatrove.data import DocumentsPipeline
from tqdm import tqdm

from lusomix.stop_signals import held_while_forking, release_in_child

SEND_EVERY_S = 1.0  # a task's updates: one small message a second at most, whatever its speed
DEFAULT_EVERY_S = 10.0


def progress_every() -> float:
    """Seconds between plain progress lines (0: no progress at all), as ``lusomix run`` set them."""
    return float(os.environ.get("LUSOMIX_PROGRESS_EVERY", DEFAULT_EVERY_S))


class _LocalTally:
    """Totals per task in a multiprocess manager's dict (the local executor's workers are its processes)."""

    def __init__(self) -> None:
        from multiprocess.managers import SyncManager

        self._manager = SyncManager()  # multiprocess.Manager(), started with the stop signals held
        with held_while_forking():  # a Ctrl-C during the fork would be lost (lusomix.stop_signals)
            self._manager.start(initializer=release_in_child)
        self.totals = self._manager.dict()

    def send(self, rank: int, counts: dict) -> None:
        self.totals[rank] = counts

    def snapshot(self) -> dict[int, dict]:
        return dict(self.totals)

    def close(self) -> None:
        if self._manager is not None:
            self._manager.shutdown()

    def __getstate__(self) -> dict:  # tasks get the proxy only; the manager stays with the run's process
        return {"_manager": None, "totals": self.totals}


class _TallyActor:
    """Under Ray: totals per task, held by an actor that takes no CPU from the tasks."""

    def __init__(self) -> None:
        self.totals: dict[int, dict] = {}

    def send(self, rank: int, counts: dict) -> None:
        self.totals[rank] = counts

    def snapshot(self) -> dict[int, dict]:
        return self.totals


class _RayTally:
    def __init__(self) -> None:
        import ray

        self.actor: Any = ray.remote(num_cpus=0)(_TallyActor).remote()

    def send(self, rank: int, counts: dict) -> None:
        self.actor.send.remote(rank, counts)  # not waited for: a task never stalls on its progress

    def snapshot(self) -> dict[int, dict]:
        import ray

        return ray.get(self.actor.snapshot.remote())

    def close(self) -> None:
        import ray

        ray.kill(self.actor)

    def __reduce__(self):  # tasks get the actor's handle only
        return (_RayTallyHandle, (self.actor,))


class _RayTallyHandle(_RayTally):
    def __init__(self, actor: Any) -> None:
        self.actor = actor


class TaskCounter:
    """A step placed before a pass's last one: counts the documents it passes on (captures; documents are
    those not rejected) and the read position in the task's input file, and sends them to the tally.

    A plain callable rather than a datatrove PipelineStep, so it adds nothing to the per-task stats."""

    def __init__(self) -> None:
        self.tally: _LocalTally | _RayTally | None = None  # set by PassProgress before the tasks start

    def __deepcopy__(self, memo):
        # datatrove copies the pipeline for each in-process task: the copy must send to the same tally
        # (a manager proxy's deep copy is a plain dict, which nobody reads)
        return self

    def __call__(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counts = {"captures": 0, "documents": 0, "position": 0, "done": False}
        tally = self.tally
        if tally is None or data is None:
            if data is not None:
                yield from data
            return
        clock = time.monotonic
        last = clock()
        for doc in data:
            counts["captures"] += 1
            if "reject" not in doc.metadata:
                counts["documents"] += 1
            counts["position"] = doc.metadata.get("source_offset") or counts["position"]
            if clock() - last >= SEND_EVERY_S:
                tally.send(rank, dict(counts))
                last = clock()
            yield doc
        counts["done"] = True
        tally.send(rank, counts)


def with_counter(pipeline: list, counter: TaskCounter) -> list:
    """The pipeline with the counter before its last step (the writer, which every document reaches)."""
    return [*pipeline[:-1], counter, pipeline[-1]] if len(pipeline) > 1 else [*pipeline, counter]


def input_sizes(paths: list[str]) -> list[int]:
    """Each input file's size in bytes (0 where it cannot be read: that task's reader reports why)."""
    from fsspec.core import url_to_fs

    sizes = []
    for path in paths:
        try:
            fs, inner = url_to_fs(path)
            sizes.append(int(fs.size(inner) or 0))
        except (OSError, ValueError):
            sizes.append(0)
    return sizes


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class PassProgress:
    """The live display of one pass, fed by its tasks' tally (see the module's docstring)."""

    def __init__(
        self,
        label: str,
        tasks: int,
        kind: str,
        counter: TaskCounter,
        done_before: frozenset[int] = frozenset(),
        inputs: list[str] | None = None,
        stream=None,
        earlier: Callable[[int], dict] | None = None,
        units: int | None = None,
    ):
        self.label, self.tasks, self.kind, self.counter = label, tasks, kind, counter
        # a pass whose tasks hand on one item per unit of work done (the dedup pass: its grouping units)
        # rather than captures: progress and time left are counted in these units
        self.units = units
        self.done_before, self.inputs, self.earlier = done_before, inputs, earlier
        # the captures and documents of the tasks an earlier run completed: part of the totals, not of the rate
        self.before = {"captures": 0, "documents": 0}
        self.sizes: list[int] | None = None  # read when the display starts (not at all with -q)
        self.stream = stream or sys.stderr
        self.every = progress_every()
        self.terminal = self.stream.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._bar: tqdm | None = None
        self._tally: _LocalTally | _RayTally | None = None
        self._started = time.monotonic()

    # ------------------------------------------------------------------------------------------- totals

    def totals(self) -> dict:
        per_task = self._tally.snapshot() if self._tally is not None else {}
        done = set(self.done_before) | {rank for rank, c in per_task.items() if c.get("done")}
        totals = {
            "tasks": len(done),
            "captures": self.before["captures"] + sum(c["captures"] for c in per_task.values()),
            "documents": self.before["documents"] + sum(c["documents"] for c in per_task.values()),
        }
        if self.sizes:
            totals["bytes"] = sum(
                self.sizes[rank] if rank in done else min(per_task[rank]["position"], self.sizes[rank])
                for rank in set(done) | set(per_task)
                if rank < len(self.sizes)
            )
            totals["bytes_total"] = sum(self.sizes)
        return totals

    def line(self, totals: dict, final: bool = False) -> str:
        """One plain line: no control characters, for logs."""
        elapsed = time.monotonic() - self._started
        parts = [f"{totals['tasks']}/{self.tasks} tasks"]
        if self.units:
            parts.append(f"{totals['captures']}/{self.units} units")
        elif totals["captures"]:
            parts.append(f"{totals['captures']:,} captures, {totals['documents']:,} documents")
        if "bytes" in totals:
            size = tqdm.format_sizeof
            parts.append(f"{size(totals['bytes'], 'B')} of {size(totals['bytes_total'], 'B')} read")
        if final:
            parts.append(f"done in {elapsed:.1f} s")
            return f"  {self.label}: " + ", ".join(parts)
        if totals["captures"] > self.before["captures"] and elapsed > 0 and not self.units:
            parts.append(f"{(totals['captures'] - self.before['captures']) / elapsed:,.1f} captures/s")
        left = self._eta(totals, elapsed)
        parts.append(f"ETA {_duration(left)}" if left is not None else "ETA unknown")
        return f"  {self.label}: " + ", ".join(parts)

    def _eta(self, totals: dict, elapsed: float) -> float | None:
        """Time left from the share of bytes read (tasks read their files at a steady pace), else of tasks."""
        before = sum(self.sizes[r] for r in self.done_before if r < len(self.sizes)) if self.sizes else 0
        if "bytes" in totals and totals["bytes_total"] > before:
            done, total = totals["bytes"] - before, totals["bytes_total"] - before
        elif self.units:
            done, total = totals["captures"], self.units
        else:
            done, total = totals["tasks"] - len(self.done_before), self.tasks - len(self.done_before)
        return elapsed * (total - done) / done if done > 0 else None

    # ------------------------------------------------------------------------------------------ display

    def _show(self, final: bool = False) -> None:
        totals = self.totals()
        if self._bar is not None:
            self._update_bar(self._bar, totals)
            if final:
                self._bar.close()
        elif final or not self.terminal:
            self.stream.write(self.line(totals, final) + "\n")
            self.stream.flush()

    def _update_bar(self, bar: tqdm, totals: dict) -> None:
        if "bytes" not in totals:  # a bar of tasks or units: the bar says it all
            bar.update((totals["captures"] if self.units else totals["tasks"]) - bar.n)
            return
        bar.update(totals["bytes"] - bar.n)
        counts = f"{totals['tasks']}/{self.tasks} tasks"
        if totals["captures"]:
            counts += f", {totals['captures']:,} captures, {totals['documents']:,} documents"
        bar.set_postfix_str(counts)

    def _count_earlier(self) -> None:
        """The counts of the tasks an earlier run completed: a read or two each (many on a big resumed run, on
        a store), so done here in the display's thread while the tasks already run; the last line waits."""
        if self.earlier is None:
            return
        before = dict(self.before)
        for rank in sorted(self.done_before):
            counts = self.earlier(rank)
            before = {key: before[key] + counts.get(key, 0) for key in before}
        self.before = before

    def _loop(self) -> None:
        try:
            self._count_earlier()
        except Exception:  # unreadable earlier counts: shown without them (stats.json still has them all)
            pass
        period = 0.5 if self.terminal else self.every
        while not self._stop.wait(period):
            try:
                self._show()
            except Exception:  # a display that failed (a tally gone with Ray) must not end the pass
                return

    def __enter__(self) -> PassProgress:
        if self.every <= 0:
            return self
        self._tally = _RayTally() if self.kind == "ray" else _LocalTally()
        if self.inputs:
            self.sizes = input_sizes(self.inputs)
        self.counter.tally = self._tally
        if self.terminal:
            by_bytes = bool(self.sizes)
            self._bar = tqdm(
                total=sum(self.sizes) if by_bytes and self.sizes else self.units or self.tasks,
                desc=f"  {self.label}",
                unit="B" if by_bytes else " units" if self.units else " tasks",
                unit_scale=by_bytes,
                file=self.stream,
                dynamic_ncols=True,
            )
        self._thread.start()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._tally is None:
            return
        self._stop.set()
        self._thread.join()
        try:
            if exc_type is None:
                self._show(final=True)
            elif self._bar is not None:  # Ctrl-C, a stop: the bar ends where it was; the run says how to resume
                self._bar.close()
            self._tally.close()
        except Exception:  # the tally's process gone with the run (Ctrl-C reaches it too): not the run's error
            pass
        finally:
            self.counter.tally = None


class MixProgress:
    """The display of a mix's build, in the run's process: fed by its ``progress(read, written, planned)``
    calls (:data:`lusomix.mix.build.Progress`), it shows the planned rows read into buckets and written into
    shards, the rate and the time left: a tqdm bar on a terminal, else a plain line every
    ``LUSOMIX_PROGRESS_EVERY`` seconds and a last one."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.every = progress_every()
        self.terminal = self.stream.isatty()
        self._bar: tqdm | None = None
        self._started = self._shown = time.monotonic()
        self.read = self.written = self.planned = 0

    def __call__(self, read: int, written: int, planned: int) -> None:
        self.read, self.written, self.planned = read, written, planned
        if self.every <= 0:
            return
        if self.terminal:  # each row counts twice on the bar: read, then written
            if self._bar is None:
                self._bar = tqdm(total=2 * planned, desc=f"  {self.label}", unit=" rows", file=self.stream)
            self._bar.update(read + written - self._bar.n)
            self._bar.set_postfix_str(self._counts(), refresh=False)
        elif time.monotonic() - self._shown >= self.every:
            self._shown = time.monotonic()
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def _counts(self) -> str:
        return f"{self.read:,}/{self.planned:,} rows read, {self.written:,} written"

    def line(self, final: bool = False) -> str:
        """One plain line: no control characters, for logs."""
        elapsed = time.monotonic() - self._started
        parts = [self._counts()]
        done, total = self.read + self.written, 2 * self.planned
        if final:
            parts.append(f"done in {elapsed:.1f} s")
        elif done and elapsed > 0:
            parts.append(f"{done / 2 / elapsed:,.1f} rows/s")
            parts.append(f"ETA {_duration(elapsed * (total - done) / done)}")
        else:
            parts.append("ETA unknown")
        return f"  {self.label}: " + ", ".join(parts)

    def __enter__(self) -> MixProgress:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        elif exc_type is None and self.every > 0 and self.planned and not self.terminal:
            self.stream.write(self.line(final=True) + "\n")
            self.stream.flush()
