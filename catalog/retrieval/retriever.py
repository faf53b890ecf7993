"""``retrieve``: semantic and lexical candidates under exact hard filters, fused into one list.

Each source proposes its ``depth`` best products among those the filters
allow; every candidate of the union then gets both its cosine and its BM25
score, and the two are fused (see ``fusion``). Each ``Hit`` keeps the
per-source scores and ranks so that a reply can say why a product is there.
No Django imports.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .constraints import NO_CONSTRAINTS, Constraints
from .fusion import FUSION_METHODS, convex_fusion, reciprocal_rank_fusion
from .lexical_index import best_matches
from .store import IndexVersion
from .vector_index import top_k

MODES = ("fused", "semantic", "lexical")
DEFAULT_DEPTH = 100
DEFAULT_WEIGHTS = {"semantic": 0.5, "lexical": 0.5}


class QueryEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    """A retrieved product with its fused score and what each source made of it.

    ``semantic`` is the query–product cosine (``None`` in lexical-only mode);
    ``lexical`` the BM25 score (0 when no query word occurs in the product,
    ``None`` in semantic-only mode); ranks are 1-based within each source's
    candidates, ``None`` where that source did not propose the product.
    """

    product_id: int
    score: float
    semantic: float | None
    lexical: float | None
    semantic_rank: int | None
    lexical_rank: int | None
    position: int = -1
    """The product's row in the index version (its vector's row)."""


class Retriever:
    """Retrieval over one index version with one query encoder."""

    def __init__(
        self,
        index: IndexVersion,
        encoder: QueryEncoder,
        *,
        fusion: str = "convex",
        weights: Mapping[str, float] = DEFAULT_WEIGHTS,
        depth: int = DEFAULT_DEPTH,
    ) -> None:
        if fusion not in FUSION_METHODS:
            raise ValueError(f"fusion must be one of {FUSION_METHODS}, not {fusion!r}")
        self.index = index
        self.encoder = encoder
        self.fusion = fusion
        self.weights = weights
        self.depth = depth

    def retrieve(
        self,
        query_text: str,
        constraints: Constraints = NO_CONSTRAINTS,
        k: int = 10,
        *,
        mode: str = "fused",
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The ``k`` best products for ``query_text`` that satisfy every constraint.

        ``mode`` is ``fused`` (default), ``semantic`` or ``lexical``;
        ``query_vector`` skips encoding when the caller already has it.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        index = self.index
        if len(index) == 0 or k <= 0:
            return []
        allowed = index.allowed(constraints)
        if allowed is not None and not allowed.any():
            return []
        depth = max(self.depth, k)

        if mode != "lexical" and query_vector is None:
            query_vector = self.encoder.encode([query_text])[0]
        semantic_positions, _ = (
            index.vectors.search(query_vector, depth, allowed) if mode != "lexical" else _none()
        )
        lexical = index.lexical.match(query_text) if mode != "semantic" else None
        bm25 = lexical.scores if lexical else None
        lexical_positions, _ = best_matches(bm25, depth, allowed)

        if mode == "semantic":
            candidates = semantic_positions
        elif mode == "lexical":
            candidates = lexical_positions
        else:
            candidates = np.union1d(semantic_positions, lexical_positions)
        if len(candidates) == 0:
            return []
        cosines = bm25_scores = None
        if mode != "lexical":
            cosines = index.vectors.scores_for(query_vector, candidates)
        if mode != "semantic":
            bm25_scores = bm25[candidates] if bm25 is not None else np.zeros(len(candidates))
        semantic_ranks = _ranks(candidates, semantic_positions)
        lexical_ranks = _ranks(candidates, lexical_positions)

        if mode == "semantic":
            scores = cosines
        elif mode == "lexical":
            scores = bm25_scores
        elif self.fusion == "convex":
            ceilings = {"lexical": lexical.ceiling} if lexical else None
            scores = convex_fusion({"semantic": cosines, "lexical": bm25_scores}, self.weights, ceilings)
        else:
            ranks = {"semantic": semantic_ranks, "lexical": lexical_ranks}
            scores = reciprocal_rank_fusion(ranks, self.weights)

        order, top_scores = top_k(np.arange(len(candidates)), np.asarray(scores), k)
        return [
            Hit(
                product_id=int(index.ids[candidates[i]]),
                score=float(score),
                semantic=None if cosines is None else float(cosines[i]),
                lexical=None if bm25_scores is None else float(bm25_scores[i]),
                semantic_rank=int(semantic_ranks[i]) or None,
                lexical_rank=int(lexical_ranks[i]) or None,
                position=int(candidates[i]),
            )
            for i, score in zip(order, top_scores, strict=True)
        ]


def _ranks(candidates: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Each candidate's 1-based rank in ``ranked``, 0 where absent."""
    rank_of = {int(position): rank for rank, position in enumerate(ranked, start=1)}
    return np.array([rank_of.get(int(position), 0) for position in candidates], dtype=np.int64)


def _none() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
