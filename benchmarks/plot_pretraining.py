"""Plots of a `realm pretrain` run: loss, retrieval utility and index staleness over steps (one PNG).

Run: python -m benchmarks.plot_pretraining RUN_DIR [--out FILE.png]
"""

from __future__ import annotations

import argparse

from realm.pretraining.plots import plot_pretraining


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", help="a `realm pretrain` output directory")
    parser.add_argument("--out", help="PNG path (default: RUN/pretraining.png)")
    args = parser.parse_args()
    print(plot_pretraining(args.run, args.out) or "no plot (matplotlib missing or no metrics)")


if __name__ == "__main__":
    main()
