"""User-facing errors, shared by every layer: the CLI prints them as one line and exits with code 2."""


class UsageError(Exception):
    """A mistake of the user's (bad config, missing path, bad value, unusable input folder): one line,
    no traceback."""
