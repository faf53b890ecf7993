"""From tagged spans to slot values: numbers, positions, vocabulary snapping, negation.

The tagger says *where* a slot is ("under **1.5k**", "compare the **first two**");
this module says what it means (``price_max: 1500``, ``reference: [1, 2]``).
"""

import re
from typing import Any

from catalog.vocabulary import normalise_colors, normalise_materials

from .frame import Span
from .vocabulary import (
    BED_SIZES,
    ROOM_SYNONYMS,
    STYLE_SYNONYMS,
    ParserVocabulary,
    closest,
    singular,
    snap_phrase,
)

# A number before "-<digit>" ("200-500"), a price, "140x200", a word with inner
# hyphens, apostrophes or dots ("usb-c", "don't", "2.5"), or any other character.
_WORD = re.compile(r"\d+(?:[.,]\d+)*k?(?=-\d)|\d+(?:[.,]\d+)*k?(?![\w-])|\w+(?:[-'’.&]\w+)*|[^\w\s]")
NEGATIONS = frozenset(
    {"not", "no", "without", "except", "excluding", "avoid", "non", "never", "n't", "nothing"}
)

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000, "k": 1000}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "last": -1,
    "final": -1,
    "bottom": -1,
    "top": 1,
}
_ATTRIBUTE_WORDS = (
    (
        "dimensions",
        (
            "wide",
            "width",
            "tall",
            "height",
            "high",
            "deep",
            "depth",
            "long",
            "length",
            "big",
            "size",
            "dimension",
            "dimensions",
            "measure",
            "measurements",
            "large",
            "small",
            "fit",
        ),
    ),
    ("material", ("made", "material", "materials", "fabric")),
    ("color", ("colour", "colours", "color", "colors", "shade", "shades")),
    ("brand", ("brand", "makes", "make", "maker", "manufacturer", "manufacturers", "made by", "who")),
    ("rating", ("rating", "rated", "ratings", "review", "reviews", "stars", "star")),
    (
        "availability",
        (
            "stock",
            "available",
            "availability",
            "deliver",
            "delivered",
            "delivery",
            "ship",
            "shipped",
            "shipping",
            "now",
        ),
    ),
    ("price", ("price", "cost", "costs", "much", "expensive", "cheap", "pay")),
    (
        "description",
        (
            "describe",
            "description",
            "tell",
            "about",
            "details",
            "info",
            "information",
            "more",
            "like",
        ),
    ),
)
_SORT_WORDS = (
    ("price_desc", ("high to low", "high-low")),
    ("price_asc", ("low to high", "low-high")),
    ("rating_desc", ("rated", "rating", "ratings", "reviewed", "reviews", "stars")),
    ("popularity_desc", ("popular", "selling", "seller", "sellers", "bestselling", "trending")),
    ("price_desc", ("expensive", "priciest", "highest", "dearest", "premium")),
    ("price_asc", ("cheapest", "lowest", "cheap", "affordable", "inexpensive", "budget", "least")),
    # Bare sort keys ("sort by price") take the usual direction for the key.
    ("popularity_desc", ("popularity",)),
    ("price_asc", ("price", "prices")),
)
_LOWER_WORDS = (
    "cheaper",
    "cheap",
    "less",
    "lower",
    "affordable",
    "budget",
    "inexpensive",
    "cheapest",
    "reasonable",
)
# Words that say which end of a price range the next (or previous) amount is.
_AT_MOST = frozenset(
    {
        "under",
        "below",
        "less",
        "cheaper",
        "up",
        "max",
        "maximum",
        "most",
        "within",
        "budget",
        "<",
        "<=",
        "tops",
        "beneath",
        "to",
        "and",
        "-",
        "till",
        "until",
    }
)
_AT_LEAST = frozenset(
    {
        "over",
        "above",
        "more",
        "least",
        "from",
        "starting",
        "minimum",
        "min",
        ">",
        ">=",
        "between",
        "beyond",
        "+",
        "plus",
        "exceeding",
    }
)
_AFTER_AT_MOST = ("or less", "or under", "or below", "max", "maximum", "tops", "at most", "or cheaper")
_AFTER_AT_LEAST = (
    "or more",
    "or above",
    "or over",
    "and up",
    "and above",
    "+",
    "plus",
    "at least",
    "or higher",
)
_SKIPPED = frozenset(
    {
        "than",
        "$",
        "usd",
        "sar",
        "€",
        "£",
        "a",
        "of",
        "about",
        "is",
        "my",
        "around",
        "roughly",
        "the",
        "price",
        "priced",
        "costing",
        "that",
        "costs",
        "for",
        "range",
        "in",
        "at",
    }
)


