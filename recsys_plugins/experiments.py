"""Online ranker experiments, without Django: which arm a session sees, team-draft interleaving of
two rankings, and the statistics that say whether one arm does better.

Two kinds of experiment:

- **split** (an A/B test): each session is assigned one arm, for good, by a hash of its key; the
  unit compared is the session (did it click, like, add to cart?).
- **interleave** (team-draft interleaving, Radlinski et al. 2008): every list merges both rankers'
  lists, each product credited to the ranker ("team") that drafted it; a session prefers the team
  whose products got more of its positive actions. Far fewer sessions are needed than for a split.
"""

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from scipy.stats import binomtest, fisher_exact

ARMS = ("a", "b")
SIGNIFICANCE = 0.05
"""A difference is called significant below this two-sided p-value."""
Item = TypeVar("Item")


def arm_of(session_key: str, salt: str) -> str:
    """The arm (``"a"`` or ``"b"``) a session sees, the same at every turn; ``salt`` (the
    experiment) makes each experiment split the sessions differently."""
    digest = hashlib.sha256(f"{salt}:{session_key}".encode()).digest()
    return ARMS[digest[0] & 1]


def team_draft(
    first: Sequence[Item], second: Sequence[Item], limit: int, seed: str, key=lambda item: item
) -> list[tuple[Item, str]]:
    """Interleave two rankings of the same candidates into ``limit`` items, each with the arm that
    drafted it (``"a"`` for ``first``). In each round the team with fewer picks (a coin flip,
    seeded by ``seed``, when even) adds its best item not yet taken; ``key`` identifies an item."""
    coin = random.Random(seed)
    lists = {"a": list(first), "b": list(second)}
    cursor = {"a": 0, "b": 0}
    picks = {"a": 0, "b": 0}
    taken: set = set()
    merged: list[tuple[Item, str]] = []

    def best_left(arm: str) -> Item | None:
        ranking = lists[arm]
        while cursor[arm] < len(ranking) and key(ranking[cursor[arm]]) in taken:
            cursor[arm] += 1
        return ranking[cursor[arm]] if cursor[arm] < len(ranking) else None

    while len(merged) < limit:
        arm = coin.choice(ARMS) if picks["a"] == picks["b"] else min(ARMS, key=picks.__getitem__)
        item = best_left(arm)
        if item is None:  # this team has nothing left: the other drafts
            arm = "b" if arm == "a" else "a"
            item = best_left(arm)
            if item is None:
                break
        taken.add(key(item))
        picks[arm] += 1
        merged.append((item, arm))
    return merged


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``trials`` with its 95 % (Wilson) confidence interval."""

    hits: int
    trials: int

    @property
    def value(self) -> float:
        return self.hits / self.trials if self.trials else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        if not self.trials:
            return 0.0, 1.0
        low, high = binomtest(self.hits, self.trials).proportion_ci(0.95, method="wilson")
        return float(low), float(high)


def rates_differ(first: Rate, second: Rate) -> float:
    """The two-sided p-value of Fisher's exact test that two rates are the same."""
    if not first.trials or not second.trials:
        return 1.0
    table = [[first.hits, first.trials - first.hits], [second.hits, second.trials - second.hits]]
    return float(fisher_exact(table).pvalue)


def preference(wins_a: int, wins_b: int) -> float:
    """The two-sided p-value of the sign test that sessions prefer neither team (ties left out)."""
    if not wins_a + wins_b:
        return 1.0
    return float(binomtest(wins_a, wins_a + wins_b, 0.5).pvalue)


def verdict(p_value: float, better: str, worse: str, what: str) -> str:
    """The plain-words reading of a comparison."""
    if p_value < SIGNIFICANCE:
        return f"{better} does better than {worse} on {what} (p = {p_value:.3f}, significant at 5 %)."
    return f"No significant difference on {what} yet (p = {p_value:.2f}); more sessions may tell."
