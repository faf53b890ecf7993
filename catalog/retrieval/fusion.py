"""Fusing the semantic and lexical rankings into one.

Two ways, both measured in ``benchmarks/retrieval_quality.py``:

- ``convex`` (the default): a weighted sum of normalised scores. Cosines are
  min–max normalised over the candidates; BM25 scores are divided by the
  query's ceiling (the best score any product could reach, see
  ``LexicalMatch``), a "theoretical maximum" in the sense of Bruch et al.,
  "An Analysis of Fusion Functions for Hybrid Retrieval" (2023), who found
  convex combination beats RRF when every candidate's scores are known, as
  they are here. Min–max on BM25 would stretch a weak match of one common
  word to 1 whenever nothing matches better.
- ``rrf``: reciprocal-rank fusion, ``sum(w / (c + rank))`` (Cormack et al., 2009);
  it ignores score sizes and needs no normalisation.

No Django imports.
"""

from collections.abc import Mapping

import numpy as np

FUSION_METHODS = ("convex", "rrf")
RRF_C = 60


def convex_fusion(
    scores: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    ceilings: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Weighted sum of per-source scores, each normalised to [0, 1].

    ``scores[source]`` holds one score per candidate (the same candidates in
    the same order for every source). A source with a known ``ceilings[source]``
    is divided by it; the others are min–max normalised, and one whose scores
    are all equal carries no preference and adds nothing.
    """
    ceilings = ceilings or {}
    fused = None
    for source, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if source in ceilings:
            ceiling = ceilings[source]
            normalised = np.clip(values / ceiling, 0, 1) if ceiling > 0 else np.zeros_like(values)
        else:
            spread = float(values.max() - values.min()) if len(values) else 0.0
            normalised = (values - values.min()) / spread if spread > 0 else np.zeros_like(values)
        term = weights.get(source, 1.0) * normalised
        fused = term if fused is None else fused + term
    return fused if fused is not None else np.zeros(0)


def reciprocal_rank_fusion(
    ranks: Mapping[str, np.ndarray], weights: Mapping[str, float], c: int = RRF_C
) -> np.ndarray:
    """``sum(weight / (c + rank))`` over the sources that ranked a candidate.

    ``ranks[source]`` holds each candidate's 1-based rank in that source, or 0
    where the source did not return it.
    """
    fused = None
    for source, values in ranks.items():
        term = np.where(values > 0, weights.get(source, 1.0) / (c + np.maximum(values, 1)), 0.0)
        fused = term if fused is None else fused + term
    return fused if fused is not None else np.zeros(0)
