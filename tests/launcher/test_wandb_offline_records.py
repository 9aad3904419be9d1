"""The offline W&B reader's fast path against a reference decode through W&B's own classes.

The reference parses every record with ``wandb_internal_pb2.Record`` and decodes every value with
``json.loads``; the reader must give exactly the same rows (values, steps, times, their order and
their ``repr``: -0.0, big integers), images and histograms, config, summary, project and run id,
read whole or as the file grows. The runs are written by the real ``wandb`` (offline) and built
by hand with W&B's classes for the forms W&B may write but the fast path must not misread.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from wandb.proto import wandb_internal_pb2 as pb

from runwatch.launcher.wandb_history import KEY_CACHE, KeyCache, Media, Row, row
from runwatch.launcher.wandb_offline import BLOCK, WandbRunTail
from runwatch.protocol import encode_value
from tests.launcher.test_wandb_offline import records_of, write_run_file

HEADER = b":W&B\xe1\xbe\x00"

SCRIPT = textwrap.dedent("""
    import math
    import sys
    import wandb

    run = wandb.init(
        project="forms", dir=sys.argv[1], config={"lr": 0.1, "arch": {"depth": 4}},
        settings=wandb.Settings(x_disable_stats=True),
    )
    for step in range(120):
        row = {"loss": 1.0 / (step + 1), "count": step, "zero": 0.0, "neg0": -0.0,
               "big": 2**60 + step, "tiny": 5e-324, "é/ключ": step / 7}
        if step % 3 == 0:
            row["text"] = 'a "quoted", [bracketed] {text}' + "é" * (step % 5)
        if step % 4 == 0:
            row["flag"] = step % 8 == 0
        if step % 5 == 0:
            row["nested"] = {"a": step, "b": {"c": 0.5}}
        if step % 6 == 0:
            row["none"] = None
        if step == 7:
            row |= {"nan": math.nan, "inf": math.inf, "ninf": -math.inf}
        if step % 11 == 0:
            row["list"] = [1, 2.5, "x"]
        if step == 13:
            row |= {"long": "y" * 300, "longer": "z" * 20000}
        if step == 17:
            row["spanning"] = "w" * 70000  # a record over three blocks
        if step % 10 == 9:
            wandb.config.update({f"c{step}": step})
        if step % 7 == 2:
            wandb.log({"partial": step}, commit=False)
        wandb.log(row)
    run.summary["best"] = math.nan
    wandb.log({"late": 1.0}, step=500)
    wandb.finish()
""")


class Read:
    """What a reader gives for a run file: rows, media, config, summary, project and run id,
    compared by ``repr`` (-0.0 is not 0.0), the summary's keys in any order (a summary is a
    mapping; the reader puts a read's keys in the order of their last update)."""

    def __init__(self, rows: list[Row], media: list[Media], tail: WandbRunTail | None = None):
        self.rows, self.media = rows, media
        self.config: dict[str, Any] = tail.config if tail else {}
        self.summary: dict[str, Any] = tail.summary if tail else {}
        self.project = tail.project if tail else None
        self.run_id = tail.run_id if tail else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Read) and repr(self) == repr(other)

    def __repr__(self) -> str:
        return repr({**vars(self), "summary": sorted(self.summary.items())})


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else str(item.key)


def _value(item: Any) -> Any:
    for field in ("number", "integer", "boolean"):
        if field in item.DESCRIPTOR.fields_by_name and item.HasField(field):
            return getattr(item, field)
    return json.loads(item.value_json) if item.value_json else None


def reference(payloads: list[bytes]) -> Read:
    """The records decoded one by one with W&B's ``Record`` class and ``json.loads``."""
    done = Read([], [])
    summary: dict[str, str] = {}
    for payload in payloads:
        record = pb.Record.FromString(payload)
        which = record.WhichOneof("record_type")
        if which == "history":
            history = record.history
            step = history.step.num if history.HasField("step") else None
            items = [(_key(item), _value(item)) for item in history.item]
            found = row(step, items, done.media)
            if found:
                done.rows.append(found)
        elif which == "config":
            done.config |= {_key(item): _value(item) for item in record.config.update}
        elif which == "summary":
            summary |= {_key(item): item.value_json for item in record.summary.update}
        elif which == "run":
            done.project = record.run.project or done.project
            done.run_id = record.run.run_id or done.run_id
            done.config |= {_key(item): _value(item) for item in record.run.config.update}
    for key, text in summary.items():
        value = json.loads(text) if text else None
        finite = not isinstance(value, float) or math.isfinite(value)
        done.summary[key] = value if finite else encode_value(value)
    return done


