"""Scoring a parser against hand-labelled utterances, in the spirit of ``rasa test nlu``.

Slots are compared after normalisation, as (slot, value) pairs: a list slot
contributes one pair per value, so ``color: ["black", "white"]`` is two.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .frame import INTENTS, Frame

HELDOUT_PATH = Path(__file__).with_name("heldout.jsonl")


@dataclass(frozen=True)
class LabelledUtterance:
    """An utterance and the frame a person says it has."""

    text: str
    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    catalog: str = ""


def load_labelled(path: Path = HELDOUT_PATH) -> list[LabelledUtterance]:
    """Labelled utterances from JSONL: ``{"text", "intent", "slots", "catalog"?}`` per line."""
    with path.open(encoding="utf-8") as handle:
        return [
            LabelledUtterance(row["text"], row["intent"], row.get("slots") or {}, row.get("catalog", ""))
            for row in map(json.loads, filter(str.strip, handle))
        ]


def slot_pairs(slots: dict[str, Any]) -> Counter[tuple[str, Any]]:
    """A frame's slots as countable (slot, value) pairs."""
    pairs: Counter[tuple[str, Any]] = Counter()
    for slot, value in slots.items():
        for item in value if isinstance(value, list) else [value]:
            pairs[slot, round(float(item), 2) if isinstance(item, int | float) else str(item)] += 1
    return pairs


def _scores(true_positives: int, predicted: int, expected: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / expected if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def evaluate(
    parse: Callable[[list[str]], Sequence[Frame]], utterances: Iterable[LabelledUtterance]
) -> dict[str, Any]:
    """Intent accuracy, slot precision/recall/F1, exact frames, per-intent and per-slot scores,
    the intent confusion matrix and the utterances the parser got wrong."""
    utterances = list(utterances)
    frames = parse([utterance.text for utterance in utterances])
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    slot_counts: dict[str, Counter[str]] = defaultdict(Counter)  # slot -> tp / predicted / expected
    totals: Counter[str] = Counter()
    errors = []
    for utterance, frame in zip(utterances, frames, strict=True):
        confusion[utterance.intent][frame.intent] += 1
        expected, predicted = slot_pairs(utterance.slots), slot_pairs(frame.slots)
        matched = expected & predicted
        for counter, name in ((matched, "tp"), (predicted, "predicted"), (expected, "expected")):
            for (slot, _), count in counter.items():
                slot_counts[slot][name] += count
                totals[name] += count
        exact = frame.intent == utterance.intent and expected == predicted
        totals["exact"] += exact
        totals["intent"] += frame.intent == utterance.intent
        if not exact:
            errors.append(
                {
                    "text": utterance.text,
                    "expected": {"intent": utterance.intent, "slots": utterance.slots},
                    "got": frame.as_dict(),
                }
            )
    count = len(utterances) or 1
    per_intent = {}
    for intent in INTENTS:
        row = confusion.get(intent, Counter())
        support = sum(row.values())
        predicted = sum(predictions[intent] for predictions in confusion.values())
        if support or predicted:
            per_intent[intent] = {
                **_scores(row[intent], predicted, support),
                "support": support,
            }
    return {
        "utterances": len(utterances),
        "intent_accuracy": round(totals["intent"] / count, 4),
        "slot_precision": _scores(totals["tp"], totals["predicted"], totals["expected"])["precision"],
        "slot_recall": _scores(totals["tp"], totals["predicted"], totals["expected"])["recall"],
        "slot_f1": _scores(totals["tp"], totals["predicted"], totals["expected"])["f1"],
        "exact_frame": round(totals["exact"] / count, 4),
        "per_intent": per_intent,
        "per_slot": {
            slot: {**_scores(c["tp"], c["predicted"], c["expected"]), "support": c["expected"]}
            for slot, c in sorted(slot_counts.items())
        },
        "confusion": {gold: dict(row) for gold, row in sorted(confusion.items())},
        "errors": errors,
    }
