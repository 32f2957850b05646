"""Open-QA evaluation as the papers report it, plus the artifacts a pipeline run shows and a blessing decision.

For each question the fine-tuned RealmForOpenQA retrieves `searcher_beam_size` blocks and reads the best
`reader_beam_size`. Reported: exact match (ORQA normalisation; regex match for CuratedTrec), retrieval recall@k
(an answer inside one of the top-k blocks), and the reader oracle (recall at the reader beam: the best EM a
perfect reader could reach on these blocks).

Outputs written to the evaluation directory:
    predictions.jsonl  question, gold, predicted answer, score, correct, retrieved block ids and titles
    metrics.json       the figures above
    report.md          a table and a few right and wrong examples
    recall_at_k.png    recall@k curve (when matplotlib is installed)
    blessing.json      whether the model is blessed, and why
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re

import numpy as np

from realm.evaluation.answers import answer_in_text, exact_match, recall_at_k, regex_match
from realm.export.client import listed_answers
from realm.finetuning.questions import Question

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class BlessingPolicy:
    """Blessed when every threshold is met and EM is not below the last blessed model's by more than tolerance."""

    min_exact_match: float = 0.0
    min_recall: dict[int, float] = dataclasses.field(default_factory=dict)
    baseline_metrics: str | None = None  # metrics.json of the last blessed model
    tolerance: float = 0.01


QUESTION_TYPES = ("who", "what", "when", "where", "how many", "other")
# The phrase that decides a question's type, by its first occurrence: "in which year did ..." asks when.
_TYPE_PATTERNS = (
    ("how many", re.compile(r"\bhow (?:many|much)\b")),
    ("when", re.compile(r"\b(?:when|(?:what|which) (?:year|century|decade|month|day|date))\b")),
    ("where", re.compile(r"\bwhere\b")),
    ("who", re.compile(r"\b(?:who|whom|whose)\b")),
    ("what", re.compile(r"\b(?:what|which)\b")),
)
EXCERPT_CHARS = 80  # of block text either side of a predicted answer in the report


def question_type(question: str) -> str:
    """who / what / when / where / how many, by the question phrase that comes first; other without one."""
    text = question.lower()
    found = [
        (m.start(), rank, kind) for rank, (kind, pattern) in enumerate(_TYPE_PATTERNS) if (m := pattern.search(text))
    ]
    return min(found)[2] if found else "other"  # at one position, "which year" (when) before "which" (what)


def exact_match_by_type(predictions: list[dict]) -> dict[str, dict[str, float]]:
    """{type: {"questions": n, "exact_match": share}} over the types present, in QUESTION_TYPES order."""
    grouped: dict[str, list[bool]] = {}
    for p in predictions:
        grouped.setdefault(question_type(p["question"]), []).append(p["correct"])
    return {
        kind: {"questions": len(grouped[kind]), "exact_match": float(np.mean(grouped[kind]))}
        for kind in QUESTION_TYPES
        if kind in grouped
    }


def answer_excerpt(block: str, answer: str, width: int = EXCERPT_CHARS) -> str:
    """The block text around the first occurrence of the predicted answer, the answer in bold."""
    at = block.find(answer) if answer else -1
    if at < 0:
        return block[: 2 * width] + ("…" if len(block) > 2 * width else "")
    start, end = max(0, at - width), min(len(block), at + len(answer) + width)
    return (
        ("…" if start else "")
        + f"{block[start:at]}**{answer}**{block[at + len(answer) : end]}"
        + ("…" if end < len(block) else "")
    )


