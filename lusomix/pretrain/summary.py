"""A pretraining run's figures: OUT/summary.json and the loss plot, from OUT/metrics.jsonl."""

from __future__ import annotations

import json
import statistics

from lusomix.pretrain import checkpoint as ckpt
from lusomix.pretrain.eval_report import eval_figure
from lusomix.run_folder import LABELS, RunFolder

METRICS = "metrics.jsonl"


def summarise(out: RunFolder, start_step: int) -> dict:
    """The run's figures from OUT/metrics.jsonl, also written to OUT/summary.json; draws OUT/loss.png
    and, when the eval: block's sets were scored, OUT/eval.png."""
    records = [json.loads(line) for line in out.read_text(METRICS).splitlines() if line]
    if not records:
        raise RuntimeError(f"pretraining wrote no metrics to {out.url_of(METRICS)}")
    this_run = [r["tokens_per_s"] for r in records if r["step"] > start_step + 1]  # the first step warms up
    summary = {
        "steps": records[-1]["step"],
        "resumed_from_step": start_step,
        "first_loss": records[0]["loss"],
        "last_loss": records[-1]["loss"],
        "tokens_per_s": statistics.median(this_run) if this_run else None,
        "tokens_seen": records[-1]["tokens_seen"],
    }
    for variety in LABELS:
        values = [r[f"val_loss_{variety}"] for r in records if r.get(f"val_loss_{variety}") is not None]
        summary[f"val_loss_{variety}"] = values[-1] if values else None
    latest = ckpt.latest(out)
    summary["checkpoint"] = out.url_of(latest) if latest else None
    summary["loss_plot"] = plot_losses(records, out, "loss.png")
    evals = [r for r in records if r.get("eval")]  # the eval: block's sets (pretrain.eval_sets)
    summary["eval"] = evals[-1]["eval"] if evals else None
    summary["eval_plot"] = plot_eval(records, out, "eval.png") if evals else None
    summary["metrics"] = out.url_of(METRICS)
    out.write_json("summary.json", summary)
    return summary


def plot_eval(records: list[dict], out: RunFolder, rel: str) -> str:
    fig = eval_figure(records)
    with out.publish(rel) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return out.url_of(rel)


def plot_losses(records: list[dict], out: RunFolder, rel: str) -> str:
    from matplotlib.figure import Figure  # no pyplot: no global backend state, Agg by default

    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.plot([r["step"] for r in records], [r["loss"] for r in records], label="train", linewidth=1)
    for variety in LABELS:
        points = [(r["step"], r[f"val_loss_{variety}"]) for r in records if r.get(f"val_loss_{variety}")]
        if points:
            ax.plot(*zip(*points), marker="o", label=f"validation {variety}")
    ax.set(xlabel="step", ylabel="loss (nats/token)", title="pretraining loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with out.publish(rel) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return out.url_of(rel)
