"""The parser frame of CONTRACTS §3 and the slot labels the tagger predicts."""

from dataclasses import dataclass, field
from typing import Any

from catalog.retrieval.constraints import FILTER_SLOTS, slots_of_kind
from catalog.retrieval.constraints import SLOTS as SLOT_TABLE

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

RULE_SLOTS = ("currency", "dimension")
"""Slots only the keyword rules read (a measure or a currency sign is a pattern, not a span)."""
SLOTS: tuple[str, ...] = tuple(name for name in SLOT_TABLE if name not in RULE_SLOTS)
"""The slots the model tags, in the order of ``catalog.retrieval.constraints.SLOTS``."""
LIST_SLOTS = tuple(name for name in slots_of_kind("list") if name in SLOTS)
STRING_SLOTS = tuple(name for name in slots_of_kind("string") if name in SLOTS)
NUMBER_SLOTS = tuple(name for name in slots_of_kind("number") if name in SLOTS)

# Word-level BIO labels: "O", then B-/I- for every slot.
TAGS: tuple[str, ...] = ("O", *(f"{prefix}-{slot}" for slot in SLOTS for prefix in ("B", "I")))

ATTRIBUTES = ("price", "dimensions", "color", "material", "brand", "rating", "availability", "description")


@dataclass
class Frame:
    """What an utterance asks for: an intent, its confidence and the slots said."""

    intent: str
    confidence: float = 1.0
    slots: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "confidence": round(self.confidence, 4), "slots": self.slots}


def with_rule_slots(frame: Frame, rules: Frame) -> Frame:
    """``frame`` plus the filters the keyword rules read and the model missed, for a search or a
    refinement: a brand or a budget the model did not tag still filters, instead of being lost.

    A number the rules read as a measure ("less than 120 cm wide") is not a price, whatever the
    model tagged.
    """
    if frame.intent == "feedback_negative" and "reference" not in frame.slots:
        # "I don't like velvet" is about the search: the exclusions the rules read.
        unwanted = {slot: value for slot, value in rules.slots.items() if SLOT_TABLE[slot].excludes}
        return Frame(frame.intent, frame.confidence, {**unwanted, **frame.slots}) if unwanted else frame
    if frame.intent not in ("search", "refine"):
        return frame
    slots = dict(frame.slots)
    if any(str(slots.get("category", "\0")) in feature for feature in rules.slots.get("feature", [])):
        slots.pop("category")  # "with adjustable armrests": what it has, not what it is
    if "sort" in rules.slots and "price_relative" in slots and "price_relative" not in rules.slots:
        # "better rated ones": an order, not a price.
        slots.pop("price_relative")
        slots["sort"] = rules.slots["sort"]
    measured = {
        bound
        for measure in rules.slots.get("dimension", [])
        for bound in (measure.get("min"), measure.get("max"))
    }
    for bound in ("price_min", "price_max"):
        if bound not in rules.slots and slots.get(bound) in measured:
            slots.pop(bound)
    unread = rules.slots.keys() - slots.keys()
    missing = {slot: rules.slots[slot] for slot in FILTER_SLOTS if slot in unread}
    if "sort" in rules.slots and "sort" not in slots:
        missing["sort"] = rules.slots["sort"]
    if not missing and slots == frame.slots:
        return frame
    return Frame(frame.intent, frame.confidence, {**slots, **missing})


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
