"""Versioned artifact folders: the search index and the parser model share this layout.

Layout::

    <root>/
      ACTIVE                 the active version's name (replaced atomically)
      versions/<version>/    manifest.json plus the artifact's files
      staging/<random>/      a version being written

A version is written in ``staging/``, flushed to disk, renamed into
``versions/`` and only then named in ``ACTIVE`` by an atomic ``os.replace``.
A reader therefore only ever opens complete versions, and a build that dies
half-way leaves the previous version active. ``LiveVersion`` checks ``ACTIVE``
on each use (one ``stat``) and loads a new version when another process
activated one, so web processes follow rebuilds without a restart.
No Django imports.
"""

import fcntl
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

KEEP_VERSIONS = 3
Loaded = TypeVar("Loaded")


class VersionStore:
    """The versions under ``root`` and which one is active."""

    keep = KEEP_VERSIONS

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

    def folder(self, version: str) -> Path:
        return self.versions_dir / version

    def manifest(self, version: str | None = None) -> dict[str, Any] | None:
        """The given (default: active) version's manifest, or ``None`` if there is none."""
        version = version or self.active_version()
        if version is None:
            return None
        return json.loads((self.folder(version) / "manifest.json").read_text())

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

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging folder to write a version into; removed if the block fails."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        folder = self.staging_dir / uuid.uuid4().hex
        folder.mkdir()
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def commit(self, staged: Path, manifest: Mapping[str, Any], activate: bool = True) -> str:
        """Turn a filled staging folder into a published version; returns its name.

        The manifest gets ``version`` and ``created_at`` added. With
        ``activate=False`` the version is kept but the active one stays.
        """
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        version = self._new_version_name()
        try:
            full_manifest = {
                **manifest,
                "version": version,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (staged / "manifest.json").write_text(json.dumps(full_manifest, indent=2))
            _fsync_tree(staged)
            os.rename(staged, self.folder(version))
            _fsync_dir(self.versions_dir)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        if activate:
            self._activate(version)
        self._prune()
        return version

    def activate(self, version: str) -> None:
        """Make an already published version active (a rollback, or a kept version)."""
        if version not in self.versions():
            raise LookupError(f"no version {version!r} in {self.root}")
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
        for version in self.versions()[: -self.keep]:
            if version != active:
                shutil.rmtree(self.folder(version), ignore_errors=True)
        if self.staging_dir.exists():
            for folder in self.staging_dir.iterdir():
                if time.time() - folder.stat().st_mtime > 24 * 3600:
                    shutil.rmtree(folder, ignore_errors=True)


class LiveVersion(Generic[Loaded]):
    """The active version of a store, kept loaded and swapped when another one is activated."""

    def __init__(self, store: VersionStore, load: Callable[[str], Loaded]) -> None:
        self.store = store
        self._load = load
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._loaded: Loaded | None = None

    def get(self) -> Loaded | None:
        """The active version, loading it first if it changed since the last call."""
        stamp = self._active_stamp()
        if stamp == self._stamp:
            return self._loaded
        with self._lock:
            if stamp != self._stamp:
                self._loaded = self._load_active()
                self._stamp = stamp
            return self._loaded

    def _active_stamp(self) -> tuple[int, int] | None:
        try:
            status = self.store.active_file.stat()
        except FileNotFoundError:
            return None
        # os.replace gives ACTIVE a new inode on every activation.
        return status.st_ino, status.st_mtime_ns

    def _load_active(self) -> Loaded | None:
        for attempt in range(4):
            version = self.store.active_version()
            if version is None:
                return None
            try:
                return self._load(version)
            except FileNotFoundError:  # pruned between reading ACTIVE and loading; read again
                if attempt == 3:
                    raise
                time.sleep(0.05)
        return None


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
