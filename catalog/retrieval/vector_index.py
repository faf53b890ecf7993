"""Nearest-neighbour search over product vectors with faiss, exact or approximate.

Small catalogs get an exact inner-product index (``IndexFlatIP``); from
``HNSW_THRESHOLD`` products on, an HNSW graph whose search depth was chosen
for recall@10 ≥ 0.98 against exact search (0.981 at a million products, see
docs/benchmarks.md). Rows are addressed by position (0..n-1); the caller maps
positions to product ids.

A filtered search never returns a product outside the filter. When few
products qualify their vectors are scanned directly (the exact top k);
otherwise faiss searches with a bitmap ``IDSelector`` that only lets
qualifying rows through, and falls back to the scan if that finds too few.
No Django imports.
"""

from pathlib import Path

import faiss
import numpy as np

HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
# Below this many qualifying products a direct scan beats walking the graph.
EXACT_SCAN_LIMIT = 20_000
FILE_NAME = "vectors.faiss"


class VectorIndex:
    """Inner-product search over unit vectors (so scores are cosines)."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index
        self.is_approximate = isinstance(index, faiss.IndexHNSW)
        storage = faiss.downcast_index(index.storage) if self.is_approximate else index
        if index.ntotal == 0:
            self.vectors = np.zeros((0, index.d), dtype=np.float32)
        else:  # a view of faiss's own copy of the vectors: no second copy in memory
            self.vectors = faiss.rev_swig_ptr(storage.get_xb(), index.ntotal * index.d).reshape(
                index.ntotal, index.d
            )

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        return "hnsw" if self.is_approximate else "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto") -> "VectorIndex":
        """Index ``vectors`` (rows of unit length); ``kind`` is ``auto``, ``flat`` or ``hnsw``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if kind == "auto":
            kind = "hnsw" if len(vectors) >= HNSW_THRESHOLD else "flat"
        dimension = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dimension)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            raise ValueError(f"kind must be auto, flat or hnsw, not {kind!r}")
        index.add(vectors)
        return cls(index)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest positions to ``query`` and their scores, best first.

        With ``allowed`` (a boolean mask over positions) only those positions
        can come back, and the result is the exact top ``k`` among them
        whenever at most ``EXACT_SCAN_LIMIT`` qualify.
        """
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        k = min(k, len(self))
        if k <= 0:
            return _empty()
        if allowed is None:
            return self._faiss_search(query, k, None)
        allowed_count = int(np.count_nonzero(allowed))
        if allowed_count == 0:
            return _empty()
        if not self.is_approximate or allowed_count <= EXACT_SCAN_LIMIT:
            return self._scan(query[0], np.flatnonzero(allowed), k)
        bitmap = np.packbits(allowed, bitorder="little")  # must outlive the search: faiss keeps a pointer
        selector = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bitmap))
        # The rarer the qualifying products, the deeper the graph walk must go.
        ef = int(min(1024, max(HNSW_EF_SEARCH, k) * len(self) / allowed_count))
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
        positions, scores = self._faiss_search(query, k, params)
        if len(positions) < min(k, allowed_count):
            return self._scan(query[0], np.flatnonzero(allowed), k)
        return positions, scores

    def _faiss_search(
        self, query: np.ndarray, k: int, params: faiss.SearchParameters | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.is_approximate and params is None:
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        scores, positions = self.index.search(query, k, params=params)
        found = positions[0] >= 0
        return positions[0][found].astype(np.int64), scores[0][found]

    def _scan(self, query: np.ndarray, positions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.vectors[positions] @ query
        return top_k(positions, scores, k)

    def scores_for(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact cosines of ``query`` with the given positions' vectors."""
        return self.vectors[positions] @ np.asarray(query, dtype=np.float32)

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / FILE_NAME))

    @classmethod
    def load(cls, folder: Path) -> "VectorIndex":
        """The saved index, its vectors memory-mapped from the file: several web processes that
        load the same version share those pages instead of each holding a copy."""
        return cls(faiss.read_index(str(folder / FILE_NAME), faiss.IO_FLAG_MMAP_IFC))


def top_k(positions: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(positions, scores)``, best first; ties keep the lower position first."""
    if k <= 0:
        return _empty()
    if len(scores) > k:
        # Keep everything tied with the k-th best, so the tie-break below sees all of them.
        kth_best = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = np.flatnonzero(scores >= kth_best)
        positions, scores = positions[keep], scores[keep]
    order = np.lexsort((positions, -scores))[:k]
    return positions[order].astype(np.int64), scores[order]


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
