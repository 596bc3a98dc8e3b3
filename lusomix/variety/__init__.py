"""European (pt_PT) vs Brazilian (pt_BR) Portuguese: the variety capability.

``text`` (the form the model reads), ``evidence`` (URL and page metadata), ``model`` (fastText +
calibration + the page rule), ``corpus`` / ``lexicon`` / ``training`` / ``calibration`` / ``evaluation``
(the data, the word lists, the recipe, the fitted calibration and page rule, the held-out figures), ``cli``
(`lusomix variety`). The labels are the run folder's (declared once, in
``lusomix.run_folder``).
"""

from lusomix.run_folder import LABELS, PT_BR, PT_PT, UNKNOWN, VARIETIES

__all__ = ["FASTTEXT_LABEL", "LABELS", "PT_BR", "PT_PT", "UNKNOWN", "VARIETIES"]

FASTTEXT_LABEL = {PT_PT: "__label__pt_PT", PT_BR: "__label__pt_BR"}
