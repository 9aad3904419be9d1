"""The artifact scanner: what a run directory holds, written to ``artifacts.json`` and imported.

It finds TensorBoard event files, offline W&B runs, checkpoints (with their SHA-256) and the
entries of an optional worker-written ``artifacts_manifest.json`` (each validated: a bad entry
is reported, never fatal). Scalars of event files and W&B history are imported into the run's
metric series incrementally, and the event files' images and histograms into its media (see
``tensorboard`` and ``wandb_offline``).
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

from runwatch.checksum import sha256_file
from runwatch.launcher.tensorboard import EventFileTail
from runwatch.launcher.wandb_history import object_prefixes
from runwatch.launcher.wandb_offline import WandbRunTail, WandbUnavailable
from runwatch.launcher.worker_manifest import is_link, read_items, wandb_link
from runwatch.sdk.run import Run

MANIFEST = "artifacts.json"
WORKER_MANIFEST = "artifacts_manifest.json"
MAX_ARTIFACTS = 1_000  # entries listed per run; past that the scan stops listing
_KINDS = {"tensorboard", "wandb", "checkpoint", "file", "model", "dataset", "report"}


class ArtifactScanner:
    """Scans one run directory; remembers checksums and import offsets between scans."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.root = run.dir.resolve()
        self._hashes: dict[str, tuple[int, float, str]] = {}
        self._events: dict[Path, EventFileTail] = {}
        self._tb_runs: dict[Path, str] = {}  # event file directory -> its run name, kept for good
        self._wandb: dict[Path, WandbRunTail] = {}
        self._configs: dict[Path, dict[str, Any]] = {}  # the W&B config last sent, per run file
        self._summaries: dict[Path, dict[str, Any]] = {}  # the W&B summary last sent, per file
        self._own_config: bool | None = None  # the run has config of its own
        self._reported: set[str] = set()
        self._last: list[dict[str, Any]] | None = None
        self.imported = 0

    def scan(self, final: bool = False) -> list[dict[str, Any]]:
        """The manifest now; written to ``artifacts.json`` and sent when it changed. A path the
        worker's manifest names but has not written yet is a problem only at the ``final`` scan."""
        found: list[dict[str, Any]] = []
        for path in self._files("events.out.tfevents.*", recursive=True):
            found.append(self._entry("tensorboard", path))
        for path in self._files("wandb/*/run-*.wandb"):
            found.append(self._wandb_entry(path))
        checkpoints = self.root / "checkpoints"
        if checkpoints.is_dir():
            inside = sorted(p for p in checkpoints.rglob("*") if self._inside(p))
            for path in inside[:MAX_ARTIFACTS]:
                found.append(self._entry("checkpoint", path, checksum=True))
        declared = self._worker_manifest(final)
        named = {e.get("path") for e in declared}  # the worker's entry (with its meta) wins
        found = [e for e in found if e["path"] not in named] + declared
        found = found[:MAX_ARTIFACTS]
        if found != self._last:
            self._last = found
            tmp = self.root / f".{MANIFEST}.tmp"
            tmp.write_text(json.dumps({"artifacts": found}, indent=1))
            os.replace(tmp, self.root / MANIFEST)
            self.run.artifacts(found)
        return found

    def import_scalars(self) -> int:
        """Log new TensorBoard scalars, images and histograms, and W&B history rows; return
        how many values (an image or a histogram counts one)."""
        count = 0
        events = self._files("events.out.tfevents.*", recursive=True)
        for directory in sorted({p.parent for p in events}, key=lambda d: (len(d.parts), d)):
            self._tb_run(directory)  # shallower first: a writer's own dir before add_scalars'
        for path in events:
            tail = self._events.setdefault(path, EventFileTail(path))
            records = tail.read_records()
            run_name = self._tb_run(path.parent)
            prefix = f"{run_name}/" if run_name else ""
            by_step: dict[tuple[int, float], dict[str, float]] = {}
            for step, wall, tag, value in records.scalars:
                by_step.setdefault((step, wall), {})[prefix + tag] = value
            for (step, wall), values in by_step.items():
                self.run.log(values, step=step, ts=wall)
                count += len(values)
            for step, _, tag, image in records.images:
                self.run.image(prefix + tag, image, step=step)
            for step, _, tag, edges, counts in records.histograms:
                self.run.histogram(prefix + tag, counts=counts, edges=edges, step=step)
            count += len(records.images) + len(records.histograms)
        for path in self._files("wandb/*/run-*.wandb"):
            wandb_tail = self._wandb.setdefault(path, WandbRunTail(path))
            try:
                rows = wandb_tail.read_new()
            except (WandbUnavailable, ValueError) as exc:
                self._report(str(path), str(exc))
                continue
            for wandb_step, wandb_wall, wandb_values in rows:
                # numbers become points, strings texts (the SDK sorts them)
                named = {f"wandb/{k}": v for k, v in wandb_values.items()}
                self.run.log(named, step=wandb_step, ts=wandb_wall)
                count += len(wandb_values)
            for media_step, _, key, media in wandb_tail.take_media():
                count += self._send_wandb_media(path, media_step or 0, f"wandb/{key}", media)
            self._send_config(path, wandb_tail)
            self._send_summary(path, wandb_tail)
        self.imported += count
        return count

    def _tb_run(self, directory: Path) -> str:
        """The TensorBoard run name of an event file directory, its keys' prefix ("": plain
        tags). The logdir is the run dir's top-level directory holding it (``tb`` in
        ``tb/train/``), or the run dir itself; the run name is the path from there, as
        TensorBoard names runs (``tb/train`` -> ``train``, ``tb`` -> ""). A name another
        directory already has becomes the path from the run dir (``.`` for the run dir itself),
        numbered if need be: two writers never share a series. Decided at first sight and kept,
        so no series is renamed mid-run."""
        known = self._tb_runs.get(directory)
        if known is not None:
            return known
        parts = directory.relative_to(self.root).parts
        taken = set(self._tb_runs.values())
        full = "/".join(parts) or "."
        name = next(
            n
            for n in itertools.chain(
                ["/".join(parts[1:]), full], (f"{full}~{i}" for i in itertools.count(2))
            )
            if n not in taken
        )
        self._tb_runs[directory] = name
        return name

    def _send_wandb_media(self, path: Path, step: int, key: str, value: dict[str, Any]) -> int:
        """A W&B image (its file under the run's ``files/``), list of images (``key/0``, …) or
        histogram (``bins`` or W&B's ``packedBins``) as run media; returns how many."""
        if value["_type"] == "histogram":
            counts, edges = value.get("values"), value.get("bins")
            packed = value.get("packedBins")
            if isinstance(packed, dict) and isinstance(counts, list):
                low, width = float(packed["min"]), float(packed["size"])
                edges = [low + i * width for i in range(len(counts) + 1)]
            self.run.histogram(key, counts=counts, edges=edges, step=step)
            return 1
        files = path.parent / "files"
        if value["_type"] == "image-file":
            pictures = [(key, value.get("path"), value.get("caption"))]
        else:
            names = value.get("filenames") or []
            captions = value.get("captions") or [None] * len(names)
            pictures = [
                (f"{key}/{i}", name, caption)
                for i, (name, caption) in enumerate(zip(names, captions, strict=False))
            ]
        sent = 0
        for name, relative, caption in pictures:
            file = files / str(relative)
            if not isinstance(relative, str) or not self._inside(file):
                self._report(f"{path}:{relative}", f"W&B image {relative!r} of {name!r} not found")
                continue
            text = caption if isinstance(caption, str) else None
            self.run.image(name, file.read_bytes(), step=step, caption=text)
            sent += 1
        return sent

    def _send_config(self, path: Path, tail: WandbRunTail) -> None:
        """A W&B run's config, once per change, into the run's config (and a ``config.update``
        event saying where it came from): as it is when the run has no config of its own (the
        launcher's ``command`` aside), else under ``wandb/``."""
        config = {k: v for k, v in tail.config.items() if not k.startswith("_")}  # W&B's own
        if not config or self._configs.get(path) == config:
            return
        self._configs[path] = config
        if self._own_config is None:  # decided before the first W&B config joins it
            self._own_config = any(k != "command" for k in self.run.config)
        values = {f"wandb/{k}": v for k, v in config.items()} if self._own_config else config
        self.run.update_config(values)
        self.run.event("config.update", values=values, source="wandb", run_id=tail.run_id)

    def _send_summary(self, path: Path, tail: WandbRunTail) -> None:
        """A W&B run's summary (``wandb.summary``, and the last value of each logged key, as
        W&B keeps it), once per change, as the run's ``summary`` table of one row, as the W&B
        shim sends it: W&B's keys, numbers and strings as they are (the latest run file's, if
        there are several). W&B's own keys (``_step``, ``_wandb/…``) and the fields of its
        objects (images, tables) are left out."""
        objects = object_prefixes(tail.summary)
        summary = {
            k: v
            for k, v in tail.summary.items()
            if not k.startswith("_") and not k.startswith(objects) and not isinstance(v, dict)
        }
        if not summary or self._summaries.get(path) == summary:
            return
        self._summaries[path] = summary
        self.run.table("summary", [summary])

    def _inside(self, path: Path) -> bool:
        """A file that is inside the run dir once resolved: a link that leads out of it
        (``checkpoints/evil.pt -> /etc/passwd``, a linked dir) is never listed, hashed or read."""
        real = path.resolve()
        return real.is_relative_to(self.root) and real.is_file()

    def _files(self, pattern: str, recursive: bool = False) -> list[Path]:
        """Matching files inside the run dir, each once: W&B's ``latest-run`` symlink (or any
        other link) does not make a second copy that would be listed and imported twice."""
        seen: set[Path] = set()
        out = []
        matches = self.root.rglob(pattern) if recursive else self.root.glob(pattern)
        for path in sorted(matches, key=lambda p: (any(q.is_symlink() for q in p.parents), str(p))):
            real = path.resolve()
            if real not in seen and self._inside(path):
                seen.add(real)
                out.append(path)
        return out[:MAX_ARTIFACTS]

    def _entry(self, kind: str, path: Path, checksum: bool = False, **meta: Any) -> dict[str, Any]:
        stat = path.stat()
        entry: dict[str, Any] = {
            "kind": kind,
            "path": str(path.relative_to(self.root)),
            "size": stat.st_size,
            "mtime": stat.st_mtime,
        }
        if checksum:
            key = entry["path"]
            cached = self._hashes.get(key)
            if cached is None or cached[:2] != (stat.st_size, stat.st_mtime):
                cached = (stat.st_size, stat.st_mtime, sha256_file(path))
                self._hashes[key] = cached
            entry["sha256"] = cached[2]
        if meta:
            entry["meta"] = meta
        return entry

    def _wandb_entry(self, path: Path) -> dict[str, Any]:
        tail = self._wandb.get(path)
        meta: dict[str, Any] = {
            "sync_hint": f"to upload it to W&B, run: wandb sync {path.parent.relative_to(self.root)}"
        }
        if tail is not None:
            meta.update(
                config=tail.config, summary=tail.summary, project=tail.project, run_id=tail.run_id
            )
        return self._entry("wandb", path, **meta)

    def _dir_entry(self, kind: str, path: Path) -> dict[str, Any]:
        """A directory the worker named (its TensorBoard logdir): total size and newest mtime
        of the files inside it, counted up to :data:`MAX_ARTIFACTS`."""
        files = [p for p in sorted(path.rglob("*")) if self._inside(p)][:MAX_ARTIFACTS]
        stats = [p.stat() for p in files]
        return {
            "kind": kind,
            "path": str(path.relative_to(self.root)),
            "size": sum(st.st_size for st in stats),
            "mtime": max((st.st_mtime for st in stats), default=path.stat().st_mtime),
            "meta": {"files": len(files)},
        }

    def _worker_manifest(self, final: bool) -> list[dict[str, Any]]:
        """The entries of ``artifacts_manifest.json``, in the list or the object format."""
        path = self.root / WORKER_MANIFEST
        if not path.is_file():
            return []
        try:
            listed = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            self._report(WORKER_MANIFEST, f"{WORKER_MANIFEST} is not valid JSON: {exc}")
            return []
        items, problems = read_items(listed, WORKER_MANIFEST)
        for where, message in problems:
            self._report(where, message)
        out = []
        for i, item in enumerate(items[:MAX_ARTIFACTS]):
            if is_link(item):
                link = wandb_link(item)
                if isinstance(link, str):
                    self._report(f"{WORKER_MANIFEST}[{i}]", f"{WORKER_MANIFEST} entry {i}: {link}")
                else:
                    out.append(link)
                continue
            checked = self._check(item)
            if checked is not None:
                problem, missing = checked
                if final or not missing:
                    where = f"{WORKER_MANIFEST}[{i}]"
                    self._report(where, f"{WORKER_MANIFEST} entry {i}: {problem}")
                continue
            kind = item.get("kind", "file")
            target = self.root / item["path"]
            if target.is_dir():
                out.append(self._dir_entry(kind, target))
                continue
            meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
            out.append(self._entry(kind, target, checksum=True, **meta))
        return out

    def _check(self, item: Any) -> tuple[str, bool] | None:
        """What is wrong with a list-format item, and whether it is only that its path does
        not exist (yet); None when it is fine."""
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            if isinstance(item, dict) and item.get("kind") == "wandb":
                return "needs a 'path', a 'url' or a 'run_id' ('entity/project/run')", False
            return "needs a 'path' (a string)", False
        if item.get("kind", "file") not in _KINDS:
            kinds = ", ".join(sorted(_KINDS))
            return f"unknown kind {item.get('kind')!r} (use one of {kinds})", False
        target = (self.root / item["path"]).resolve()
        if not target.is_relative_to(self.root):
            return f"path {item['path']!r} is outside the run directory", False
        if item.get("kind") == "tensorboard" and target.is_dir():
            return None  # a logdir: listed as a directory
        if not target.is_file():
            return f"no file {item['path']!r} in the run directory", True
        return None

    def _report(self, where: str, message: str) -> None:
        """A problem, once per place, as a warning event in the run's feed."""
        if where not in self._reported and len(self._reported) < MAX_ARTIFACTS:
            self._reported.add(where)
            self.run.event("artifact.invalid", level="warning", problem=message)
