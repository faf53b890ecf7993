"""The words a parser snaps slot values to, taken from a catalog.

Colours and materials come from the shared ``catalog.vocabulary``; product
types, brands and features from the catalog's products; styles, rooms and
sizes are fixed lists. A parser version saves the vocabulary it was trained
on, so it snaps to the same words it learned.
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from catalog.retrieval.constraints import normalise_key
from catalog.retrieval.product_types import plural as plural_word
from catalog.retrieval.product_types import singular as singular_word
from catalog.vocabulary import COLOR_SYNONYMS, COLORS, MATERIAL_SYNONYMS, MATERIALS

STYLES: tuple[str, ...] = (
    "modern",
    "scandinavian",
    "minimalist",
    "classic",
    "mid-century",
    "bohemian",
    "industrial",
    "rustic",
)
STYLE_SYNONYMS = {
    "scandi": "scandinavian",
    "nordic": "scandinavian",
    "mid century": "mid-century",
    "midcentury": "mid-century",
    "retro": "mid-century",
    "boho": "bohemian",
    "minimal": "minimalist",
    "contemporary": "modern",
    "traditional": "classic",
    "farmhouse": "rustic",
    "vintage": "classic",
}
ROOMS: tuple[str, ...] = (
    "living room",
    "bedroom",
    "office",
    "dining room",
    "outdoor",
    "kids room",
    "hallway",
    "kitchen",
    "bathroom",
)
ROOM_SYNONYMS = {
    "home office": "office",
    "study": "office",
    "workspace": "office",
    "garden": "outdoor",
    "balcony": "outdoor",
    "patio": "outdoor",
    "terrace": "outdoor",
    "deck": "outdoor",
    "outside": "outdoor",
    "kid's room": "kids room",
    "kids' room": "kids room",
    "kid room": "kids room",
    "children's room": "kids room",
    "childrens room": "kids room",
    "nursery": "kids room",
    "playroom": "kids room",
    "lounge": "living room",
    "den": "living room",
    "dining area": "dining room",
    "entryway": "hallway",
    "hall": "hallway",
    "entrance": "hallway",
    "bath": "bathroom",
}
BED_SIZES = ("single", "double", "queen", "king")

_DIGITS = re.compile(r"\d")
_TYPE_CUT = re.compile(r"\s+(?:with|w|for|in|on|and|&)\s+|[,+&(]")
_TYPE_PREFIXES = frozenset(
    {
        *COLORS,
        *MATERIALS,
        *COLOR_SYNONYMS,
        *MATERIAL_SYNONYMS,
        "wireless",
        "bluetooth",
        "usb-c",
        "usb-a",
        "portable",
        "smart",
        "magsafe",
        "modular",
        "unlocked",
        "refurbished",
        "prepaid",
        "upholstered",
        "open",
    }
)


def singular(phrase: str) -> str:
    """The singular of a product type: "chests of drawers" -> "chest of drawers"."""
    return _inflect_head(phrase, singular_word)


def plural(phrase: str) -> str:
    """The plural ``singular`` undoes: "chest of drawers" -> "chests of drawers"."""
    return _inflect_head(phrase, plural_word)


def _inflect_head(phrase: str, inflect: Callable[[str], str]) -> str:
    """``phrase`` with its head noun (the word before "of", else the last) passed through ``inflect``."""
    words = phrase.split()
    if not words:
        return phrase
    head = words.index("of") - 1 if "of" in words[1:] else len(words) - 1
    words[head] = inflect(words[head])
    return " ".join(words)


def clean_product_type(value: str) -> str:
    """A catalog's product type as a shopper would say it, singular, without colours,
    materials, sizes or what it comes with: "3-seat sofa" -> "sofa",
    "wardrobe with 2 doors" -> "wardrobe", "usb-a to usb-c cable" -> "usb-c cable",
    "Cell Phone Cases & Clips" -> "cell phone case"."""
    text = _TYPE_CUT.split(value.lower().strip(), maxsplit=1)[0]
    words = [word for word in re.split(r"[\s/]+", text) if word and not _DIGITS.search(word)]
    words = [word for word in words if not word.endswith(("-seat", "-seater"))]
    if "to" in words[:-1]:  # "usb-a to usb-c cable" is said as a "usb-c cable"
        words = words[len(words) - words[::-1].index("to") :]
    while len(words) > 1 and words[0] in _TYPE_PREFIXES:
        words = words[1:]
    if len(words) > 3:
        return ""
    return singular(" ".join(words).strip(" ,-"))


def head_nouns(categories: Iterable[str], minimum: int = 3) -> set[str]:
    """Last words shared by several product types ("phone" of "cell phone", "unlocked cell phone")."""
    heads = Counter(category.split()[-1] for category in categories if " " in category)
    return {head for head, count in heads.items() if count >= minimum and len(head) > 2}


@dataclass(frozen=True)
class ParserVocabulary:
    """Product types, brands and features of a catalog, plus the fixed word lists."""

    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    colors: tuple[str, ...] = COLORS
    materials: tuple[str, ...] = MATERIALS
    styles: tuple[str, ...] = STYLES
    rooms: tuple[str, ...] = ROOMS
    color_synonyms: dict[str, str] = field(default_factory=lambda: dict(COLOR_SYNONYMS))
    material_synonyms: dict[str, str] = field(default_factory=lambda: dict(MATERIAL_SYNONYMS))

    @classmethod
    def from_catalog(
        cls,
        brands: Iterable[str],
        attributes: Iterable[Mapping[str, Any]],
        max_categories: int = 400,
        max_features: int = 200,
    ) -> "ParserVocabulary":
        """The vocabulary of a catalog: its brands and its products' ``type`` and ``feature`` attributes."""
        types: Counter[str] = Counter()
        features: Counter[str] = Counter()
        for product_attributes in attributes:
            product_type = clean_product_type(str(product_attributes.get("type") or ""))
            if 2 < len(product_type) <= 40:
                types[product_type] += 1
            values = product_attributes.get("feature") or []
            for feature in values if isinstance(values, list) else [values]:
                feature = str(feature).strip().lower()
                if 1 < len(feature) <= 30:
                    features[feature] += 1
        reserved = set(COLORS) | set(MATERIALS) | set(COLOR_SYNONYMS) | set(MATERIAL_SYNONYMS)
        brand_names = sorted(
            {normalise_key(name) for name in brands if len(normalise_key(name)) >= 2} - reserved
        )
        categories = {category for category, _ in types.most_common(max_categories)}
        return cls(
            categories=tuple(sorted(categories | head_nouns(categories))),
            brands=tuple(brand_names),
            features=tuple(sorted(f for f, _ in features.most_common(max_features))),
        )

    def merged(self, other: "ParserVocabulary") -> "ParserVocabulary":
        """This vocabulary with ``other``'s catalog words added (several catalogs, one parser)."""
        return ParserVocabulary(
            categories=tuple(
                sorted(set(self.categories) | set(other.categories) | head_nouns(other.categories))
            ),
            brands=tuple(sorted(set(self.brands) | set(other.brands))),
            features=tuple(sorted(set(self.features) | set(other.features))),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "ParserVocabulary":
        data = json.loads(path.read_text())
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def snap_phrase(text: str, choices: tuple[str, ...]) -> str | None:
    """The choice for ``text``: exact, the only one it starts ("kate spade" -> "kate spade new york",
    "lumbar" -> "lumbar support"), or a close typo."""
    if text in choices:
        return text
    starting = [choice for choice in choices if choice.startswith(text + " ")]
    if len(starting) == 1:
        return starting[0]
    return closest(text, choices)


def closest(text: str, choices: Iterable[str]) -> str | None:
    """The choice ``text`` is a likely typo of, or ``None`` when none is close enough.

    Damerau-Levenshtein distance: exact for up to 3 letters, one edit up to 5,
    two edits from 6 letters (so "blak" -> "black", "sofaa" -> "sofa").
    """
    allowed = 0 if len(text) <= 3 else 1 if len(text) <= 5 else 2
    choices = list(choices)
    if text in choices:
        return text
    if not allowed or not choices:
        return None
    match = process.extractOne(text, choices, scorer=DamerauLevenshtein.distance, score_cutoff=allowed)
    return match[0] if match else None
