"""Training curves of a run's metrics.jsonl as one PNG: pre-training (loss, retrieval utility, index staleness)
and fine-tuning (loss, retriever and reader losses) share the drawing."""

from __future__ import annotations

import json
import os

PRETRAINING_PANELS = [
    ("loss", "marginal MLM loss"),
    ("retrieval_utility", "retrieval utility (log p - log p null)"),
    ("staleness_steps", "index staleness (steps)"),
]


def plot_curves(metrics_path: str, panels: list[tuple[str, str]], out: str) -> str | None:
    """One PNG with a panel per (metric key, title) logged in `metrics_path`; returns `out`, or None without
    matplotlib, metrics or any of the keys (a plot is a convenience and never fails a run)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not os.path.exists(metrics_path):
        return None
    with open(metrics_path, encoding="utf-8") as f:
        logged = [json.loads(line) for line in f if line.strip()]
    panels = [(key, title) for key, title in panels if any(key in m for m in logged)]
    if not panels:
        return None
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 2.7 * len(panels)), sharex=True, squeeze=False)
    for axis, (key, title) in zip(axes[:, 0], panels, strict=True):
        points = [(m["step"], m[key]) for m in logged if key in m]
        axis.plot([s for s, _ in points], [v for _, v in points], marker=".")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def plot_pretraining(run_dir: str, out: str | None = None) -> str | None:
    """The pre-training curves of a `realm pretrain` run (default RUN/pretraining.png)."""
    return plot_curves(
        os.path.join(run_dir, "metrics.jsonl"), PRETRAINING_PANELS, out or os.path.join(run_dir, "pretraining.png")
    )
