"""European (pt_PT) vs Brazilian (pt_BR) Portuguese: the variety capability.

``text`` (the form the model reads), ``evidence`` (URL and page metadata), ``model`` (fastText +
calibration + the page rule), ``corpus`` / ``training`` / ``evaluation`` (the recipe and its held-out
figures), ``cli`` (`lusomix variety`). The labels are declared here, once.
"""

PT_PT, PT_BR, UNKNOWN = "pt_PT", "pt_BR", "unknown"
LABELS = (PT_PT, PT_BR)
VARIETIES = (PT_PT, PT_BR, UNKNOWN)
FASTTEXT_LABEL = {PT_PT: "__label__pt_PT", PT_BR: "__label__pt_BR"}
