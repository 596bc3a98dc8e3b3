"""Captures recovered from damaged archives, by kind of damage: the extract pass's archive reader on seeded
mutants of the sample archives (``data_samples/mutants.py``).

For every mutant, the captures (response, revisit, resource records) that the damage did not touch must come
out of ``ArchiveReader`` as a document or a rejection (a ``damaged_record`` rejection does not count: it is
the record the damage hit). Printed per kind: intact captures, the share recovered, mutants where every
intact capture after the damage was lost, captures that are no capture of the original (made up), and
mutants named as damaged.

    python benchmarks/damage_recovery.py [--seeds 2]

Run it against another checkout (e.g. the code before the reader resynchronised) with
``PYTHONPATH=/path/to/that/checkout``: the mutants always come from this script's data_samples/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "data_samples"))
import mutants  # noqa: E402

from lusomix.run_folder import RunFolder  # noqa: E402
from lusomix.stages.ingest import ArchiveReader, IngestConfig  # noqa: E402

CAPTURES = ("response", "revisit", "resource")


def _outcomes(path: Path, reports: Path) -> tuple[Counter, bool]:
    reader = ArchiveReader([str(path)], RunFolder(reports), IngestConfig())
    got: Counter = Counter()
    for doc in reader.run(None, rank=0, world_size=1):
        if doc.metadata.get("reject") == "damaged_record":
            continue
        date = doc.metadata["crawl_date"]
        got[(doc.metadata["url"], date.strftime("%Y-%m-%dT%H:%M:%SZ") if date else "")] += 1
    report = json.loads((reports / "00000.json").read_text())
    return got, bool(report["damage"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="mutants per sample archive and kind of damage")
    args = parser.parse_args()
    import lusomix.stages.ingest as ingest

    print(f"code: {Path(ingest.__file__).resolve().parents[2]}")
    rows: dict[str, Counter] = defaultdict(Counter)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for mutant in mutants.mutants(REPO / "data_samples" / "archives", seeds=range(args.seeds)):
            path = Path(tmp) / f"{mutant.kind}-{mutant.seed}-{mutant.source}"
            path.write_bytes(mutant.data)
            reports = Path(tmp) / f"reports-{path.name}"
            got, named = _outcomes(path, reports)
            intact = [r for r in mutant.intact if r.rec_type in CAPTURES]
            want = Counter((r.uri, r.date) for r in intact)
            originals = {(r.uri, r.date) for r in mutant.records}
            after = [r for r in intact if r.start >= mutant.damage[1]]
            row = rows[mutant.kind]
            row["mutants"] += 1
            row["intact"] += len(intact)
            row["recovered"] += sum(min(n, got[key]) for key, n in want.items())
            row["all_after_lost"] += bool(after) and not any(got[(r.uri, r.date)] for r in after)
            row["made_up"] += sum(n for key, n in got.items() if key not in originals)
            row["named"] += named
    total: Counter = sum(rows.values(), Counter())
    print(
        f"{'damage':<10} {'mutants':>7} {'intact':>7} {'recovered':>10} {'share':>7} {'all after lost':>15} "
        f"{'made up':>8} {'named damaged':>14}"
    )
    for kind, row in [*rows.items(), ("all", total)]:
        print(
            f"{kind:<10} {row['mutants']:>7} {row['intact']:>7} {row['recovered']:>10} "
            f"{row['recovered'] / max(row['intact'], 1):>7.1%} {row['all_after_lost']:>15} {row['made_up']:>8} "
            f"{row['named']:>14}"
        )
    print(f"wall {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
