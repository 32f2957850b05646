"""Writes benchmarks/README.md: one table of the headline figures of every result file in benchmarks/results/.

Each row names a figure, its value, the JSON file it is read from and the command that writes that file. For a
benchmark module the command is the `Run:` line of its docstring (or, without one, the first line of its docstring
that runs it), with the arguments a particular file needs where the module writes several; files written by the
`realm` command line name the command and the page of docs/ that gives its arguments. Which figures are headline
figures is chosen per file below (`EXTRACTORS`); a result file no extractor claims gets a row saying so, and
tests/test_benchmarks_readme.py fails on it, as it does when the table is stale.

Run: python -m benchmarks.make_readme
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import glob
import json
import os
from collections.abc import Callable, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")
README = os.path.join(HERE, "README.md")
UNCLAIMED = "no headline figure chosen: add an extractor to benchmarks/make_readme.py"

Row = tuple[str, str, str]  # (benchmark, figure, value)


def run_line(module: str) -> str:
    """The command in the docstring of benchmarks/<module>.py: its `Run:` line (continuation lines joined), else
    the first line that runs the module. Read from the source, so no benchmark is imported."""
    with open(os.path.join(HERE, f"{module}.py"), encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Run:"):
            parts = [line[len("Run:") :].strip()]
            while parts[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                parts[-1] = parts[-1][:-1].rstrip()
                parts.append(lines[i].strip())
            return " ".join(parts)
    for line in lines:
        if line.strip().startswith(f"python -m benchmarks.{module}"):
            return line.strip()
    raise ValueError(f"benchmarks/{module}.py: no Run: line in its docstring")


# ------------------------------------------------------------------------------------------------ formatting
def get(data: dict, path: str):
    """data["a"]["b"] for "a.b"; None when any key is missing (a changed result file drops the row, and the
    staleness test then shows the change)."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def num(value, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def pct(value) -> str:
    return f"{100 * value:.1f}%"


def ratio(value) -> str:
    return f"{value:.2f}x"


def row(benchmark: str, figure: str, *paths_and_format, data: dict) -> list[Row]:
    """A row whose value is `format` applied to the values at `paths` (none if any is missing)."""
    *paths, fmt = paths_and_format
    values = [get(data, p) for p in paths]
    if any(v is None for v in values):
        return []
    return [(benchmark, figure, fmt(*values))]


# ------------------------------------------------------------------------------------------------ extractors
def containers(data: dict, name: str) -> list[Row]:
    rows = []
    for variant, image in sorted((get(data, "images") or {}).items()):
        rows += row(
            "containers",
            f"{variant} image: size, build time (layer cache: {image.get('layer_cache', '?')})",
            "size_gb",
            "build_seconds",
            lambda gb, s: f"{gb} GB, {s} s",
            data=image,
        )
    for preset, run in sorted((get(data, "runs_in_containers") or {}).items()):
        rows += row(
            "containers",
            f"`{preset}` pipeline run in the images: minutes, blessed, exact match",
            "minutes",
            "blessed",
            "exact_match",
            lambda m, b, em: f"{m} min, {'blessed' if b else 'not blessed'}, EM {pct(em)}",
            data=run,
        )
    return rows


def half_precision(data: dict, name: str) -> list[Row]:
    b = "half precision"
    latency = "synthetic.search_latency_ms.chunk_65536"
    return [
        *row(
            b,
            "1M x 128 block embeddings, float32 → float16",
            "synthetic.float32.block_embeddings_mb",
            "synthetic.float16.block_embeddings_mb",
            lambda a, c: f"{a:.0f} → {c:.0f} MB",
            data=data,
        ),
        *row(
            b,
            "float16 search's top-5 / top-100 overlap with float32 (1M synthetic)",
            "synthetic.top_k_overlap.at_5",
            "synthetic.top_k_overlap.at_100",
            lambda a, c: f"{pct(a)} / {pct(c)}",
            data=data,
        ),
        *row(
            b,
            "search latency, batch 32, 65,536-block chunks: float32 / float16",
            f"{latency}.batch_32.float32",
            f"{latency}.batch_32.float16",
            lambda a, c: f"{a:.0f} / {c:.0f} ms",
            data=data,
        ),
        *row(
            b,
            "search latency, batch 1, 65,536-block chunks: float32 / float16",
            f"{latency}.batch_1.float32",
            f"{latency}.batch_1.float16",
            lambda a, c: f"{a:.0f} / {c:.0f} ms",
            data=data,
        ),
        *row(
            b,
            "float32 search latency, batch 32: one 1,048,576-block chunk / 65,536-block chunks",
            "synthetic.search_latency_ms.chunk_1048576.batch_32.float32",
            f"{latency}.batch_32.float32",
            lambda a, c: f"{a:.0f} / {c:.0f} ms",
            data=data,
        ),
        *row(
            b,
            "sample answer recall at the reader beam, float32 / float16",
            "sample.float32.recall_at_reader_beam",
            "sample.float16.recall_at_reader_beam",
            lambda a, c: f"{a:.3f} / {c:.3f}",
            data=data,
        ),
    ]


