"""Base class of every stage's config: unknown keys are errors, so a typo never passes silently."""

from pydantic import BaseModel, ConfigDict


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
