"""The plan of passes: extract → dedup → mix → pretrain → report, each resumable, each re-runnable alone.

The extract pass is the expensive one (trafilatura): it runs once per input set, one task per archive
file. Its inputs and settings are recorded in OUT/logs/extract/run.json; resuming into a folder that holds
an extract of other inputs or settings is refused rather than silently mixed. The later passes read only
docs/ (and each other's output), so changing quality thresholds, dedup policy or mix weights re-runs them
cheaply: `--passes dedup,mix` recomputes quality flags from the stored signals under the config's
thresholds.
"""

from __future__ import annotations

import json
import time

import polars as pl

from lusomix.errors import PassSkipped, UsageError
from lusomix.manifest import Manifest
from lusomix.mix.build import build_mix
from lusomix.pipeline.config import RunConfig, check_before_passes
from lusomix.pipeline.executors import default_workers, run_tasks
from lusomix.pipeline.inputs import expand_indexes, expand_inputs, indexed_inputs
from lusomix.pipeline.progress import MixProgress
from lusomix.pipeline.summary import build_summary
from lusomix.pretrain import training_loop
from lusomix.pretrain.config import check_batch_fits, fit_batch, load_pretrain_config
from lusomix.run_folder import RunFolder, part_name, parts
from lusomix.run_output import output_fault, prepare_output_dir, run_lock, vanished
from lusomix.stages.dedup import BandGrouper, ClusterBuilder, Corpus, grouping_tasks, units
from lusomix.stages.identify import LanguageFilter
from lusomix.stages.indexed_reader import SELECTIONS, IndexedReader, write_selection
from lusomix.stages.ingest import ArchiveReader, MainTextExtractor
from lusomix.stages.minhash_signer import MinHashSigner
from lusomix.stages.quality import PIIMasker, QualityAnnotator
from lusomix.stages.variety import VarietyIdentifier
from lusomix.stages.writer import ExtractWriter

# report last: it tells what every pass did (an empty mix, a skipped pretraining and why)
PASSES = ("extract", "dedup", "mix", "pretrain", "report")


def extract_steps(config: RunConfig, files: list[str], run: RunFolder, logs: RunFolder) -> list:
    """The extract pass's steps; with an index, the reader reads each task's selection (``selections``)."""
    reports = logs.child("reports")
    reader = (
        IndexedReader(files, logs.child(SELECTIONS), reports, config.ingest)
        if config.index
        else ArchiveReader(files, reports, config.ingest)
    )
    return [
        reader,
        MainTextExtractor(config.ingest),
        LanguageFilter(config.language),
        VarietyIdentifier(config.variety),
        PIIMasker(config.quality),
        QualityAnnotator(config.quality),
        MinHashSigner(config.dedup),
        ExtractWriter(run),
    ]


def _extract_identity(config: RunConfig, files: list[str], index_files: list[str] | None = None) -> dict:
    """What must match for a rerun to resume rather than mix two different extracts."""
    # with an index, what is read is the index and the selection (a run without one records neither, as
    # before indexes existed, so its extracts resume as they did)
    by_index = {"index": index_files, "select": config.select.model_dump()} if config.index else {}
    return by_index | {
        "inputs": files,
        "ingest": config.ingest.model_dump(),
        "language": config.language.model_dump(),
        "variety": config.variety.model_dump(),
        # masking changes the stored text; quality thresholds do not matter here (later passes re-apply them)
        "pii": config.quality.pii.model_dump(),
        # band hashes are stored per document: the dedup pass needs the same MinHash parameters
        "minhash": config.dedup.model_dump(include={"threshold", "num_perm", "ngram", "seed"}),
    }


def _executor_args(config: RunConfig) -> dict:
    return {
        "kind": config.executor.kind,
        "workers": config.executor.workers,
        "ray_address": config.executor.ray_address,
        "no_nodes_wait_s": config.executor.no_nodes_wait_s,
    }