def models(data: dict, name: str) -> list[Row]:
    return [
        *row(
            "models",
            "embedder inference, batch 32 x 288: ours / HF docs/s",
            "embedder_inference.ours_docs_per_s",
            "embedder_inference.hf_docs_per_s",
            "embedder_inference.ratio",
            lambda a, c, r: f"{a:.1f} / {c:.1f} ({ratio(r)})",
            data=data,
        ),
        *row(
            "models",
            "encoder train step: ours (full logits) / HF examples/s",
            "encoder_train_step.ours_full_logits_examples_per_s",
            "encoder_train_step.hf_examples_per_s",
            "encoder_train_step.ratio_full_logits",
            lambda a, c, r: f"{a:.2f} / {c:.2f} ({ratio(r)})",
            data=data,
        ),
    ]


def preprocess(data: dict, name: str) -> list[Row]:
    b = "preprocess"
    return [
        *row(
            b,
            "parse + tokenize over bz2 decompression, per core",
            "parse_plus_tokenize_over_decompress",
            "target_ratio",
            lambda a, t: f"{ratio(a)} (target {ratio(t)})",
            data=data,
        ),
        *row(
            b,
            "Beam pipeline, 2 workers: blocks/s on the sample / 8 copies of it",
            "pipeline.sample.blocks_per_second",
            "pipeline.replicated_sample.blocks_per_second",
            lambda a, c: f"{a:.0f} / {c:.0f}",
            data=data,
        ),
        *row(
            b,
            "full English dump, projected hours on 1 / 32 / 128 workers (27 part files)",
            "full_english_dump_projection.27_part_files.1_workers_hours",
            "full_english_dump_projection.27_part_files.32_workers_hours",
            "full_english_dump_projection.27_part_files.128_workers_hours",
            lambda a, c, d: f"{a} / {c} / {d} h",
            data=data,
        ),
    ]


def presets(data: dict, name: str) -> list[Row]:
    rows = []
    pages = get(data, "pages")
    before = " at the checkout before" if get(data, "checkout") else ""
    recipe = "own recipe" if isinstance(get(data, "recipe"), str) else "steps cut to 1-2"
    for preset, run in sorted((get(data, "runs") or {}).items()):
        rows += row(
            "presets",
            f"`{preset}` end to end on {pages} pages{before} ({recipe}): minutes, exit code, blessed",
            "minutes",
            "exit_code",
            "summary.blessed",
            lambda m, rc, b: f"{m} min, exit {rc}, {'blessed' if b else 'not blessed'}",
            data=run,
        )
        rows += row(
            "presets",
            f"`{preset}`{before}: last logged pre-training loss, p(null document)",
            "last_logged.pretrain-op.loss",
            "last_logged.pretrain-op.null_document_prob",
            "last_logged.pretrain-op.step",
            lambda loss, p, step: f"{loss:.5f}, {p:.3f} (step {step})",
            data=run,
        )
    return rows


def pretraining(data: dict, name: str) -> list[Row]:
    b = "pre-training cost"
    return [
        *row(
            b,
            "training examples/s (median), index staleness mean / max steps",
            "run.train_examples_per_second_median",
            "run.staleness_steps_mean",
            "run.staleness_steps_max",
            lambda e, m, x: f"{e:.2f}; {m:.0f} / {x}",
            data=data,
        ),
        *row(
            b,
            "refresh of the sample (embed + build + publish)",
            "refresh.blocks",
            "refresh.refresh_seconds",
            lambda n, s: f"{s:.1f} s for {n:,} blocks",
            data=data,
        ),
        *row(
            b,
            "ScaNN build + publish at 1M blocks; projected 13.35M-block refresh",
            "refresh.scann_build_publish_1m_seconds",
            "refresh.projected_13m_refresh_hours_this_machine",
            lambda s, h: f"{s:.1f} s; {h:.1f} h",
            data=data,
        ),
    ]


def reader_ablation(data: dict, name: str) -> list[Row]:
    rows = []
    for variant, measured in sorted((get(data, "variants") or {}).items()):
        for split in ("dev", "test"):
            questions = get(measured, f"{split}.questions")
            rows += row(
                "reader ablation",
                f"`{variant}` {split}: exact match ± se, answer recall@5 ({questions} questions)",
                f"{split}.exact_match",
                f"{split}.exact_match_se",
                f"{split}.recall@5",
                lambda em, se, r: f"{pct(em)} ± {pct(se)}, {pct(r)}",
                data=measured,
            )
    return rows


def reader_paired(data: dict, name: str) -> list[Row]:
    rows = []
    for comparison, compared in sorted((get(data, "comparisons") or {}).items()):
        for split in ("dev", "test"):
            rows += row(
                "reader, paired",
                f"`{comparison}` {split}: b - a in exact match ± se, in answer recall@5 ± se",
                f"{split}.exact_match.b_minus_a",
                f"{split}.exact_match.se",
                f"{split}.answer_recall@5.b_minus_a",
                f"{split}.answer_recall@5.se",
                lambda em, se, r, rse: f"{pct(em)} ± {pct(se)}, {pct(r)} ± {pct(rse)}",
                data=compared,
            )
    return rows


def pipeline_variants(data: dict, name: str) -> list[Row]:
    rows = []
    for comparison, compared in sorted((get(data, "comparisons") or {}).items()):
        for split in ("dev", "test"):
            rows += row(
                "whole pipeline, paired",
                f"`{comparison}` {split} (one run a side): exact match a -> b, b - a ± se",
                f"{split}.exact_match.a",
                f"{split}.exact_match.b",
                f"{split}.exact_match.b_minus_a",
                f"{split}.exact_match.se",
                lambda a, b, d, se: f"{pct(a)} -> {pct(b)}, {pct(d)} ± {pct(se)}",
                data=compared,
            )
    return rows


def span_rules(data: dict, name: str) -> list[Row]:
    rows = []
    for comparison, compared in sorted((k, v) for k, v in data.items() if k != "machine"):
        rows += row(
            "inference settings",
            f"`{comparison}`: exact match a -> b, paired over {len(compared.get('models', {}))} models ± se",
            "paired_exact_match.a",
            "paired_exact_match.b",
            "paired_exact_match.se",
            lambda a, b, se: f"{pct(a)} -> {pct(b)} ± {pct(se)}",
            data=compared,
        )
    return rows


def lexical_retrieval(data: dict, name: str) -> list[Row]:
    rows = []
    for split, measured in sorted((k, v) for k, v in data.items() if k != "machine"):
        for side, recall in measured.get("recall", {}).items():  # side names hold dots ("0.3"): no `get` paths
            at5, at20 = recall.get("recall@5", {}), recall.get("recall@20", {})
            if not all(k in at5 for k in ("b", "b_minus_a", "se")) or "b" not in at20:
                continue
            rows.append(
                (
                    "hybrid retrieval",
                    f"{split}, `{side}` over {len(measured.get('models', []))} models: answer recall@5 (paired "
                    f"difference from {measured.get('paired_with', 'dense')} ± se), @20",
                    f"{pct(at5['b'])} ({pct(at5['b_minus_a'])} ± {pct(at5['se'])}), {pct(at20['b'])}",
                )
            )
    return rows


def calibration(data: dict, name: str) -> list[Row]:
    rows = []
    for key, measured in sorted((k, v) for k, v in data.items() if k != "machine"):
        rows += row(
            "answer probabilities",
            f"share right per answer probability ({key.split(':')[0]}, {len(measured.get('models', {}))} models, "
            + "".join(f"{k}={v}, " for k, v in sorted(measured.get("settings", {}).items()))
            + f"{measured.get('answers')} answers): lowest bin with answers, highest bin",
            "bins",
            lambda table: ", ".join(
                f"{b['probability']} {pct(b['share_right'])} of {b['answers']}"
                for b in (next(b for b in table if b["answers"]), table[-1])
            ),
            data=measured,
        )
    return rows