def read_whole(path: Path) -> Read:
    tail = WandbRunTail(path)
    rows = tail.read_new()
    return Read(rows, tail.take_media(), tail)


def read_growing(path: Path, work: Path, step: int) -> Read:
    """The file read as it grows by ``step`` bytes at a time (cuts inside records and blocks)."""
    data, growing = path.read_bytes(), work / path.name
    tail = WandbRunTail(growing)
    rows: list[Row] = []
    media: list[Media] = []
    for cut in [*range(0, len(data), step), len(data)]:
        growing.write_bytes(data[:cut])
        rows += tail.read_new()
        media += tail.take_media()
    return Read(rows, media, tail)


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wandb-forms")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env |= {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(work)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(work)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (path,) = work.glob("wandb/offline-run-*/run-*.wandb")
    return path


def test_a_real_runs_every_value_form_reads_as_wandbs_classes_read_it(
    wandb_run: Path, tmp_path: Path
) -> None:
    payloads = records_of(wandb_run)
    want = reference(payloads)
    assert read_whole(wandb_run) == want
    assert read_growing(wandb_run, tmp_path, 4093) == want
    # The forms are really there: every value kind, a record over blocks, config beside run
    assert len(want.rows) == 121 and want.rows[-1] == (500, want.rows[-1][1], {"late": 1.0})
    values = want.rows[7][2]
    assert math.isnan(values["nan"]) and values["ninf"] == -math.inf
    assert want.rows[1][2]["big"] == float(2**60 + 1) and want.rows[0][2]["nested/b/c"] == 0.5
    assert want.summary["text"].startswith('a "quoted"') and want.summary["list"] == [1, 2.5, "x"]
    assert "best" in want.summary and want.config["c9"] == 9 and want.project == "forms"
    assert max(map(len, payloads)) > 2 * BLOCK


def item(
    nested: tuple[str, ...] = (), key: str = "", value: str | None = None, **typed: Any
) -> pb.HistoryItem:
    made = pb.HistoryItem(key=key, nested_key=nested, **typed)
    if value is not None:
        made.value_json = value
    return made


def history(*items: pb.HistoryItem | bytes, step: int | None = None, num: int = 0) -> bytes:
    """A history Record; an item given as bytes is put in as it is (a form W&B's API cannot
    build, but its parser reads)."""
    record = pb.Record(num=num)
    record.history.SetInParent()
    if step is not None:
        record.history.step.num = step
    raw = record.SerializeToString()
    for made in items:
        body = made if isinstance(made, bytes) else made.SerializeToString()
        field = b"\x0a" + _varint(len(body)) + body
        raw += b"\x12" + _varint(len(field)) + field  # another history field: items merge
    return raw


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def plain_row(step: int, **values: Any) -> bytes:
    """A history record in the form W&B writes: one ``nested_key`` and a ``value_json`` each."""
    items = [item((k,), value=json.dumps(v)) for k, v in values.items()]
    return history(*items, item(("_step",), value=str(step)), step=step)


def summary(**values: str) -> bytes:
    record = pb.Record()
    for key, text in values.items():
        record.summary.update.add(nested_key=key.split("."), value_json=text)
    return record.SerializeToString()


def config_record(**values: Any) -> bytes:
    record = pb.Record()
    for key, value in values.items():
        record.config.update.add(key=key, value_json=json.dumps(value))
    return record.SerializeToString()


def run_record(project: str, **config: Any) -> bytes:
    record = pb.Record()
    record.run.project, record.run.run_id = project, "abc"
    for key, value in config.items():
        record.run.config.update.add(key=key, value_json=json.dumps(value))
    return record.SerializeToString()


