"""User-facing errors: the CLI prints them as one line and exits with code 2 (bad usage / bad input)."""


class UsageError(Exception):
    """A mistake of the user's (bad config, missing path, bad flag value): one line, no traceback."""
