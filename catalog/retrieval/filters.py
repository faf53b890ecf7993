"""Hard filters: the constraints a result must meet, and a table that applies them fast.

``Constraints`` (``constraints``) says what a shopper asked for. ``FilterTable`` holds, for every
product of an index version, the fields the constraints look at, as NumPy
arrays and posting lists, so ``mask`` answers "which products qualify" for a
million products in a few milliseconds. Values within one field are
alternatives ("grey or beige"); fields combine with AND. No Django imports.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .constraints import DIMENSIONS, Constraints, normalise_key

UNKNOWN_STOCK = -1


@dataclass
class FilterRow:
    """The filterable fields of one product, as the index builder reads them."""

    price: float
    stock: int | None = None
    brand: str = ""
    categories: Sequence[str] = ()
    colors: Sequence[str] = ()
    materials: Sequence[str] = ()
    currency: str = ""
    rating: float | None = None
    popularity: float | None = None
    rating_count: int | None = None
    measures: Mapping[str, float] = field(default_factory=dict)
    """Numeric attributes among ``DIMENSIONS`` (``width`` in cm...)."""


@dataclass
class Postings:
    """A multi-valued field: for each value, the sorted positions of the products that have it."""

    values: list[str] = field(default_factory=list)
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _per_product: list[tuple[str, ...]] | None = field(default=None, repr=False, compare=False)
    """Each product's values, built on the first ``values_at`` (the rankers' facts)."""

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

    def values_at(self, positions: Iterable[int], size: int) -> list[tuple[str, ...]]:
        """The values each product at ``positions`` has (of a table of ``size`` products)."""
        if self._per_product is None or len(self._per_product) != size:
            per_product: list[list[str]] = [[] for _ in range(size)]
            for i, value in enumerate(self.values):
                for position in self.positions[self.offsets[i] : self.offsets[i + 1]]:
                    per_product[position].append(value)
            self._per_product = [tuple(values) for values in per_product]
        return [self._per_product[int(position)] for position in positions]

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
_NUMBERS = ("rating", "rating_count", "popularity", *DIMENSIONS)
"""Numeric columns, NaN where unknown."""


class FilterTable:
    """The filterable fields of every product of an index version, by position."""

    def __init__(
        self,
        prices: np.ndarray,
        stock: np.ndarray,
        brand_codes: np.ndarray,
        brands: list[str],
        postings: dict[str, Postings],
        currency_codes: np.ndarray,
        currencies: list[str],
        numbers: dict[str, np.ndarray],
    ) -> None:
        self.prices = prices
        self.stock = stock
        self.brand_codes = brand_codes
        self.brands = brands
        self.postings = postings
        self.currency_codes = currency_codes
        self.currencies = currencies
        self.numbers = numbers

    def __len__(self) -> int:
        return len(self.prices)

    @classmethod
    def build(cls, rows: Sequence[FilterRow]) -> "FilterTable":
        """Index ``rows``; a product in category ``a/b`` is also found under ``a``."""
        brands = sorted({normalise_key(row.brand) for row in rows if row.brand})
        brand_index = {name: code for code, name in enumerate(brands)}
        currencies = sorted({row.currency.upper() for row in rows})
        currency_index = {name: code for code, name in enumerate(currencies)}
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
            currency_codes=np.array([currency_index[row.currency.upper()] for row in rows], dtype=np.int16),
            currencies=currencies,
            numbers={
                name: np.array([_number(row, name) for row in rows], dtype=np.float64) for name in _NUMBERS
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
        if constraints.prices_constrained():
            mask &= self._within_price(constraints)
        for measure in constraints.measures:
            values = self.numbers.get(measure.name)
            if values is None:
                mask[:] = False
                continue
            if measure.minimum is not None:
                mask &= values >= measure.minimum
            if measure.maximum is not None:
                mask &= values <= measure.maximum
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

    def _within_price(self, constraints: Constraints) -> np.ndarray:
        """Products whose price meets the bounds as they apply in the product's own currency."""
        within = np.zeros(len(self), dtype=bool)
        for code, currency in enumerate(self.currencies):
            bounds = constraints.price_bounds_in(currency)
            if bounds is None:
                continue
            rows = self.currency_codes == code
            low, high = bounds
            if low is not None:
                rows &= self.prices >= low
            if high is not None:
                rows &= self.prices <= high
            within |= rows
        return within

    def has_measure(self, name: str, rows: np.ndarray | None = None) -> bool:
        """Whether any product (of ``rows``, a mask) states the measure ``name``."""
        values = self.numbers.get(name)
        if values is None:
            return False
        known = ~np.isnan(values)
        return bool((known & rows).any() if rows is not None else known.any())

    def _brand_codes(self, names: Iterable[str]) -> np.ndarray:
        index = {name: code for code, name in enumerate(self.brands)}
        return np.array([index[name] for name in names if name in index], dtype=np.int32)

    def facts(self, positions: np.ndarray) -> dict[str, Any]:
        """What rankers may know of the products at ``positions`` (``ProductFacts``' fields but the
        product type), column by column."""
        positions = np.asarray(positions, dtype=np.int64)
        size = len(self)
        brands = [*self.brands, ""]  # code -1: no brand
        colors, materials = (
            self.postings[name].values_at(positions, size) for name in ("colors", "materials")
        )
        measures = [
            {name: float(self.numbers[name][p]) for name in DIMENSIONS if not np.isnan(self.numbers[name][p])}
            for p in positions
        ]
        return {
            "brand": tuple(brands[code] for code in self.brand_codes[positions]),
            "price": self.prices[positions].astype(np.float64),
            "currency": tuple(self.currencies[code] for code in self.currency_codes[positions]),
            "categories": tuple(
                _leaves(paths) for paths in self.postings["categories"].values_at(positions, size)
            ),
            "stock": self.stock[positions].astype(np.int64),
            "rating": self.numbers["rating"][positions],
            "rating_count": self.numbers["rating_count"][positions],
            "popularity": self.numbers["popularity"][positions],
            "attributes": tuple(
                {"color": list(color), "material": list(material), **measure}
                for color, material, measure in zip(colors, materials, measures, strict=True)
            ),
        }

    def save(self, folder: Path) -> None:
        arrays = {
            "prices": self.prices,
            "stock": self.stock,
            "brand_codes": self.brand_codes,
            "currency_codes": self.currency_codes,
            **{f"number_{name}": values for name, values in self.numbers.items()},
        }
        vocab: dict[str, Any] = {"brands": self.brands, "currencies": self.currencies}
        for name, postings in self.postings.items():
            arrays[f"{name}_offsets"] = postings.offsets
            arrays[f"{name}_positions"] = postings.positions
            vocab[name] = postings.values
        np.savez(folder / "filters.npz", **arrays)
        (folder / "filters.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "FilterTable":
        arrays = dict(np.load(folder / "filters.npz"))
        vocab = json.loads((folder / "filters.json").read_text(encoding="utf-8"))
        prices = arrays["prices"]
        return cls(
            prices=prices,
            stock=arrays["stock"],
            brand_codes=arrays["brand_codes"],
            brands=vocab["brands"],
            postings={
                name: Postings(vocab[name], arrays[f"{name}_offsets"], arrays[f"{name}_positions"])
                for name in _MULTI_VALUED
            },
            # Versions of an older layout lack some columns: unknown until they are rebuilt.
            currency_codes=arrays.get("currency_codes", np.zeros(len(prices), dtype=np.int16)),
            currencies=vocab.get("currencies", [""]),
            numbers={name: arrays.get(f"number_{name}", np.full(len(prices), np.nan)) for name in _NUMBERS},
        )


def _with_ancestors(paths: Iterable[str]) -> list[str]:
    """``["a/b/c"]`` -> ``["a/b/c", "a/b", "a"]``: a subtree filter is one posting list."""
    found: dict[str, None] = {}
    for path in paths:
        parts = str(path).strip("/").split("/")
        for depth in range(len(parts), 0, -1):
            found["/".join(parts[:depth])] = None
    return list(found)


def _leaves(paths: Sequence[str]) -> tuple[str, ...]:
    """The most specific of ``paths`` (``_with_ancestors`` undone)."""
    return tuple(path for path in paths if not any(other.startswith(f"{path}/") for other in paths))


def _number(row: FilterRow, name: str) -> float:
    value = getattr(row, name) if name in ("rating", "rating_count", "popularity") else row.measures.get(name)
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan
