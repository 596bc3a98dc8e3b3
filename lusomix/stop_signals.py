"""Ctrl-C and SIGTERM held while a process forks, so that a run asked to stop does stop.

Python runs a signal's handler at its next bytecode. During a fork that bytecode is inside the at-fork
callbacks (logging registers one), and Python prints and drops any exception raised there: a
KeyboardInterrupt (Ctrl-C) or the CLI's Terminated (SIGTERM, a scheduler's stop) that arrives while a
process forks is lost, and the run goes on to the end with exit 0. Held during the fork, the signal is
delivered when the mask is restored, in the forking frame, where it ends the run as it should.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextmanager
def held_while_forking() -> Iterator[None]:
    """Hold the stop signals for the block (which forks); a signal that arrived meanwhile is raised after it."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def release_in_child() -> None:
    """In the forked child, first thing: it inherits the mask its parent held during the fork."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
