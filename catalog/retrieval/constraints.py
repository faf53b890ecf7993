"""What a shopper asks for, in one place: the role of every parser slot and the constraints they make.

``SLOTS`` is the table: for each slot of the parser frame (CONTRACTS §3, plus
``currency`` and ``dimension``), its role and value kind and, for a hard
filter, the ``Constraints`` field it fills and when relaxation may drop it.
The parser's normalisation, the dialogue's merge/override/relax, retrieval,
explanations, ``/api/search/`` and ``search_batch`` all read it; nothing else
lists slots. No Django imports.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, get_origin

_MARKS = re.compile(r"[™®©]")


class Role(StrEnum):
    FILTER = "filter"
    """Every result must meet it."""
    ORDER = "order"
    """Orders the results."""
    PREFERENCE = "preference"
    """Favours products that match (searched as words); filters nothing."""
    RELATIVE = "relative"
    """Moves a price bound past the products shown ("cheaper")."""
    REFERENCE = "reference"
    """Points at products in the last list ("the second one")."""
    QUESTION = "question"
    """What a question about a product asks for ("how wide is it")."""


@dataclass(frozen=True)
class Slot:
    """One slot: its role, its value kind (``list``, ``string``, ``number``, ``positions`` or
    ``measures``), the ``Constraints`` field a filter fills and its rank in relaxation (dropped
    earliest first; ``None``: never dropped, such as exclusions and the product type)."""

    name: str
    role: Role
    kind: str
    field: str = ""
    relax: int | None = None
    excludes: str = ""
    """For an exclusion, the slot whose values it takes out ("exclude_color" -> "color")."""


SLOTS: dict[str, Slot] = {
    slot.name: slot
    for slot in (
        Slot("category", Role.FILTER, "string", "types"),
        Slot("brand", Role.FILTER, "list", "brands", relax=6),
        Slot("color", Role.FILTER, "list", "colors", relax=2),
        Slot("material", Role.FILTER, "list", "materials", relax=3),
        Slot("feature", Role.FILTER, "list", "features", relax=4),
        Slot("size", Role.FILTER, "string", "features", relax=5),
        Slot("dimension", Role.FILTER, "measures", "measures", relax=1),
        Slot("price_max", Role.FILTER, "number", "price_max", relax=0),
        Slot("price_min", Role.FILTER, "number", "price_min", relax=0),
        Slot("currency", Role.FILTER, "string", "currency"),
        Slot("exclude_color", Role.FILTER, "list", "exclude_colors", excludes="color"),
        Slot("exclude_material", Role.FILTER, "list", "exclude_materials", excludes="material"),
        Slot("exclude_brand", Role.FILTER, "list", "exclude_brands", excludes="brand"),
        Slot("style", Role.PREFERENCE, "list"),
        Slot("room", Role.PREFERENCE, "string"),
        Slot("sort", Role.ORDER, "string"),
        Slot("price_relative", Role.RELATIVE, "string"),
        Slot("reference", Role.REFERENCE, "positions"),
        Slot("attribute", Role.QUESTION, "string"),
    )
}

FILTER_SLOTS = tuple(name for name, slot in SLOTS.items() if slot.role is Role.FILTER)
ACTIVE_SLOTS = tuple(
    name for name, slot in SLOTS.items() if slot.role in (Role.FILTER, Role.ORDER, Role.PREFERENCE)
)
"""The slots a conversation keeps across turns until they change."""
RELAX_ORDER = tuple(
    name
    for name, slot in sorted(SLOTS.items(), key=lambda item: item[1].relax or 0)
    if slot.relax is not None
)
"""Filters relaxation may drop, one at a time, in this order (prices first, the brand last)."""
SORT_PHRASES = {
    "price_asc": "lowest price first",
    "price_desc": "highest price first",
    "rating_desc": "best rated first",
    "popularity_desc": "most popular first",
}
"""The orders a ``sort`` slot may ask for, as a reply says them."""
SORTS = tuple(SORT_PHRASES)
DIMENSIONS = ("width", "depth", "height", "length", "diameter", "weight", "power", "capacity", "storage")
"""Measures a ``dimension`` slot may name, as numeric product attributes."""
UNITS = {
    "cm": ("cm", 1.0),
    "mm": ("cm", 0.1),
    "m": ("cm", 100.0),
    "in": ("cm", 2.54),
    "w": ("w", 1.0),
    "mah": ("mah", 1.0),
    "gb": ("gb", 1.0),
    "tb": ("gb", 1024.0),
}
"""Unit said -> (the unit attributes are stored in, factor)."""
MEASURED_BY = {"w": "power", "mah": "capacity", "gb": "storage"}
"""The measure a unit names by itself; a length needs a word ("wide", "deep"...)."""


def slots_of_kind(*kinds: str) -> tuple[str, ...]:
    return tuple(name for name, slot in SLOTS.items() if slot.kind in kinds)


def normalise_key(value: str) -> str:
    """How names are compared: trimmed, lower-case, without trade marks ("Insignia™" = "insignia")."""
    return _MARKS.sub("", str(value)).strip().lower()


@dataclass(frozen=True)
class Measure:
    """A numeric bound on a product attribute: "less than 120 cm wide" -> width at most 120 (cm)."""

    name: str
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""

    @classmethod
    def from_slot(cls, value: Mapping[str, Any]) -> "Measure":
        return cls(value["name"], value.get("min"), value.get("max"), value.get("unit", ""))

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and self.maximum is not None:
            return f"{self.name} {self.minimum:g}–{self.maximum:g}{unit}"
        if self.maximum is not None:
            return f"{self.name} at most {self.maximum:g}{unit}"
        return f"{self.name} at least {self.minimum:g}{unit}"


BED_SIZES = {
    "single": Measure("width", maximum=125, unit="cm"),
    "double": Measure("width", minimum=140, unit="cm"),
    "queen": Measure("width", minimum=155, unit="cm"),
    "king": Measure("width", minimum=180, unit="cm"),
}
"""What a bed size says of a bed's or mattress's width (a 90 cm mattress is single, 140 double,
160 queen, 180 king; frames are a little wider than their mattress)."""
SIZED_AS_BEDS = frozenset({"bed", "mattress", "bed frame", "sofa-bed"})
"""Product kinds whose "double" or "king" is a bed size."""


@dataclass(frozen=True)
class Constraints:
    """What every result must satisfy. Empty fields constrain nothing.

    Price bounds apply in ``currency`` when one was said, converted with ``rates`` (per USD)
    for products in other currencies and never compared raw across currencies; without a
    currency they apply in each product's own. ``types`` are catalog product types (a type
    vocabulary's keys, sub-types included); ``categories`` are category paths, matching their
    subtree. ``features`` must appear in the product's text or attributes. Catalogs that do
    not track stock are treated as in stock.
    """

    price_min: float | None = None
    price_max: float | None = None
    currency: str | None = None
    rates: tuple[tuple[str, float], ...] = ()
    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    measures: tuple[Measure, ...] = ()
    in_stock: bool = False
    exclude_brands: tuple[str, ...] = ()
    exclude_colors: tuple[str, ...] = ()
    exclude_materials: tuple[str, ...] = ()
    exclude_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("brands", "colors", "materials", "features", *(f"exclude_{n}" for n in _NAMED)):
            names = (normalise_key(value) for value in getattr(self, name))
            object.__setattr__(self, name, tuple(dict.fromkeys(n for n in names if n)))
        paths = (str(path).strip("/") for path in self.categories)
        object.__setattr__(self, "categories", tuple(dict.fromkeys(paths)))
        object.__setattr__(self, "types", tuple(dict.fromkeys(self.types)))
        object.__setattr__(self, "exclude_ids", tuple(int(value) for value in self.exclude_ids))
        if self.currency is not None:
            object.__setattr__(self, "currency", self.currency.upper())
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min {self.price_min} is above price_max {self.price_max}")

    def is_empty(self) -> bool:
        return self == Constraints(rates=self.rates)

    def as_dict(self) -> dict[str, Any]:
        """The set fields only, JSON-safe (``rates`` left out: they are settings, not asked for)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rates"}
        return {
            name: [_plain(item) for item in value] if isinstance(value, tuple) else value
            for name, value in values.items()
            if value not in (None, (), False)
        }

    def rate(self, currency: str) -> float | None:
        """USD per unit of ``currency`` (1 for USD), or ``None`` when not configured."""
        return 1.0 if currency.upper() == "USD" else dict(self.rates).get(currency.upper())

    def prices_constrained(self) -> bool:
        return self.currency is not None or self.price_min is not None or self.price_max is not None

    def price_bounds_in(self, currency: str) -> tuple[float | None, float | None] | None:
        """The price bounds as they apply to a product priced in ``currency``; ``None`` when the
        shopper named another currency that no rate converts (the product does not qualify)."""
        if self.currency is None or currency.upper() == self.currency:
            return self.price_min, self.price_max
        said, theirs = self.rate(self.currency), self.rate(currency)
        if said is None or theirs is None:
            return None
        factor = said / theirs
        return (
            None if self.price_min is None else self.price_min * factor,
            None if self.price_max is None else self.price_max * factor,
        )


