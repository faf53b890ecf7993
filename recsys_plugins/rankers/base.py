"""What every ranker takes and returns. No Django here: plugins import these types."""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys_plugins.interactions import Interaction, history_weights


@dataclass(frozen=True)
class ProductFacts:
    """What a ranker may know of each candidate, one column per fact, row ``i`` being candidate
    ``i``. Filled from the search index the request already holds: no database query.

    Unknown values are ``""``, ``NaN``, ``-1`` or empty, as each field says.
    """

    brand: tuple[str, ...]
    """Lower case, without trade marks ("insignia"); "" when the product names none."""
    price: np.ndarray
    """float64, in ``currency``."""
    currency: tuple[str, ...]
    """ISO code, upper case ("SAR")."""
    categories: tuple[tuple[str, ...], ...]
    """The most specific category paths of each product ("furniture/sofas")."""
    product_type: tuple[str, ...]
    """The catalog's type of the product ("3-seat sofa"); "" when not known."""
    stock: np.ndarray
    """int64 units in stock; -1 when the catalog does not say."""
    rating: np.ndarray
    """float64, 0 to 5; NaN when unrated."""
    rating_count: np.ndarray
    """float64 number of ratings; NaN when not known."""
    popularity: np.ndarray
    """float64, the catalog's own popularity figure; NaN when not known."""
    attributes: tuple[Mapping[str, Any], ...]
    """Per product: ``color`` and ``material`` (lists, lower case) and its measures in cm
    (``width``, ``depth``, ``height``, ``length``) when known."""

    def __post_init__(self) -> None:
        sizes = {len(column) for column in vars(self).values()}
        if len(sizes) > 1:
            raise ValueError("every fact needs one value per candidate")

    def __len__(self) -> int:
        return len(self.price)

    def take(self, rows: np.ndarray | Sequence[int]) -> "ProductFacts":
        """The facts of the given rows, in that order."""
        rows = [int(row) for row in rows]
        return ProductFacts(
            **{
                name: column[rows] if isinstance(column, np.ndarray) else tuple(column[row] for row in rows)
                for name, column in vars(self).items()
            }
        )


@dataclass(frozen=True)
class Candidates:
    """Products a ranker may order: ids and, row for row, their unit vectors, the retrieval
    score that found them (``relevance``, higher is better) and their ``facts``."""

    ids: np.ndarray
    vectors: np.ndarray
    relevance: np.ndarray | None = None
    facts: ProductFacts | None = None
    """Brand, price, categories, stock, rating… per candidate; ``None`` only where a caller
    (an old test, a benchmark) built candidates without an index."""

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.vectors):
            raise ValueError("ids and vectors must have the same length")
        if self.relevance is not None and len(self.relevance) != len(self.ids):
            raise ValueError("relevance must have one score per candidate")
        if self.facts is not None and len(self.facts) != len(self.ids):
            raise ValueError("facts must describe every candidate")

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, product_id: int) -> int:
        """The row of ``product_id`` (for a wrapper that holds a ranked list of ids)."""
        return self._rows[int(product_id)]

    @functools.cached_property
    def _rows(self) -> dict[int, int]:
        return {int(product_id): row for row, product_id in enumerate(self.ids)}


@dataclass(frozen=True)
class RankingContext:
    """Everything known about the request a ranking is for."""

    query_vector: np.ndarray | None = None
    constraints: Mapping[str, Any] = field(default_factory=dict)
    user: str | None = None
    history: tuple[Interaction, ...] = ()
    """The shopper's events from earlier sessions, oldest first."""
    session_events: tuple[Interaction, ...] = ()
    """Events of this session, oldest first."""
    item_vectors: Mapping[int, np.ndarray] = field(default_factory=dict)
    """Unit vectors of the products in the events, for taste profiles."""
    titles: Mapping[int, str] = field(default_factory=dict)
    """Titles of the products in the events, for explanations."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Enabled rankers (and the ``retrieval`` score) with their weights, for fusing rankers."""
    artifacts: Path | None = None
    """The active folder of trained rankers (``aisle_fit`` wrote ``artifacts / <ranker>``)."""

    @property
    def events(self) -> tuple[Interaction, ...]:
        return (*self.history, *self.session_events)

    def history_weights(self) -> dict[int, float]:
        """``{product_id: weight}`` over all events, disliked products left out."""
        return history_weights(self.events)


@dataclass(frozen=True)
class RankerInfo:
    """A ranker as a plugin registers it."""

    name: str
    description: str
    trainable: bool = False
    hidden: bool = False
    """Not listed by ``/api/rankers/`` until an admin enables it (API clients can never ask for a
    ranker that is not enabled)."""


@dataclass(frozen=True)
class Scores:
    """A ranker's scores with the part each component contributed (all aligned with the candidates)."""

    total: np.ndarray
    parts: Mapping[str, np.ndarray]


@dataclass
class RankedProduct:
    """A product in a ranked list: its score, each component's part and the reason shown."""

    product_id: int
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    explanation: str = ""


def as_scores(scored: "Scores | np.ndarray", ranker: str) -> Scores:
    """A ranker's answer as :class:`Scores`: a bare array is its own single part."""
    if isinstance(scored, Scores):
        return scored
    total = np.asarray(scored, dtype=np.float32)
    return Scores(total, {ranker: total})