def evaluate_model(model, titles: list[str], questions: list[Question], ks=(1, 5, 20, 100), batch_size: int = 8):
    """-> (per-question predictions, metrics). `model` is a RealmForOpenQA with its corpus loaded."""
    import tensorflow as tf
    from tqdm import tqdm

    records = model.block_records.numpy()
    beam = model.config.reader_beam_size
    predictions, hits = [], []
    # One traced graph for every batch, as the exported model serves: op by op, eagerly, the same answers took
    # twice as long (benchmarks/results/inference_graphs.json).
    predict = tf.function(lambda questions: model(questions), input_signature=[tf.TensorSpec([None], tf.string)])

    for start in tqdm(
        range(0, len(questions), batch_size), desc="evaluating", unit="batch", disable=None, leave=False
    ):  # a bar on a terminal only (disable=None)
        batch = questions[start : start + batch_size]
        out = predict(tf.constant([q.question for q in batch]))
        retrieved = out["retrieved_block_ids"].numpy()
        answers = [a.decode("utf-8", errors="replace") for a in out["predicted_answer"].numpy()]
        scores = out["answer_score"].numpy()
        chosen_blocks = out["predicted_block_id"].numpy()
        ranks = out["block_idx"].numpy()
        retrieval = out["retrieval_scores"].numpy()
        listed = [
            [{"answer": text, "probability": round(p, 4)} for text, p in listed_answers(texts, probabilities)]
            for texts, probabilities in zip(
                out["answer_candidates"].numpy(), out["answer_candidate_probabilities"].numpy(), strict=True
            )
        ]
        for question, ids, answer, score, block, rank, block_scores, candidates in zip(
            batch, retrieved, answers, scores, chosen_blocks, ranks, retrieval, listed, strict=True
        ):
            texts = [records[i].decode("utf-8", errors="replace") for i in ids]
            chosen_text = records[int(block)].decode("utf-8", errors="replace")
            hits.append([answer_in_text(t, question.answers, regex=question.regex) for t in texts])
            correct = (regex_match if question.regex else exact_match)(answer, question.answers)
            predictions.append(
                {
                    "question": question.question,
                    "gold": list(question.answers),
                    "predicted_answer": answer,
                    "score": float(score),
                    # The likeliest distinct answers, this one first, each with its probability.
                    "answer_candidates": candidates,
                    "correct": bool(correct),
                    "predicted_block_id": int(block),
                    "predicted_title": titles[int(block)],
                    "predicted_block_rank": int(rank) + 1,  # 1 = the best retrieved block
                    "predicted_block_retrieval_score": float(block_scores[int(rank)]),
                    "predicted_block_excerpt": answer_excerpt(chosen_text, answer),
                    "question_type": question_type(question.question),
                    "retrieved_block_ids": [int(i) for i in ids[:beam]],
                    "retrieved_titles": [titles[i] for i in ids[:beam]],
                    "answer_in_top_blocks": bool(any(hits[-1][:beam])),
                    # Recall at any k per question (comparisons pair questions): 1 = the best block; None: not found.
                    "answer_rank": next((rank + 1 for rank, hit in enumerate(hits[-1]) if hit), None),
                }
            )
    searched = int(max(len(h) for h in hits)) if hits else 0
    ks = sorted({k for k in ks if k <= searched} | {searched}) if searched else list(ks)
    recall = recall_at_k(hits, ks)
    metrics = {
        "questions": len(questions),
        "exact_match": float(np.mean([p["correct"] for p in predictions])) if predictions else 0.0,
        **{f"recall@{k}": v for k, v in recall.items()},
        "reader_oracle": recall_at_k(hits, [beam])[beam] if hits else 0.0,
        "reader_beam_size": beam,
        "searcher_beam_size": searched,
        "by_question_type": exact_match_by_type(predictions),
    }
    return predictions, metrics


def bless(metrics: dict, policy: BlessingPolicy) -> dict:
    reasons, blessed = [], True
    if metrics["exact_match"] < policy.min_exact_match:
        blessed = False
        reasons.append(f"exact match {metrics['exact_match']:.4f} < threshold {policy.min_exact_match:.4f}")
    for k, minimum in sorted(policy.min_recall.items()):
        value = metrics.get(f"recall@{k}")
        if value is None or value < minimum:
            blessed = False
            reasons.append(f"recall@{k} {value} < threshold {minimum:.4f}")
    baseline = None
    if not policy.baseline_metrics:
        reasons.append("no previous blessed model to compare with")
    elif not os.path.exists(policy.baseline_metrics):
        reasons.append(f"no previous blessed model to compare with ({policy.baseline_metrics} does not exist)")
    else:
        with open(policy.baseline_metrics, encoding="utf-8") as f:
            baseline = json.load(f)
        floor = baseline["exact_match"] - policy.tolerance
        if metrics["exact_match"] < floor:
            blessed = False
            reasons.append(
                f"exact match {metrics['exact_match']:.4f} is below the last blessed model's "
                f"{baseline['exact_match']:.4f} minus tolerance {policy.tolerance}"
            )
    if blessed:
        reasons.append("all thresholds met" + (" and not worse than the last blessed model" if baseline else ""))
    return {"blessed": blessed, "reasons": reasons, "metrics": metrics, "baseline": baseline}


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _block_name(prediction: dict) -> str:
    name = prediction["predicted_title"] or f"block {prediction['predicted_block_id']}"
    if "predicted_block_rank" not in prediction:  # predictions written before ranks were recorded
        return name
    return (
        f"{name} (retrieved #{prediction['predicted_block_rank']}, "
        f"score {prediction['predicted_block_retrieval_score']:.2f})"
    )


