"""What every ranker takes and returns. No Django here: plugins import these types."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys_plugins.interactions import Interaction, history_weights


@dataclass(frozen=True)
class Candidates:
    """Products a ranker may order: ids and, row for row, their unit vectors and the
    retrieval score that found them (``relevance``, higher is better)."""

    ids: np.ndarray
    vectors: np.ndarray
    relevance: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.vectors):
            raise ValueError("ids and vectors must have the same length")
        if self.relevance is not None and len(self.relevance) != len(self.ids):
            raise ValueError("relevance must have one score per candidate")

    def __len__(self) -> int:
        return len(self.ids)


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