def pretrain_recipes(data: dict, name: str) -> list[Row]:
    rows = []
    for label, run in sorted((get(data, "runs") or {}).items()):
        rows += row(
            "pre-training recipe runs",
            f"`{label}` (ICT steps {run.get('ict_steps')}, refresh every {run.get('refresh_every')}, seed "
            f"{run.get('seed')}): warm-start / pre-training minutes",
            "warm_start_minutes",
            "pretrain_minutes",
            lambda w, p: f"{num(w, 1)} / {num(p, 1)}",
            data=run,
        )
    return rows


def main_command(data: dict, name: str) -> list[Row]:
    rows = []
    for run in get(data, "runs") or []:
        commit = run.get("commit", "?")
        rows += row(
            "main command",
            f"`{commit}` fresh clone: install / run minutes, blessed",
            "install_minutes",
            "run_minutes",
            "blessed",
            lambda i, r, b: f"{num(i, 1) if i is not None else 'venv reused'} / {num(r, 1)}, {b}",
            data=run,
        )
        rows += row(
            "main command",
            f"`{commit}` test split: exact match ± se, answer recall@5 ({run.get('questions')} questions)",
            "exact_match",
            "exact_match_se",
            "recall@5",
            lambda em, se, r: f"{pct(em)} ± {pct(se)}, {pct(r)}",
            data=run,
        )
    return rows


def refresh(data: dict, name: str) -> list[Row]:
    return [
        *row(
            "index refresh",
            "1M blocks: ScaNN build + publish seconds, recall@10 vs exact, search ms/query",
            "measured.build_and_publish_seconds",
            "measured.recall_at_10_vs_exact",
            "measured.search_ms_per_query",
            lambda b, r, q: f"{num(b, 1)} s, {r:.3f}, {num(q, 2)} ms",
            data=data,
        ),
        *row(
            "index refresh",
            "embedding rate (blocks/s, measured) → 13M blocks: embed hours, build + publish minutes (projected)",
            "embed_blocks_per_second",
            "projected_13m_blocks.embed_hours",
            "projected_13m_blocks.build_and_publish_minutes",
            lambda e, h, m: f"{num(e, 1)}/s → {num(h, 1)} h, {num(m, 1)} min",
            data=data,
        ),
    ]


def suite(data: dict, name: str) -> list[Row]:
    return row(
        "test suite",
        "`python -m pytest` (README's test command): minutes, passed, failed",
        "minutes",
        "passed",
        "exit_code",
        lambda m, p, code: f"{num(m, 1)} min, {p} passed, exit code {code}",
        data=data,
    )


def finetune_step(data: dict, name: str) -> list[Row]:
    rows = []
    for side, figures in (data.get("sides") or {}).items():
        for phase in ("cloze", "questions"):
            batch = get(figures, f"{phase}.median_batch_seconds")
            train = get(figures, f"{phase}.median_train_step_seconds")
            minutes = get(figures, f"{phase}.recipe_minutes_at_mean")
            if None in (batch, train, minutes):
                continue
            figure = f"{phase} step, {side} ({figures.get('commit')}): batch + train step (median), recipe minutes"
            rows.append(("fine-tuning step", figure, f"{batch:.2f} + {train:.2f} s, {minutes:.1f} min"))
    return rows


def bf16_training(data: dict, name: str) -> list[Row]:
    rows = []
    for shape, measured in (data.get("shapes") or {}).items():
        rows += row(
            "encoder train step, bfloat16",
            f"{data.get('preset')} {shape}: median step float32 -> mixed_bfloat16 (float32 / bfloat16)",
            "seconds.float32.median",
            "seconds.mixed_bfloat16.median",
            "float32_over_bfloat16",
            lambda a, b, ratio: f"{a:.2f} s -> {b:.2f} s ({ratio:.2f}x)",
            data=measured,
        )
    return rows


def xla(data: dict, name: str) -> list[Row]:
    rows = []
    for side in ("xla", "no_xla"):
        rows += row(
            "ICT step, XLA",
            f"`{side}`: mean step after the first interval, mean process wall time ({data.get('method', '')})",
            f"sides.{side}.mean_step_seconds",
            f"sides.{side}.mean_wall_seconds",
            lambda step, wall: f"{step:.2f} s, {wall:.0f} s",
            data=data,
        )
    return rows


