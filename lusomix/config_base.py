"""Base class of every stage's config, and the one-line errors a bad config file gets.

Unknown keys are errors, so a typo never passes silently; every config file (the run config, a
pretraining config) is read and reported the same way.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from lusomix.errors import UsageError, require_file


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyValueError(ValueError):
    """A model validator's complaint about one of the model's keys (``key``, dotted, relative to the model):
    reported at that key's path rather than at the model's, e.g. 'mixes[0].weights' instead of 'mixes[0]'."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def key_path(loc) -> str:
    """('mixes', 0, 'weights') -> 'mixes[0].weights', as the key is written in the YAML file."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def one_line(err: ValidationError, source: str) -> str:
    """The first problem of a validation error, naming its key: 'demo.yaml: unknown key 'ingest.x''."""
    first = err.errors()[0]
    loc, message = tuple(first["loc"]), first["msg"].removeprefix("Value error, ")
    error = first.get("ctx", {}).get("error")
    if isinstance(error, KeyValueError):
        loc += tuple(int(part) if part.isdigit() else part for part in error.key.split("."))
    key = key_path(loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{source}: {key}: {message}{more}"


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file's top-level mapping; a missing, unreadable or non-mapping file is a UsageError."""
    file = Path(path)
    require_file(file, "config")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.MarkedYAMLError as err:  # a syntax error: where it is, as an editor shows it
        mark = err.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = ", ".join(part for part in (err.context, err.problem) if part)
        raise UsageError(f"{path}{where}: YAML syntax error: {what}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UsageError(f"{path}: not a readable YAML file: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: a config is a YAML mapping of keys to values")
    return raw


def validate(model: type[BaseModel], raw: dict, source: str):
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise UsageError(one_line(err, source)) from None
