"""Wire schemas: what decodes, and errors that name the field."""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
import pytest

from runwatch.protocol import Batch, decode_value, encode_value
from runwatch.server.errors import error_text, field_of, malformed
from runwatch.store.prepare import BatchRejected, prepare_batch

decoder = msgspec.json.Decoder(Batch)


def test_compact_point_rows_decode() -> None:
    b = decoder.decode(b'{"producer":"p","batch_seq":1,"points":[[3,1.5,{"loss":0.25,"x":null}]]}')
    assert (b.points[0].step, b.points[0].ts, b.points[0].values) == (
        3,
        1.5,
        {"loss": 0.25, "x": None},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"producer":"p","batch_seq":"1"}', "$.batch_seq"),
        (b'{"producer":"p","batch_seq":1,"points":[["a",1,{}]]}', "$.points[0].step"),
        (
            b'{"producer":"p","batch_seq":1,"points":[[1,1,{"b":1,"a":[1]}]]}',
            "$.points[0].values.a",
        ),
        (
            b'{"producer":"p","batch_seq":1,"points":[[1,1,{"loss":"high"}]]}',
            "$.points[0].values.loss",
        ),
        (
            b'{"producer":"p","batch_seq":1,"points":[[1,1,{"a":"nan","loss":"high"}]]}',
            "$.points[0].values.loss",
        ),
        (
            b'{"producer":"p","batch_seq":1,"points":[[1,1,{"a":1,"b c":1e999}]]}',
            '$.points[0].values["b c"]',
        ),
        (b'{"producer":"p","batch_seq":1,"events":[{"kind":"k"}]}', "$.events[0].ts"),
        (b'{"producer":"p","batch_seq":1,"events":[{"kind":"k","ts":1,"x":2}]}', "$.events[0].x"),
        (b'{"producer":"p","batch_seq":1,"surprise":1}', "$.surprise"),
    ],
)
def test_validation_errors_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError) as exc:
        decoder.decode(body)
    assert field_of(exc.value, body) == field


Bounded = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=3)]
Few = Annotated[list[int], msgspec.Meta(max_length=2)]
Under = Annotated[float, msgspec.Meta(lt=0.5)]


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (dict[str, Bounded], b'{"ok": 1, "neg": -1}', "$.neg"),
        (dict[str, Bounded], b'{"ok": 1, "big": 9223372036854775808}', "$.big"),
        (dict[str, Under], b'{"ok": 0.25, "x y": 0.5}', '$["x y"]'),
        (dict[str, Short], b'{"ok": "abc", "long": "abcd"}', "$.long"),
        (dict[str, Short], b'{"ok": "abc", "empty": ""}', "$.empty"),
        (dict[str, Few], b'{"ok": [1, 2], "many": [1, 2, 3]}', "$.many"),
        (dict[str, dict[str, Bounded]], b'{"a": {"b": 1}, "c": {"b": 2, "d": -3}}', "$.c.d"),
        (dict[str, list[Bounded]], b'{"a": [1, 2], "c": [3, -4]}', "$.c[1]"),
    ],
)
def test_a_constraint_error_names_the_key_that_breaks_it(
    kind: type, body: bytes, field: str
) -> None:
    with pytest.raises(msgspec.ValidationError) as exc:
        msgspec.json.decode(body, type=kind)
    assert "[...]" in str(exc.value)
    assert field_of(exc.value, body) == field


def test_a_text_with_a_nul_is_named_by_its_own_key() -> None:
    body = b'{"producer":"p","batch_seq":1,"texts":[[1,1,{"model":"gpt","note":"a\\u0000b"}]]}'
    with pytest.raises(msgspec.ValidationError) as exc:
        decoder.decode(body)
    assert field_of(exc.value, body) == "$.texts[0].values.note"
    assert error_text(exc.value, body).endswith("at `$.texts[0].values.note`")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"NaN", "$"),
        (b"[1, [Infinity]]", "$[1][0]"),
        (b'[[1], [2, "x", -Infinity]]', "$[1][2]"),
        (b'{"s": "[,{\\"", "t": {"u": []}, "x": [1, "a,b]", NaN]}', "$.x[2]"),
        (b'{"a\\"]": NaN}', '$["a\\"]"]'),
        (b'{"a\\\\": 1, "b": {"c d": NaN', '$.b["c d"]'),  # the rest need not be JSON
        (b'{"a": -NaN}', "$.a"),
    ],
)
def test_a_non_finite_literal_is_named_where_it_is(body: bytes, field: str) -> None:
    with pytest.raises(msgspec.DecodeError) as exc:
        msgspec.json.decode(body)
    error = malformed(exc.value, body)
    assert (error.code, error.field) == ("malformed_json", field)
    assert f"at `{field}`" in error.message


@pytest.mark.parametrize("body", [b'{"a": Nan}', b'{"a": nan}', b"{NaN: 1}", b'{"a": 1,}'])
def test_other_malformed_json_names_no_field(body: bytes) -> None:
    with pytest.raises(msgspec.DecodeError) as exc:
        msgspec.json.decode(body)
    error = malformed(exc.value, body)
    assert error.field is None and error.message == f"body is not valid JSON: {exc.value}"


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([[1, 1.0, {"": 1.0}]], "$.points[0].values."),
        ([[1, 1.0, {"k" * 300: 1.0}]], "$.points[0].values." + "k" * 40),
    ],
)
def test_unstorable_values_are_rejected_by_name(rows: list, field: str) -> None:
    b = decoder.decode(msgspec.json.encode({"producer": "p", "batch_seq": 1, "points": rows}))
    with pytest.raises(BatchRejected) as exc:
        prepare_batch(b)
    assert exc.value.field == field


def test_non_finite_values_round_trip() -> None:
    for v in (math.inf, -math.inf, 1.5, 0.0, -1e308):
        assert decode_value(encode_value(v)) == v
    assert math.isnan(decode_value(encode_value(math.nan)))
    assert math.isnan(decode_value(None))