def run_extract(config: RunConfig) -> dict:
    run = config.run_folder()
    logs = run.logs("extract")
    extra: dict = {"executor": config.executor.kind}
    if config.index:
        index_files = expand_indexes(config.index)
        selected, extra["index"] = indexed_inputs(index_files, config.input, config.select)
        files = [path for path, _ in selected]
        identity = _extract_identity(config, files, index_files)
    else:
        files = expand_inputs(config.input)
        identity = _extract_identity(config, files)
    identity = json.loads(json.dumps(identity))  # as it reads back (tuples → lists)
    marker = "run.json"
    if logs.exists(marker):
        previous = logs.read_json(marker)
        if previous != identity:
            changed = [key for key in identity | previous if previous.get(key) != identity.get(key)]
            raise UsageError(
                f"{run} holds an extract made with other {', '.join(changed)}; "
                "use another --output (or delete that folder) to start afresh"
            )
    else:
        logs.write_json(marker, identity, indent=1)
    if config.index:  # each task's captures, for its reader (the same on every rerun: the identity matched)
        for rank, (_path, entries) in enumerate(selected):
            write_selection(logs.child(SELECTIONS), rank, entries)
    started = time.time()

    def earlier(rank: int) -> dict:
        """A task an earlier run completed: its captures (its source report) and documents (its docs part)."""
        report = logs.child("reports")
        captures = report.read_json(f"{rank:05d}.json")["captures"] if report.exists(f"{rank:05d}.json") else 0
        part = f"{RunFolder.DOCS}/{part_name(rank)}"
        return {"captures": captures, "documents": run.parquet_file(part).metadata.num_rows if run.exists(part) else 0}

    run_tasks(
        "extract",
        extract_steps(config, files, run, logs),
        len(files),
        logs,
        inputs=files,
        earlier=earlier,
        **_executor_args(config),
    )
    return build_summary(run, logs, wall_s=time.time() - started, extra=extra)


def _require_docs(run: RunFolder) -> None:
    if not parts(run, RunFolder.DOCS):
        raise UsageError(
            f"{run.url_of(RunFolder.DOCS)} holds no documents: run the extract pass first (--passes extract)"
        )


def run_dedup(config: RunConfig) -> dict:
    """Grouping tasks (each takes some of the units: one per LSH band, one for exact duplicates), then the
    clusters."""
    run = config.run_folder()
    _require_docs(run)
    corpus = Corpus(run, config.dedup)
    tasks = grouping_tasks(
        config.dedup, corpus.n_docs + corpus.n_previous, config.executor.workers or default_workers()
    )
    # The grouping tasks skip units whose edges are current (they fingerprint docs/ and the parameters),
    # so datatrove's completion markers are not used: after new documents, stale units must run again.
    run_tasks(
        "dedup",
        [BandGrouper(run, config.dedup)],
        tasks,
        run.logs("dedup"),
        resume=False,
        units=units(config.dedup),
        **_executor_args(config),
    )
    rules = config.quality.thresholds()
    run_tasks(
        "clusters",
        [ClusterBuilder(run, config.dedup, rules)],
        1,
        run.logs("clusters"),
        resume=False,
        kind="local",
        workers=1,
    )
    with run.open(RunFolder.CLUSTERS) as f:
        clusters = pl.read_parquet(f)
    return {
        "documents": clusters.height,
        "clusters": clusters["cluster_id"].n_unique(),
        "in_duplicate_clusters": int((clusters["cluster_size"] > 1).sum()),
        "kept": int(clusters["keep"].sum()),
    }


def run_mixes(config: RunConfig) -> dict:
    run = config.run_folder()
    _require_docs(run)
    rules = config.quality.thresholds()
    results = {}
    for recipe in config.mixes:
        with MixProgress(f"mix {recipe.name}") as progress:
            manifest = build_mix(run, recipe, run.mix(recipe.name), quality_rules=rules, progress=progress)
        results[recipe.name] = {
            "totals": manifest["totals"],
            "by_variety": manifest["by_variety"],
            "shards": len(manifest["shards"]),
            "warnings": manifest["warnings"],
        }
    return results