def split_words(text: str) -> list[str]:
    """Lower-case words of an utterance as the tagger sees them ("under 1.5k!" -> under, 1.5k, !)."""
    return _WORD.findall(text.lower().replace("’", "'"))


def frame_slots(words: list[str], spans: list[Span], vocabulary: ParserVocabulary) -> dict[str, Any]:
    """The CONTRACTS §3 slots of tagged spans, in a fixed order, empty ones left out."""
    slots: dict[str, Any] = {}
    for span in spans:
        slot = span.slot
        if slot in ("color", "material", "brand"):
            slot = _negated(span, words)
        elif slot in ("price_min", "price_max"):
            slot = _price_end(span, words) or slot
        value = normalise_value(slot, span.text, vocabulary)
        if value is None or value == []:
            continue
        if isinstance(value, list):
            slots.setdefault(slot, []).extend(v for v in value if v not in slots.get(slot, []))
        else:
            slots.setdefault(slot, value)
    for wanted, unwanted in (
        ("color", "exclude_color"),
        ("material", "exclude_material"),
        ("brand", "exclude_brand"),
    ):
        if wanted in slots and unwanted in slots:  # "black, not black" says not black
            slots[wanted] = [value for value in slots[wanted] if value not in slots[unwanted]] or None
            if slots[wanted] is None:
                del slots[wanted]
    if slots.get("price_min", 0) > slots.get("price_max", float("inf")):
        slots["price_min"], slots["price_max"] = slots["price_max"], slots["price_min"]
    return slots


def _negated(span: Span, words: list[str]) -> str:
    """``exclude_<slot>`` when a negation word comes just before the span."""
    before = words[max(0, span.start - 3) : span.start]
    if any(word in NEGATIONS or word.endswith("n't") for word in before):
        return f"exclude_{span.slot}"
    return span.slot


def _price_end(span: Span, words: list[str]) -> str | None:
    """``price_max`` or ``price_min`` as the words around an amount say, ``None`` if they don't.

    Rules beat the tagger here: "under" and "over" are unambiguous, and a
    shopper's "no more than 300" is a ceiling however rarely training said it.
    """
    after = " ".join(words[span.end : span.end + 2])
    if after.startswith(_AFTER_AT_MOST):
        return "price_max"
    if after.startswith(_AFTER_AT_LEAST):
        return "price_min"
    before = [word for word in words[max(0, span.start - 4) : span.start] if word not in _SKIPPED]
    if not before:
        return None
    nearest, previous = before[-1], before[-2] if len(before) > 1 else ""
    flip = previous in ("no", "not") and nearest in ("more", "less", "over", "under")
    if nearest in _AT_MOST:
        return "price_min" if flip else "price_max"
    if nearest in _AT_LEAST:
        return "price_max" if flip else "price_min"
    return None


def normalise_value(slot: str, text: str, vocabulary: ParserVocabulary) -> Any:
    """The value of one slot span, or ``None`` when the span means nothing for that slot."""
    text = " ".join(text.lower().split())
    match slot:
        case "color" | "exclude_color":
            return _snap_list(text, normalise_colors, vocabulary.colors, vocabulary.color_synonyms)
        case "material" | "exclude_material":
            return _snap_list(text, normalise_materials, vocabulary.materials, vocabulary.material_synonyms)
        case "brand" | "exclude_brand":
            brand = snap_phrase(text.strip(" '"), vocabulary.brands)
            return [brand] if brand else None
        case "category":
            return snap_category(text, vocabulary.categories)
        case "style":
            styles = {style: style for style in vocabulary.styles} | STYLE_SYNONYMS
            match = styles.get(text) or closest(text.replace(" ", "-"), styles)
            return [styles[match]] if match else None
        case "feature":
            return [snap_phrase(text, vocabulary.features) or text]
        case "room":
            room = text.removeprefix("the ").removeprefix("my ")
            return ROOM_SYNONYMS.get(room) or closest(room, vocabulary.rooms) or room
        case "size":
            return normalise_size(text)
        case "price_min" | "price_max":
            return parse_amount(text)
        case "price_relative":
            return "lower" if any(word in _LOWER_WORDS for word in text.split()) else "higher"
        case "sort":
            return _keyword_choice(text, _SORT_WORDS)
        case "attribute":
            return _keyword_choice(text, _ATTRIBUTE_WORDS)
        case "reference":
            return parse_positions(text) or None
    return text or None


