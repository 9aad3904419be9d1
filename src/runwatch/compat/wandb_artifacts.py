"""W&B artifacts over runwatch: the files an artifact holds go into the run's artifact manifest.

``wandb.Artifact(name, type)`` collects files (``add_file``, ``add_dir``, ``new_file``) and
references (``add_reference``); logging or using it hashes them (SHA-256, size) and lists each
as one manifest entry ``<name>:v<N>/<file>`` (the Artifacts tab). Versions count per project and
artifact name within this process: the same content keeps its version, new content gets the
next one. Files are recorded where they are, never copied or uploaded.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from runwatch.checksum import sha256_file
from runwatch.compat.wandb_types import Table, Unsupported, safe, warn_once

MAX_FILES = 1_000  # files one artifact (or one add_dir, one log_code) lists; past it: a warning
MAX_ENTRIES = 1_000  # manifest entries a run sends (as the launcher's scanner caps its own)
MAX_NAMES = 1_000  # artifact names whose versions are remembered in this process
_versions: dict[tuple[str, str], list[str]] = {}  # (project, name) -> content digest per version
_known: dict[str, Artifact] = {}  # the latest logged artifact of each name (use_artifact by name)


@dataclass
class ArtifactFile:
    """One file (or reference) of an artifact; ``sha256`` and ``size`` are None for a remote
    reference (it is listed, not read)."""

    name: str
    source: str
    sha256: str | None
    size: int | None
    mtime: float | None
    ref: str | None = None

    @property
    def digest(self) -> str:
        return self.sha256 or self.ref or self.source


def _local(path: Path, name: str, ref: str | None = None) -> ArtifactFile:
    stat = path.stat()
    return ArtifactFile(
        name, str(path.resolve()), sha256_file(path), stat.st_size, stat.st_mtime, ref
    )


class Artifact:
    """``wandb.Artifact(name, type, description=, metadata=)``: a named, versioned set of files."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
        **kwargs: Any,
    ) -> None:
        for key in kwargs:
            warn_once(f"wandb.Artifact({key}=...) is not supported; ignored")
        self.name = str(name)
        self.type = str(type)
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.files: dict[str, ArtifactFile] = {}
        self.version: str | None = None  # "v0", "v1", … once logged or used
        self.aliases: list[str] = []
        self._staging: Path | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.name}:{self.version or 'latest'}"

    @property
    def digest(self) -> str:
        """SHA-256 over the files' names and contents: the same content, the same digest."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(f"{name}\0{self.files[name].digest}\n".encode())
        return h.hexdigest()

    def _add(self, entry: ArtifactFile) -> ArtifactFile:
        if entry.name not in self.files and len(self.files) >= MAX_FILES:
            warn_once(
                f"an artifact lists at most {MAX_FILES} files; {entry.source} and later ones are left out"
            )
            return entry
        self.files[entry.name] = entry
        return entry

    @safe("Artifact.add_file")
    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        is_tmp: bool = False,
        skip_cache: bool | None = None,
        policy: str | None = None,
        overwrite: bool = False,
    ) -> ArtifactFile:
        """Add one file (its name in the artifact defaults to the file's name)."""
        path = Path(local_path)
        return self._add(_local(path, str(name or path.name)))

    @safe("Artifact.add_dir")
    def add_dir(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        skip_cache: bool | None = None,
        policy: str | None = None,
        merge: bool = False,
    ) -> None:
        """Add every file under a directory (names relative to it, under ``name/`` if given)."""
        root = Path(local_path)
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a directory")
        for path in _walk(root, lambda p: True):
            rel = path.relative_to(root).as_posix()
            self._add(_local(path, f"{name}/{rel}" if name else rel))

    @safe("Artifact.add_reference")
    def add_reference(
        self,
        uri: str | Any,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[ArtifactFile]:
        """A ``file://`` reference is hashed like a file (a directory: each file under it);
        any other URI (``s3://``, ``https://``) is listed by its URI, not fetched."""
        uri = str(uri)
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
            if path.is_dir():
                return [
                    self._add(
                        _local(p, f"{name or path.name}/{p.relative_to(path).as_posix()}", uri)
                    )
                    for p in _walk(path, lambda p: True)[: max_objects or MAX_FILES]
                ]
            return [self._add(_local(path, str(name or path.name), uri))]
        warn_once(
            f"artifact references to {parsed.scheme or 'plain'} URIs are listed by URI only "
            "(no size or checksum: runwatch does not fetch them)"
        )
        ref = ArtifactFile(str(name or Path(parsed.path).name or uri), uri, None, None, None, uri)
        return [self._add(ref)]

    @contextmanager
    def new_file(
        self, name: str, mode: str = "x", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a new file into the artifact (kept in a temporary directory of this process)."""
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="runwatch-artifact-"))
        path = self._staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, mode, encoding=encoding) as f:
            yield f
        self._add(_local(path, name))

    @safe("Artifact.add")
    def add(self, obj: Any, name: str) -> ArtifactFile | None:
        """A ``wandb.Table`` is stored as ``<name>.table.json``; other W&B objects are not."""
        if isinstance(obj, Table):
            with self.new_file(f"{name}.table.json", mode="w") as f:
                json.dump({"columns": obj.columns, "data": obj.data}, f, default=str)
            return self.files.get(f"{name}.table.json")
        warn_once(f"Artifact.add of a {type(obj).__name__} is not supported; it is not recorded")
        return None

    def get_entry(self, name: str) -> ArtifactFile:
        """The entry of ``name`` (KeyError when the artifact has no such file)."""
        return self.files[name]

    get_path = get_entry

    @safe("Artifact.download")
    def download(self, root: str | os.PathLike[str] | None = None, **_: Any) -> str:
        """Copy the artifact's local files into ``root`` (default ``./artifacts/<name>:<version>``)."""
        target = Path(root or Path("artifacts") / self.qualified_name)
        for entry in self.files.values():
            if entry.ref is not None and not entry.ref.startswith("file:"):
                warn_once(f"{entry.ref} is a remote reference; not downloaded")
                continue
            dest = target / entry.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if Path(entry.source).resolve() != dest.resolve():
                shutil.copy2(entry.source, dest)
        return str(target)

    def wait(self, timeout: int | None = None) -> Artifact:
        """Nothing to wait for: files are recorded when logged."""
        return self

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to upload: log it with ``run.log_artifact``."""
        warn_once("Artifact.save() uploads nothing under runwatch; use run.log_artifact(artifact)")

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("_"):
            raise AttributeError(name)
        return Unsupported(f"Artifact.{name}")

    def __repr__(self) -> str:
        return f"<Artifact {self.qualified_name} type={self.type} files={len(self.files)}>"


def _walk(root: Path, keep: Callable[[Path], bool]) -> list[Path]:
    """Regular files under ``root``, sorted, at most :data:`MAX_FILES` (links are not followed:
    a link out of the tree is never read)."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            if path.is_file() and not path.is_symlink() and keep(path):
                if len(out) >= MAX_FILES:
                    warn_once(
                        f"{root}: at most {MAX_FILES} files are listed; the rest are left out"
                    )
                    return out
                out.append(path)
    return out


def version_of(project: str, artifact: Artifact) -> str:
    """The artifact's version for its content: the known one, or the next one."""
    digest = artifact.digest
    seen = _versions.get((project, artifact.name))
    if seen is None:
        if len(_versions) >= MAX_NAMES:
            warn_once(
                f"versions are remembered for {MAX_NAMES} artifact names; later ones restart at v0"
            )
            return "v0"
        seen = _versions[(project, artifact.name)] = []
    if digest not in seen:
        seen.append(digest)
    return f"v{seen.index(digest)}"


def known_artifact(ref: str) -> Artifact | None:
    """The artifact this process last logged under the name in ``ref`` (``entity/project/name:v1``)."""
    return _known.get(ref.rsplit("/", 1)[-1].split(":")[0])


def code_files(
    root: Path, include: Callable[[str], bool], exclude: Callable[[str], bool]
) -> list[Path]:
    """What ``log_code`` records: files under ``root`` that ``include`` takes and ``exclude``
    does not, leaving out hidden directories, virtualenvs and ``wandb``/``.runwatch`` output."""
    skip = {"wandb", "venv", ".venv", "node_modules", "__pycache__", "site-packages"}
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in skip)
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            if include(str(path)) and not exclude(str(path)) and path.is_file():
                if len(out) >= MAX_FILES:
                    warn_once(f"log_code records at most {MAX_FILES} files; the rest are left out")
                    return out
                out.append(path)
    return out


class ArtifactLog:
    """A run's artifacts and saved files as manifest entries; ``send`` gets the whole manifest
    on every change (the server keeps the latest one)."""

    def __init__(self, project: str, send: Callable[[list[dict[str, Any]]], None]) -> None:
        self.project = project
        self._send = send
        self._entries: dict[str, dict[str, Any]] = {}  # by path: a file logged again replaces
        self.saved: list[tuple[str, Path]] = []  # wandb.save globs, rescanned at finish

    def record(self, artifact: Artifact, use: str, aliases: list[str]) -> str:
        """List ``artifact``'s files as ``use`` ("output" or "input"); return its version."""
        version = version_of(self.project, artifact)
        artifact.version = version
        artifact.aliases = sorted({"latest", *aliases})
        for f in artifact.files.values():
            path = f"{artifact.name}:{version}/{f.name}"
            known = self._entries.get(path)
            if known is not None:  # this version is listed: its first record stays, aliases add up
                aliases_now = set(known["meta"].get("aliases", [])) | set(artifact.aliases)
                known["meta"]["aliases"] = sorted(aliases_now)
                continue
            meta: dict[str, Any] = {
                "artifact": artifact.name,
                "version": version,
                "type": artifact.type,
                "file": f.name,
                "source": f.source,
                "use": use,
                "aliases": artifact.aliases,
                "digest": artifact.digest,
            }
            if artifact.description:
                meta["description"] = artifact.description
            if artifact.metadata:
                meta["metadata"] = artifact.metadata
            self._put(path, artifact.type, f, meta)
        if not artifact.files:
            warn_once(f"artifact {artifact.name!r} has no files; only its use is recorded")
            self._put(
                f"{artifact.name}:{version}",
                artifact.type,
                None,
                {"artifact": artifact.name, "version": version, "use": use},
            )
        if use == "output" and (artifact.name in _known or len(_known) < MAX_NAMES):
            _known[artifact.name] = artifact
        self._send(list(self._entries.values()))
        return version

    def save_files(self, pattern: str, base: Path) -> int:
        """List the files matching ``pattern`` (relative to ``base``); return how many."""
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        matches = sorted(Path(p) for p in glob.glob(full, recursive=True) if os.path.isfile(p))
        for path in matches[:MAX_FILES]:
            try:
                name = path.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                name = path.name
            self._put(
                f"files/{name}",
                "file",
                _local(path, name),
                {"saved_by": "wandb.save", "source": str(path.resolve())},
            )
        if matches:
            self._send(list(self._entries.values()))
        return len(matches)

    def _put(self, path: str, kind: str, f: ArtifactFile | None, meta: dict[str, Any]) -> None:
        if path not in self._entries and len(self._entries) >= MAX_ENTRIES:
            warn_once(
                f"a run's manifest lists at most {MAX_ENTRIES} files; {path} and later ones are left out"
            )
            return
        entry: dict[str, Any] = {"kind": kind, "path": path}
        if f is not None:
            if f.size is not None:
                entry["size"] = f.size
            if f.mtime is not None:
                entry["mtime"] = f.mtime
            if f.sha256 is not None:
                entry["sha256"] = f.sha256
        entry["meta"] = meta
        self._entries[path] = entry