def inference_graphs(data: dict, name: str) -> list[Row]:
    return row(
        "corpus embedding, XLA",
        "blocks/s traced -> XLA (the refresh sidecar's forward pass), speed-up",
        "embed.blocks_per_second_at_median.traced",
        "embed.blocks_per_second_at_median.xla",
        "embed.xla_speedup",
        lambda before, after, ratio: f"{before:.1f} -> {after:.1f} blocks/s, {ratio:.2f}x",
        data=data,
    ) + row(
        "evaluation, traced",
        "seconds a test question, eager -> one traced graph, speed-up, same answers",
        "answer.seconds_per_question_at_median.eager",
        "answer.seconds_per_question_at_median.traced",
        "answer.tracing_speedup",
        "answer.same_answers",
        lambda before, after, ratio, same: f"{before:.2f} -> {after:.2f} s, {ratio:.2f}x, same answers: {same}",
        data=data,
    )


def weight_averaging(data: dict, name: str) -> list[Row]:
    seeds = ", ".join(str(r.get("seed")) for r in data.get("runs", []))
    rows = []
    for averaged, compared in sorted((data.get("paired_vs_last") or {}).items()):
        rows += row(
            "fine-tuning, weight averaging",
            f"`{averaged}` vs last weights, dev (seeds {seeds}): exact match a -> b ± se, recall@5 b - a",
            "exact_match.a",
            "exact_match.b",
            "exact_match.se",
            "answer_recall@5.b_minus_a",
            lambda a, b, se, r: f"{pct(a)} -> {pct(b)} ± {pct(se)}, {pct(r)}",
            data=compared,
        )
    return rows


def serving(data: dict, name: str) -> list[Row]:
    rows = []
    for corpus in sorted(k for k, v in data.items() if isinstance(v, dict) and "blocks" in v):
        blocks = get(data, f"{corpus}.blocks")
        label = f"{blocks:,} blocks" if isinstance(blocks, int) else corpus
        rows += row(
            "serving",
            f"latency p50, one question, {label}: ours / HF",
            f"{corpus}.ours_p50_ms",
            f"{corpus}.hf_p50_ms",
            lambda a, c: f"{a:.0f} / {c:.0f} ms",
            data=data,
        )
        # Files from before the batch was timed on both sides held an HF figure extrapolated from one call.
        measured = get(data, f"{corpus}.batch32_timing") is not None
        rows += row(
            "serving",
            f"batch-32 throughput, {label}: ours (one call) / HF (32 one-question calls)"
            if measured
            else f"batch-32 throughput, {label}: ours / HF",
            f"{corpus}.ours_batch32_questions_per_second",
            f"{corpus}.hf_batch32_questions_per_second",
            lambda a, c: f"{a:.2f} / {c:.2f} questions/s",
            data=data,
        )
    return rows


def tokenization(data: dict, name: str) -> list[Row]:
    if get(data, "offset_mismatches") is not None:  # files since offsets are compared too
        return row(
            "tokenization",
            "texts/s: ours / HF; id / offset mismatches",
            "ours_texts_per_second",
            "hf_texts_per_second",
            "speedup_vs_hf",
            "id_mismatches",
            "offset_mismatches",
            lambda a, c, r, m, o: f"{a:,.0f} / {c:,.0f} ({ratio(r)}); {m} / {o}",
            data=data,
        )
    return row(
        "tokenization",
        "texts/s: ours / HF; id mismatches",
        "ours_texts_per_second",
        "hf_texts_per_second",
        "speedup_vs_hf",
        "id_mismatches",
        lambda a, c, r, m: f"{a:,.0f} / {c:,.0f} ({ratio(r)}); {m}",
        data=data,
    )


def openqa(data: dict, name: str) -> list[Row]:
    measured = data.get("evaluation", data)
    stem = os.path.basename(name)[: -len(".json")]
    return row(
        "open-QA demo",
        f"`{stem}`: exact match, answer recall@5 / @100 ({measured.get('questions')} questions)",
        "exact_match",
        "recall@5",
        "recall@100",
        lambda em, r5, r100: f"{pct(em)}, {pct(r5)} / {pct(r100)}",
        data=measured,
    )


