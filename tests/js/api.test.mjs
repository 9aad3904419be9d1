// api.js: every request carries the token, a 401 reaches the listeners, failures carry the
// server's words. The browser's fetch, location and sessionStorage are stubbed (node has none
// of a page's); the answers are real Response objects.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import {
  ApiError,
  deleteJSON,
  getBlob,
  getJSON,
  onUnauthorized,
  postBinary,
  postJSON,
} from "../../src/runwatch/web/js/api.js";
import { same } from "./helpers.mjs";

const stored = new Map();
globalThis.sessionStorage = { getItem: (k) => (stored.has(k) ? stored.get(k) : null) };
globalThis.location = { origin: "http://hub.test", protocol: "http:" };

let calls = [];
let answer = () => Response.json({});
globalThis.fetch = async (url, init) => {
  calls.push({ url: String(url), ...init });
  return answer();
};

let refused = 0;
onUnauthorized(() => refused++);

beforeEach(() => {
  stored.clear();
  calls = [];
  answer = () => Response.json({});
  refused = 0;
});

const refusal = (status, error) => () => Response.json({ error }, { status });

test("a GET sends the tab's token as a header and its parameters, and resolves to the JSON", async () => {
  stored.set("runwatch_token", "rw_abc");
  answer = () => Response.json({ runs: [1, 2] });
  same(await getJSON("/api/v1/runs", { project: "p", limit: 5, cursor: null, q: "" }), { runs: [1, 2] });
  same(calls.map((c) => [c.method, c.url, c.headers, c.keepalive]), [
    ["GET", "http://hub.test/api/v1/runs?project=p&limit=5", { Accept: "application/json", Authorization: "Bearer rw_abc" }, false],
  ]);
});

test("without a token no Authorization header is sent", async () => {
  await getJSON("/api/v1/whoami");
  assert.ok(!("Authorization" in calls[0].headers));
});

test("a 401 from any method tells the listeners and throws the server's error", async () => {
  const error = { code: "unauthorized", message: "a token is required", field: "Authorization" };
  answer = refusal(401, error);
  const attempts = [
    getJSON("/api/v1/runs"),
    getBlob("/api/v1/runs/r/blobs/abc"),
    postJSON("/api/v1/runs", {}),
    postBinary("/api/v1/uploads?name=a.csv", new Blob(["x"])),
    deleteJSON("/api/v1/runs/r/tensorboard", { keepalive: true }),
  ];
  for (const attempt of attempts) {
    await assert.rejects(attempt, (err) => {
      assert.ok(err instanceof ApiError);
      same([err.status, err.code, err.message, err.field], [401, "unauthorized", "a token is required", "Authorization"]);
      return true;
    });
  }
  same(refused, 5);
  same(calls.map((c) => c.method), ["GET", "GET", "POST", "POST", "DELETE"]);
});

test("a refusal other than 401 is not reported as a missing token", async () => {
  answer = refusal(403, { code: "forbidden", message: "needs 'admin'" });
  await assert.rejects(deleteJSON("/api/v1/runs/r/tensorboard"), { status: 403, code: "forbidden", field: null });
  same(refused, 0);
});

test("an answer that is not JSON keeps the HTTP status as the message", async () => {
  answer = () => new Response("<html>bad gateway</html>", { status: 502 });
  await assert.rejects(getBlob("/api/v1/runs/r/blobs/abc"), { status: 502, code: "http", message: "HTTP 502" });
});

test("a network failure is an ApiError with status 0", async () => {
  answer = () => {
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(postBinary("/api/v1/uploads?name=a", new Blob(["x"])), {
    status: 0,
    code: "network",
    message: "cannot reach the server (Failed to fetch)",
  });
});

test("a POST sends its JSON body, and its extra headers cannot change the content type", async () => {
  stored.set("runwatch_token", "rw_abc");
  answer = () => Response.json({ id: "r1" });
  const extra = { "Idempotency-Key": "k1", "Content-Type": "text/plain" };
  same(await postJSON("/api/v1/runs", { name: "x" }, extra), { id: "r1" });
  same([calls[0].body, calls[0].headers], [
    '{"name":"x"}',
    { "Idempotency-Key": "k1", Accept: "application/json", "Content-Type": "application/json", Authorization: "Bearer rw_abc" },
  ]);
});

test("a binary POST sends the bytes as they are, with their content type and the token", async () => {
  stored.set("runwatch_token", "rw_abc");
  answer = () => Response.json({ name: "a b.csv", value: "@uploads/a_b.csv" });
  const file = new Blob(["x,y\n1,2\n"]);
  same(await postBinary(`/api/v1/uploads?name=${encodeURIComponent("a b.csv")}`, file), { name: "a b.csv", value: "@uploads/a_b.csv" });
  assert.equal(calls[0].body, file);
  same([calls[0].method, calls[0].url, calls[0].headers], [
    "POST",
    "http://hub.test/api/v1/uploads?name=a%20b.csv",
    { Accept: "application/json", "Content-Type": "application/octet-stream", Authorization: "Bearer rw_abc" },
  ]);
});

test("a DELETE may outlive the page (keepalive) and resolves to the JSON", async () => {
  answer = () => Response.json({ stopped: true });
  same(await deleteJSON("/api/v1/runs/r/tensorboard", { keepalive: true }), { stopped: true });
  same([calls[0].method, calls[0].keepalive], ["DELETE", true]);
});

test("a blob GET resolves to the answer's bytes, asking for any type", async () => {
  stored.set("runwatch_token", "rw_abc");
  answer = () => new Response(new Uint8Array([137, 80, 78, 71]), { headers: { "Content-Type": "image/png" } });
  const blob = await getBlob("/api/v1/runs/r/blobs/abc");
  same([blob.type, [...new Uint8Array(await blob.arrayBuffer())]], ["image/png", [137, 80, 78, 71]]);
  same(calls[0].headers, { Accept: "*/*", Authorization: "Bearer rw_abc" });
});
