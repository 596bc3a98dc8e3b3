"""Stable hashing, the only source of randomness of a mix: document id hashes, the subsampling draw and
the shuffle key come from hashes of (seed, id, repeat index), never from RNG state, so the same inputs and
recipe give the same mix on any machine (see :mod:`lusomix.mix.build`)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

_SALT_DRAW, _SALT_SHUFFLE = 0xD1B54A32D192ED03, 0x8CB92BA72F3D8DD7
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def id_hash64(ids: pl.Series | pa.Array | list[str]) -> np.ndarray:
    """FNV-1a over the UTF-8 bytes of each id, finalised with splitmix64: stable across processes,
    versions and machines (unlike polars' ``hash``), vectorised over rows (the loop runs over byte
    positions, shrinking to the ids still that long)."""
    arr = ids.to_arrow() if isinstance(ids, pl.Series) else pa.array(ids)
    arr = pc.cast(arr, pa.large_string())
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    values = arr.buffers()[2]
    data = np.frombuffer(values, dtype=np.uint8) if values is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    active = np.arange(n)
    for pos in range(int(lengths.max(initial=0))):
        active = active[lengths[active] > pos]
        h[active] = (h[active] ^ data[starts[active] + pos]) * np.uint64(0x100000001B3)
    return _splitmix64(h)


def repeat_key(id_hash: np.ndarray, repeat: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """64-bit key of (seed, id, repeat index); ``salt`` separates the subsampling draw from the shuffle."""
    stream = _splitmix64(np.array([(seed * 0x9E3779B97F4A7C15 ^ salt) & _MASK64], dtype=np.uint64))
    return _splitmix64(id_hash ^ _splitmix64(repeat.astype(np.uint64) ^ stream))


def unit_interval(key: np.ndarray) -> np.ndarray:
    return (key >> np.uint64(11)).astype(np.float64) * 2.0**-53


def repeats_for(id_hash: np.ndarray, weight: np.ndarray, seed: int) -> np.ndarray:
    """floor(w) sure repeats, plus one more (repeat index floor(w)) when its draw falls under frac(w)."""
    whole = np.floor(weight)
    extra = unit_interval(repeat_key(id_hash, whole, seed, _SALT_DRAW)) < (weight - whole)
    return (whole + extra).astype(np.int64)
