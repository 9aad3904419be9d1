"""Archive files: JSONL (one record per line, keys sorted: the canonical, byte-stable form), or a
directory of one CSV or Parquet table per record type, read back into the same records.

In the tables a ``points`` record becomes one row per point (``key, step, ts, value``) and
nested values (config, payloads, rows) are JSON text; a ``blob`` record's bytes are base64 text
in every format. Parquet needs ``pyarrow``
(``pip install 'runwatch[archive]'``).
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from runwatch.archive.exporter import POINTS_PER_RECORD, Record
from runwatch.protocol import decode_value, encode_value

Format = Literal["jsonl", "csv", "parquet"]
ROW_GROUP = 65_536  # Parquet rows buffered per table before a row group is written
# Blob rows are images of up to 8 MiB (the server's max_image_bytes): few per row group.
ROW_GROUPS = {"blob": 4}
CSV_FIELD_LIMIT = 2**31 - 1  # a blob or a table's rows is one CSV field: far over csv's 128 KiB
# Per record type, its columns and how each is stored: str, int, float, value (a metric value,
# NaN/±inf kept) or json (anything, as JSON text). The order is the archive's order.
# A column in OPTIONAL may be absent from a record (and from an older archive's table).
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "archive": [("format", "str"), ("version", "int")],
    "run": [
        ("id", "str"), ("project", "str"), ("name", "str"), ("group", "json"), ("tags", "json"),
        ("config", "json"), ("snapshot", "json"), ("heartbeat", "float"), ("status", "str"),
        ("created_at", "float"), ("started_at", "json"), ("ended_at", "json"),
        ("exit_code", "json"), ("error", "json"), ("vitals", "json"),
    ],
    "points": [("key", "str"), ("step", "int"), ("ts", "float"), ("value", "value")],
    "event": [
        ("ts", "float"), ("kind", "str"), ("level", "str"), ("entity", "json"), ("payload", "json"),
        ("entities", "json"), ("step", "json"),
    ],
    "texts": [("texts", "json")],
    "table": [("name", "str"), ("rows", "json")],
    "point_set": [("name", "str"), ("points", "json")],
    "snapshot": [("key", "str"), ("step", "int"), ("ts", "float"), ("reason", "str"), ("value", "json")],
    "log": [("stream", "str"), ("ts", "float"), ("text", "str")],
    "artifacts": [("manifest", "json")],
    "command": [
        ("kind", "str"), ("payload", "json"), ("state", "str"), ("created_at", "float"),
        ("updated_at", "float"), ("error", "json"),
    ],
    "blob": [("sha256", "str"), ("mime", "str"), ("data", "str")],
    "media": [
        ("key", "str"), ("step", "int"), ("ts", "float"), ("kind", "str"), ("sha256", "str"),
        ("mime", "str"), ("width", "int"), ("height", "int"), ("caption", "json"),
        ("entity", "json"), ("vmin", "json"), ("vmax", "json"),
    ],
    "histogram": [
        ("key", "str"), ("step", "int"), ("ts", "float"), ("edges", "json"), ("counts", "json"),
        ("nan", "int"), ("inf", "int"), ("neg_inf", "int"),
    ],
}  # fmt: skip
# An event's entities (when it names more than one) and step (when the producer gave one).
OPTIONAL = {"event": frozenset({"entities", "step"})}
_encoder = msgspec.json.Encoder(order="sorted")


def default_path(run_id: str, fmt: Format) -> Path:
    """``RUN.jsonl``, or the directory ``RUN-csv`` / ``RUN-parquet``."""
    return Path(f"{run_id}.jsonl" if fmt == "jsonl" else f"{run_id}-{fmt}")


def write_archive(records: Iterable[Record], path: Path, fmt: Format) -> None:
    """Write records as one JSONL file, or as a directory of per-type CSV or Parquet tables."""
    if fmt == "jsonl":
        with path.open("wb") as out:
            for record in records:
                out.write(_encoder.encode(record) + b"\n")
        return
    path.mkdir(parents=True, exist_ok=True)
    sink = _CsvSink(path) if fmt == "csv" else _ParquetSink(path)
    try:
        for record in records:
            for row in _rows(record):
                sink.add(record["type"], row)
    finally:
        sink.close()


def read_archive(path: Path) -> Iterator[Record]:
    """The records of an archive written by :func:`write_archive` (the format is detected)."""
    if path.is_file():
        yield from _read_jsonl(path)
    elif (path / "archive.csv").is_file():
        yield from _from_tables(path, "csv")
    elif (path / "archive.parquet").is_file():
        yield from _from_tables(path, "parquet")
    else:
        raise ValueError(
            f"{path} is not an archive (a .jsonl file, or a directory of CSV/Parquet tables)"
        )


def _read_jsonl(path: Path) -> Iterator[Record]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield msgspec.json.decode(line)
                except msgspec.DecodeError as exc:
                    raise ValueError(f"{path}:{number} is not JSON: {exc}") from None


def _rows(record: Record) -> Iterator[dict[str, Any]]:
    kind = record["type"]
    if kind not in COLUMNS:
        raise ValueError(f"unknown archive record type {kind!r}")
    if kind == "points":
        for step, ts, value in record["points"]:
            yield {"key": record["key"], "step": step, "ts": ts, "value": value}
    else:
        optional = OPTIONAL.get(kind, frozenset())
        yield {n: record.get(n) if n in optional else record[n] for n, _ in COLUMNS[kind]}


def _from_tables(path: Path, fmt: str) -> Iterator[Record]:
    for kind, columns in COLUMNS.items():
        rows = (
            _read_csv(path / f"{kind}.csv")
            if fmt == "csv"
            else _read_parquet(path / f"{kind}.parquet")
        )
        optional = OPTIONAL.get(kind, frozenset())
        decoded = (_decode_row(row, columns, optional, fmt) for row in rows)
        if kind != "points":
            yield from ({"type": kind, **row} for row in decoded)
            continue
        key: str | None = None
        points: list[list[Any]] = []  # regroup consecutive rows of one key into records
        for row in decoded:
            if points and (row["key"] != key or len(points) >= POINTS_PER_RECORD):
                yield {"type": "points", "key": key, "points": points}
                points = []
            key = row["key"]
            points.append([row["step"], row["ts"], row["value"]])
        if points:
            yield {"type": "points", "key": key, "points": points}


def _decode_row(
    row: dict[str, Any], columns: list[tuple[str, str]], optional: frozenset[str], fmt: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, how in columns:
        if name in optional and row.get(name) in (None, "null"):
            continue  # absent, as in the JSONL form of the record
        cell = row[name]
        if how == "json":
            out[name] = msgspec.json.decode(cell)
        elif how == "int":
            out[name] = int(cell)
        elif how == "float":
            out[name] = float(cell)
        elif how == "value":
            out[name] = encode_value(float(cell) if fmt == "csv" else cell)
        else:
            out[name] = cell
    return out


def _cell(value: Any, how: str, fmt: str) -> Any:
    if how == "json":
        return _encoder.encode(value).decode()
    if how == "value":
        number = decode_value(value)  # CSV: repr, so nan/inf/-inf read back with float()
        return repr(number) if fmt == "csv" else number
    if how == "float" and fmt == "csv":
        return repr(float(value))
    return value


class _CsvSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, tuple[IO[str], Any]] = {}

    def add(self, kind: str, row: dict[str, Any]) -> None:
        if kind not in self.files:
            handle = (self.path / f"{kind}.csv").open("w", newline="", encoding="utf-8")
            writer = csv.writer(handle)
            writer.writerow([name for name, _ in COLUMNS[kind]])
            self.files[kind] = (handle, writer)
        self.files[kind][1].writerow([_cell(row[n], how, "csv") for n, how in COLUMNS[kind]])

    def close(self) -> None:
        for handle, _ in self.files.values():
            handle.close()


def _read_csv(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _arrow() -> Any:
    try:
        pyarrow = importlib.import_module("pyarrow")
        importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise RuntimeError(
            "Parquet archives need pyarrow: pip install 'runwatch[archive]'"
        ) from None
    return pyarrow


_ARROW_TYPES = {
    "str": "string",
    "int": "int64",
    "float": "float64",
    "value": "float64",
    "json": "string",
}


class _ParquetSink:
    def __init__(self, path: Path) -> None:
        self.pa = _arrow()
        self.path = path
        self.buffers: dict[str, list[dict[str, Any]]] = {}
        self.writers: dict[str, Any] = {}

    def add(self, kind: str, row: dict[str, Any]) -> None:
        rows = self.buffers.setdefault(kind, [])
        rows.append({n: _cell(row[n], how, "parquet") for n, how in COLUMNS[kind]})
        if len(rows) >= ROW_GROUPS.get(kind, ROW_GROUP):
            self._flush(kind)

    def _flush(self, kind: str) -> None:
        pa = self.pa
        schema = pa.schema([(n, pa.type_for_alias(_ARROW_TYPES[how])) for n, how in COLUMNS[kind]])
        if kind not in self.writers:
            self.writers[kind] = pa.parquet.ParquetWriter(
                str(self.path / f"{kind}.parquet"), schema
            )
        self.writers[kind].write_table(pa.Table.from_pylist(self.buffers.pop(kind, []), schema))

    def close(self) -> None:
        for kind in list(self.buffers):
            self._flush(kind)
        for writer in self.writers.values():
            writer.close()


def _read_parquet(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    pa = _arrow()
    parquet = pa.parquet.ParquetFile(str(path))
    try:
        for batch in parquet.iter_batches(batch_size=ROW_GROUPS.get(path.stem, ROW_GROUP)):
            yield from batch.to_pylist()
    finally:
        parquet.close()
