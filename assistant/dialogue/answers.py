"""Answers to a shopper's question about one product, from the catalog's fields. Pure Python.

A yes/no question ("is it waterproof?", "does it come with a bulb?", "is it grey?") is answered
yes or no from the product's attributes or the text of its title and description, quoting the
phrase that says so; when nothing says, the answer says the catalog does not. A size question
answers the asked measure with its unit; any attribute the catalog holds (designer, wattage...)
can be asked for by name. Field names are never shown raw.
"""

import re
from collections.abc import Mapping
from typing import Any, Protocol

from catalog.vocabulary import COLOR_SYNONYMS, COLORS, MATERIAL_SYNONYMS, MATERIALS

MEASURES = {"wide": "width", "tall": "height", "high": "height", "deep": "depth", "long": "length"}
MEASURE_NAMES = ("width", "depth", "height", "length", "diameter", "weight", "power", "capacity")
UNITS = {"width": "cm", "depth": "cm", "height": "cm", "length": "cm", "diameter": "cm"}
QUOTE_LIMIT = 120
"""The longest quote an answer gives (the sentence that says it, cut around the phrase)."""
_POINTS_AT = (
    r"(?:it|this|that|they|them|these|those|this one|that one|the (?:first|second|third|fourth|fifth|"
    r"sixth|seventh|eighth|ninth|tenth|last|\d+(?:st|nd|rd|th)) one|the [a-z]+)"
)
_ABOUT_A_PRODUCT = re.compile(
    rf"^(?:and |but |so |also )?(?:(?:is|are|does|do|can|could|has|have|will|would|was)\s+{_POINTS_AT}\b|"
    r"(?:who|what|how|which|where|when)\b.*\b(?:it|this one|that one|this|them|the [a-z]+ one)\b)"
)
_YES_NO = re.compile(r"^(?:and |but |so |also )?(is|are|does|do|can|could|has|have|will|would|was)\b")
_SUBJECT = re.compile(
    r"^(?:it|this|that|they|these|those|this one|that one|the [a-z0-9]+ one|the [a-z]+|"
    r"(?:the )?(?:first|second|third|fourth|fifth|last|\d+(?:st|nd|rd|th)) one)\b\s*"
)
_ASKED_VERB = re.compile(
    r"^(?:come with|comes with|came with|come in|comes in|include|includes|have|has|got|contain|contains|"
    r"made (?:of|from|with|in)|available in|sold with|suitable for|good for|safe for|fit|fits|"
    r"work with|works with|support|supports|need|needs|use|uses|in|of|with|be)\b\s*"
)
_DENIED_BEFORE = re.compile(r"\b(?:no|not|without|excluding|excludes|isn't|aren't|doesn't|non)\b[^,]{0,20}$")
_DENIED_AFTER = re.compile(
    r"^[\w\s-]{0,15}?\b(?:not included|sold separately|not supplied|excluded|is not|are not|isn't|aren't)\b"
)
_ASKED_THING = re.compile(
    r"^(?:and |so )?(?:how much|how many|what|which|what kind of|what type of)\s+([a-z][a-z ]*?)\s+"
    r"(?:does|do|is|are|has|have|can|will)\b"
)
"""A question about one thing the product has: "how much memory does it have?"."""
_SENTENCE = re.compile(r"[^.!?;\n]+[.!?]?")
_STOCK = re.compile(r"\b(in stock|available|sold out|out of stock|stocked|left)\b")
_NAMED = {
    "designer": re.compile(r"\b(design(?:ed|er|s)?|who (?:made|makes) the design)\b"),
    "brand": re.compile(r"\b(brand|who (?:makes|made) (?:it|this|that)|manufacturer|maker)\b"),
    "old_price": re.compile(r"\b(old price|was price|original price|before the (?:sale|discount))\b"),
    "popularity": re.compile(r"\bpopular(?:ity)?\b"),
    "rating": re.compile(r"\b(rated|rating|ratings|reviews?|stars)\b"),
    # "How much is it?", not "how much memory does it have?" (a question about the memory).
    "price": re.compile(
        r"\b(how much\b(?!\s+(?!is|are|does|do|did|for|will|would|it|this|that)[a-z])|price|costs?)\b"
    ),
}


class Answerable(Protocol):
    """What an answer reads of a product (``ProductView`` of the dialogue manager)."""

    title: str
    price: float
    currency: str
    brand: str
    rating: float | None
    stock: int | None
    description: str
    attributes: Mapping[str, Any]


