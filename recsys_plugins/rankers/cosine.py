"""Cosine ranker: similarity between the query and each candidate's embedding."""

import numpy as np

from .base import Candidates, RankedList


class CosineRanker:
    name = "cosine"

    def rank(self, query_vector: np.ndarray, candidates: Candidates, limit: int) -> RankedList:
        """The ``limit`` best candidates as ``(product_id, cosine)``, best first.

        Vectors are unit length, so the inner product is the cosine. Ties keep
        candidate order, so equal input gives equal output.
        """
        if len(candidates) == 0 or limit <= 0:
            return []
        scores = candidates.vectors @ np.asarray(query_vector, dtype=np.float32)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.lexsort((top, -scores[top]))]
        return [(int(candidates.ids[i]), float(scores[i])) for i in top]
