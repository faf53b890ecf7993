"""Versioned index artifacts in ``DATA_DIR/index`` and the process-wide live copy.

Layout::

    index/
      ACTIVE                 the active version's name (replaced atomically)
      versions/<version>/    manifest.json, ids.npy, vectors.faiss, lexical/, filters.*
      staging/<random>/      a version being written

A version is written in ``staging/``, flushed to disk, renamed into
``versions/`` and only then named in ``ACTIVE`` by an atomic ``os.replace``.
A reader therefore only ever opens complete versions, and a build that dies
half-way leaves the previous version active. ``LiveIndex`` checks ``ACTIVE``
on each use (one ``stat``) and loads a new version when another process
published one, so web processes follow rebuilds without a restart.
No Django imports.
"""

import fcntl
import functools
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .filters import FilterRow, FilterTable
from .lexical_index import LexicalIndex
from .vector_index import VectorIndex

logger = logging.getLogger(__name__)

KEEP_VERSIONS = 3


@dataclass
class IndexVersion:
    """One loaded index version: product ids by position and the three indexes over them."""

    name: str
    manifest: dict[str, Any]
    ids: np.ndarray
    vectors: VectorIndex
    lexical: LexicalIndex
    filters: FilterTable

    def __len__(self) -> int:
        return len(self.ids)

    def positions_of(self, product_ids: Sequence[int]) -> np.ndarray:
        """Positions of the given product ids (ids not in this version are left out)."""
        lookup = self._positions
        return np.array([lookup[i] for i in product_ids if i in lookup], dtype=np.int64)

    @functools.cached_property
    def _positions(self) -> dict[int, int]:
        return {int(product_id): position for position, product_id in enumerate(self.ids)}


class IndexStore:
    """The versions under ``root`` and which one is active."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.staging_dir = self.root / "staging"
        self.active_file = self.root / "ACTIVE"

    def active_version(self) -> str | None:
        try:
            return self.active_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def versions(self) -> list[str]:
        """Published versions, oldest first."""
        if not self.versions_dir.exists():
            return []
        return sorted(path.name for path in self.versions_dir.iterdir() if path.is_dir())

    def manifest(self, version: str | None = None) -> dict[str, Any] | None:
        version = version or self.active_version()
        if version is None:
            return None
        return json.loads((self.versions_dir / version / "manifest.json").read_text())

    def load(self, version: str | None = None) -> IndexVersion | None:
        """The given (default: active) version, or ``None`` if none was published."""
        version = version or self.active_version()
        if version is None:
            return None
        folder = self.versions_dir / version
        return IndexVersion(
            name=version,
            manifest=json.loads((folder / "manifest.json").read_text()),
            ids=np.load(folder / "ids.npy"),
            vectors=VectorIndex.load(folder),
            lexical=LexicalIndex.load(folder),
            filters=FilterTable.load(folder),
        )

    @contextmanager
    def publishing(self) -> Iterator[None]:
        """Held while a version is built and published: one publisher at a time, across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".publish.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def publish(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        texts: Sequence[str],
        filter_rows: Sequence[FilterRow],
        metadata: Mapping[str, Any] | None = None,
        kind: str = "auto",
    ) -> str:
        """Build a version from row-aligned inputs, make it active, return its name.

        Call inside ``publishing()`` when other processes may publish too.
        """
        if not len(ids) == len(vectors) == len(texts) == len(filter_rows):
            raise ValueError("ids, vectors, texts and filter rows must have one entry per product")
        started = time.perf_counter()
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        version = self._new_version_name()
        staging = self.staging_dir / uuid.uuid4().hex
        staging.mkdir()
        try:
            vector_index = VectorIndex.build(vectors, kind=kind)
            vector_index.save(staging)
            LexicalIndex.build(texts).save(staging)
            FilterTable.build(filter_rows).save(staging)
            np.save(staging / "ids.npy", np.asarray(ids, dtype=np.int64))
            manifest = {
                **(metadata or {}),
                "version": version,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "products": len(ids),
                "kind": vector_index.kind,
                "dimension": int(vectors.shape[1]) if len(vectors) else None,
                "build_seconds": round(time.perf_counter() - started, 3),
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
            _fsync_tree(staging)
            os.rename(staging, self.versions_dir / version)
            _fsync_dir(self.versions_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._activate(version)
        self._prune()
        logger.info("published index version %s with %d products", version, len(ids))
        return version

    def activate(self, version: str) -> None:
        """Make an already published version active again (a rollback)."""
        if version not in self.versions():
            raise LookupError(f"no index version {version!r}")
        self._activate(version)

    def _activate(self, version: str) -> None:
        temporary = self.root / f".ACTIVE.{uuid.uuid4().hex}"
        with temporary.open("w") as handle:
            handle.write(version)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.active_file)
        _fsync_dir(self.root)

    def _new_version_name(self) -> str:
        now = time.time()
        name = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}"
        existing = self.versions()
        while existing and name <= existing[-1]:  # clocks can step back; names must sort in order
            name = existing[-1] + "-1"
        return name

    def _prune(self) -> None:
        """Drop all but the newest versions (never the active one) and abandoned staging folders."""
        active = self.active_version()
        for version in self.versions()[:-KEEP_VERSIONS]:
            if version != active:
                shutil.rmtree(self.versions_dir / version, ignore_errors=True)
        for folder in self.staging_dir.iterdir():
            if time.time() - folder.stat().st_mtime > 24 * 3600:
                shutil.rmtree(folder, ignore_errors=True)


class LiveIndex:
    """The active version of a store, kept loaded and swapped when a newer one is published."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._version: IndexVersion | None = None

    def get(self) -> IndexVersion | None:
        """The active version, loading it first if it changed since the last call."""
        stamp = self._active_stamp()
        if stamp == self._stamp:
            return self._version
        with self._lock:
            if stamp != self._stamp:
                self._version = self._load_active()
                self._stamp = stamp
            return self._version

    def _active_stamp(self) -> tuple[int, int] | None:
        try:
            status = self.store.active_file.stat()
        except FileNotFoundError:
            return None
        # os.replace gives ACTIVE a new inode on every publish.
        return status.st_ino, status.st_mtime_ns

    def _load_active(self) -> IndexVersion | None:
        for _ in range(3):
            try:
                return self.store.load()
            except FileNotFoundError:  # pruned between reading ACTIVE and loading; read again
                time.sleep(0.05)
        return self.store.load()


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        else:
            _fsync_dir(path)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
