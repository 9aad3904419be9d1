"""Property: every bucket the store answers equals a brute-force aggregation of the raw points,
one a step (the one ingested last: batches log steps again, late and out of order)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker

values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
points = st.lists(st.tuples(st.integers(0, 20_000), values), min_size=1, max_size=400)
series = st.lists(points, min_size=1, max_size=6)  # several batches: late and out of order


def wire(v: float) -> Any:
    return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))


def brute_force(raw: list[tuple[int, float]], lo: float, hi: float, width: float) -> list[dict]:
    inside = sorted((x, v) for x, v in dict(raw).items() if lo <= x <= hi)  # the last a step
    groups: dict[int, list[tuple[int, float]]] = {}
    for x, v in inside:
        groups.setdefault(math.floor(x / width), []).append((x, v))
    out = []
    for _, pts in sorted(groups.items()):
        finite = [v for _, v in pts if math.isfinite(v)]
        out.append(
            {
                "x": pts[0][0],
                "count": len(pts),
                "min": min(finite) if finite else "nan",
                "max": max(finite) if finite else "nan",
                "mean": sum(finite) / len(finite) if finite else "nan",
                "last": wire(pts[-1][1]),
            }
        )
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


# Every example runs in a new run of one store location per backend (the fixture's).
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    batches=series,
    bounds=st.tuples(st.integers(0, 20_000), st.integers(0, 20_000)),
    max_points=st.integers(3, 60),
    full_range=st.booleans(),
)
def test_buckets_equal_brute_force(
    make_store: StoreMaker,
    batches: list[list[tuple[int, float]]],
    bounds: tuple[int, int],
    max_points: int,
    full_range: bool,
) -> None:
    raw = [p for b in batches for p in b]
    start, end = (None, None) if full_range else (min(bounds), max(bounds))

    async def work() -> Any:
        store = make_store()
        await store.open()
        try:
            r = await store.create_run(RunCreate(project="p"))
            for i, b in enumerate(batches):
                rows = [PointRow(x, 1000.0 + x, {"v": wire(v)}) for x, v in b]
                await store.ingest(r.id, prepare_batch(Batch("p", i + 1, points=rows)))
            return (await store.metrics(r.id, ["v"], start, end, max_points, "step")).series["v"]
        finally:
            await store.close()

    s = run(work())
    lo = min(x for x, _ in raw) if start is None else start
    hi = max(x for x, _ in raw) if end is None else end
    ordered = sorted((x, v) for x, v in dict(raw).items() if lo <= x <= hi)  # one point a step
    if s.mode == "raw":
        assert len(ordered) <= max_points
        assert s.x == [x for x, _ in ordered]
        assert all(same(a, wire(v)) for a, (_, v) in zip(s.value, ordered, strict=True))
        return
    assert len(s.x) <= max_points
    expected = brute_force(raw, lo, hi, s.width)
    got = [
        {
            "x": s.x[i],
            "count": s.count[i],
            "min": s.min[i],
            "max": s.max[i],
            "mean": s.mean[i],
            "last": s.last[i],
        }
        for i in range(len(s.x))
    ]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert all(same(g[k], e[k]) for k in e), (g, e)