def run_summary(data: dict, name: str) -> list[Row]:
    """A `benchmarks.summarize_runs` summary: one row per phase."""
    run = f"{os.path.dirname(name)}/"
    label = f"`{data.get('log', os.path.basename(name))}`"
    if data.get("kind") == "ict":
        return row(
            run,
            f"ICT {label}, {data.get('steps')} steps: loss, in-batch accuracy (first → last)",
            "loss.first",
            "loss.last",
            "in_batch_accuracy.first",
            "in_batch_accuracy.last",
            lambda a, c, d, e: f"{a:.2f} → {c:.2f}, {d:.2f} → {e:.2f}",
            data=data,
        )
    rows = []
    names = {"warm_up": "MLM warm-up", "realm": "REALM steps"}
    for phase, stats in (data.get("phases") or {}).items():
        first, last = stats["steps"]
        rows += row(
            run,
            f"{label}, {names.get(phase, phase)} {first}–{last}: loss, retrieval utility, p(null document) "
            "(first → last window mean)",
            "loss.first_window_mean",
            "loss.last_window_mean",
            "retrieval_utility.first_window_mean",
            "retrieval_utility.last_window_mean",
            "null_document_prob.first_window_mean",
            "null_document_prob.last_window_mean",
            lambda a, b, c, d, e, f: f"{a:.2f} → {b:.2f}; {c:+.2f} → {d:+.2f}; {e:.2f} → {f:.2f}",
            data=stats,
        )
    return rows


def probe(data: dict, name: str) -> list[Row]:
    """A reader-copying probe record: the own-block gain at its last evaluation."""
    curve = data.get("curve") or [{}]
    settings = data.get("settings") or {}
    flags = ", ".join(f"{k} {settings[k]}" for k in ("extra_mask_rate", "fit_head_steps") if settings.get(k))
    return row(
        "reader-copying probe",
        f"own-block span gain after {curve[-1].get('step')} steps ({flags or 'span only'})",
        "span_log_prob_gain_own_block",
        lambda g: f"{g:+.3f} nats",
        data=curve[-1],
    )


# The pre-training runs on record: (run, "DIR/BEFORE AFTER..."): the files after each stage, in order.
CONTROL = "demo_pretraining_control"
RUNS = [
    ("REALM (the demonstration command)", f"{CONTROL}/recall-before.json recall-after-realm.json"),
    ("control (trivial retrieval kept)", f"{CONTROL}/recall-before.json recall-after-control.json"),
    ("REALM pair (the control with REALM's rule)", f"{CONTROL}/recall-before.json recall-after-realm-pair.json"),
    ("ICT, 300 steps", f"{CONTROL}/recall-before.json recall-after-ict.json"),
    (
        "ICT, then warm-up 400 + 150 REALM steps",
        f"{CONTROL}/recall-before-recipe.json recall-after-ict-recipe.json recall-after-ict-then-realm.json",
    ),
    (
        "ICT, then warm-up 800 + 150 REALM steps",
        f"{CONTROL}/recall-before-recipe.json recall-after-ict-recipe.json recall-after-ict-then-realm-warmup800.json",
    ),
    ("head fit, warm-up 800, 50 REALM steps", "demo_pretraining_head_fit/recall-before.json recall-after-step850.json"),
    (
        "warm-up 1,800, distractors, 200 REALM steps",
        "demo_pretraining_distractors/recall-before.json recall-after.json",
    ),
    ("own-block warm-up 2,500, 250 REALM steps", "demo_pretraining_blocks128/recall-before.json recall-after.json"),
    ("own-block warm-up 1,000, 200 REALM", "demo_pretraining_own_block_warmup/recall-before.json recall-after.json"),
    ("300 REALM steps, lr 1e-5", "demo_pretraining_block_trivial_lr1e-5/recall-before.json recall-after.json"),
    ("300 REALM steps, lr 1e-5, whole article dropped", "demo_pretraining_lr1e-5/recall-before.json recall-after.json"),
    ("warm-up 100, 200 REALM, lr 5e-5", "demo_pretraining_mlm_warmup_lr5e-5/recall-before.json recall-after.json"),
    ("300 REALM steps, lr 5e-5, 288-wordpiece blocks", "demo_pretraining/recall-before.json recall-after.json"),
]
# Encoder read-outs (`evaluate-retriever --encoder`): (file, what the encoder is).
ENCODER_READOUTS = [
    ("demo_pretraining_control/recall-before.json", "warmed encoder (head fit, warm-up 800)"),
    ("demo_pretraining_head_fit/recall-before.json", "warmed encoder (head fit, warm-up 800)"),
    ("demo_pretraining_distractors/recall-before.json", "encoder after warm-up 1,750, no head fit"),
    ("demo_pretraining_distractors/probe-warmup750-lr1e-4.json", "encoder after warm-up 750, lr 1e-4, no head fit"),
    ("demo_pretraining_distractors/probe-warmup750-lr3e-4.json", "encoder after warm-up 750, lr 3e-4, no head fit"),
]
SPREAD_READOUTS = [("demo_pretraining_block_trivial_lr1e-5/recall-after-spread.json", "after, re-measured with spread")]


