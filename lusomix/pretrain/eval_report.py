"""The evaluation sets' results of a pretraining run, as rows and as curves over steps (no torch here: the
run report reads them too)."""

from __future__ import annotations


def headline(result: dict) -> dict[str, float]:
    """One number per set (and label): prefers_pt_PT and delta_bpb per pair set, bpb per text label, cloze
    accuracy; keys like 'pairs frmt prefers_pt_PT', 'text heldout pt_PT bpb', 'cloze calamept accuracy'."""
    flat: dict[str, float] = {}
    for name, r in result.get("pairs", {}).items():
        flat[f"pairs {name} prefers_pt_PT"] = r["prefers_pt_PT"]
        flat[f"pairs {name} delta_bpb"] = r["delta_bpb"]
    for name, labels in result.get("text", {}).items():
        for label, r in labels.items():
            flat[f"text {name} {label} bpb"] = r["bpb"]
    for name, r in result.get("cloze", {}).items():
        flat[f"cloze {name} accuracy"] = r["accuracy"]
    return flat


def rows(result: dict) -> list[list[str]]:
    """[kind, set, measure, n, value] per figure, for a table."""
    out = []
    for name, r in result.get("pairs", {}).items():
        low, high = r["ci95"]
        out.append(["pairs", name, "prefers_pt_PT", str(r["n"]), f"{r['prefers_pt_PT']:.3f} [{low:.3f}, {high:.3f}]"])
        out.append(["pairs", name, "delta_bpb", str(r["n"]), f"{r['delta_bpb']:+.4f}"])
    for name, labels in result.get("text", {}).items():
        for label, r in labels.items():
            out.append(["text", name, f"bpb {label}", str(r["n"]), f"{r['bpb']:.4f}"])
    for name, r in result.get("cloze", {}).items():
        out.append(["cloze", name, "accuracy", str(r["n"]), f"{r['accuracy']:.3f}"])
    return out


def eval_figure(records: list[dict]):
    """Each set's figure over steps (metrics.jsonl records that carry "eval"): a matplotlib Figure, or None."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, Agg by default

    points = [(r["step"], headline(r["eval"])) for r in records if r.get("eval")]
    if not points:
        return None
    fig = Figure(figsize=(11, 3.6))
    panels = {
        "prefers_pt_PT": fig.add_subplot(1, 3, 1),
        "bpb": fig.add_subplot(1, 3, 2),
        "accuracy": fig.add_subplot(1, 3, 3),
    }
    keys = dict.fromkeys(k for _, flat in points for k in flat)
    for key in keys:
        measure = key.rsplit(" ", 1)[1]
        if measure not in panels:
            continue  # delta_bpb: the same story as prefers_pt_PT, in another unit
        series = [(step, flat[key]) for step, flat in points if key in flat]
        label = key.rsplit(" ", 1)[0].split(" ", 1)[1]
        panels[measure].plot(*zip(*series), marker="o", markersize=3, label=label)
    panels["prefers_pt_PT"].axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    titles = {
        "prefers_pt_PT": "pairs: share preferring pt-PT",
        "bpb": "held-out text: bits per byte",
        "accuracy": "cloze: last-word accuracy",
    }
    for measure, ax in panels.items():
        ax.set(xlabel="step", title=titles[measure])
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
