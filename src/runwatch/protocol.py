"""Wire schemas shared by the SDK and the server (msgspec: validate and decode in one pass).

Non-finite floats have no JSON form, so on the wire a metric value is a number, ``null`` (NaN)
or one of the strings in :data:`NON_FINITE` ("nan", "inf", "-inf").
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import msgspec

# Every integer that is stored must fit SQLite's and PostgreSQL's 64-bit INTEGER.
INT64_MAX = 2**63 - 1
MAX_TIMESTAMP = 1e11  # wall times are unix seconds, and this is the year 5138
Int64 = Annotated[int, msgspec.Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]
Count = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
# The strings a value may be instead of a number (the keys of NON_FINITE).
NonFinite = Literal["nan", "NaN", "inf", "Infinity", "-inf", "-Infinity"]
Value = float | NonFinite | None
# An event may name several entities (a merge of 5 and 6): at most this many.
MAX_EVENT_ENTITIES = 64
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "crashed"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "crashed"})
# The final statuses a run never leaves: it takes no new batches (but late ones of its closing
# producer) and its live streams end. "crashed" is only the server's guess: a producer that
# speaks again brings its run back to running, so it may still report and viewers keep following.
CLOSED_STATUSES: frozenset[str] = FINAL_STATUSES - {"crashed"}
# A header on ``POST /api/v1/runs/{run}/batches``: ``true`` when the batch's producer is gone
# (``runwatch sync`` replaying a dead process's spool). Its records are stored, but the batch is
# no sign of life: a crashed run stays crashed, a running one's heartbeat time is kept.
PRODUCER_GONE = "Runwatch-Producer-Gone"

NON_FINITE: dict[str, float] = {
    "nan": math.nan,
    "NaN": math.nan,
    "inf": math.inf,
    "Infinity": math.inf,
    "-inf": -math.inf,
    "-Infinity": -math.inf,
}


# How far (seconds) a producer's ``started_at`` may be ahead of the server's clock.
MAX_START_SKEW = 60.0

RunId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
# A file ``runwatch launch`` writes into a run's directory, holding the run's id: it registers
# the directory with a server on the same machine (which may then start a TensorBoard over it).
RUN_DIR_MARKER = ".runwatch-run"
# What ``runwatch agent`` tells a sweep trial's command: the sweep's id and the trial's
# configuration (JSON), which ``runwatch.init`` merges into the run's config.
SWEEP_ID_ENV = "RUNWATCH_SWEEP_ID"
SWEEP_PARAMS_ENV = "RUNWATCH_SWEEP_PARAMS"
# Seconds an agent has from claiming a sweep trial to creating its run, by default (it creates
# it at once: a healthy agent takes well under a second); past it, a trial without a run is
# crashed and handed out again.
CLAIM_LEASE = 90.0


# Names and labels: no NUL (PostgreSQL's TEXT cannot hold it, and C tools cut at it). Other
# control characters are kept, and rendered harmlessly where shown (``terminal.render``).
# Patterns are written so that Python (msgspec) and ECMA (the OpenAPI document's readers) read
# them alike: ``^``/``$``, not ``\A``/``\Z``.
NO_NUL = r"^[^\x00]*$"
# A project has one character that is not blank by either reading of ``\s`` (Python's takes in
# \x1c-\x1f and \x85; ECMA's takes in \ufeff).
NOT_BLANK = r"^[^\x00]*[^\x00\s\x1c-\x1f\x85\ufeff][^\x00]*$"
# Text the stores keep in a TEXT column rather than inside JSON (PostgreSQL's jsonb and TEXT
# hold no NUL, but the JSON text of a payload or a config keeps one as "\u0000"): names,
# kinds, entities and error messages. The SDK leaves out a name with a NUL and shows a NUL of
# an error message as U+FFFD, as it does for log lines.
NoNul = Annotated[str, msgspec.Meta(pattern=NO_NUL)]
Entity = Int64 | NoNul | None
ProjectName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK)]
RunName = Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)]
Tag = Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL)]


class RunCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/runs``; an ``id`` chosen by the producer makes creation idempotent.
    ``config`` and ``snapshot`` are bounded (``max_config_bytes``, ``max_run_snapshot_bytes``):
    every runs list carries them."""

    project: ProjectName
    id: RunId | None = None
    name: RunName | None = None
    group: RunName | None = None
    tags: list[Tag] = []
    config: dict[str, Any] = {}
    # What reproduces the run (argv, versions, git commit, host, …), captured by the SDK.
    snapshot: dict[str, Any] = {}
    # Seconds between the producer's heartbeats; silent for 3 of them, the run is crashed.
    heartbeat: Annotated[float, msgspec.Meta(ge=0.1, le=86_400)] = 5.0
    # The producer's wall time when it started the run (unix seconds): a run created late (the
    # server was down, `runwatch sync`) keeps its real start. Null: the server's time. At most
    # MAX_START_SKEW seconds ahead of the server's clock (else 422); unused when the run exists.
    started_at: Annotated[float, msgspec.Meta(ge=0, le=MAX_TIMESTAMP)] | None = None


class RunPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PATCH /api/v1/runs/{run_id}``: a new ``name`` and/or ``tags`` (the whole list),
    bounded as at creation (:class:`RunCreate`); neither changes nothing. An empty name gives the
    run back the name it gets when created without one (``run-`` and its id's first 6
    characters)."""

    name: RunName | None = None
    tags: list[Tag] | None = None


class Retention(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /api/v1/projects/{project}/retention``: how much raw data to keep.

    Raw points older than ``raw_keep_steps`` steps behind a series' newest step, or than
    ``raw_keep_days`` days, are dropped; the aggregate pyramid keeps their min/max/mean/count.
    ``null`` keeps everything (the default).
    """

    raw_keep_steps: Annotated[int, msgspec.Meta(ge=0, le=2**62)] | None = None
    raw_keep_days: Annotated[float, msgspec.Meta(ge=0)] | None = None


class PointRow(msgspec.Struct, array_like=True):
    """One ``log()`` call: ``[step, wall time, {key: value}]`` (an array on the wire: compact)."""

    step: Int64
    ts: float
    values: dict[str, Value]


# A text value: no NUL (PostgreSQL's JSONB cannot hold it); its length is the server's
# ``max_text_length``.
Text = Annotated[str, msgspec.Meta(pattern=NO_NUL)]


class TextRow(msgspec.Struct, array_like=True):
    """The text values of one ``log()`` call: ``[step, wall time, {key: text}]``.

    A string passed to ``log()`` is always text, never read as a number: ``"nan"`` here is the
    three letters, while a NaN metric is ``"nan"`` in a :class:`PointRow` (see README).
    """

    step: Int64
    ts: float
    values: dict[str, Text]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    """One structural or user event logged by a producer."""

    kind: NoNul
    ts: float
    level: Literal["debug", "info", "warning", "error"] = "info"
    entity: Entity = None
    # Every entity the event names, when it names more than one (``entity`` then is the first,
    # or may be left out); an entity's history lists each event naming it.
    entities: Annotated[list[Int64 | NoNul], msgspec.Meta(max_length=MAX_EVENT_ENTITIES)] | None = (
        None
    )
    payload: dict[str, Any] = {}
    # The producer's step when it happened: an entity's first event is its birth, and the
    # log-spaced ages of the images and snapshots naming the entity count from its step.
    step: Int64 | None = None


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    """A status change reported by the producer (e.g. the final status from ``finish()``)."""

    state: RunStatus
    ts: float
    error: NoNul | None = None
    exit_code: Int64 | None = None


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=NO_NUL)]


class SnapshotIn(msgspec.Struct, forbid_unknown_fields=True):
    """A versioned payload of a key at a step: JSON, or a (nested) list of numbers."""

    key: Name
    step: Int64
    ts: float
    value: Any
    entity: Entity = None  # the entity the key shows (``footprint/47``: 47)


class TableIn(msgspec.Struct, forbid_unknown_fields=True):
    """Rows of any JSON shape: ``replace`` the table, or ``append`` keeping ``max_rows``."""

    name: Name
    rows: list[dict[str, Any]]
    mode: Literal["replace", "append"] = "replace"
    max_rows: Count | None = None


