"""Collaborative filtering on implicit feedback with the ``implicit`` library: ALS or item-kNN,
fold-in for shoppers the model has not seen, and popularity for shoppers with no history."""

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import implicit.gpu
import numpy as np
from implicit.als import AlternatingLeastSquares
from implicit.cpu.als import AlternatingLeastSquares as CpuAlternatingLeastSquares
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from scipy import sparse
from threadpoolctl import threadpool_limits

from recsys_plugins.hookspecs import hookimpl
from recsys_plugins.interactions import Interaction, InteractionMatrix

from .base import Candidates, RankerInfo, RankingContext

Algorithm = Literal["als", "itemknn"]
NAME = "cf"
POPULARITY = "popularity"
BOUGHT_ACTIONS = frozenset({"add_to_cart", "purchase"})
TITLE_CHARS = 40
"""Longest product title quoted in an explanation."""


@dataclass(frozen=True)
class CFConfig:
    """Hyper-parameters; the defaults are the ones tuned on MovieLens-100k (docs/benchmarks.md)."""

    algorithm: Algorithm = "als"
    factors: int = 32
    regularization: float = 30.0
    alpha: float = 4.0
    iterations: int = 15
    neighbours: int = 100
    seed: int = 0


class Popularity:
    """How many shoppers interacted with each item: the cold-start fallback and the baseline."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.float32)

    @classmethod
    def fit(cls, interactions: InteractionMatrix) -> "Popularity":
        return cls(np.asarray((interactions.matrix > 0).sum(axis=0), dtype=np.float32).ravel())

    def score_rows(self, user_rows: sparse.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """The same popularity for every row: ``len(rows) × items``."""
        return np.broadcast_to(self.counts, (user_rows.shape[0], len(self.counts))).copy()


class CFModel:
    """A trained collaborative filter over the items of an :class:`InteractionMatrix`."""

    def __init__(
        self,
        config: CFConfig,
        items: Sequence[int],
        users: Sequence[str],
        recommender: CpuAlternatingLeastSquares | CosineRecommender,
        popularity: Popularity,
    ) -> None:
        self.config = config
        self.items = tuple(items)
        self.users = tuple(users)
        self.recommender = recommender
        self.popularity = popularity
        self.item_positions = {item: position for position, item in enumerate(self.items)}
        self.user_positions = {user: position for position, user in enumerate(self.users)}

    @classmethod
    def fit(
        cls, interactions: InteractionMatrix, config: CFConfig = CFConfig(), use_gpu: bool = False
    ) -> "CFModel":
        """Train on ``interactions``; ``use_gpu`` needs implicit's CUDA build and is ignored without it."""
        # implicit runs its own threads: BLAS threads on top slow it down (and it warns).
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ParameterWarning)
            if config.algorithm == "als":
                recommender = AlternatingLeastSquares(
                    factors=config.factors,
                    regularization=config.regularization,
                    alpha=config.alpha,
                    iterations=config.iterations,
                    random_state=config.seed,
                    use_gpu=use_gpu and implicit.gpu.HAS_CUDA,
                )
                recommender.fit(interactions.matrix, show_progress=False)
                if not isinstance(recommender, CpuAlternatingLeastSquares):
                    recommender = recommender.to_cpu()
            elif config.algorithm == "itemknn":
                recommender = CosineRecommender(K=config.neighbours)
                recommender.fit(interactions.matrix, show_progress=False)
            else:
                raise ValueError(f"unknown algorithm {config.algorithm!r}; use 'als' or 'itemknn'")
        return cls(config, interactions.items, interactions.users, recommender, Popularity.fit(interactions))

    def row_for(self, history: Mapping[int, float]) -> sparse.csr_matrix:
        """A 1 × items row of ``{item: weight}``; items the model does not know are dropped."""
        known = [
            (self.item_positions[item], weight)
            for item, weight in history.items()
            if item in self.item_positions
        ]
        return sparse.csr_matrix(
            ([weight for _, weight in known], ([0] * len(known), [column for column, _ in known])),
            shape=(1, len(self.items)),
            dtype=np.float32,
        )

    def score_rows(self, user_rows: sparse.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
        """Scores of every item for each row of ``user_rows`` (``len(rows) × items``).

        ``users`` gives the trained row of each shopper the model has seen; without it every
        row is folded in from its interactions, which needs no retraining.
        """
        if isinstance(self.recommender, CosineRecommender):
            return np.asarray((user_rows @ self.recommender.similarity).todense(), dtype=np.float32)
        item_factors = self.recommender.item_factors
        if users is not None:
            return self.recommender.user_factors[users] @ item_factors.T
        folded = np.vstack(
            [self.recommender.recalculate_user(0, user_rows[row]) for row in range(user_rows.shape[0])]
        )
        return folded @ item_factors.T

    def score(
        self, items: Sequence[int], history: Mapping[int, float], user: str | None = None
    ) -> np.ndarray:
        """Scores of ``items`` for a shopper with ``history`` (``{item: weight}``).

        A shopper the model was trained on uses their trained factors; anyone else is folded in
        from ``history``; with no usable history it is popularity. Unknown items score 0.
        """
        row = self.row_for(history)
        if user in self.user_positions and isinstance(self.recommender, CpuAlternatingLeastSquares):
            scores = self.score_rows(row, np.asarray([self.user_positions[user]]))[0]
        elif row.nnz:
            scores = self.score_rows(row)[0]
        else:
            scores = self.popularity.counts
        positions = [self.item_positions.get(item, -1) for item in items]
        return np.asarray([scores[p] if p >= 0 else 0.0 for p in positions], dtype=np.float32)

    def because_of(self, item: int, history: Mapping[int, float]) -> int | None:
        """The item in ``history`` most like ``item``, to explain a recommendation; ``None`` if none is."""
        if item not in self.item_positions:
            return None
        known = [other for other in history if other in self.item_positions and other != item]
        if not known:
            return None
        target = self.item_positions[item]
        columns = [self.item_positions[other] for other in known]
        if isinstance(self.recommender, CosineRecommender):
            similarity = np.asarray(self.recommender.similarity[target, columns].todense()).ravel()
        else:
            factors = self.recommender.item_factors
            norms = np.linalg.norm(factors[columns], axis=1) * np.linalg.norm(factors[target]) + 1e-9
            similarity = factors[columns] @ factors[target] / norms
        best = int(np.argmax(similarity))
        return known[best] if similarity[best] > 0 else None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config)))
        np.save(directory / "items.npy", np.asarray(self.items, dtype=np.int64))
        np.save(directory / "users.npy", np.asarray(self.users, dtype=str))
        np.save(directory / "popularity.npy", self.popularity.counts)
        self.recommender.save(str(directory / "model.npz"))

    @classmethod
    def load(cls, directory: Path) -> "CFModel":
        config = CFConfig(**json.loads((directory / "config.json").read_text()))
        kind = CpuAlternatingLeastSquares if config.algorithm == "als" else CosineRecommender
        return cls(
            config,
            np.load(directory / "items.npy").tolist(),
            np.load(directory / "users.npy").tolist(),
            kind.load(str(directory / "model.npz")),
            Popularity(np.load(directory / "popularity.npy")),
        )