PLAIN = [plain_row(step, loss=1 / (step + 1), acc=step) for step in range(40)]
CASES: dict[str, list[bytes]] = {
    "plain": PLAIN,
    "rows with no values": [
        *PLAIN[:2],
        history(item(("_step",), value="5"), item(("_runtime",), value="1.5")),
        *PLAIN[2:4],
    ],
    "typed values": [
        *PLAIN[:3],
        history(
            item(("a",), number=0.5),
            item(("b",), integer=3),
            item(("c",), boolean=True),
            item(("_step",), integer=9),
        ),
        *PLAIN[3:],
    ],
    "key instead of nested_key": [
        *PLAIN[:2],
        history(item(key="loss", value="2.5"), item(key="_step", value="5")),
    ],
    "several nested_key parts": [
        *PLAIN[:2],
        history(item(("a", "b"), value="1"), item(("_step",), value="2")),
    ],
    "no _step: the record's own step": [
        history(item(("x",), value="1.5"), step=7),
        history(item(("x",), value="2.5")),
        history(item(("x",), value="3"), item(("_step",), value='"s"'), step=9),
        *PLAIN[:2],
    ],
    "_step as float, bool, beyond 2**53, duplicated": [
        history(item(("x",), value="1"), item(("_step",), value="3.75")),
        history(item(("x",), value="1"), item(("_step",), value="true")),
        history(item(("x",), value="1"), item(("_step",), value=str(2**53 + 1))),
        history(item(("x",), value="1"), item(("_step",), value="4"), item(("_step",), value="6")),
        history(item(("x",), value="1"), item(("x",), value="2"), item(("_step",), value="8")),
    ],
    "NaN, Infinity, 1e400, -0, empty and missing value_json": [
        history(
            item(("x",), value="NaN"), item(("y",), value="-Infinity"), item(("_step",), value="1")
        ),
        history(
            item(("x",), value="1e400"),
            item(("y",), value="-0"),
            item(("z",), value="-0.0"),
            item(("_step",), value="2"),
        ),
        history(item(("x",), value=""), item(("y",), value="2"), item(("_step",), value="3")),
        history(item(("x",)), item(("y",), value="2"), item(("_step",), value="4")),
    ],
    "long values: two- and three-byte lengths": [
        plain_row(1, s="x" * 200, n=1.5),
        history(item(("s",), value=json.dumps("y" * 20000)), item(("_step",), value="2")),
        history(item(("k" * 300,), value="1.25"), item(("_step",), value="3")),
    ],
    "an unknown field in an item": [
        *PLAIN[:2],
        history(
            item(("x",), value="1").SerializeToString() + b"\xfa\x01\x01u",
            item(("_step",), value="3"),
        ),
    ],
    "items whose sizes fit a misaligned reading": [
        *PLAIN[:2],
        # ("a", "bb") with no value, then two values, the first as long as "bb"'s field
        history(
            item(("a", "bb")),
            item(value="7").SerializeToString() + item(value="1.5").SerializeToString(),
            item(("_step",), value="3"),
        ),
    ],
    "an item without value_json, then one with two": [
        *PLAIN[:2],
        history(
            item(("a",)),
            item(("b",), value="7").SerializeToString() + item(value="1.5").SerializeToString(),
            item(("_step",), value="3"),
        ),
    ],
    "a value_json then a nested_key": [
        *PLAIN[:2],
        history(
            item(value="1.5").SerializeToString() + item(("x",)).SerializeToString(),
            item(("_step",), value="3"),
        ),
    ],
    "empty items and empty histories": [
        history(),
        history(b"", item(("x",), value="1"), item(("_step",), value="1")),
        *PLAIN[:2],
    ],
    "records not starting with their type, split over blocks": [
        pb.Record(uuid="u").SerializeToString() + PLAIN[0],
        plain_row(1, big="q" * (3 * BLOCK)),
        *PLAIN[2:5],
    ],
    "media, flattened and whole": [
        history(
            item(("pic", "_type"), value='"image-file"'),
            item(("pic", "width"), value="2"),
            item(("pic", "path"), value='"media/p.png"'),
            item(("loss",), value="1"),
            item(("_step",), value="0"),
        ),
        history(
            item(("h",), value='{"_type": "histogram", "bins": [0, 1], "values": [3]}'),
            item(("_step",), value="1"),
        ),
        *PLAIN[2:4],
    ],
    "config and run in one read, summary of every form": [
        run_record("p", lr=0.1),
        *PLAIN[:3],
        config_record(lr=0.2, batch=64),
        summary(loss="0.5", **{"_wandb.runtime": "3"}),
        summary(loss="NaN", best="Infinity", text='"t"', empty=""),
        run_record("", depth=4),
        *PLAIN[3:6],
    ],
    "summary beyond the trailing window, with a key only early on": [
        summary(early="1"),
        *[summary(loss=str(i), acc=str(-i)) for i in range(1500)],
        *PLAIN[:2],
    ],
}


