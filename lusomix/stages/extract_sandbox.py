"""Main-text extraction in a child process that is killed past a per-page time bound, whichever the engine.

A pathological page (markup nested hundreds deep, megabytes of tags) can keep an engine busy for minutes.
SIGALRM, the bound trafilatura had, fires only in a process's main thread and only between Python bytecodes:
it cannot stop C code (lxml's parser, all of resiliparse). A child process can always be stopped: the task
forks one child (``fork``: it inherits the engines already imported, so it starts in milliseconds) and
sends it one page at a time over a pipe; a page that is not done within the bound costs a SIGKILL, the
page is rejected, and the next page gets a fresh child. This is datatrove's ``ExtractorSandbox``, with the
result type and errors of the extract pass. What it costs per page is measured by
``benchmarks/extraction_bound.py`` (README: "Extraction time bound").
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from lusomix.stop_signals import held_while_forking, release_in_child

_START_S = 60  # a fork takes ~5 ms (~0.1 s on a loaded machine): this only catches a child that never starts
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ExtractionTimeout(Exception):
    """The page was not extracted within the bound (its child process was killed)."""


class ExtractionCrashed(Exception):
    """The child process died on the page (out of memory, a crash in C code)."""


def _die_with(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies, so a killed task leaves no extraction process behind
    (working on for minutes, holding the files its parent had open, the run's lock among them). Linux sends it
    when the *thread* that forked ends: a task's steps run in one thread, and ``close()`` comes first."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the child still ends when it reads EOF from the pipe
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _serve(conn: Connection, parent_end: Connection, extract: Callable[[str], Any], parent: int) -> None:
    """The child: say it is ready, then extract each page received, send back ("ok", result) or ("error", message)."""
    parent_end.close()  # the fork copied it: held open here, the parent's close would never reach us as EOF
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it ends this process)
    release_in_child()
    try:
        conn.send(("ready", None))
        while True:
            html = conn.recv()
            try:
                reply: tuple[str, Any] = ("ok", extract(html))
            except Exception as err:  # an engine's exception may not pickle: its type and message do
                reply = ("error", f"{type(err).__name__}: {err}")
            conn.send(reply)
    except (EOFError, OSError):  # the parent closed the pipe (the task is over) or is gone
        return


class ExtractionSandbox:
    """``sandbox(html)`` = ``extract(html)`` run in a child process, bounded by ``timeout_s`` seconds.

    Raises ExtractionTimeout past the bound, ExtractionCrashed when the child dies, and RuntimeError with
    the engine's error message when ``extract`` raised. ``close()`` ends the child (also done at exit).
    """

    def __init__(self, extract: Callable[[str], Any], timeout_s: float):
        self.extract = extract
        self.timeout_s = timeout_s
        self._child: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        """Fork the child now (early in a task, before other steps have started threads); else on first use."""
        if self._child is None:
            context = multiprocessing.get_context("fork")
            self._conn, child_end = context.Pipe()
            args = (child_end, self._conn, self.extract, os.getpid())
            self._child = context.Process(target=_serve, args=args, daemon=True)
            with held_while_forking():  # a Ctrl-C during the fork would be lost (lusomix.stop_signals)
                self._child.start()
            child_end.close()  # the parent keeps one end: the child's recv sees EOF when the parent closes it
            # a page's bound starts when the child runs, not while it is being scheduled for the first time
            if not self._conn.poll(_START_S) or self._conn.recv()[0] != "ready":
                self._kill()
                raise ExtractionCrashed(f"the extraction process did not start within {_START_S} s")

    def __call__(self, html: str) -> Any:
        self.start()
        assert self._conn is not None and self._child is not None
        try:
            self._conn.send(html)
            if not self._conn.poll(self.timeout_s):
                self._kill()
                raise ExtractionTimeout(f"not extracted within {self.timeout_s:g} s")
            status, value = self._conn.recv()
        except (EOFError, OSError):  # the child died while the page was sent, extracted or answered
            self._kill()
            raise ExtractionCrashed("the extraction process died") from None
        if status == "error":
            raise RuntimeError(value)
        return value

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.join()
        if self._conn is not None:
            self._conn.close()
        self._child = self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the child reads EOF and returns
        if self._child is not None:
            self._child.join(timeout=1)
            if self._child.is_alive():
                self._child.kill()
                self._child.join()
        self._child = self._conn = None

    def __getstate__(self) -> dict:
        # the step is pickled to executor workers before any child exists; a worker forks its own
        return {**self.__dict__, "_child": None, "_conn": None}