class CFRanker:
    """The built-in ``cf`` and ``popularity`` plugin: trained by ``aisle_fit``, loaded from
    ``context.artifacts / "cf"``, and asking for a new run after ``refit_after`` feedback events."""

    def __init__(self, config: CFConfig = CFConfig(), refit_after: int = 50) -> None:
        self.config = config
        self.refit_after = refit_after
        self.pending_events = 0
        self._loaded: tuple[Path, CFModel] | None = None

    def model(self, context: RankingContext) -> CFModel | None:
        """The trained model of the active artifacts, loaded once per version."""
        if context.artifacts is None or not (context.artifacts / NAME / "config.json").exists():
            return None
        folder = context.artifacts / NAME
        if self._loaded is None or self._loaded[0] != folder:
            self._loaded = (folder, CFModel.load(folder))
        return self._loaded[1]

    @hookimpl
    def aisle_register_rankers(self) -> list[RankerInfo]:
        return [
            RankerInfo(NAME, "Collaborative filtering on shopper feedback (implicit ALS or item-kNN).", True),
            RankerInfo(POPULARITY, "How many shoppers interacted with each product.", True),
        ]

    @hookimpl
    def aisle_score_candidates(
        self, ranker: str, candidates: Candidates, context: RankingContext
    ) -> np.ndarray | None:
        if ranker not in (NAME, POPULARITY):
            return None
        model = self.model(context)
        if model is None:
            return np.zeros(len(candidates), dtype=np.float32)
        ids = [int(product_id) for product_id in candidates.ids]
        if ranker == POPULARITY:
            counts = model.popularity.counts
            return np.asarray(
                [counts[model.item_positions[i]] if i in model.item_positions else 0.0 for i in ids]
            )
        scores = model.score(ids, context.history_weights(), context.user)
        bought = {event.item for event in context.events if event.action in BOUGHT_ACTIONS}
        if bought and len(scores):
            scores[[position for position, i in enumerate(ids) if i in bought]] = scores.min() - 1
        return scores

    @hookimpl
    def aisle_explain_score(self, ranker: str, product_id: int, context: RankingContext) -> str | None:
        if ranker == POPULARITY:
            return "popular with shoppers"
        if ranker != NAME or (model := self.model(context)) is None:
            return None
        source = model.because_of(product_id, context.history_weights())
        if source is None:
            return "popular with shoppers"
        return f"liked by shoppers who liked {_shorten(context.titles.get(source, 'what you liked'))}"

    @hookimpl
    def aisle_fit(self, interactions: InteractionMatrix, directory: Path, use_gpu: bool) -> dict:
        began = time.perf_counter()
        CFModel.fit(interactions, self.config, use_gpu).save(directory / NAME)
        self.pending_events = 0
        return {
            "ranker": NAME,
            "algorithm": self.config.algorithm,
            "users": len(interactions.users),
            "items": len(interactions.items),
            "interactions": int(interactions.matrix.nnz),
            "seconds": round(time.perf_counter() - began, 3),
        }

    @hookimpl
    def aisle_feedback_event(self, event: Interaction) -> bool:
        del event  # every event counts the same towards the next run
        self.pending_events += 1
        if self.pending_events < self.refit_after:
            return False
        self.pending_events = 0
        return True


def _shorten(title: str, limit: int = TITLE_CHARS) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"
