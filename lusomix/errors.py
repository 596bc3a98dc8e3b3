"""User-facing errors, shared by every layer: the CLI prints each as one line, no traceback.

``UsageError``: the user's mistake, exit 2. ``PassFailed``: a pass could not finish for another reason
(a task crashed, training failed), exit 1, the message names the log; ``OutputFault`` is the one where the
output filesystem failed (full, read-only, deleted). ``PassSkipped``: a pass had nothing
to do on this data (a mix too small to train on); the run goes on and the summary says why.
"""


class UsageError(Exception):
    """A mistake of the user's (bad config, missing path, bad value, unusable input folder): one line,
    no traceback."""


class PassFailed(Exception):
    """A pass did not finish: one line naming the cause and where its logs are."""


class PassSkipped(Exception):
    """A pass has nothing to do on this data (not an error): the reason, in one line."""


def require_file(path, what: str) -> None:
    """Raise a UsageError unless ``path`` is a file: "not found", or "a folder" when it is one."""
    import os

    if os.path.isdir(path):
        raise UsageError(f"{what} is a folder, not a file: {path}")
    if not os.path.isfile(path):
        raise UsageError(f"{what} not found: {path}")


class OutputFault(PassFailed):
    """The machine, not the user or the data: the output filesystem is full, read-only, or the output
    folder vanished during the run. One line naming the path, exit 1; what was finished is kept."""
