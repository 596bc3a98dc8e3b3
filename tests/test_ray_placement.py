"""The Ray executor's placement of a task gives up when the pass stops, wherever it waits.

A real local Ray in a process of its own (as tests/conftest.py's run_cli_process explains, no Ray lives in the
test process). The task's actor never starts, the way an actor waits when its node went after its placement
group was placed: the group is placed again, and the actor's creation waits with it until a node comes back.
The pass stopping (every worker node gone) must end that wait, or the pass's clean-up waits for the placing
thread for ever: a CI run once saw the pass hang for 600 s after every worker node was lost."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.faults]

_SCRIPT = r"""
import threading, ray
from lusomix.pipeline import executors
from datatrove.executor.ray import TimeoutManager

class NeverStarts(executors._RankWorker):
    def __init__(self):
        threading.Event().wait()

executors._RankWorker = NeverStarts  # the actor _place creates
ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
manager = executors._RayTaskManager(1, TimeoutManager(None))
manager._POLL_S = 0.5
task = manager.submit_task(None, [0], {"num_cpus": 1})
# the group placed, then a moment for the placing thread to create the actor and wait on it
while not any(g["state"] == "CREATED" for g in ray.util.placement_group_table().values()):
    threading.Event().wait(0.2)
threading.Event().wait(2)
manager.clean_up()  # the pass stops: returns once the placing thread has given up
print("task:", type(task.exception(timeout=60)).__name__)
"""


def test_a_task_whose_actor_never_starts_gives_up_when_the_pass_stops():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "task: NodesGone" in done.stdout, done.stdout + done.stderr[-3000:]
