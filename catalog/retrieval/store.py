"""Versioned search index artifacts in ``DATA_DIR/index`` and the process-wide live copy.

A version folder (see ``core.versions`` for the layout and its guarantees)
holds manifest.json, ids.npy, vectors.faiss, lexical/ and filters.*.
No Django imports.
"""

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.versions import LiveVersion, VersionStore

from .constraints import Constraints
from .filters import FilterRow, FilterTable
from .lexical_index import LexicalIndex
from .product_types import TextEncoder, TypeRow, TypeVocabulary
from .vector_index import VectorIndex

logger = logging.getLogger(__name__)
INDEX_FORMAT = 3
"""The layout of a version folder; 2 added product types, currencies and measures, 3 rating counts."""


@dataclass
class IndexVersion:
    """One loaded index version: product ids by position and the three indexes over them."""

    name: str
    manifest: dict[str, Any]
    ids: np.ndarray
    vectors: VectorIndex
    lexical: LexicalIndex
    filters: FilterTable
    types: TypeVocabulary | None = None
    """The catalog's product types (``None`` in versions built before types were indexed)."""

    def __len__(self) -> int:
        return len(self.ids)

    def allowed(self, constraints: Constraints) -> np.ndarray | None:
        """Which positions meet ``constraints`` (``None`` when nothing is constrained): the filter
        table's fields, the product types and each feature in the product's indexed text."""
        masks = [self.filters.mask(constraints, self.ids)]
        if constraints.types:
            masks.append(
                self.types.products_of(constraints.types) if self.types else np.zeros(len(self), bool)
            )
        masks += [self.lexical.containing(feature) for feature in constraints.features]
        mask = None
        for part in masks:
            if part is not None:
                mask = part if mask is None else mask & part
        return mask

    def facts(self, positions: np.ndarray) -> dict[str, Any]:
        """What rankers may know of the products at ``positions``: the filter table's columns and
        each product's type (``ProductFacts``' fields)."""
        facts = self.filters.facts(positions)
        if self.types is None:
            return facts | {"product_type": ("",) * len(positions)}
        labels = [kind.label for kind in self.types.types]
        codes = self.types.codes[np.asarray(positions, dtype=np.int64)]
        return facts | {"product_type": tuple(labels[code] if code >= 0 else "" for code in codes)}

    def positions_of(self, product_ids: Sequence[int]) -> np.ndarray:
        """Positions of the given product ids (ids not in this version are left out)."""
        lookup = self._positions
        return np.array([lookup[i] for i in product_ids if i in lookup], dtype=np.int64)

    def vectors_of(self, product_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
        """The given ids that are in this version, in order, and their unit vectors row for row."""
        lookup = self._positions
        found = [int(i) for i in product_ids if i in lookup]
        return found, self.vectors.vectors[[lookup[i] for i in found]]

    @functools.cached_property
    def _positions(self) -> dict[int, int]:
        return {int(product_id): position for position, product_id in enumerate(self.ids)}


class IndexStore(VersionStore):
    """The index versions under ``root`` and which one is active."""

    def load(self, version: str | None = None) -> IndexVersion | None:
        """The given (default: active) version, or ``None`` if none was published."""
        version = version or self.active_version()
        if version is None:
            return None
        folder = self.folder(version)
        vectors = VectorIndex.load(folder)
        return IndexVersion(
            name=version,
            manifest=self.manifest(version),
            ids=np.load(folder / "ids.npy"),
            vectors=vectors,
            lexical=LexicalIndex.load(folder),
            filters=FilterTable.load(folder),
            types=(
                TypeVocabulary.load(folder, product_vectors=vectors.vectors)
                if TypeVocabulary.stored_in(folder)
                else None
            ),
        )

    def publish(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        texts: Sequence[str],
        filter_rows: Sequence[FilterRow],
        metadata: Mapping[str, Any] | None = None,
        kind: str = "auto",
        type_rows: Sequence[TypeRow] = (),
        encoder: TextEncoder | None = None,
    ) -> str:
        """Build a version from row-aligned inputs, make it active, return its name.

        ``type_rows`` (row-aligned too) teach the version the catalog's product types, with
        ``encoder`` for their names. Call inside ``publishing()`` when other processes may
        publish too.
        """
        if not len(ids) == len(vectors) == len(texts) == len(filter_rows):
            raise ValueError("ids, vectors, texts and filter rows must have one entry per product")
        started = time.perf_counter()
        with self.staging() as staging:
            vector_index = VectorIndex.build(vectors, kind=kind)
            vector_index.save(staging)
            LexicalIndex.build(texts).save(staging)
            FilterTable.build(filter_rows).save(staging)
            if type_rows:
                TypeVocabulary.build(type_rows, encoder=encoder, vectors=vectors).save(staging)
            np.save(staging / "ids.npy", np.asarray(ids, dtype=np.int64))
            manifest = {
                **(metadata or {}),
                "products": len(ids),
                "kind": vector_index.kind,
                "dimension": int(vectors.shape[1]) if len(vectors) else None,
                "build_seconds": round(time.perf_counter() - started, 3),
            }
            version = self.commit(staging, manifest)
        logger.info("published index version %s with %d products", version, len(ids))
        return version


class LiveIndex(LiveVersion[IndexVersion]):
    """The active index version, kept loaded and swapped when a newer one is published."""

    def __init__(self, store: IndexStore) -> None:
        super().__init__(store, store.load)
