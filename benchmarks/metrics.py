"""Ranking metrics the search benchmarks share. NumPy only."""

import numpy as np


def ndcg_at_k(ranked: np.ndarray, all_grades: np.ndarray, k: int = 10) -> float:
    """NDCG@k with gains ``2^grade - 1`` and a log2 discount; the ideal ranks every product."""
    discounts = 1 / np.log2(np.arange(2, k + 2))
    gains = 2.0 ** ranked[:k] - 1
    ideal = 2.0 ** np.sort(all_grades)[::-1][:k] - 1
    ideal_dcg = float(ideal @ discounts[: len(ideal)])
    return float(gains @ discounts[: len(gains)]) / ideal_dcg if ideal_dcg > 0 else 0.0