def _recalls(data: dict) -> str:
    return " / ".join(f"{data[f'recall@{k}']:.3f}" for k in (1, 5, 100))


def pretraining_runs(results_dir: str) -> Iterator[tuple[Row, list[str]]]:
    """Rows from the `realm evaluate-retriever` records of the pre-training runs, each with the files it reads."""

    def load(path: str) -> dict:
        with open(os.path.join(results_dir, path), encoding="utf-8") as f:
            return json.load(f)

    for label, chain in RUNS:
        first, *after = chain.split()
        directory = os.path.dirname(first)
        files = [first, *(f"{directory}/{name}" for name in after)]
        if not all(os.path.exists(os.path.join(results_dir, f)) for f in files):
            continue
        value = " → ".join(_recalls(load(f)) for f in files)
        yield (f"{directory}/", f"{label}: recall@1 / @5 / @100, before → after", value), files
    for path, label in ENCODER_READOUTS:
        if not os.path.exists(os.path.join(results_dir, path)):
            continue
        data = load(path)
        gains = [get(data, f"span_log_prob_gain_{k}_block") for k in ("own", "span", "distractor")]
        if None in gains:
            continue
        value = " / ".join(f"{g:+.3f}" for g in gains) + f" nats ({data['queries']} queries)"
        figure = f"{label}: span gain over the null document from own / span-holding / other block"
        yield (f"{os.path.dirname(path)}/", figure, value), [path]
    for path, label in SPREAD_READOUTS:
        if os.path.exists(os.path.join(results_dir, path)):
            data = load(path)
            value = f"{data['query_mean_cosine']:.3f}, {data['score_std']:.2f}"
            yield (f"{os.path.dirname(path)}/", f"{label}: query mean cosine, score std", value), [path]


EVALUATE_RETRIEVER = "realm evaluate-retriever ... --out FILE (arguments: docs/pretraining.md)"

# (glob under benchmarks/results, extractor, command: a benchmarks module whose Run: line writes the file, or a
# literal command). The first pattern that matches a file claims it.
EXTRACTORS: list[tuple[str, Callable[[dict, str], list[Row]], str]] = [
    ("bf16_training.json", bf16_training, "bench_bf16_training"),
    ("calibration.json", calibration, "bench_calibration"),
    ("containers.json", containers, "bench_containers"),
    ("finetune_step.json", finetune_step, "bench_finetune_step"),
    (
        "finetune_step_b9621c9_vs_d3e36e4.json",
        finetune_step,
        "git worktree add /tmp/wt-b9621c9 b9621c9 && python -m benchmarks.bench_finetune_step --corpus "
        "RUN/preprocess-op/corpus --pretrain RUN/pretrain-op/model --side before=/tmp/wt-b9621c9 --side after=. "
        "--steps 12 --name finetune_step_b9621c9_vs_d3e36e4",
    ),
    (
        "finetune_step_2db3b83_vs_54e91be.json",
        finetune_step,
        "git worktree add /tmp/wt-54e91be 54e91be && python -m benchmarks.bench_finetune_step --corpus "
        "RUN/preprocess-op/corpus --pretrain RUN/pretrain-op/model --side before=/tmp/wt-54e91be --side after=. "
        "--steps 12 --name finetune_step_2db3b83_vs_54e91be",
    ),
    ("half_precision.json", half_precision, "bench_half_precision"),
    ("xla.json", xla, "bench_xla"),
    ("inference_graphs.json", inference_graphs, "bench_inference_graphs"),
    ("main_command.json", main_command, "bench_main_command"),
    ("models.json", models, "bench_models"),
    ("preprocess.json", preprocess, "bench_preprocess"),
    ("presets.json", presets, "bench_presets"),
    (
        "presets_tiny_after.json",
        presets,
        "python -m benchmarks.bench_presets --presets tiny --full-recipe --pages 40 --name presets_tiny_after",
    ),
    (
        "presets_tiny_after_repeat.json",
        presets,
        "python -m benchmarks.bench_presets --presets tiny --full-recipe --pages 40 --name presets_tiny_after_repeat",
    ),
    (
        "presets_tiny_before_f861565.json",
        presets,
        "git worktree add /tmp/before f861565 && python -m benchmarks.bench_presets --presets tiny --full-recipe "
        "--pages 40 --checkout /tmp/before --name presets_tiny_before_f861565",
    ),
    ("pretraining.json", pretraining, "bench_pretraining"),
    ("reader_ablation.json", reader_ablation, "bench_reader"),
    ("pretrain_recipes.json", pretrain_recipes, "bench_pretrain_recipe"),
    ("reader_paired.json", reader_paired, "compare_reader"),
    ("pipeline_variants.json", pipeline_variants, "bench_pipeline_variant"),
    ("span_rules.json", span_rules, "bench_span_rules"),
    ("lexical_retrieval.json", lexical_retrieval, "bench_lexical_retrieval"),
    ("refresh.json", refresh, "bench_refresh"),
    ("serving.json", serving, "bench_serving"),
    ("suite.json", suite, "bench_suite"),
    ("tokenization.json", tokenization, "bench_tokenization"),
    ("weight_averaging.json", weight_averaging, "bench_weight_averaging"),
    ("demo_openqa/pipeline_minilm_metrics*.json", openqa, "realm pipeline run --local (README.md's main command)"),
    ("demo_openqa/*_metrics.json", openqa, "realm evaluate (arguments: docs/finetuning.md)"),
    ("demo_pretraining*/summary*.json", run_summary, "python -m benchmarks.summarize_runs benchmarks/results/{dir}"),
    ("probe_reader_copying/*.json", probe, "probe_reader_copying"),
]