def report_markdown(metrics: dict, predictions: list[dict], blessing: dict, examples: int = 10) -> str:
    lines = [
        "# Open-QA evaluation",
        "",
        f"{metrics['questions']} questions. **Exact match {100 * metrics['exact_match']:.1f}%**; "
        f"reader oracle {100 * metrics['reader_oracle']:.1f}% "
        f"(answer in the top {metrics['reader_beam_size']} blocks).",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {100 * v:.1f}% |" for k, v in metrics.items() if k.startswith("recall@")]
    lines += ["", f"Blessed: **{'yes' if blessing['blessed'] else 'no'}** ({'; '.join(blessing['reasons'])})", ""]
    by_type = metrics.get("by_question_type") or {}
    if by_type:
        lines += ["## Exact match by question type", "", "| type | questions | exact match |", "|---|---|---|"]
        lines += [f"| {k} | {v['questions']} | {100 * v['exact_match']:.1f}% |" for k, v in by_type.items()]
        lines.append("")
    shown = predictions[:examples]
    if shown:
        lines += [
            f"## The first {len(shown)} questions",
            "",
            "| question | predicted | gold | right | runners-up | block it came from |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(p['question'])} | {_cell(_with_probability(p))} | {_cell(' / '.join(p['gold']))} | "
            f"{'yes' if p['correct'] else 'no'} | {_cell(_runners_up(p))} | {_cell(_block_name(p))}: "
            f"{_cell(p.get('predicted_block_excerpt', ''))} "
            "|"
            for p in shown
        ]
        lines.append("")
    return "\n".join(lines)


def _with_probability(prediction: dict) -> str:
    candidates = prediction.get("answer_candidates") or []
    probability = f" ({100 * candidates[0]['probability']:.0f}%)" if candidates else ""
    return prediction["predicted_answer"] + probability


def _runners_up(prediction: dict) -> str:
    """What the model nearly answered, so a wrong answer shows whether the right one was close behind."""
    candidates = (prediction.get("answer_candidates") or [])[1:]
    return ", ".join(f"{c['answer']} ({100 * c['probability']:.0f}%)" for c in candidates)


def plot_recall(metrics: dict, path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed; no recall plot")
        return None
    ks = sorted(int(k.split("@")[1]) for k in metrics if k.startswith("recall@"))
    figure, axis = plt.subplots(figsize=(5, 3.5))
    axis.plot(ks, [metrics[f"recall@{k}"] for k in ks], marker="o")
    axis.set_xscale("log")
    axis.set_xlabel("k (retrieved blocks)")
    axis.set_ylabel("recall@k")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def run_evaluation(
    model_dir: str, questions: list[Question], output_dir: str, policy: BlessingPolicy | None = None, ks=(1, 5, 20, 100)
) -> dict:
    from realm.pretrained import from_pretrained

    model = from_pretrained(model_dir, architecture="RealmForOpenQA")
    titles_path = os.path.join(model_dir, "block_titles.json")
    if os.path.exists(titles_path):
        with open(titles_path, encoding="utf-8") as f:
            titles = json.load(f)
    else:
        titles = [""] * model.config.num_block_records
    predictions, metrics = evaluate_model(model, titles, questions, ks)
    blessing = bless(metrics, policy or BlessingPolicy())
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "predictions.jsonl"), "w", encoding="utf-8") as f:
        for p in predictions:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    with open(os.path.join(output_dir, "blessing.json"), "w", encoding="utf-8") as f:
        json.dump(blessing, f, indent=2)
    with open(os.path.join(output_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(report_markdown(metrics, predictions, blessing))
    plot_recall(metrics, os.path.join(output_dir, "recall_at_k.png"))
    logger.info(
        "EM %.1f%%, reader oracle %.1f%% (an answer in the %d blocks read), blessed: %s (%s); outputs in %s",
        100 * metrics["exact_match"],
        100 * metrics["reader_oracle"],
        metrics["reader_beam_size"],
        blessing["blessed"],
        "; ".join(blessing.get("reasons", [])),
        output_dir,
    )
    return {"metrics": metrics, "blessing": blessing}