@pytest.mark.parametrize("payloads", CASES.values(), ids=CASES.keys())
def test_hand_built_forms_read_as_wandbs_classes_read_them(
    payloads: list[bytes], tmp_path: Path
) -> None:
    path = tmp_path / "run-test.wandb"
    write_run_file(path, HEADER, payloads)
    assert records_of(path) == payloads  # the framing: FIRST/MIDDLE/LAST pieces joined
    want = reference(payloads)
    assert read_whole(path) == want
    (tmp_path / "grow").mkdir()
    assert read_growing(path, tmp_path / "grow", 997) == want


def test_a_record_still_being_written_is_read_when_whole(tmp_path: Path) -> None:
    path = tmp_path / "run-test.wandb"
    write_run_file(path, HEADER, PLAIN)
    data = path.read_bytes()
    tail = WandbRunTail(path)
    path.write_bytes(data[: len(data) - 3])  # the last record lacks its last bytes
    first = tail.read_new()
    assert len(first) == len(PLAIN) - 1
    path.write_bytes(data)
    assert first + tail.read_new() == reference(PLAIN).rows
    assert tail.offset == len(data)


@pytest.mark.parametrize("text", ["1,2", "[1", "1 2", "1\x05"])
def test_a_value_json_that_is_not_one_json_value_fails_as_json_loads_fails(
    text: str, tmp_path: Path
) -> None:
    path = tmp_path / "run-test.wandb"
    bad = history(item(("x",), value=text), item(("y",), value="2"), item(("_step",), value="3"))
    write_run_file(path, HEADER, [*PLAIN[:2], bad])
    with pytest.raises(ValueError):
        reference([bad])
    with pytest.raises(ValueError):
        WandbRunTail(path).read_new()


@pytest.mark.parametrize(
    "bad",
    [
        history(item(("x",), value="1")) + b"\x12\x05\x0a",  # a history field cut short
        history(b"\x12\x05ab", item(("_step",), value="1")),  # an item's nested_key cut short
        b"\x1a\x04\x0a\x02\x12\x05",  # a summary update's nested_key cut short
    ],
    ids=["history", "item", "summary"],
)
@pytest.mark.parametrize("last", [True, False], ids=["last", "between"])
def test_a_corrupt_record_fails_as_wandbs_classes_fail(
    bad: bytes, last: bool, tmp_path: Path
) -> None:
    """A record W&B's parser rejects fails the read with its error, whatever path met it."""
    path = tmp_path / "run-test.wandb"
    write_run_file(path, HEADER, [*PLAIN[:2], bad, *([] if last else PLAIN[2:4])])
    with pytest.raises(Exception, match="Error parsing message") as raised:
        pb.Record.FromString(bad)
    with pytest.raises(type(raised.value)):
        WandbRunTail(path).read_new()


def test_the_key_cache_is_emptied_when_full() -> None:
    cache = KeyCache()
    cache.heads |= {str(i).encode(): str(i) for i in range(KEY_CACHE - 1)}
    cache.names[b"x"] = "x"
    cache.bound()
    assert len(cache.heads) == KEY_CACHE - 1 and cache.names == {b"x": "x"}
    cache.heads[b"one more"] = "one more"
    cache.bound()
    assert cache.heads == {} and cache.names == {b"x": "x"}
