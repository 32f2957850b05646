"""Plots of a `realm pretrain` run (loss, retrieval utility, index staleness over steps) as one PNG."""

from __future__ import annotations

import json
import os


def plot_pretraining(run_dir: str, out: str | None = None) -> str | None:
    """Write the PNG (default RUN/pretraining.png) and return its path; None without matplotlib or metrics."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        metrics = [json.loads(line) for line in f]
    steps = [m["step"] for m in metrics]
    panels = [
        ("loss", "marginal MLM loss"),
        ("retrieval_utility", "retrieval utility (log p - log p null)"),
        ("staleness_steps", "index staleness (steps)"),
    ]
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 8), sharex=True)
    for axis, (key, title) in zip(axes, panels, strict=True):
        axis.plot(steps, [m[key] for m in metrics], marker=".")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    figure.tight_layout()
    out = out or os.path.join(run_dir, "pretraining.png")
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
