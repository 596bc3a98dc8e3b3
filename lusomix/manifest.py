"""The mix manifest, ``OUT/mixes/NAME/manifest.json``: the contract between the mix pass and the pretraining
stage, read and written through the run folder (``lusomix.run_folder``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lusomix.errors import UsageError
from lusomix.run_folder import RunFolder


@dataclass
class Manifest:
    """``OUT/mixes/NAME/manifest.json``, the mix contract read by the pretraining stage: the shards in
    their global order (path, rows, bytes, tokens_est, sha256), how they were made and what they hold. It
    is written last, so a mix folder with a manifest is complete."""

    name: str
    created_by: str = ""
    recipe: dict = field(default_factory=dict)
    quality_rules: list[dict] | None = None
    seed: int = 0
    input: dict = field(default_factory=dict)  # run_dir, fingerprint of its docs/ and clusters
    shards: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)  # rows, bytes, tokens_est, documents_distinct
    by_variety: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    FILE = "manifest.json"

    @classmethod
    def exists(cls, mix: RunFolder) -> bool:
        return mix.isfile(cls.FILE)

    @classmethod
    def read(cls, mix: RunFolder) -> Manifest:
        """The manifest of a mix folder; a missing or malformed one is a one-line UsageError."""
        if not cls.exists(mix):
            raise UsageError(f"no mix at {mix}: {cls.FILE} not found")
        try:
            data = json.loads(mix.read_text(cls.FILE))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            manifest = cls(**{"name": Path(mix.path).name, **known})
            for shard in manifest.shards:
                shard["path"], shard["rows"] = str(shard["path"]), int(shard["rows"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{mix.url_of(cls.FILE)}: not a mix manifest ({type(exc).__name__}: {exc})") from None
        return manifest

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, mix: RunFolder) -> None:
        mix.write_json(self.FILE, self.to_dict())
