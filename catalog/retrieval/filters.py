"""Hard filters: the constraints a result must meet, and a table that applies them fast.

``Constraints`` says what a shopper asked for. ``FilterTable`` holds, for every
product of an index version, the fields the constraints look at, as NumPy
arrays and posting lists, so ``mask`` answers "which products qualify" for a
million products in a few milliseconds. Values within one field are
alternatives ("grey or beige"); fields combine with AND. No Django imports.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

UNKNOWN_STOCK = -1
_NAME_FIELDS = ("brands", "colors", "materials", "exclude_brands", "exclude_colors", "exclude_materials")
_MARKS = re.compile(r"[™®©]")


def normalise_key(value: str) -> str:
    """How names are compared: trimmed, lower-case, without trade marks ("Insignia™" = "insignia")."""
    return _MARKS.sub("", str(value)).strip().lower()


@dataclass(frozen=True)
class Constraints:
    """What every result must satisfy. Empty fields constrain nothing.

    ``categories`` are category paths (``"cell-phones/cell-phone-accessories"``);
    a product qualifies when it sits in one of them or below. ``in_stock``
    drops products known to be out of stock; catalogs that do not track stock
    (stock unknown) are treated as available.
    """

    price_min: float | None = None
    price_max: float | None = None
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    in_stock: bool = False
    exclude_brands: tuple[str, ...] = ()
    exclude_colors: tuple[str, ...] = ()
    exclude_materials: tuple[str, ...] = ()
    exclude_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in _NAME_FIELDS:
            names = (normalise_key(value) for value in getattr(self, name))
            object.__setattr__(self, name, tuple(dict.fromkeys(names)))
        paths = (str(path).strip("/") for path in self.categories)
        object.__setattr__(self, "categories", tuple(dict.fromkeys(paths)))
        object.__setattr__(self, "exclude_ids", tuple(int(value) for value in self.exclude_ids))
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min {self.price_min} is above price_max {self.price_max}")

    def is_empty(self) -> bool:
        return self == NO_CONSTRAINTS

    def as_dict(self) -> dict[str, Any]:
        """The set fields only, JSON-safe."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            name: list(v) if isinstance(v, tuple) else v
            for name, v in values.items()
            if v not in (None, (), False)
        }


NO_CONSTRAINTS = Constraints()


@dataclass
class FilterRow:
    """The filterable fields of one product, as the index builder reads them."""

    price: float
    stock: int | None = None
    brand: str = ""
    categories: Sequence[str] = ()
    colors: Sequence[str] = ()
    materials: Sequence[str] = ()


