"""What a step shows in the Kubeflow UI and records for lineage: its figures as KFP Metrics, a Markdown summary, an
HTML page for plots, and the same lineage on every output artifact. The component functions
(components/definitions.py) call these after their executor; the executors themselves only compute.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable


def fingerprint(path: str) -> str:
    """A short content hash of a file (e.g. stats.json) to follow a dataset through the lineage."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def png_html(png_path: str | None, title: str) -> str:
    """A self-contained HTML page for the KFP UI, which shows an HTML artifact but cannot follow file links."""
    if not png_path or not os.path.exists(png_path):
        return f"<html><body><h3>{title}</h3><p>no plot (matplotlib missing or nothing logged)</p></body></html>"
    with open(png_path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f"<html><body><h3>{title}</h3><img src='data:image/png;base64,{data}'/></body></html>"


LINEAGE_KEYS = ("data_fingerprint", "pipeline_version", "run_id")


def record_lineage(
    artifacts: Iterable, *, data_fingerprint: str, pipeline_version: str, run_id: str, model_version: int | None = None
) -> dict:
    """Stamp one step's lineage on all its output artifacts, so any artifact found in the UI or in ML Metadata
    leads back to the data it came from, the code that made it, the run, and (once exported) the served version.
    """
    if not data_fingerprint:
        raise ValueError(
            "the input artifact carries no data_fingerprint: it was not produced by this pipeline's preprocess step"
        )
    lineage: dict = {"data_fingerprint": data_fingerprint, "pipeline_version": pipeline_version, "run_id": run_id}
    if model_version is not None:
        lineage["model_version"] = int(model_version)
    for artifact in artifacts:
        artifact.metadata.update(lineage)
    return lineage


def log_figures(metrics_artifact, figures: dict) -> None:
    """Log the numeric figures as KFP scalar metrics (the UI's metric names cannot contain '@')."""
    for key, value in figures.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float):
            metrics_artifact.log_metric(key.replace("@", "_at_"), value)


def write_ui(
    metrics_artifact, figures: dict, summary_artifact, markdown: str, plots_artifact=None, png_path=None, title=""
) -> None:
    """A step's Kubeflow UI outputs: its figures as Metrics, its Markdown summary and, for steps that plot, an HTML
    page with the PNG embedded."""
    log_figures(metrics_artifact, figures)
    with open(summary_artifact.path, "w", encoding="utf-8") as f:
        f.write(markdown)
    if plots_artifact is not None:
        with open(plots_artifact.path, "w", encoding="utf-8") as f:
            f.write(png_html(png_path, title))


def figures_markdown(title: str, figures: dict, notes: Iterable[str] = ()) -> str:
    """The step's summary as the KFP UI renders it: a heading, a table of its figures, then notes."""
    lines = [f"# {title}", "", "| figure | value |", "|---|---|"]
    for key, value in figures.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    notes = list(notes)
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