def run_report(config: RunConfig) -> str:
    from lusomix.pipeline.report import write_report

    # the thresholds the dedup and mix passes apply: the report's flags and kept counts agree with the mixes
    return str(write_report(config.run_folder(), quality_rules=config.quality.thresholds()))


def run_pretrain_pass(config: RunConfig, mix_built: bool = False) -> dict:
    """Train on the run's mix. ``mix_built``: this run built it, so its size was unknown when the config was
    written, and one step larger than the mix adapts to it (said in the result's note) rather than refuse."""
    loop = training_loop()

    if config.pretrain is None:
        raise UsageError("the config has no 'pretrain' section (config, mix): nothing to train")
    run = config.run_folder()
    mix = run.mix(config.pretrain.mix)
    if not Manifest.exists(mix):
        raise UsageError(f"{mix} has no {Manifest.FILE}: run the mix pass first (--passes mix)")
    pretrain_config = load_pretrain_config(config.pretrain.config)
    target = (
        RunFolder(config.pretrain.output, config.storage_options)
        if config.pretrain.output
        else run.pretrain(config.pretrain.mix)
    )
    fitted = None
    try:
        if mix_built:
            pretrain_config, fitted = fit_batch(pretrain_config, mix)
        else:  # a mix from an earlier run: the config was written for it (checked at run start, too)
            check_batch_fits(pretrain_config, config.pretrain.config, mix)
        summary = loop.run_pretrain(
            pretrain_config,
            mix,
            target,
            max_steps=config.pretrain.max_steps,
            ray_address=config.executor.ray_address,
        )
    except PassSkipped as why:  # a mix with no training text: nothing to train, the run goes on
        return {"skipped": str(why)}
    result = {k: v for k, v in summary.items() if k != "metrics"}
    if fitted:  # what the pass changed comes first; the loop's own note (fewer workers for few rows) after it
        result["note"] = "; ".join(filter(None, [fitted, result.get("note")]))
    return result


def default_passes(config: RunConfig) -> list[str]:
    chosen = ["extract", "dedup", "report"]
    if config.mixes:
        chosen.append("mix")
    if config.pretrain:
        chosen.append("pretrain")
    return chosen


def run_passes(config: RunConfig, stages: list[str] | None = None, on_pass=None) -> dict:
    """Run the chosen passes (default: every configured one) in order; OUT/stats.json gathers their
    summaries (a later run of some passes keeps the others' entries). ``on_pass(name, result)`` is called
    as each pass ends, so its summary is shown even if a later pass fails."""
    chosen = [p for p in PASSES if p in (stages or default_passes(config))]
    check_before_passes(config, chosen)  # what the passes will read, before any of them runs
    out = prepare_output_dir(config.run_folder())
    with run_lock(out):
        try:
            return _run_locked(config, chosen, out, on_pass)
        except Exception as err:
            out.remove_temporaries()  # a failed pass's half-written files (its workers are gone) are not output
            fault = output_fault(err, out)
            if fault is None:
                raise
            raise fault from None


def _run_locked(config: RunConfig, chosen: list[str], out: RunFolder, on_pass) -> dict:
    stats = out.read_json(RunFolder.STATS) if out.exists(RunFolder.STATS) else {}
    runners = {
        "extract": run_extract,
        "dedup": run_dedup,
        "mix": run_mixes,
        "report": run_report,
        "pretrain": lambda config: run_pretrain_pass(config, mix_built="mix" in chosen),
    }
    results: dict = {}
    for name in chosen:
        results[name] = runners[name](config)
        if name == "extract":
            stats.update(results[name])
        else:
            stats[name] = results[name]
        if (gone := vanished(out)) is not None:  # deleted while the pass ran: what it wrote is not a pass done
            raise gone
        out.remove_temporaries()  # a retried task's killed first try left its half-written files
        out.write_json(RunFolder.STATS, stats, indent=1)
        if on_pass is not None:
            on_pass(name, results[name])
    return results
