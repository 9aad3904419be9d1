"""``GET /api/v1/runs?q=…&sort=…&limit=…&cursor=…``: a query, a sort, keyset pages with the
total, and clear 400s naming the parameter (the app in process, tests.asgi)."""

from __future__ import annotations

import httpx

from tests.asgi import InProcessServer


def runs_page(c: httpx.Client, **params: object) -> httpx.Response:
    return c.get("/api/v1/runs", params={"project": "sweep", **params})


def test_a_query_sorted_and_paged_with_the_total(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        created = {}
        for i, lr in enumerate([0.1, 0.003, 0.0005, 0.02, 0.0001]):
            config = {"lr": lr, "opt": "adam" if i % 2 else "sgd"}
            made = c.post(
                "/api/v1/runs", json={"project": "sweep", "name": f"trial-{i}", "config": config}
            )
            created[f"trial-{i}"] = made.json()["created_at"]
        made = c.post("/api/v1/runs", json={"project": "sweep", "name": "no-lr", "config": {}})
        created["no-lr"] = made.json()["created_at"]
        names, totals, newest, cursor = [], [], [], None
        while True:
            params = {"sort": "config.lr", "limit": 2} | ({"cursor": cursor} if cursor else {})
            body = runs_page(c, **params).json()
            names += [r["name"] for r in body["runs"]]
            totals.append(body["total"])
            newest.append(body["newest"])
            cursor = body["cursor"]
            if cursor is None:
                break
        small = runs_page(c, q='config.lr < 1e-2 and name ~ "trial-[0-3]"', sort="-config.lr")
        none = runs_page(c, q='name == "nobody"')
    assert names == ["trial-4", "trial-2", "trial-1", "trial-3", "trial-0", "no-lr"]
    assert totals == [6, 6, 6]
    # The newest matching run, on every page, whichever run the page holds.
    assert newest == [created["no-lr"]] * 3
    assert [r["name"] for r in small.json()["runs"]] == ["trial-1", "trial-2"]
    assert small.json()["total"] == 2 and small.json()["cursor"] is None
    assert small.json()["newest"] == created["trial-2"]
    # ``name`` is no config or summary field: nothing to say is absent.
    assert none.json() == {"runs": [], "total": 0, "cursor": None, "newest": None, "absent": []}


def test_no_match_names_the_fields_no_run_has_and_the_one_most_like_each(
    app_server: InProcessServer,
) -> None:
    with app_server.client() as c:
        c.post(
            "/api/v1/runs",
            json={"project": "sweep", "config": {"optimizer": {"name": "adam"}, "lr": 0.1}},
        )
        run_id = c.get("/api/v1/runs").json()["runs"][0]["id"]
        post_batch = {"producer": "p", "batch_seq": 1, "points": [[0, 1.0, {"acc": 0.9}]]}
        c.post(f"/api/v1/runs/{run_id}/batches", json=post_batch).raise_for_status()

        def absent(q: str) -> object:
            body = runs_page(c, q=q).json()
            return body["absent"] if body["total"] == 0 else f"{body['total']} runs"

        assert absent('config.optimzer.name == "adam"') == [
            {"field": "config.optimzer.name", "like": "config.optimizer.name"}
        ]
        assert absent('config.optimizer.name == "sgd"') == []  # a field: no run has that value
        assert (
            absent("config.optimizer == null and summary.acc.max > 1") == []
        )  # an object; extremes
        assert absent("config.zzz > 1 or not summary.acc > 0.5 or config.zzz < 0") == [
            {"field": "config.zzz", "like": None}
        ]
        assert absent("config.lr > 0") == "1 runs"  # only a query matching nothing is looked at
        assert runs_page(c, q="config.lrr > 0", project="other").json()["absent"] == [
            {"field": "config.lrr", "like": None}  # the sample is the project's: none there
        ]


def test_bad_parameters_are_400s_naming_them_and_injection_stays_data(
    app_server: InProcessServer,
) -> None:
    with app_server.client() as c:
        c.post("/api/v1/runs", json={"project": "sweep", "name": "a"})
        bad_q = runs_page(c, q="config.lr < 1 and summary.acc >")
        bad_sort = runs_page(c, sort="-tags")
        first = runs_page(c, limit=1, sort="name")
        c.post("/api/v1/runs", json={"project": "sweep", "name": "b"})
        cursor = runs_page(c, limit=1, sort="name").json()["cursor"]
        other_sort = runs_page(c, cursor=cursor, sort="-name")
        garbage = runs_page(c, cursor="not a cursor")
        injected = runs_page(c, q="name == \"a' OR 1=1 --\" or name == 'a\"; DROP TABLE runs; --'")
        still = runs_page(c)

    def error(r: httpx.Response) -> tuple[int, str, str]:
        return r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]

    assert error(bad_q) == (400, "invalid_query", "q")
    assert "(column 32)" in bad_q.json()["error"]["message"]
    assert "^" in bad_q.json()["error"]["message"]
    assert error(bad_sort) == (400, "invalid_sort", "sort")
    assert first.json()["cursor"] is None and first.json()["total"] == 1
    assert error(other_sort) == (400, "invalid_cursor", "cursor")
    assert error(garbage) == (400, "invalid_cursor", "cursor")
    assert injected.status_code == 200 and injected.json()["runs"] == []
    assert still.json()["total"] == 2


