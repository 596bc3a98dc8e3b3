"""Check the manifest against what trafilatura and lid.176 really do with the sample pages.

    python data_samples/make_samples.py --check

For every page capture: extract the main text with the extract pass's trafilatura settings, identify its
language, and compare with the manifest: kept pages give >= 20 words, 'pt' with p >= 0.8 and their
must_contain phrases; not_portuguese pages are not 'pt' and match their `lang`; no_text / too_short pages
give nothing / fewer than 20 words; exact duplicates extract to the same normalised text; near duplicates
keep a word-5-gram Jaccard >= 0.8 and look-alike pairs stay under 0.5. Prints one line per page, exits 1
on any mismatch. Works on the in-memory pages (the HTML as written, before charset encoding): decoding
the bytes right is the pipeline's job, checked by its own tests.
"""

from __future__ import annotations

from pathlib import Path

from sample_records import Capture, jaccard

from lusomix.filters.text import count_words, normalise_for_hash, strip_control

LID = Path(__file__).resolve().parents[1] / "lusomix" / "filters" / "models" / "lid.176.ftz"
MIN_WORDS, MIN_PT = 20, 0.8


def extract(html: str) -> str:
    import trafilatura

    doc = trafilatura.bare_extraction(
        strip_control(html), favor_precision=False, include_comments=False, include_tables=True, with_metadata=False
    )
    if doc is None:
        return ""
    text = doc.get("text") if isinstance(doc, dict) else doc.text
    return text or ""


def run(captures: list[Capture]) -> int:
    import fasttext

    model = fasttext.load_model(str(LID))
    problems: list[str] = []
    texts: dict[tuple[str, str, str], str] = {}
    print(f"{'expect':<15}{'lang':<6}{'p':>6}{'words':>7}{'main':>6}  url")
    for c in captures:
        if c.html is None or c.broken:
            continue
        exp = c.expect
        text = extract(c.html)
        texts[(c.file, c.url, c.date)] = text
        n = count_words(text)
        label, prob = "-", 0.0
        if text.strip():
            labels, probs = model.predict(" ".join(text.split()), k=1)
            label, prob = labels[0].removeprefix("__label__"), float(probs[0])
        print(f"{exp['expect']:<15}{label:<6}{prob:6.2f}{n:7d}{count_words(c.text or ''):6d}  {c.url}")
        want = exp["expect"]
        if want == "kept":
            if n < MIN_WORDS or label != "pt" or prob < MIN_PT:
                problems.append(f"{c.url}: expected kept, got {n} words, {label} {prob:.2f}")
            missing = [p for p in exp["must_contain"] if p not in text]
            if missing:
                problems.append(f"{c.url}: extracted text lacks {missing}")
            present = [p for p in exp["must_not_contain"] if p in text]
            if present:
                problems.append(f"{c.url}: extracted text contains {present}")
        elif want == "not_portuguese":
            if n < MIN_WORDS or (label == "pt" and prob >= MIN_PT) or label != exp["lang"]:
                problems.append(f"{c.url}: expected not_portuguese/{exp['lang']}, got {n} words, {label} {prob:.2f}")
        elif want == "no_text" and n:
            problems.append(f"{c.url}: expected no text, got {n} words")
        elif want == "too_short" and not 0 < n < MIN_WORDS:
            problems.append(f"{c.url}: expected too_short, got {n} words")
    problems += _check_groups(captures, texts)
    for p in problems:
        print("MISMATCH", p)
    print(f"{len(texts)} pages checked, {len(problems)} mismatches")
    return 1 if problems else 0


def _check_groups(captures: list[Capture], texts: dict) -> list[str]:
    problems = []
    groups: dict[str, list[Capture]] = {}
    for c in captures:
        key = c.expect["dup_group"] or c.expect["lookalike_group"]
        if key and (c.file, c.url, c.date) in texts:
            groups.setdefault(key, []).append(c)
    for key, members in groups.items():
        first = texts[(members[0].file, members[0].url, members[0].date)]
        for m in members[1:]:
            text = texts[(m.file, m.url, m.date)]
            kind = m.expect["dup_kind"]
            j = jaccard(first, text)
            if kind == "exact" and normalise_for_hash(text) != normalise_for_hash(first):
                problems.append(f"{key}: {m.url} @ {m.date} does not extract to the same text (J={j:.3f})")
            elif kind == "near" and j < 0.8:
                problems.append(f"{key}: near duplicate {m.url} @ {m.date} has extracted J={j:.3f} < 0.8")
            elif m.expect["lookalike_group"] and j >= 0.5:
                problems.append(f"{key}: look-alike {m.url} has extracted J={j:.3f} >= 0.5")
            print(f"group {key:<28} {kind or 'lookalike':<10} J={j:.3f}  {m.url} @ {m.date}")
    return problems
