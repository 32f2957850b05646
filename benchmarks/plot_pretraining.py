"""Plots of a `realm pretrain` run: loss, retrieval utility and index staleness over steps (one PNG).

Run: python -m benchmarks.plot_pretraining RUN_DIR [--out FILE.png]
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", help="a `realm pretrain` output directory")
    parser.add_argument("--out", help="PNG path (default: RUN/pretraining.png)")
    args = parser.parse_args()
    with open(os.path.join(args.run, "metrics.jsonl")) as f:
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
    out = args.out or os.path.join(args.run, "pretraining.png")
    figure.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
