"""Held-out scores (accuracy, macro-F1, per class, confusion matrices) and the training report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


@dataclass
class Scores:
    model: str
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    train_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def score(model: str, labels: list[str], y_true: np.ndarray, y_pred: np.ndarray,
          train_seconds: float = 0.0) -> Scores:
    idx = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=idx, zero_division=0)
    per_class = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]),
                "f1": float(f1[i]), "support": int(support[i])}
        for i, label in enumerate(labels)}
    return Scores(
        model=model, accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        per_class=per_class, confusion=confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        train_seconds=train_seconds)


def plot_confusions(scores: list[Scores], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.45 * len(labels) + 2.5)
    fig, axes = plt.subplots(1, len(scores), figsize=(size * len(scores), size), squeeze=False)
    for ax, s in zip(axes[0], scores, strict=True):
        matrix = np.asarray(s.confusion)
        ax.imshow(matrix, cmap="Blues")
        ax.set_title(f"{s.model}\nacc {s.accuracy:.3f}  macro-F1 {s.macro_f1:.3f}")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if len(labels) <= 12:
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(j, i, str(v), ha="center", va="center",
                        color="white" if v > matrix.max() / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_report(scores: list[Scores], best: str, labels: list[str], info: dict[str, Any]) -> str:
    ceiling = info.get("ceiling_accuracy")
    lines = [
        "# cvqueue training report", "",
        f"- data: `{info['data']}` ({info['n_records']} records, sha256 `{info['data_sha256'][:12]}`)",
        f"- split: stratified, seed {info['seed']} ({info['n_test']} of {info['n_records']} "
        "records held out)",
        f"- features: {info['features']}",
        f"- embedding: {info['embedding_model']} ({info['embedding_seconds']:.1f} s)",
        f"- best by macro-F1 (on a tie, the cheapest to serve): **{best}**", "",
        "| model | accuracy | macro-F1 | train s |" + (" ceiling | gap |" if ceiling else ""),
        "|---|---|---|---|" + ("---|---|" if ceiling else ""),
    ]
    rows = [s.to_json() for s in scores] + list(info.get("baseline_embedding_only", []))
    for r in rows:
        row = f"| {r['model']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['train_seconds']:.1f} |"
        if ceiling:
            row += f" {ceiling:.4f} | {100 * (ceiling - r['accuracy']):.1f} pts |"
        lines.append(row)
    if ceiling:
        lines += ["", "The ceiling is the generator's own rule applied to the held-out records' "
                  "noisy labels: no model can expect to beat it."]
    best_scores = next(s for s in scores if s.model == best)
    lines += ["", f"## Per class ({best})", "", "| class | precision | recall | F1 | support |",
              "|---|---|---|---|---|"]
    for label in labels:
        c = best_scores.per_class[label]
        lines.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
                     f"| {c['support']} |")
    if info.get("adaptations"):
        lines += ["", "## Adapted to a small data set", ""]
        lines += [f"- {note}" for note in info["adaptations"]]
    lines += ["", "![confusion matrices](confusion_matrix.png)", ""]
    return "\n".join(lines)