@dataclass
class Postings:
    """A multi-valued field: for each value, the sorted positions of the products that have it."""

    values: list[str] = field(default_factory=list)
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @classmethod
    def from_lists(cls, per_product: Sequence[Iterable[str]]) -> "Postings":
        lists: dict[str, list[int]] = {}
        for position, values in enumerate(per_product):
            for value in dict.fromkeys(values):
                lists.setdefault(value, []).append(position)
        values = sorted(lists)
        sizes = np.array([len(lists[v]) for v in values], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        positions = np.fromiter((p for v in values for p in lists[v]), dtype=np.int32, count=int(offsets[-1]))
        return cls(values, offsets, positions)

    def any_of(self, wanted: Iterable[str], size: int) -> np.ndarray:
        """A boolean mask of the products having at least one of ``wanted``."""
        mask = np.zeros(size, dtype=bool)
        index = {value: i for i, value in enumerate(self.values)}
        for value in wanted:
            if value in index:
                i = index[value]
                mask[self.positions[self.offsets[i] : self.offsets[i + 1]]] = True
        return mask


_MULTI_VALUED = ("categories", "colors", "materials")


class FilterTable:
    """The filterable fields of every product of an index version, by position."""

    def __init__(
        self,
        prices: np.ndarray,
        stock: np.ndarray,
        brand_codes: np.ndarray,
        brands: list[str],
        postings: dict[str, Postings],
    ) -> None:
        self.prices = prices
        self.stock = stock
        self.brand_codes = brand_codes
        self.brands = brands
        self.postings = postings

    def __len__(self) -> int:
        return len(self.prices)

    @classmethod
    def build(cls, rows: Sequence[FilterRow]) -> "FilterTable":
        """Index ``rows``; a product in category ``a/b`` is also found under ``a``."""
        brands = sorted({normalise_key(row.brand) for row in rows if row.brand})
        brand_index = {name: code for code, name in enumerate(brands)}
        return cls(
            prices=np.array([row.price for row in rows], dtype=np.float64),
            stock=np.array(
                [UNKNOWN_STOCK if row.stock is None else row.stock for row in rows], dtype=np.int64
            ),
            brand_codes=np.array(
                [brand_index[normalise_key(row.brand)] if row.brand else -1 for row in rows], dtype=np.int32
            ),
            brands=brands,
            postings={
                "categories": Postings.from_lists([_with_ancestors(row.categories) for row in rows]),
                "colors": Postings.from_lists([[normalise_key(v) for v in row.colors] for row in rows]),
                "materials": Postings.from_lists([[normalise_key(v) for v in row.materials] for row in rows]),
            },
        )

    def mask(self, constraints: Constraints, ids: np.ndarray | None = None) -> np.ndarray | None:
        """Which positions satisfy ``constraints``; ``None`` when nothing is constrained.

        ``ids`` (product id per position) is needed only for ``exclude_ids``.
        """
        if constraints.is_empty():
            return None
        size = len(self)
        mask = np.ones(size, dtype=bool)
        if constraints.price_min is not None:
            mask &= self.prices >= constraints.price_min
        if constraints.price_max is not None:
            mask &= self.prices <= constraints.price_max
        if constraints.in_stock:
            mask &= self.stock != 0
        if constraints.brands:
            mask &= np.isin(self.brand_codes, self._brand_codes(constraints.brands))
        if constraints.exclude_brands:
            mask &= ~np.isin(self.brand_codes, self._brand_codes(constraints.exclude_brands))
        for name, wanted, unwanted in (
            ("categories", constraints.categories, ()),
            ("colors", constraints.colors, constraints.exclude_colors),
            ("materials", constraints.materials, constraints.exclude_materials),
        ):
            if wanted:
                mask &= self.postings[name].any_of(wanted, size)
            if unwanted:
                mask &= ~self.postings[name].any_of(unwanted, size)
        if constraints.exclude_ids and ids is not None:
            mask &= ~np.isin(ids, np.asarray(constraints.exclude_ids, dtype=ids.dtype))
        return mask

    def _brand_codes(self, names: Iterable[str]) -> np.ndarray:
        index = {name: code for code, name in enumerate(self.brands)}
        return np.array([index[name] for name in names if name in index], dtype=np.int32)

    def save(self, folder: Path) -> None:
        arrays = {"prices": self.prices, "stock": self.stock, "brand_codes": self.brand_codes}
        vocab: dict[str, Any] = {"brands": self.brands}
        for name, postings in self.postings.items():
            arrays[f"{name}_offsets"] = postings.offsets
            arrays[f"{name}_positions"] = postings.positions
            vocab[name] = postings.values
        np.savez(folder / "filters.npz", **arrays)
        (folder / "filters.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "FilterTable":
        arrays = np.load(folder / "filters.npz")
        vocab = json.loads((folder / "filters.json").read_text(encoding="utf-8"))
        return cls(
            prices=arrays["prices"],
            stock=arrays["stock"],
            brand_codes=arrays["brand_codes"],
            brands=vocab["brands"],
            postings={
                name: Postings(vocab[name], arrays[f"{name}_offsets"], arrays[f"{name}_positions"])
                for name in _MULTI_VALUED
            },
        )


def _with_ancestors(paths: Iterable[str]) -> list[str]:
    """``["a/b/c"]`` -> ``["a/b/c", "a/b", "a"]``: a subtree filter is one posting list."""
    found: dict[str, None] = {}
    for path in paths:
        parts = str(path).strip("/").split("/")
        for depth in range(len(parts), 0, -1):
            found["/".join(parts[:depth])] = None
    return list(found)
