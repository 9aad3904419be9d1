"""``GET …/logs?q=``: the server searches every line it keeps, on both stores, pages the
matches with ``after``/``before``, and refuses a search it cannot run with a 400 naming it."""

from __future__ import annotations

import httpx

from runwatch.server.run_objects import MAX_LOG_QUERY
from tests.server.test_api import new_run, post


def test_search_pages_through_the_matches_of_every_kept_line(store_api: httpx.Client) -> None:
    c = store_api
    run_id = new_run(c)["id"]
    logs = [
        {"stream": "stdout", "ts": 1.0, "text": f"line {i} {'50%' if i % 700 == 0 else ''}"}
        for i in range(3000)
    ]
    assert post(c, run_id, batch_seq=1, logs=logs).status_code == 200
    url = f"/api/v1/runs/{run_id}/logs"

    found, after = [], 0
    while True:
        page = c.get(url, params={"q": "0%", "after": after, "limit": 2}).json()
        if not page["lines"]:
            break
        found += [x["line"] for x in page["lines"]]
        after = page["next_after"]
    assert found == [1, 701, 1401, 2101, 2801]
    assert [x["text"] for x in c.get(url, params={"q": "LINE 2999"}).json()["lines"]] == [
        "line 2999 "
    ]
    newest = c.get(url, params={"q": "line 1", "before": 3001, "limit": 3}).json()["lines"]
    assert [x["line"] for x in newest] == [1998, 1999, 2000]  # "line 1997".."line 1999"
    assert c.get(url, params={"q": "_", "stream": "stderr"}).json()["lines"] == []


def test_a_search_out_of_bounds_is_a_400_naming_it(store_api: httpx.Client) -> None:
    c = store_api
    url = f"/api/v1/runs/{new_run(c)['id']}/logs"
    for params, field in [
        ({"q": ""}, "query.q"),
        ({"q": "x" * (MAX_LOG_QUERY + 1)}, "query.q"),
        ({"q": "a\x00b"}, "query.q"),
        ({"before": 0}, "query.before"),
    ]:
        r = c.get(url, params=params)
        assert r.status_code == 400, (params, r.text)
        assert field in r.text
    assert c.get(url, params={"q": "x" * MAX_LOG_QUERY}).status_code == 200
    spec = c.get("/openapi.json").json()
    declared = {
        p["name"]: p["schema"]
        for p in spec["paths"]["/api/v1/runs/{run_id}/logs"]["get"]["parameters"]
    }
    assert declared["q"]["anyOf"][0]["maxLength"] == MAX_LOG_QUERY
    assert declared["before"]["anyOf"][0]["minimum"] == 1
