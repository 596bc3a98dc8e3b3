"""MinHash band hashes of a document: what near-duplicate detection compares.

A document becomes a set of word n-gram shingles (default 5-grams, as FineWeb): the text is NFC-normalised
and lower-cased, and its words are the runs of Unicode word characters (regex ``\\w+``: letters, digits,
underscore). Punctuation, markup remnants and whitespace therefore never change a shingle, and a regex is
~10x faster than a linguistic tokenizer, which matters at archive scale. A text with fewer words than the
n-gram size is one shingle of all its words; a text with no word at all is one shingle of its stripped text.

Shingle hash (32 bits, stable across processes and machines): every word is hashed with blake2b-64 (UTF-8,
little-endian; memoised, since web vocabulary is Zipfian), the n word hashes are combined polynomially
mod 2^64 and avalanched with the MurmurHash3 64-bit finalizer, and the top 32 bits are kept. Hashing words
once and combining them in numpy is ~3x faster than SHA-1 on every shingle string.

Signature: datasketch's ``MinHash(num_perm, seed)`` default scheme ("affine32": fmix32 pre-mix, then
``a*h + b mod 2^32``) with :func:`shingle_hash32` as its ``hashfunc``. The permutation step is applied to
all shingles at once in numpy, with datasketch's own permutation parameters, so the values equal
``MinHash(num_perm, seed, hashfunc=shingle_hash32).update_batch(shingles)`` exactly (a test checks it).

Bands: the signature is cut into ``bands`` runs of ``rows`` values (datasketch LSH's layout); each run is
stored as ONE uint64, blake2b-64 of its values as little-endian uint32 bytes. Two documents are candidate
duplicates when any band hash is equal. Only band hashes are stored, not signatures: candidate pairs
cannot be verified later by estimated Jaccard (FineWeb does not verify either); the LSH parameters are
chosen so that false candidates are rare (see :func:`lsh_params`).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

import numpy as np

# datasketch (and scipy.integrate, which it imports) is imported where it is used: choosing the LSH
# parameters and drawing the permutations happen once, in the driver (MinHashSigner); the extract pass's
# workers only hash, and are spared the import (~0.3 s CPU each).

_WORD = re.compile(r"\w+")

# Weights of datasketch's LSH optimiser. Missing a duplicate costs far more than a spurious candidate
# (recall goal: >= 0.95 of pairs at the threshold), and with these weights the optimiser gives FineWeb's
# own choice, 14 bands x 8 rows, at 112 permutations and threshold 0.8.
FALSE_POSITIVE_WEIGHT = 0.05
FALSE_NEGATIVE_WEIGHT = 0.95

_U64 = np.uint64
# odd multiplier (golden ratio): the polynomial combination of word hashes stays order-sensitive
_COMBINE = _U64(0x9E3779B97F4A7C15)
_SHIFT_32 = _U64(32)
_U32 = np.uint32

# Memoised word hashes; cleared when full so a worker's memory stays bounded (~40 MB).
_WORD_HASHES: dict[str, int] = {}
_WORD_CACHE_LIMIT = 200_000


@functools.lru_cache(maxsize=64)  # the optimiser integrates ~num_perm*log(num_perm) curves
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) from datasketch's optimiser for a Jaccard ``threshold``, recall-weighted."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 2:
        raise ValueError(f"num_perm must be at least 2, got {num_perm}")
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, FALSE_POSITIVE_WEIGHT, FALSE_NEGATIVE_WEIGHT)
    return int(bands), int(rows)


def candidate_probability(jaccard: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents at this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=np.float64) ** rows) ** bands


def words(text: str) -> list[str]:
    """The word tokens shingles are made of: NFC, lower-cased, runs of ``\\w``."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> _U64(33)
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    h ^= h >> _U64(33)
    return h


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer: datasketch.minhash._fmix(h, 32), affine32's pre-mix."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def word_hashes(tokens: list[str]) -> np.ndarray:
    cache = _WORD_HASHES
    if len(cache) > _WORD_CACHE_LIMIT:
        cache.clear()
    out = []
    for token in tokens:
        h = cache.get(token)
        if h is None:
            h = cache[token] = _word_hash(token)
        out.append(h)
    return np.array(out, dtype=np.uint64)


def _combine(hashes: np.ndarray, ngram: int) -> np.ndarray:
    """32-bit shingle hashes of every run of ``ngram`` consecutive word hashes (one if fewer)."""
    n = max(len(hashes) - ngram + 1, 1)
    width = min(ngram, len(hashes))
    h = hashes[:n].copy()
    for j in range(1, width):
        h = h * _COMBINE + hashes[j : j + n]
    return (_fmix64(h) >> _SHIFT_32).astype(np.uint32)


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """uint32 hash of every word ``ngram``-shingle of ``text`` (duplicates included)."""
    tokens = words(text)
    if not tokens:
        tokens = [unicodedata.normalize("NFC", text).strip().lower()]
    return _combine(word_hashes(tokens), ngram)


def shingle_hash32(shingle: str | bytes) -> int:
    """Hash of ONE shingle given as its words joined by single spaces: datasketch's ``hashfunc``.

    Shingle words never contain spaces (they are runs of ``\\w``), so splitting is exact.
    """
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    hashes = np.array([_word_hash(w) for w in shingle.split(" ")], dtype=np.uint64)
    return int(_combine(hashes, len(hashes))[0])


def shingles(text: str, ngram: int = 5) -> list[str]:
    """The shingles as strings (for checks against datasketch; the hot path never builds them)."""
    tokens = words(text) or [unicodedata.normalize("NFC", text).strip().lower()]
    n = max(len(tokens) - ngram + 1, 1)
    return [" ".join(tokens[i : i + ngram]) for i in range(n)]


class MinHasher:
    """Band hashes of documents for LSH with ``bands`` x ``rows`` (only ``bands*rows`` permutations used)."""

    def __init__(self, num_perm: int, bands: int, rows: int, seed: int = 1, ngram: int = 5):
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"{bands} bands x {rows} rows does not fit {num_perm} permutations")
        if ngram < 1:
            raise ValueError(f"ngram must be positive, got {ngram}")
        from datasketch import MinHash

        self.num_perm, self.bands_count, self.rows, self.seed, self.ngram = num_perm, bands, rows, seed, ngram
        reference = MinHash(num_perm=num_perm, seed=seed)
        if reference.scheme != "affine32":
            raise RuntimeError(f"datasketch's default MinHash scheme is {reference.scheme!r}, expected affine32")
        a, b = reference.permutations
        # The unused tail of the signature is never computed: values stay equal to datasketch's prefix.
        used = bands * rows
        self._a = np.ascontiguousarray(a[:used], dtype=np.uint32)
        self._b = np.ascontiguousarray(b[:used], dtype=np.uint32)

    def signature(self, text: str) -> np.ndarray:
        """The first ``bands*rows`` MinHash values (uint32), equal to datasketch's."""
        hv = _fmix32(shingle_hashes(text, self.ngram))
        return (hv[:, None] * self._a + self._b).min(axis=0)

    def bands_of(self, signature: np.ndarray) -> list[int]:
        rows = signature.astype("<u4").reshape(self.bands_count, self.rows)
        return [int.from_bytes(hashlib.blake2b(band.tobytes(), digest_size=8).digest(), "little") for band in rows]

    def bands(self, text: str) -> list[int]:
        """One uint64 per band (``len == bands``)."""
        return self.bands_of(self.signature(text))
