"""Fuzzing ingest with hypothesis-made batches (the whole API: ``test_schema_fuzz``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.asgi import InProcessServer, serve_in_process, settings_for


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    with serve_in_process(settings_for(tmp_path_factory.mktemp("fuzz") / "data")) as server:
        yield server


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(1e308),
    st.sampled_from(["nan", "inf", "-inf", "NaN", "Infinity"]),
    st.none(),
    st.integers(-(2**62), 2**62),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.booleans(),
)
keys = st.one_of(
    st.text(min_size=0, max_size=40),
    st.just("k" * 10_000),
    st.sampled_from(["loss", "acc", "ünïcødé/键", "a/b/c"]),
)
rows = st.lists(
    st.tuples(
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=True),
        st.dictionaries(keys, values, max_size=4),
    ),
    max_size=20,
)
payloads = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=10)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=30,
)
junk = st.one_of(
    st.builds(lambda r: {"producer": "f", "points": r}, rows),
    st.builds(
        lambda p: {"producer": "f", "events": [{"kind": "k", "ts": 1.0, "payload": p}]}, payloads
    ),
    st.builds(lambda k: {"producer": "f", "events": [{"kind": k, "ts": 1.0}]}, keys),
    st.dictionaries(st.text(max_size=8), values, max_size=4),
)
_seq = itertools.count(1)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(bad=junk, before=st.integers(1, 3), after=st.integers(1, 3))
def test_fuzzed_batches_get_a_clear_answer_and_never_drop_their_neighbours(
    fuzzed: InProcessServer, bad: dict, before: int, after: int
) -> None:
    with fuzzed.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "fuzz"}).json()["id"]
        sent = 0

        def good(step: int) -> None:
            r = c.post(
                f"/api/v1/runs/{run_id}/batches",
                json={
                    "producer": "g",
                    "batch_seq": next(_seq),
                    "points": [[step, 1.0, {"ok": float(step)}]],
                },
            )
            assert r.status_code == 200

        for _ in range(before):
            good(sent)
            sent += 1
        body = {"batch_seq": next(_seq), **bad}
        try:
            encoded = httpx.Request("POST", "/", json=body).content
        except ValueError:  # not even JSON (e.g. a NaN float): send what a broken client would
            encoded = repr(body).encode()
        r = c.post(
            f"/api/v1/runs/{run_id}/batches",
            content=encoded,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code in (200, 400, 409, 413, 422), r.text
        if r.status_code != 200:
            error = r.json()["error"]
            assert error["code"] and error["message"]
        for _ in range(after):
            good(sent)
            sent += 1
        series = c.get(
            f"/api/v1/runs/{run_id}/metrics", params={"keys": "ok", "max_points": 100}
        ).json()["series"]
        assert series["ok"]["value"] == [float(i) for i in range(sent)]
        assert c.get("/healthz").status_code == 200


def test_out_of_order_duplicate_and_extreme_values_are_kept(fuzzed: InProcessServer) -> None:
    with fuzzed.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "fuzz"}).json()["id"]
        points = [
            [5, 1.0, {"x": 1e308}],
            [1, 1.0, {"x": -1e308}],
            [5, 2.0, {"x": "nan"}],
            [3, 1.0, {"x": "-inf"}],
        ]
        assert (
            c.post(
                f"/api/v1/runs/{run_id}/batches",
                json={"producer": "o", "batch_seq": 1, "points": points},
            ).status_code
            == 200
        )
        got = c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]["x"]
        raw = c.get(f"/api/v1/runs/{run_id}/raw/x").json()["points"]
    # A chart keeps one point a step, the one logged last; the raw export keeps every one.
    assert got["x"] == [1, 3, 5] and got["value"] == [-1e308, "-inf", "nan"]
    assert not math.isnan(got["value"][0])
    assert [(p[0], p[2]) for p in raw] == [(5, 1e308), (1, -1e308), (5, "nan"), (3, "-inf")]