class PointSetIn(msgspec.Struct, forbid_unknown_fields=True):
    """Points for a scatter (``x``, ``y``, optional ``z``, ``label``, ``cluster``, any fields):
    ``replace`` the set, or append keeping the newest ``cap`` (FIFO)."""

    name: Name
    points: list[dict[str, Any]]
    replace: bool = True
    cap: Count | None = None


class LogLine(msgspec.Struct, forbid_unknown_fields=True):
    """One line a supervised worker wrote to stdout or stderr."""

    stream: Literal["stdout", "stderr"]
    ts: float
    text: Annotated[str, msgspec.Meta(max_length=16_384, pattern=NO_NUL)]  # the SDK replaces NUL


class CommandResult(msgspec.Struct, forbid_unknown_fields=True):
    """The producer's report on a command it received."""

    id: Int64
    state: Literal["applied", "failed"]
    error: NoNul | None = None


Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
# What a media blob holds: a PNG or JPEG image, or raw little-endian HxW float32 (a heatmap) or
# int32 (a label map: each value an entity id) that the browser colours itself.
MediaMime = Literal[
    "image/png", "image/jpeg", "application/x-runwatch-f32", "application/x-runwatch-i32"
]
MEDIA_MIMES: frozenset[str] = frozenset(
    {"image/png", "image/jpeg", "application/x-runwatch-f32", "application/x-runwatch-i32"}
)
# The mime each kind of media record takes.
MEDIA_KIND_MIMES: dict[str, frozenset[str]] = {
    "image": frozenset({"image/png", "image/jpeg"}),
    "heatmap": frozenset({"application/x-runwatch-f32"}),
    "labels": frozenset({"application/x-runwatch-i32"}),
}
Pixels = Annotated[int, msgspec.Meta(ge=1, le=16_384)]
# Several blobs in one request (``POST …/runs/{run}/blobs``): the body is a JSON manifest
# (:class:`BlobsIn`) on its first line, then each blob's bytes in the manifest's order. A type
# of our own: no HTML form can send it (see server.guard).
BLOBS_MIME = "application/x-runwatch-blobs"
MAX_BLOBS_PER_UPLOAD = 256


class BlobIn(msgspec.Struct, forbid_unknown_fields=True):
    """One blob of a grouped upload: its SHA-256, its type, and how many bytes of the body it
    takes."""

    sha256: Sha256
    mime: MediaMime
    size: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]


class BlobsIn(msgspec.Struct, forbid_unknown_fields=True):
    """The first line of a grouped blob upload: the blobs whose bytes follow it, in order, with
    nothing after the last."""

    blobs: Annotated[list[BlobIn], msgspec.Meta(min_length=1, max_length=MAX_BLOBS_PER_UPLOAD)]


def encode_blobs(blobs: list[tuple[str, str, bytes]]) -> bytes:
    """The body of a grouped upload of ``(sha256, mime, bytes)`` blobs."""
    manifest = [{"sha256": sha256, "mime": mime, "size": len(data)} for sha256, mime, data in blobs]
    return b"".join(
        [msgspec.json.encode({"blobs": manifest}), b"\n", *(data for _, _, data in blobs)]
    )


class MediaIn(msgspec.Struct, forbid_unknown_fields=True):
    """An image of a key at a step; its bytes were uploaded first (``PUT …/blobs/{sha256}``).

    ``kind``: ``image`` (PNG/JPEG), ``heatmap`` (HxW float32, drawn with a colour scale from
    ``vmin`` to ``vmax``) or ``labels`` (HxW int32, each value an entity id; 0 is background).
    """

    key: Name
    step: Int64
    ts: float
    sha256: Sha256
    mime: MediaMime
    width: Pixels
    height: Pixels
    kind: Literal["image", "heatmap", "labels"] = "image"
    caption: Annotated[str, msgspec.Meta(max_length=1000, pattern=NO_NUL)] | None = None
    entity: Entity = None
    vmin: float | None = None
    vmax: float | None = None


