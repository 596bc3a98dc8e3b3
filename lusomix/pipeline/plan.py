"""The plan of passes: extract → dedup → mix → pretrain, each resumable, each re-runnable on its own.

The extract pass is the expensive one (trafilatura): it runs once per input set, one task per archive
file. Its settings and inputs are recorded in OUT/logs/extract/run.json; resuming into a folder that
holds an extract of other inputs or settings is refused rather than silently mixed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from lusomix.pipeline.config import RunConfig
from lusomix.pipeline.errors import UsageError
from lusomix.pipeline.executors import run_tasks
from lusomix.pipeline.inputs import expand_inputs
from lusomix.pipeline.summary import build_summary
from lusomix.stages.identify import LanguageFilter
from lusomix.stages.ingest import ArchiveReader, MainTextExtractor
from lusomix.stages.quality import PIIMasker, QualityAnnotator
from lusomix.stages.writer import ExtractWriter


def extract_steps(config: RunConfig, files: list[str], out: str, logging_dir: str) -> list:
    return [
        ArchiveReader(files, f"{logging_dir}/reports", config.ingest),
        MainTextExtractor(config.ingest),
        LanguageFilter(config.language),
        PIIMasker(config.quality),
        QualityAnnotator(config.quality),
        ExtractWriter(out),
    ]


def _extract_identity(config: RunConfig, files: list[str]) -> dict:
    """What must match for a rerun to resume rather than mix two different extracts."""
    return {
        "inputs": files,
        "ingest": config.ingest.model_dump(),
        "language": config.language.model_dump(),
        # masking changes the stored text; quality thresholds do not matter here (later passes re-apply them)
        "pii": config.quality.pii.model_dump(),
    }


def run_extract(config: RunConfig) -> dict:
    out = Path(config.output)
    logging_dir = out / "logs" / "extract"
    files = expand_inputs(config.input)
    identity = _extract_identity(config, files)
    marker = logging_dir / "run.json"
    if marker.exists():
        previous = json.loads(marker.read_text())
        if previous != identity:
            changed = [key for key in identity if previous.get(key) != identity[key]]
            raise UsageError(
                f"{out} holds an extract made with other {', '.join(changed)}; "
                "use another --output (or delete that folder) to start afresh"
            )
    else:
        logging_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(identity, indent=1))
    started = time.time()
    run_tasks(
        "extract",
        extract_steps(config, files, str(out), str(logging_dir)),
        tasks=len(files),
        logging_dir=str(logging_dir),
        kind=config.executor.kind,
        workers=config.executor.workers,
        ray_address=config.executor.ray_address,
    )
    wall = time.time() - started
    summary = build_summary(
        out, logging_dir, wall_s=wall, extra={"executor": config.executor.kind, "output": str(out)}
    )
    (out / "stats.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str))
    return summary


PASSES = ("extract",)


def run_passes(config: RunConfig, stages: list[str] | None = None) -> dict:
    """Run the chosen passes (default: all) in order; returns each pass's summary."""
    chosen = [p for p in PASSES if stages is None or p in stages]
    results: dict = {}
    if "extract" in chosen:
        results["extract"] = run_extract(config)
    return results