def command_for(spec: str, path: str) -> str:
    if spec.isidentifier():
        return run_line(spec)
    return spec.format(dir=os.path.dirname(path))


def result_files(results_dir: str) -> list[str]:
    paths = glob.glob(os.path.join(results_dir, "**", "*.json"), recursive=True)
    return sorted(os.path.relpath(p, results_dir).replace(os.sep, "/") for p in paths)


def table_rows(results_dir: str = RESULTS_DIR) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, figure, value, result file, command) for every result file, in file order; a row that reads
    several files (before → after) sits under the first."""
    files = result_files(results_dir)
    by_file: dict[str, list[tuple[str, str, str, str, str]]] = {path: [] for path in files}
    covered = set()
    for path in files:
        spec = next((s for s in EXTRACTORS if fnmatch.fnmatch(path, s[0])), None)
        if spec is None:
            continue
        covered.add(path)
        with open(os.path.join(results_dir, path), encoding="utf-8") as f:
            data = json.load(f)
        command = command_for(spec[2], path)
        by_file[path] += [(b, figure, value, path, command) for b, figure, value in spec[1](data, path)]
    for (benchmark, figure, value), reads in pretraining_runs(results_dir):
        shown = " → ".join([reads[0], *(os.path.basename(r) for r in reads[1:])])
        by_file[reads[0]].append((benchmark, figure, value, shown, EVALUATE_RETRIEVER))
        covered.update(reads)
    for path in files:
        if path not in covered:
            by_file[path].append((os.path.dirname(path) or path, UNCLAIMED, "", path, ""))
    return [r for path in files for r in by_file[path]]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(results_dir: str = RESULTS_DIR) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.make_readme` from the JSON files in `benchmarks/results/`; do not edit",
        "by hand. `tests/test_benchmarks_readme.py` fails when this table is not what the command writes from the",
        "files as they are. One row per headline figure: the file holds the rest. A command is what writes the",
        "file; `...` stands for the arguments given in the page named. Run directories (`demo_pretraining*/`) keep",
        "small summaries (`summary*.json`, from `python -m benchmarks.summarize_runs`) rather than per-step logs;",
        "`demo_pretraining_control/metrics-realm.jsonl` is kept as the one example of a raw log.",
        "",
        "| benchmark | figure | value | result file | command |",
        "|---|---|---|---|---|",
    ]
    for benchmark, figure, value, path, command in table_rows(results_dir):
        cells = [benchmark, figure, value, f"`{path}`", f"`{command}`" if command else ""]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=RESULTS_DIR, help="the results directory to read")
    parser.add_argument("--out", default=README, help="where to write the table")
    args = parser.parse_args()
    text = render(args.results)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(args.out)


if __name__ == "__main__":
    main()