class HistogramIn(msgspec.Struct, forbid_unknown_fields=True):
    """A distribution of a key at a step: ``counts[i]`` values fell in ``[edges[i], edges[i+1])``
    (the last bin is closed); ``nan``, ``inf`` and ``neg_inf`` values are counted apart."""

    key: Name
    step: Int64
    ts: float
    edges: list[float]
    counts: list[Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]]
    nan: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] = 0
    inf: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] = 0
    neg_inf: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] = 0


CommandKind = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


# Command kinds a run keeps as its producer's (what its page offers).
MAX_COMMAND_KINDS = 32


class Batch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/runs/{run}/batches``; ``(producer, batch_seq)`` makes retries idempotent."""

    producer: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
    batch_seq: Int64
    points: list[PointRow] = []
    events: list[EventIn] = []
    status: StatusIn | None = None
    commands: list[CommandResult] = []
    snapshots: list[SnapshotIn] = []
    tables: list[TableIn] = []
    point_sets: list[PointSetIn] = []
    vitals: list[Name] = []  # metric keys to show in the vitals bar
    logs: list[LogLine] = []
    # Full artifact manifests of the run dir (the launcher's scans); the last one wins.
    manifests: list[list[dict[str, Any]]] = []
    # Changes to the run's config after it was created, applied in order: each sets its
    # top-level keys (``config.update`` in a W&B script, a launcher importing a W&B config).
    config: list[dict[str, Any]] = []
    # Images, heatmaps and label maps (metadata; the bytes are blobs uploaded before).
    media: list[MediaIn] = []
    histograms: list[HistogramIn] = []
    # Text values of log() calls: each key's latest is kept in the run's summary.
    texts: list[TextRow] = []
    # Command kinds the producer handles (``on_command``); the run keeps the first 32.
    command_kinds: Annotated[list[CommandKind], msgspec.Meta(max_length=MAX_COMMAND_KINDS)] = []


class CommandIn(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/runs/{run}/commands``: ``cancel``, or a user mutation."""

    kind: CommandKind
    payload: dict[str, Any] = {}


class Command(msgspec.Struct):
    """A command for a run's producer: pending → delivered → applied | failed."""

    id: int
    kind: str
    payload: dict[str, Any]
    state: str
    created_at: float
    updated_at: float
    error: str | None = None


class ArchivedCommand(msgspec.Struct, forbid_unknown_fields=True):
    """A command as an archive keeps it: what was asked, when, and what came of it."""

    kind: CommandKind
    state: Literal["pending", "delivered", "applied", "failed"]
    created_at: Annotated[float, msgspec.Meta(ge=0, le=MAX_TIMESTAMP)]
    updated_at: Annotated[float, msgspec.Meta(ge=0, le=MAX_TIMESTAMP)]
    payload: dict[str, Any] = {}
    error: Annotated[str, msgspec.Meta(max_length=16_384, pattern=NO_NUL)] | None = None


class ArchivedCommands(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /api/v1/runs/{run}/commands``: an imported run's commands, oldest first."""

    commands: Annotated[list[ArchivedCommand], msgspec.Meta(max_length=10_000)]


class PromoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/runs/{run}/promote``."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
    # A path inside the run dir: the OS cannot open one with a NUL (nor PostgreSQL store it).
    artifact: Annotated[str, msgspec.Meta(max_length=1000, pattern=NO_NUL)] | None = None


class RunTimes(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /api/v1/runs/{run}/times``: an imported run's archived times."""

    created_at: Annotated[float, msgspec.Meta(ge=0)]
    started_at: Annotated[float, msgspec.Meta(ge=0)] | None = None


class BatchAck(msgspec.Struct):
    """Answer to an ingested batch, sent only after the batch is committed."""

    seq_first: int
    seq_last: int
    duplicate: bool
    points: int
    events: int


def decode_value(raw: Value) -> float:
    """Turn a wire value into a float (``null`` is NaN); raise ``ValueError`` for an unknown string."""
    if raw is None:
        return math.nan
    if isinstance(raw, str):
        try:
            return NON_FINITE[raw]
        except KeyError:
            raise ValueError(
                f"not a number: {raw[:40]!r} (use a number, null, 'nan', 'inf' or '-inf')"
            ) from None
    return float(raw)


def encode_value(value: float) -> Value:
    """Turn a float into its wire form, keeping NaN and ±inf distinguishable."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"