def test_groups_and_fields_of_the_matching_runs(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        for i in range(6):
            config = {"opt": "adam" if i % 3 else "sgd", "optim": {"lr": 0.1 * (i + 1)}}
            run = c.post("/api/v1/runs", json={"project": "sweep", "config": config}).json()
            batch = {"producer": "t", "batch_seq": 1, "points": [[0, 1.0, {"train/acc": i}]]}
            c.post(f"/api/v1/runs/{run['id']}/batches", json=batch)
        groups = c.get(
            "/api/v1/run-groups",
            params={"project": "sweep", "by": "config.opt", "values": ['summary["train/acc"]']},
        ).json()
        only_adam = c.get(
            "/api/v1/run-groups", params={"by": "config.opt", "q": 'config.opt == "adam"'}
        ).json()
        largest = c.get(
            "/api/v1/run-groups", params={"project": "sweep", "by": "config.opt", "limit": 1}
        ).json()
        fields = c.get("/api/v1/run-fields", params={"project": "sweep"}).json()
        bad_by = c.get("/api/v1/run-groups", params={"by": "tags"})
        bad_q = c.get("/api/v1/run-fields", params={"q": "config.lr <"})
    assert groups["by"] == "config.opt"
    assert [(g["value"], g["runs"]) for g in groups["groups"]] == [("adam", 4), ("sgd", 2)]
    acc = groups["groups"][1]["fields"]['summary["train/acc"]']
    assert (acc["count"], acc["mean"], acc["min"], acc["max"]) == (2, 1.5, 0.0, 3.0)
    assert [g["value"] for g in only_adam["groups"]] == ["adam"]
    # Past the limit, the largest groups, and a flag saying smaller ones were left out.
    assert groups["more"] is False and only_adam["more"] is False
    assert [(g["value"], g["runs"]) for g in largest["groups"]] == [("adam", 4)]
    assert largest["more"] is True
    assert fields == {
        "runs": 6,
        "config": {"config.opt": 6, "config.optim.lr": 6},
        "summary": {'summary["train/acc"]': 6},
    }
    assert (bad_by.status_code, bad_by.json()["error"]["field"]) == (400, "by")
    assert (bad_q.status_code, bad_q.json()["error"]["field"]) == (400, "q")


def test_a_status_that_is_no_run_status_is_a_400_naming_it(app_server: InProcessServer) -> None:
    """Not an empty page: a typo (``status=runing``) would otherwise look like "no runs"."""
    with app_server.client() as c:
        c.post("/api/v1/runs", json={"project": "sweep", "name": "a"})
        answers = [
            c.get(path, params={"status": "bogus", **more})
            for path, more in [
                ("/api/v1/runs", {}),
                ("/api/v1/run-groups", {"by": "config.opt"}),
                ("/api/v1/run-fields", {}),
            ]
        ]
        queued = runs_page(c, status="queued").json()
        running = runs_page(c, status="running").json()
    for answer in answers:
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request" and error["field"] == "query.status", error
        assert "running" in error["message"]  # the statuses there are
    assert queued["total"] == 0 and running["total"] == 1
