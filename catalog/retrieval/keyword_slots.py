"""Slots from a query by keyword rules over the catalog vocabulary.

This is what turns "grey sofa under 2000, not leather" into hard constraints
until the fine-tuned parser lands, and what that parser is then measured
against. It knows prices ("under 1.5k", "between 200 and 500", "$80"),
colours and materials (with the synonyms of ``catalog.vocabulary``), the
catalog's brands, and negation ("not black", "no plastic", "without glass").
A brand after "for" names a device, not a maker ("case for samsung galaxy"),
and is left to the text search. Slot names follow CONTRACTS §3.
No Django imports.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from catalog.vocabulary import COLOR_SYNONYMS, COLORS, MATERIAL_SYNONYMS, MATERIALS

from .filters import Constraints, normalise_key

# A number standing alone: not the "23" of "s23+" nor the "256" of "256gb".
_NUMBER = r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s*(k)\b|(?!\w))"
_CURRENCY = r"(?:\$|usd|sar|eur|€|£|dollars?|bucks|riyals?|sr)?"
_AMOUNT = rf"{_CURRENCY}\s*{_NUMBER}\s*{_CURRENCY}"
_BETWEEN = re.compile(rf"\b(?:between|from)\s+{_AMOUNT}\s*(?:and|to|-)\s*{_AMOUNT}", re.I)
_AT_MOST = re.compile(
    r"(?:\b(?:under|below|less than|cheaper than|up to|at most|max(?:imum)?|within)|<=?)\s*" + _AMOUNT, re.I
)
_AT_LEAST = re.compile(r"(?:\b(?:over|above|more than|at least|min(?:imum)?|from)|>=?)\s*" + _AMOUNT, re.I)
_OR_LESS = re.compile(_AMOUNT + r"\s*(?:or less|or under|or below|max(?:imum)?)\b", re.I)
_OR_MORE = re.compile(_AMOUNT + r"\s*(?:or more|and up|and above|or above|\+)", re.I)
_NEGATION = r"(?:not|no|without|except|excluding|non)"


@dataclass(frozen=True)
class Vocabulary:
    """The words slots are snapped to: the catalog's brands plus the shared colours and materials."""

    brands: tuple[str, ...] = ()

    @classmethod
    def from_brands(cls, brands: Iterable[str]) -> "Vocabulary":
        names = {normalise_key(brand) for brand in brands}
        # A brand named like a colour or a material would turn every "black" into a brand.
        names -= set(COLORS) | set(MATERIALS) | set(COLOR_SYNONYMS) | set(MATERIAL_SYNONYMS)
        return cls(tuple(sorted(name for name in names if len(name) >= 2)))


def extract_slots(text: str, vocabulary: Vocabulary) -> dict[str, Any]:
    """The slots ``text`` mentions: ``brand``, ``color``, ``material``, ``price_min``,
    ``price_max`` and their ``exclude_*`` forms, omitting the ones it does not."""
    lowered = " " + normalise_key(text) + " "
    slots: dict[str, Any] = {}
    lowered = _extract_prices(lowered, slots)
    for slot, lookup in (
        ("color", {word: word for word in COLORS} | COLOR_SYNONYMS),
        ("material", {word: word for word in MATERIALS} | MATERIAL_SYNONYMS),
        ("brand", {brand: brand for brand in vocabulary.brands}),
    ):
        wanted, unwanted = _find_terms(lowered, lookup, skip_after_for=slot == "brand")
        if wanted:
            slots[slot] = wanted
        if unwanted:
            slots[f"exclude_{slot}"] = unwanted
    return slots


def constraints_from_slots(slots: Mapping[str, Any], **extra: Any) -> Constraints:
    """The hard constraints a frame's slots imply; ``extra`` adds fields such as ``categories``."""
    return Constraints(
        price_min=slots.get("price_min"),
        price_max=slots.get("price_max"),
        brands=tuple(slots.get("brand", ())),
        colors=tuple(slots.get("color", ())),
        materials=tuple(slots.get("material", ())),
        exclude_brands=tuple(slots.get("exclude_brand", ())),
        exclude_colors=tuple(slots.get("exclude_color", ())),
        exclude_materials=tuple(slots.get("exclude_material", ())),
        **extra,
    )


def parse_amount(number: str, thousands: str | None) -> float:
    """``("1.5", "k")`` -> 1500.0; ``("2,000", None)`` -> 2000.0."""
    value = float(number.replace(",", ""))
    return value * 1000 if thousands else value


def _extract_prices(text: str, slots: dict[str, Any]) -> str:
    """Fill ``price_min``/``price_max`` and blank out the phrases they came from."""
    if match := _BETWEEN.search(text):
        low, high = parse_amount(*match.group(1, 2)), parse_amount(*match.group(3, 4))
        slots["price_min"], slots["price_max"] = min(low, high), max(low, high)
        return _blank(text, match)
    for slot, patterns in (("price_max", (_AT_MOST, _OR_LESS)), ("price_min", (_AT_LEAST, _OR_MORE))):
        for pattern in patterns:
            if match := pattern.search(text):
                # "no more than 300" is a ceiling, "not under 100" a floor.
                negated = re.search(r"\b(?:no|not)\s+$", text[: match.start()])
                flipped = {"price_max": "price_min", "price_min": "price_max"}[slot] if negated else slot
                slots[flipped] = parse_amount(*match.group(1, 2))
                text = _blank(text, match)
                break
    if slots.get("price_min", 0) > slots.get("price_max", float("inf")):  # "over 900 under 300"
        slots["price_min"], slots["price_max"] = slots["price_max"], slots["price_min"]
    return text


def _blank(text: str, match: re.Match) -> str:
    return text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]


def _find_terms(
    text: str, lookup: Mapping[str, str], skip_after_for: bool = False
) -> tuple[list[str], list[str]]:
    """Canonical terms mentioned in ``text`` in the order said, split into wanted and negated ones."""
    found: list[tuple[int, str, bool]] = []
    # Longest first, so that "stainless steel" wins over "steel".
    for term in sorted(lookup, key=len, reverse=True):
        if term not in text:  # a substring test first: compiling a pattern per term is slow
            continue
        for match in re.finditer(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text):
            before = text[: match.start()]
            if skip_after_for and re.search(r"\b(?:for|with|fits)\s+(?:the\s+|an?\s+)?$", before):
                continue
            negated = bool(re.search(rf"\b{_NEGATION}\s+(?:\w+\s+)?$", before))
            found.append((match.start(), lookup[term], negated))
            text = text[: match.start()] + " " * len(term) + text[match.end() :]
    found.sort()
    unwanted = list(dict.fromkeys(term for _, term, negated in found if negated))
    wanted = list(dict.fromkeys(term for _, term, negated in found if not negated and term not in unwanted))
    return wanted, unwanted
