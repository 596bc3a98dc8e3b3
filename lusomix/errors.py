"""User-facing errors, shared by every layer: the CLI prints them as one line and exits with code 2."""


class UsageError(Exception):
    """A mistake of the user's (bad config, missing path, bad value, unusable input folder): one line,
    no traceback."""


def require_file(path, what: str) -> None:
    """Raise a UsageError unless ``path`` is a file: "not found", or "a folder" when it is one."""
    import os

    if os.path.isdir(path):
        raise UsageError(f"{what} is a folder, not a file: {path}")
    if not os.path.isfile(path):
        raise UsageError(f"{what} not found: {path}")