def _snap_list(text: str, canonical: Any, words: tuple[str, ...], synonyms: dict[str, str]) -> list[str]:
    found = canonical([text])
    if found:
        return found
    lookup = {word: word for word in words} | synonyms
    snapped = [lookup[match] for word in text.split() if (match := closest(word, lookup))]
    return list(dict.fromkeys(snapped))


def snap_category(text: str, categories: tuple[str, ...]) -> str:
    """The product type as said, singular, corrected to the catalog's spelling when close.

    A word that ends a known type ("phone" of "cell phone") is kept as said,
    not "corrected" to a neighbour ("iphone").
    """
    said = singular(text.strip(" -"))
    if said in categories or any(category.endswith(" " + said) for category in categories):
        return said
    return closest(said, categories) or said


def normalise_size(text: str) -> str:
    """ "3 seater" -> "3-seat", "140 x 200 cm" -> "140x200", "queen size" -> "queen"."""
    words = [str(_UNITS.get(word, word)) for word in text.replace("-", " ").split()]
    text = " ".join(words)
    if seats := re.search(r"(\d+)\s*(?:seat|seats|seater|seaters|person|people)\b", text):
        return f"{seats.group(1)}-seat"
    if dimensions := re.search(
        r"(\d+(?:\.\d+)?)\s*(?:x|by|×|\*)\s*(\d+(?:\.\d+)?)(?:\s*(?:x|by|×)\s*(\d+))?", text
    ):
        return "x".join(part for part in dimensions.groups() if part)
    for bed in BED_SIZES:
        if re.search(rf"\b{bed}\b", text):
            return bed
    return text.removesuffix(" size").strip()


def parse_amount(text: str) -> float | None:
    """The amount a price span names: "1.5k" -> 1500, "80 bucks" -> 80, "two hundred" -> 200."""
    cleaned = text.replace("$", " ").replace("€", " ").replace("£", " ")
    if number := re.search(r"(\d+(?:,\d{3})*(?:\.\d+)?)\s*(k|thousand|grand)?\b", cleaned):
        value = float(number.group(1).replace(",", ""))
        return _whole(value * 1000 if number.group(2) else value)
    total, current, seen = 0, 0, False
    for word in cleaned.replace("-", " ").split():
        if word in _UNITS:
            current += _UNITS[word]
            seen = True
        elif word in _SCALES and (seen or word != "k"):
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
            seen = True
        elif word == "a" and not seen:
            current = 1
    return _whole(total + current) if seen else None


def _whole(value: float) -> float:
    return int(value) if float(value).is_integer() else value


def parse_positions(text: str) -> list[int]:
    """Positions in the shown list: "second" -> [2], "first two" -> [1, 2], "last" -> [-1]."""
    words = re.findall(r"[a-z]+|\d+", text.replace("#", " "))
    if len(words) > 1:  # "the second one": "one" is a pronoun there, not a position
        words = [word for word in words if word not in ("one", "ones")]
    if first_n := re.search(r"\b(?:first|top)\s+(\w+)\b", text):
        count = _count(first_n.group(1))
        if count and count > 1:
            return list(range(1, count + 1))
    positions: list[int] = []
    for word in words:
        position = _ORDINALS.get(word) or _ordinal_digits(word) or _count(word)
        if position and position not in positions:
            positions.append(position)
    return positions


def _ordinal_digits(word: str) -> int | None:
    match = re.fullmatch(r"(\d+)(?:st|nd|rd|th)?", word)
    return int(match.group(1)) if match else None


def _count(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    value = _UNITS.get(word)
    return value or None


def _keyword_choice(text: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for value, keywords in table:
        if any(keyword in text.split() or (" " in keyword and keyword in text) for keyword in keywords):
            return value
    return None
