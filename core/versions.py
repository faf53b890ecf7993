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

Files can still be damaged later (a full disk, a bad copy, a hand edit): the
manifest lists every file with its size and SHA-256. ``LiveVersion`` verifies
a version once when it loads it and refuses a damaged one, serving the newest
earlier good version instead; ``check`` compares sizes only, cheap enough for
every health probe. No Django imports.
"""

import fcntl
import hashlib
import json
import logging
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
MANIFEST = "manifest.json"
Loaded = TypeVar("Loaded")

logger = logging.getLogger(__name__)


class DamagedVersion(Exception):
    """A published version whose manifest or files are not what was written."""

    def __init__(self, version: str, problem: str) -> None:
        super().__init__(f"version {version} is damaged: {problem}")
        self.version = version
        self.problem = problem


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
        """The given (default: active) version's manifest, or ``None`` if there is none.

        Raises ``FileNotFoundError`` when the version's folder is gone (pruned) and
        ``DamagedVersion`` when its manifest is missing or unreadable.
        """
        version = version or self.active_version()
        if version is None:
            return None
        folder = self.folder(version)
        if not folder.is_dir():
            raise FileNotFoundError(f"no version {version!r} in {self.root}")
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as problem:
            raise DamagedVersion(version, f"{MANIFEST} cannot be read ({problem})") from None
        if not isinstance(manifest, dict):
            raise DamagedVersion(version, f"{MANIFEST} is not an object")
        return manifest

    def check(self, version: str, checksums: bool = True) -> dict[str, Any]:
        """The version's manifest once every file it lists is there with its size and, with
        ``checksums``, its SHA-256; raises ``DamagedVersion`` otherwise.

        Versions published before manifests listed their files are taken as they are.
        """
        manifest = self.manifest(version)
        folder = self.folder(version)
        for name, expected in manifest.get("files", {}).items():
            path = folder / name
            if not path.is_file():
                raise DamagedVersion(version, f"{name} is missing")
            size = path.stat().st_size
            if size != expected["bytes"]:
                raise DamagedVersion(version, f"{name} has {size} bytes, {expected['bytes']} were written")
            if checksums and _sha256(path) != expected["sha256"]:
                raise DamagedVersion(version, f"{name} does not match its checksum")
        return manifest

    def check_serving(self, served: str | None) -> None:
        """Raise ``DamagedVersion`` unless ``served`` is the active version and its files still
        have their sizes (no checksums: cheap enough for every health probe)."""
        active = self.active_version()
        if active is None:
            return
        if served != active:
            raise DamagedVersion(active, f"it could not be loaded; {served or 'nothing'} is served instead")
        self.check(active, checksums=False)

    def roll_back(self, version: str | None = None) -> str:
        """Activate ``version``, or the newest good one before the active one; returns its name.

        Raises ``LookupError`` when there is no such version or it is damaged. Call inside
        ``publishing()`` when other processes may publish too.
        """
        if version is None:
            version = next(self._good_versions_before(self.active_version()), None)
            if version is None:
                raise LookupError(f"no earlier good version to roll back to in {self.root}")
        elif version not in self.versions():
            raise LookupError(f"no version {version!r} in {self.root}")
        try:
            self.check(version)
        except DamagedVersion as problem:
            raise LookupError(str(problem)) from None
        self._activate(version)
        return version

    def _good_versions_before(self, version: str | None) -> Iterator[str]:
        """Versions published before ``version`` (all without one) that pass ``check``, newest first."""
        for older in reversed(self.versions()):
            if version is not None and older >= version:
                continue
            try:
                self.check(older)
            except (DamagedVersion, FileNotFoundError):
                continue
            yield older

    @contextmanager
    def publishing(self, blocking: bool = True) -> Iterator[bool]:
        """Held while a version is built and published: one publisher at a time, across processes.

        Yields whether the lock is held: always with ``blocking``; without it, ``False`` when
        another process holds it (the lock dies with its process, so a held lock means a live one).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".publish.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
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

        The manifest gets ``version``, ``created_at`` and ``files`` (each file's size and
        SHA-256) added. With ``activate=False`` the version is kept but the active one stays.
        """
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        version = self._new_version_name()
        try:
            full_manifest = {
                **manifest,
                "version": version,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": _file_digests(staged),
            }
            (staged / MANIFEST).write_text(json.dumps(full_manifest, indent=2))
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
    """The active version of a store, kept loaded and swapped when another one is activated.

    A version is verified against its manifest's checksums when loaded. When the active
    one is damaged or fails to load, an error is logged and the newest earlier good
    version is served instead; the active one is tried again once ``ACTIVE`` changes.
    """

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
                return self._verified_load(version)
            except FileNotFoundError:
                if self.store.folder(version).is_dir() or attempt == 3:
                    return self._fall_back(version, "a file is missing")
                time.sleep(0.05)  # pruned between reading ACTIVE and loading; read again
            except DamagedVersion as damage:
                return self._fall_back(version, damage.problem)
            except Exception as problem:
                return self._fall_back(version, f"{type(problem).__name__}: {problem}")
        return None

    def _verified_load(self, version: str) -> Loaded:
        self.store.check(version)
        return self._load(version)

    def _fall_back(self, version: str, problem: str) -> Loaded | None:
        """The newest earlier version that loads, after saying why ``version`` was refused."""
        for older in self.store._good_versions_before(version):
            try:
                loaded = self._load(older)
            except Exception:
                continue
            logger.error(
                "refusing version %s of %s: %s; serving %s instead", version, self.store.root, problem, older
            )
            return loaded
        logger.error(
            "refusing version %s of %s: %s; no earlier version is good", version, self.store.root, problem
        )
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _file_digests(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"bytes", "sha256"}}`` of every file under ``folder`` but the manifest."""
    return {
        path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path != folder / MANIFEST
    }


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
