"""The shared colour and material vocabulary.

Importers snap free-text colours and materials to these canonical words so that
search filters and the utterance parser speak the same language whatever the
source catalog called them ("gray", "anthracite", "black-brown").
Pure Python: no Django imports.
"""

import itertools
import re
from collections.abc import Iterable

COLORS: tuple[str, ...] = (
    "black", "white", "grey", "beige", "brown", "blue", "green", "red", "yellow",
    "orange", "pink", "purple", "silver", "gold", "turquoise", "multicolour", "transparent",
)  # fmt: skip

COLOR_SYNONYMS: dict[str, str] = {
    "gray": "grey",
    "anthracite": "grey",
    "graphite": "grey",
    "charcoal": "grey",
    "slate": "grey",
    "navy": "blue",
    "cobalt": "blue",
    "teal": "turquoise",
    "aqua": "turquoise",
    "cream": "beige",
    "sand": "beige",
    "taupe": "beige",
    "ivory": "white",
    "off-white": "white",
    "offwhite": "white",
    "chrome": "silver",
    "violet": "purple",
    "lilac": "purple",
    "burgundy": "red",
    "wine": "red",
    "olive": "green",
    "mint": "green",
    "khaki": "green",
    "rose": "pink",
    "coral": "orange",
    "mustard": "yellow",
    "chocolate": "brown",
    "multicolor": "multicolour",
    "multi-colour": "multicolour",
    "multi-color": "multicolour",
    "clear": "transparent",
}

MATERIALS: tuple[str, ...] = (
    "wood", "oak", "pine", "birch", "walnut", "bamboo", "beech", "acacia", "ash", "metal",
    "steel", "aluminium", "brass", "glass", "fabric", "leather", "plastic", "rattan",
    "ceramic", "stone", "marble", "cotton", "linen", "wool", "velvet", "polyester",
    "silicone", "rubber", "paper", "foam",
)  # fmt: skip

MATERIAL_SYNONYMS: dict[str, str] = {
    "aluminum": "aluminium",
    "stainless": "steel",
    "stainless steel": "steel",
    "iron": "metal",
    "solid wood": "wood",
    "wooden": "wood",
    "timber": "wood",
    "veneer": "wood",
    "faux leather": "leather",
    "leatherette": "leather",
    "upholstered": "fabric",
    "textile": "fabric",
    "polycarbonate": "plastic",
    "acrylic": "plastic",
    "tpu": "silicone",
    "porcelain": "ceramic",
    "stoneware": "ceramic",
    "seagrass": "rattan",
    "wicker": "rattan",
}

_COLOR_LOOKUP = {word: word for word in COLORS} | COLOR_SYNONYMS
_MATERIAL_LOOKUP = {word: word for word in MATERIALS} | MATERIAL_SYNONYMS
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")


def _snap(values: Iterable[str], lookup: dict[str, str]) -> list[str]:
    """Canonical words found in ``values``, in first-seen order, without repeats."""
    found: list[str] = []
    for value in values:
        text = str(value).strip().lower()
        candidates = [text] if text in lookup else _phrases(text)
        for candidate in candidates:
            canonical = lookup.get(candidate)
            if canonical and canonical not in found:
                found.append(canonical)
    return found


def _phrases(text: str) -> list[str]:
    """Single words and adjacent word pairs of ``text`` ("stainless steel")."""
    words = [part for token in _WORD.findall(text) for part in (token, *token.split("-"))]
    return [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]


def normalise_colors(values: Iterable[str]) -> list[str]:
    """Map colour names or phrases to canonical colours: ``["Dark Gray"] -> ["grey"]``."""
    return _snap(values, _COLOR_LOOKUP)


def normalise_materials(values: Iterable[str]) -> list[str]:
    """Map material names or phrases to canonical materials: ``["Aluminum"] -> ["aluminium"]``."""
    return _snap(values, _MATERIAL_LOOKUP)


def colors_in_text(text: str) -> list[str]:
    """Canonical colours mentioned anywhere in ``text`` (a title, a URL slug)."""
    return normalise_colors(_phrases(text.lower()))


def materials_in_text(text: str) -> list[str]:
    """Canonical materials mentioned anywhere in ``text``."""
    return normalise_materials(_phrases(text.lower()))