_NAMED = ("brands", "colors", "materials")
_TUPLE_FIELDS = frozenset(f.name for f in fields(Constraints) if get_origin(f.type) is tuple)
NO_CONSTRAINTS = Constraints()


def _plain(value: Any) -> Any:
    if isinstance(value, Measure):
        return {k: v for k, v in vars(value).items() if v not in (None, "")}
    return value


def constraints_from_slots(
    slots: Mapping[str, Any],
    types: Iterable[str] = (),
    rates: Mapping[str, float] | None = None,
    **extra: Any,
) -> Constraints:
    """The hard constraints of a frame's filter slots (``SLOTS``), with the catalog ``types`` the
    ``category`` slot resolved to; ``extra`` sets other fields (``categories``, ``exclude_ids``)."""
    values: dict[str, Any] = {"types": tuple(types), "rates": tuple(sorted((rates or {}).items()))}
    for name in FILTER_SLOTS:
        slot = SLOTS[name]
        if name not in slots or slot.field == "types":
            continue
        value = slots[name]
        if slot.kind == "measures":
            value = tuple(Measure.from_slot(item) for item in value)
        elif slot.field in _TUPLE_FIELDS:
            value = (*values.get(slot.field, ()), *([value] if isinstance(value, str) else value))
        values[slot.field] = value
    return Constraints(**values, **extra)


def parse_rates(text: str) -> dict[str, float]:
    """``"SAR=0.2667,EUR=1.08"`` -> ``{"SAR": 0.2667, "EUR": 1.08}`` (USD per unit)."""
    rates = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        code, _, value = part.partition("=")
        rate = float(value)
        if not code.strip().isalpha() or rate <= 0:
            raise ValueError(f"bad currency rate {part!r}: expected CODE=positive number")
        rates[code.strip().upper()] = rate
    return rates
