"""Slots from a query by keyword rules over the catalog vocabulary.

This is what turns "grey sofa under 2000, not leather" into hard constraints
until the fine-tuned parser lands, and what that parser is then measured
against. It knows prices ("under 1.5k", "between 200 and 500", "$80") and
their currency, measures ("less than 120 cm wide", "at least 65W": never
read as prices), colours and materials (with the synonyms of ``catalog.vocabulary``), the
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

from .constraints import MEASURED_BY, UNITS, normalise_key

# A number standing alone: not the "23" of "s23+" nor the "256" of "256gb".
_NUMBER = r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s*(k)\b|(?!\w))"
_CURRENCY = r"(?:\$|usd|sar|eur|euros?|€|£|gbp|pounds?|dollars?|bucks|riyals?|sr)?"
CURRENCY_WORDS = {
    "USD": ("$", "usd", "dollar", "dollars", "bucks"),
    "SAR": ("sar", "riyal", "riyals", "sr"),
    "EUR": ("€", "eur", "euro", "euros"),
    "GBP": ("£", "gbp", "pound", "pounds"),
}
_AMOUNT = rf"{_CURRENCY}\s*{_NUMBER}\s*{_CURRENCY}"
_IN_CURRENCY = re.compile(
    r"\b(?:in|priced in|prices? in|pay(?:ing)? in)\s+(\$|usd|sar|eur|euros?|€|£|gbp|pounds?|dollars?|riyals?)"
    r"(?![\w])",
    re.I,
)
"""A currency asked for without an amount: "what about in SAR?", "prices in euros"."""
_BETWEEN = re.compile(rf"\b(?:between|from)\s+{_AMOUNT}\s*(?:and|to|-)\s*{_AMOUNT}", re.I)
_AT_MOST = re.compile(
    r"(?:\b(?:under|below|less than|cheaper than|up to|at most|max(?:imum)?|within)|<=?)\s*" + _AMOUNT, re.I
)
_AT_LEAST = re.compile(r"(?:\b(?:over|above|more than|at least|min(?:imum)?|from)|>=?)\s*" + _AMOUNT, re.I)
_OR_LESS = re.compile(_AMOUNT + r"\s*(?:or less|or under|or below|max(?:imum)?)\b", re.I)
_OR_MORE = re.compile(_AMOUNT + r"\s*(?:or more|and up|and above|or above|\+)", re.I)
_NEGATION = (
    r"(?:not|no|without|except|excluding|non|aren't|isn't|arent|nothing|don't|dont|doesn't|hate|dislike|"
    r"(?:anything|everything|any|all)\s+(?:but|except)|other\s+than|apart\s+from|besides)"
)
# "not otterbox or lifeproof", "no red, pink or orange": the terms after a negated one.
_LIST_JOINER = re.compile(r"^\s*(?:,\s*)?(?:or|nor|and|,)?\s*(?:no\s+)?$")
_UNIT = (
    r"(cm|centimet(?:er|re)s?|mm|millimet(?:er|re)s?|m|met(?:er|re)s?|in|inch(?:es)?|\"|w|watts?|mah|gb|tb)"
)
_DIMENSION_WORDS = {
    "wide": "width", "width": "width", "broad": "width",
    "deep": "depth", "depth": "depth",
    "high": "height", "tall": "height", "height": "height",
    "long": "length", "length": "length",
}  # fmt: skip
_AT_MOST_WORDS = (
    r"(?:under|below|less than|smaller than|narrower than|shorter than|up to|at most|max(?:imum)?|"
    r"no more than|<=?)"
)
_AT_LEAST_WORDS = r"(?:over|above|more than|at least|min(?:imum)?|bigger than|wider than|taller than|>=?)"
_DIM_WORD = r"(wide|width|broad|deep|depth|high|tall|height|long|length)"
_MEASURE = re.compile(
    rf"(?:\b{_DIM_WORD}\s+(?:of\s+)?)?(?:({_AT_MOST_WORDS})|({_AT_LEAST_WORDS}))?\s*"
    rf"(?<![\w.])(\d+(?:\.\d+)?)\s*{_UNIT}(?![\w-])(?:\s+{_DIM_WORD}\b)?",
    re.I,
)


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
    lowered = _extract_measures(lowered, slots)
    lowered = _extract_prices(lowered, slots)
    if features := _features(lowered):
        slots["feature"] = features
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


def parse_amount(number: str, thousands: str | None) -> float:
    """``("1.5", "k")`` -> 1500.0; ``("2,000", None)`` -> 2000.0."""
    value = float(number.replace(",", ""))
    return value * 1000 if thousands else value


_FEATURE = re.compile(
    r"\b(?:with|featuring|(?:that|which|ones?|any)\s+(?:has|have|support|supports|offer|offers)|"
    r"(?:ones?|any)\s+with)\s+(?:an?\s+|the\s+|built-in\s+)?([a-z][\w-]*(?:\s+[a-z][\w-]*){0,2})"
)
_FEATURE_STOP = re.compile(
    r"\s+(?:and|or|under|over|below|above|for|in|on|from|to|at|please|pls|plz|but|than|that|which)\b.*$"
)


def _features(text: str) -> list[str]:
    """Phrases after "with", "that have"...: "bed with storage", "which ones have magsafe"."""
    found = []
    for match in _FEATURE.finditer(text):
        phrase = _FEATURE_STOP.sub("", match.group(1)).strip(" -")
        if phrase and phrase not in _NOT_FEATURES:
            found.append(phrase)
    return list(dict.fromkeys(found))


_NOT_FEATURES = frozenset({"it", "them", "me", "you", "that", "this", "those", "one", "ones", "a", "the"})


def _extract_measures(text: str, slots: dict[str, Any]) -> str:
    """Fill ``dimension`` from amounts with a unit of length or power and blank them out, so
    that "less than 120 cm wide" is a width and never a price."""
    measures = []
    for match in _MEASURE.finditer(text):
        before_word, at_most, at_least, number, unit, after_word = match.groups()
        base, factor = UNITS[_unit_key(unit)]
        value = round(float(number) * factor, 2)
        said = (after_word or before_word or "").lower()
        name = MEASURED_BY.get(base) or _DIMENSION_WORDS.get(said, "width")
        measure: dict[str, Any] = {"name": name, "unit": base}
        if at_most:
            measure["max"] = value
        elif at_least:
            measure["min"] = value
        else:  # "a 120 cm wide desk": about that
            measure["min"], measure["max"] = round(value * 0.9, 2), round(value * 1.1, 2)
        measures.append(measure)
        text = _blank(text, match)
    if measures:
        slots["dimension"] = measures
    return text


def _unit_key(unit: str) -> str:
    unit = unit.lower()
    if unit.startswith(("cm", "cent")):
        return "cm"
    if unit.startswith(("mm", "milli")):
        return "mm"
    if unit.startswith(("in", '"')):
        return "in"
    if unit.startswith("w"):
        return "w"
    return unit if unit in UNITS else "m"


_STATED_MEASURE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(w|watts?|mah|gb|tb)(?![\w-])", re.I)


def measures_in_text(text: str) -> dict[str, float]:
    """Measures a product's title states by their unit ("65W charger", "10000mAh", "32GB"):
    the first of each, for catalogs that record them only in words."""
    found: dict[str, float] = {}
    for number, unit in _STATED_MEASURE.findall(text):
        base, factor = UNITS[_unit_key(unit)]
        found.setdefault(MEASURED_BY[base], float(number) * factor)
    return found


def currency_of(phrase: str) -> str | None:
    """The currency a price phrase names ("$250" -> "USD", "250 riyals" -> "SAR"), if any."""
    words = set(re.findall(r"[$€£]|[a-z]+", phrase.lower()))
    return next((code for code, said in CURRENCY_WORDS.items() if words & set(said)), None)


def _extract_prices(text: str, slots: dict[str, Any]) -> str:
    """Fill ``price_min``/``price_max`` (and ``currency`` when said) and blank out the phrases
    they came from."""
    if match := _BETWEEN.search(text):
        low, high = parse_amount(*match.group(1, 2)), parse_amount(*match.group(3, 4))
        slots["price_min"], slots["price_max"] = min(low, high), max(low, high)
        _note_currency(match.group(0), slots)
        return _blank(text, match)
    for slot, patterns in (("price_max", (_AT_MOST, _OR_LESS)), ("price_min", (_AT_LEAST, _OR_MORE))):
        for pattern in patterns:
            if match := pattern.search(text):
                # "no more than 300" is a ceiling, "not under 100" a floor.
                negated = re.search(r"\b(?:no|not)\s+$", text[: match.start()])
                flipped = {"price_max": "price_min", "price_min": "price_max"}[slot] if negated else slot
                slots[flipped] = parse_amount(*match.group(1, 2))
                _note_currency(match.group(0), slots)
                text = _blank(text, match)
                break
    if slots.get("price_min", 0) > slots.get("price_max", float("inf")):  # "over 900 under 300"
        slots["price_min"], slots["price_max"] = slots["price_max"], slots["price_min"]
    if "currency" not in slots and (match := _IN_CURRENCY.search(text)):
        _note_currency(match.group(1), slots)
        text = _blank(text, match)
    return text


def _note_currency(phrase: str, slots: dict[str, Any]) -> None:
    if currency := currency_of(phrase):
        slots["currency"] = currency


def _blank(text: str, match: re.Match) -> str:
    return text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]


def _find_terms(
    text: str, lookup: Mapping[str, str], skip_after_for: bool = False
) -> tuple[list[str], list[str]]:
    """Canonical terms mentioned in ``text`` in the order said, split into wanted and negated ones."""
    found: list[tuple[int, int, str, bool]] = []
    original = text
    # Longest first, so that "stainless steel" wins over "steel".
    for term in sorted(lookup, key=len, reverse=True):
        if term not in text:  # a substring test first: compiling a pattern per term is slow
            continue
        for match in re.finditer(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text):
            before = text[: match.start()]
            if skip_after_for and re.search(r"\b(?:for|with|fits)\s+(?:the\s+|an?\s+)?$", before):
                continue
            negated = bool(re.search(rf"\b{_NEGATION}\s+(?:\w+\s+)?$", before))
            found.append((match.start(), match.end(), lookup[term], negated))
            text = text[: match.start()] + " " * len(term) + text[match.end() :]
    found.sort()
    for at in range(1, len(found)):
        start, end, term, negated = found[at]
        _, previous_end, _, previous_negated = found[at - 1]
        if previous_negated and not negated and _LIST_JOINER.match(original[previous_end:start]):
            found[at] = (start, end, term, True)
    unwanted = list(dict.fromkeys(term for _, _, term, negated in found if negated))
    wanted = list(
        dict.fromkeys(term for _, _, term, negated in found if not negated and term not in unwanted)
    )
    return wanted, unwanted