def asks_about_a_product(text: str) -> bool:
    """Whether the words ask about a product already named: "is it waterproof?", "who designed
    it?", "does the first one come with a bulb?"."""
    return bool(_ABOUT_A_PRODUCT.match(" ".join(text.lower().replace("’", "'").split())))


def answer(text: str, product: Answerable, attribute: str | None = None) -> str:
    """The reply to ``text``, a question about ``product``; ``attribute`` is the parser's
    ``attribute`` slot, used when the words name nothing more precise."""
    said = " ".join(text.lower().replace("’", "'").replace("?", " ").split())
    measure = _asked_measure(said)
    if measure is not None:
        return _measure_answer(product, measure)
    for name, pattern in _NAMED.items():
        if pattern.search(said):
            return _field_answer(product, name)
    named = _attribute_named(said, product.attributes)
    if named is not None:
        return _field_answer(product, named)
    if _YES_NO.match(said):
        if _STOCK.search(said):
            return _field_answer(product, "availability")
        return _yes_or_no(said, product)
    asked = _ASKED_THING.match(said)
    if asked is not None:
        return _quoted_answer(asked.group(1), product)
    return _field_answer(product, attribute or "description")


def _quoted_answer(thing: str, product: Answerable) -> str:
    """What the product's own text says of ``thing`` ("memory": "… with 16GB Memory …")."""
    quote = _quoted(thing, product)
    if quote is None:
        return f"The catalog does not give the {thing} of {product.title}."
    where, snippet, _ = quote
    return f"The {where} says “{snippet}”."


def _asked_measure(said: str) -> str | None:
    how = re.search(r"\bhow (wide|tall|high|deep|long)\b", said)
    if how:
        return MEASURES[how.group(1)]
    if re.search(r"\b(dimensions?|measurements?|how big|how large|what size|size of)\b", said):
        return "dimensions"
    named = re.search(rf"\b({'|'.join(MEASURE_NAMES)})\b", said)
    return named.group(1) if named else None


def _measure_answer(product: Answerable, measure: str) -> str:
    attributes = product.attributes
    parts = [
        f"{name} {_with_unit(name, attributes[name])}"
        for name in ("width", "depth", "height", "length")
        if attributes.get(name) not in (None, "")
    ]
    if measure == "dimensions":
        if parts:
            return f"{product.title} measures {', '.join(parts)}."
        size = attributes.get("size")
        if size:
            return f"{product.title} is {size}."
        return f"The catalog does not give the dimensions of {product.title}."
    value = attributes.get(measure)
    if value in (None, ""):
        # "How long is the bed?" of a catalog that gives width and depth: what it does give.
        given = f"; it gives {', '.join(parts)}" if parts else ""
        return f"The catalog does not give the {measure} of {product.title}{given}."
    adjective = next((word for word, name in MEASURES.items() if name == measure), None)
    if adjective:
        return f"{product.title} is {_with_unit(measure, value)} {adjective}."
    return f"The {measure} of {product.title} is {_with_unit(measure, value)}."


def _with_unit(name: str, value: Any) -> str:
    text = _spoken(value)
    unit = UNITS.get(name, "")
    return f"{text} {unit}" if unit and re.fullmatch(r"[\d.,]+", text) else text


def _attribute_named(said: str, attributes: Mapping[str, Any]) -> str | None:
    """An attribute of the product whose name the question uses ("what wattage", "which colour")."""
    words = set(re.findall(r"[a-z]+", said.replace("colour", "color")))
    for name in attributes:
        spoken = _spoken_name(name)
        if name in ("type",) or not spoken:
            continue
        if spoken in said or (len(spoken.split()) == 1 and spoken in words):
            return name
    return None


def _field_answer(product: Answerable, name: str) -> str:
    title = product.title
    match name:
        case "price":
            return f"{title} costs {product.price:,.2f} {product.currency}.".replace(" .", ".")
        case "brand":
            return (
                f"{title} is made by {product.brand}."
                if product.brand
                else f"The catalog does not name the maker of {title}."
            )
        case "rating":
            if product.rating is None:
                return f"{title} has no rating yet."
            return f"{title} is rated {product.rating:g} out of 5."
        case "availability":
            if product.stock is None:
                return f"The catalog does not say whether {title} is in stock."
            return f"Yes, {title} is in stock." if product.stock else f"No, {title} is out of stock."
        case "description":
            if not product.description:
                return f"The catalog has no description of {title}."
            return f"{title}: {_sentence(product.description)}"
        case "designer":
            value = product.attributes.get("designer")
            return (
                f"{title} was designed by {_spoken(value)}."
                if value
                else f"The catalog does not name the designer of {title}."
            )
    value = product.attributes.get(name)
    if value in (None, "", []):
        return f"The catalog does not give the {_spoken_name(name)} of {title}."
    if name in ("color", "material"):
        verb = "comes in" if name == "color" else "is made of"
        return f"{title} {verb} {_spoken(value)}."
    return f"The {_spoken_name(name)} of {title} is {_with_unit(name, value)}."


