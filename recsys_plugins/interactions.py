"""Implicit feedback as a user × item matrix, the input of every trainable ranker."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

ACTION_WEIGHTS: Mapping[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "like": 4.0,
    "add_to_cart": 6.0,
    "purchase": 8.0,
    "dislike": 0.0,
}
"""How much each shopper action says about liking a product. A dislike carries no
positive signal; rankers use it to keep the product out of a profile."""

POSITIVE_ACTIONS = frozenset({"like", "add_to_cart", "purchase"})
"""Actions that say the shopper wants the product: they build taste profiles and count as bought."""


@dataclass(frozen=True)
class Interaction:
    """One thing a shopper did with a product."""

    user: str
    item: int
    action: str = "view"
    timestamp: float = 0.0

    @property
    def weight(self) -> float:
        return ACTION_WEIGHTS.get(self.action, 1.0)


@dataclass(frozen=True)
class InteractionMatrix:
    """Summed action weights, one row per user and one column per item.

    ``users`` and ``items`` map rows and columns back to the caller's ids.
    """

    users: tuple[str, ...]
    items: tuple[int, ...]
    matrix: sparse.csr_matrix

    @classmethod
    def from_interactions(cls, interactions: Iterable[Interaction]) -> "InteractionMatrix":
        """Rows and columns in first-seen order; repeated actions add up; zero weights are kept out."""
        user_index: dict[str, int] = {}
        item_index: dict[int, int] = {}
        rows, cols, weights = [], [], []
        for interaction in interactions:
            if interaction.weight <= 0:
                continue
            rows.append(user_index.setdefault(interaction.user, len(user_index)))
            cols.append(item_index.setdefault(interaction.item, len(item_index)))
            weights.append(interaction.weight)
        matrix = sparse.csr_matrix(
            (np.asarray(weights, dtype=np.float32), (rows, cols)),
            shape=(len(user_index), len(item_index)),
        )
        matrix.sum_duplicates()
        return cls(tuple(user_index), tuple(item_index), matrix)


def history_weights(events: Sequence[Interaction]) -> dict[int, float]:
    """``{item: summed weight}`` of a shopper's events, leaving out disliked items."""
    disliked = {event.item for event in events if event.action == "dislike"}
    weights: dict[int, float] = {}
    for event in events:
        if event.item not in disliked and event.weight > 0:
            weights[event.item] = weights.get(event.item, 0.0) + event.weight
    return weights
