"""The parser frame of CONTRACTS §3 and the slot labels the tagger predicts."""

from dataclasses import dataclass, field
from typing import Any

INTENTS: tuple[str, ...] = (
    "search",
    "refine",
    "similar",
    "compare",
    "product_question",
    "add_to_cart",
    "more",
    "feedback_positive",
    "feedback_negative",
    "greet",
    "goodbye",
    "help",
    "reset",
    "out_of_scope",
)

# Slots whose value is a list of strings, a single string, a number, or positions.
LIST_SLOTS = (
    "brand",
    "color",
    "material",
    "style",
    "feature",
    "exclude_color",
    "exclude_material",
    "exclude_brand",
)
STRING_SLOTS = ("category", "room", "size", "price_relative", "sort", "attribute")
NUMBER_SLOTS = ("price_min", "price_max")
SLOTS: tuple[str, ...] = (*LIST_SLOTS, *STRING_SLOTS, *NUMBER_SLOTS, "reference")

# Word-level BIO labels: "O", then B-/I- for every slot.
TAGS: tuple[str, ...] = ("O", *(f"{prefix}-{slot}" for slot in SLOTS for prefix in ("B", "I")))

ATTRIBUTES = ("price", "dimensions", "color", "material", "brand", "rating", "availability", "description")
SORTS = ("price_asc", "price_desc", "rating_desc", "popularity_desc")


@dataclass
class Frame:
    """What an utterance asks for: an intent, its confidence and the slots said."""

    intent: str
    confidence: float = 1.0
    slots: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "confidence": round(self.confidence, 4), "slots": self.slots}


HARD_SLOTS = (
    *NUMBER_SLOTS,
    "brand",
    "color",
    "material",
    "exclude_brand",
    "exclude_color",
    "exclude_material",
)
"""The slots that become hard filters: the keyword rules find these reliably."""


def with_rule_slots(frame: Frame, rules: Frame) -> Frame:
    """``frame`` plus the hard slots the keyword rules read and the model missed, for a search or a
    refinement: a brand or a budget the model did not tag still filters, instead of being lost."""
    if frame.intent not in ("search", "refine"):
        return frame
    unread = rules.slots.keys() - frame.slots.keys()
    missing = {slot: rules.slots[slot] for slot in HARD_SLOTS if slot in unread}
    return Frame(frame.intent, frame.confidence, {**frame.slots, **missing}) if missing else frame


@dataclass(frozen=True)
class Span:
    """Consecutive words tagged with one slot label."""

    slot: str
    start: int
    end: int  # exclusive
    text: str
    confidence: float = 1.0


def spans_from_tags(words: list[str], tags: list[str], scores: list[float] | None = None) -> list[Span]:
    """Group BIO tags into spans; an ``I-`` without its ``B-`` starts a span (lenient decoding)."""
    spans: list[Span] = []
    start, slot = None, None

    def close(end: int) -> None:
        if slot is not None and start is not None:
            confidence = min(scores[start:end]) if scores else 1.0
            spans.append(Span(slot, start, end, " ".join(words[start:end]), confidence))

    for position, tag in enumerate(tags):
        prefix, _, name = tag.partition("-")
        if prefix == "B" or (prefix == "I" and name != slot):
            close(position)
            start, slot = position, name
        elif prefix == "O":
            close(position)
            start, slot = None, None
    close(len(tags))
    return spans