def _yes_or_no(said: str, product: Answerable) -> str:
    asked = _asked_phrase(said)
    if not asked:
        return _field_answer(product, "description")
    colours = {word: word for word in COLORS} | COLOR_SYNONYMS
    materials = {word: word for word in MATERIALS} | MATERIAL_SYNONYMS
    for name, lookup, verb in (("color", colours, "comes in"), ("material", materials, "is made of")):
        if asked in lookup:
            has = {str(value).lower() for value in _values(product.attributes.get(name))}
            if not has:
                break
            wanted = lookup[asked]
            if wanted in has or asked in has:
                return f"Yes, {product.title} {verb} {asked}."
            return f"No, {product.title} {verb} {_spoken(sorted(has))}."
    quote = _quoted(_without_article(asked), product)
    if quote is None:
        return f"The catalog does not say whether {product.title} {_is_or_has(said)} {asked}."
    where, snippet, negated = quote
    return f"{'No' if negated else 'Yes'}: the {where} says “{snippet}”."


def _asked_phrase(said: str) -> str:
    """What a yes/no question asks about: "waterproof" of "is the first one waterproof",
    "bulb" of "does it come with a bulb"."""
    rest = _YES_NO.sub("", said, count=1).strip()
    rest = _SUBJECT.sub("", rest, count=1).strip()
    for _ in range(2):  # "come with", "made of"
        rest = _ASKED_VERB.sub("", rest, count=1).strip()
    rest = re.sub(
        r"\b(please|pls|at all|too|as well|also|included|(in )?colou?r(ed)?|in (colou?r|finish))\b", " ", rest
    )
    return " ".join(rest.split()).strip(" .,!")


def _quoted(asked: str, product: Answerable) -> tuple[str, str, bool] | None:
    """Where the product's text states ``asked`` (a field name), the sentence that does, and
    whether it denies it ("bulb sold separately")."""
    texts = [("title", product.title), ("description", product.description)]
    texts += [
        (_spoken_name(name), f"{_spoken_name(name)} {_spoken(value)}")
        for name, value in product.attributes.items()
    ]
    for where, text in texts:
        for sentence in _SENTENCE.findall(text or ""):
            lowered = sentence.lower()
            for form in _forms(asked):
                found = re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", lowered)
                if found is None:
                    continue
                negated = bool(
                    _DENIED_BEFORE.search(lowered[: found.start()])
                    or _DENIED_AFTER.match(lowered[found.end() :])
                )
                return where, _cut(" ".join(sentence.split()), form).rstrip(" .!?"), negated
    return None


def _cut(sentence: str, form: str) -> str:
    """``sentence``, or the ``QUOTE_LIMIT`` characters of it around ``form``."""
    if len(sentence) <= QUOTE_LIMIT:
        return sentence
    at = max(0, sentence.lower().find(form) - QUOTE_LIMIT // 2)
    piece = sentence[at : at + QUOTE_LIMIT].strip()
    return ("…" if at else "") + piece + ("…" if at + QUOTE_LIMIT < len(sentence) else "")


def _without_article(phrase: str) -> str:
    return re.sub(r"^(?:a|an|the|any|some)\s+", "", phrase)


def _forms(phrase: str) -> list[str]:
    last = phrase.split()[-1] if phrase else ""
    stem = " ".join(phrase.split()[:-1])
    variants = {
        last,
        last[:-1] if last.endswith("s") else last + "s",
        last[:-2] if last.endswith("es") else last,
    }
    return [phrase] + [
        f"{stem} {word}".strip() for word in variants if word and f"{stem} {word}".strip() != phrase
    ]


def _is_or_has(said: str) -> str:
    return "has" if re.match(r"^(?:and )?(does|do|has|have|can)\b", said) else "is"


def _values(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return value if isinstance(value, list) else [value]


def _spoken(value: Any) -> str:
    values = [str(item) for item in _values(value)]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return ", ".join(values) if len(values) != 2 else " and ".join(values)


def _spoken_name(name: str) -> str:
    """A field name as words: "old_price" -> "old price", "sellable_online" -> "sellable online"."""
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def _sentence(text: str) -> str:
    """A description as one tidy sentence: single spaces, one final full stop."""
    text = " ".join(text.split()).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
