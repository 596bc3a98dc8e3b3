"""The pretraining stage: (continued) pretraining of a Llama-family causal LM on a mix, with Ray Train.

``config`` (the YAML config), ``data`` (reading a mix, packing, validation slices, tokenizer), ``model``
(build and wrap), ``loop`` (the worker's training loop and the driver), ``checkpoint``, ``summary`` and
``cli``. torch lives here and nowhere else; this package's own import is light, so a plain install (no
``train`` extra) can say what is missing in one line.
"""

from __future__ import annotations

from types import ModuleType

from lusomix.errors import UsageError

_TRAIN_EXTRA = ("torch", "transformers", "tokenizers", "ray", "matplotlib")


def training_loop() -> ModuleType:
    """The training loop module (torch, transformers, Ray Train): a one-line error when the ``train`` extra
    is not installed (a plain ``pip install lusomix`` runs every other pass)."""
    try:
        from lusomix.pretrain import loop
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in _TRAIN_EXTRA:
            raise UsageError(
                f"pretraining needs the train extra ({err.name} is not installed): pip install 'lusomix[train]'"
            ) from None
        raise
    return loop
