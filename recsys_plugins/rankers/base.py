"""What every ranker takes and returns."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Products a ranker may order: ids and, row for row, their unit vectors."""

    ids: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.vectors):
            raise ValueError("ids and vectors must have the same length")

    def __len__(self) -> int:
        return len(self.ids)


RankedList = list[tuple[int, float]]
