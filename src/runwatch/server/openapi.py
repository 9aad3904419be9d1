"""What the OpenAPI document says about refusals: the one error shape, the status codes the
app really answers, and every bound it enforces on bodies and batches.

FastAPI documents a 422 ``HTTPValidationError`` for bad parameters; this app answers those with
a 400 in its own error shape (``server.errors``), so the document is corrected to say so. Batch
limits are server settings, so they are written into the wire schemas from the settings the
app runs with: JSON Schema keywords where one exists, and ``x-runwatch-limits`` for the rest.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runwatch.protocol import MAX_TIMESTAMP
from runwatch.server.settings import Settings
from runwatch.store.prepare import Limits

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every failure: a stable `code`, a message, and the offending `field`.",
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "required": ["code", "message", "field"],
        }
    },
    "required": ["error"],
}
_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def refusal(description: str) -> dict[str, Any]:
    """A documented error response (for a route's ``responses=``), in the one error shape."""
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def declare_bounds(schema: dict[str, Any], settings: Settings) -> None:
    """Correct the error responses and write the body and batch limits into ``schema``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    bad_input = refusal(
        "Bad input: a parameter or body field out of its declared bounds or malformed; "
        "`field` names it (`query.limit`, `$.points[3].values.loss`). A body that is not JSON "
        "is `malformed_json`; a bare `NaN`, `Infinity` or `-Infinity` in it is named in `field` "
        '(send a value that is not finite as the string `"nan"`, `"inf"` or `"-inf"`).'
    )
    too_large = refusal(f"The request body is over {settings.max_body_bytes:,} bytes.")
    for path, path_item in schema["paths"].items():
        for op in path_item.values():
            responses = op.setdefault("responses", {})
            if _is_fastapi_validation(responses.get("422")):
                del responses["422"]
                own = responses.get("400", {}).get("description")  # a route's own refusals
                responses["400"] = (
                    bad_input if own is None else refusal(f"{own} {bad_input['description']}")
                )
            if "requestBody" in op:
                responses.setdefault("400", bad_input)
                own = responses.get("413", {}).get("description")  # a route's tighter cap
                responses["413"] = (
                    too_large if own is None else refusal(f"{own} {too_large['description']}")
                )
            if path.startswith(API_PREFIX):
                _declare_api_refusals(path, responses)
                for param in op.get("parameters", []):
                    _forbid_nul(param.get("schema", {}))
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    _declare_batch_limits(components, settings.limits)


API_PREFIX = "/api/v1/"
_API_REFUSALS = {
    "401": refusal(
        "`unauthorized`: no token, or one unknown, revoked or expired (on a server with no "
        "token at all: a request a reverse proxy forwarded)."
    ),
    "403": refusal(
        "`forbidden`: the token's scope does not allow this (the message names the scope it "
        "needs), or it is limited to another project. `bad_host`: a loopback-bound server "
        "asked by a name that is not loopback. `cross_site`: a write whose `Origin` is not "
        "this server."
    ),
    "503": refusal(
        "`store_busy` / `store_unavailable`: the store cannot answer now; retry with backoff."
    ),
}
_NOT_FOUND = refusal(
    "`run_not_found` (or `rule_not_found`, `template_not_found`, …): nothing has the id or name "
    "in the path; `field` names the path parameter."
)


def _declare_api_refusals(path: str, responses: dict[str, Any]) -> None:
    """What any API route may answer besides its own refusals: a missing or too weak token,
    a store that cannot answer now, and (with a path parameter) nothing by that name."""
    for status, response in _API_REFUSALS.items():
        responses.setdefault(status, response)
    if "{" in path:
        responses.setdefault("404", _NOT_FOUND)


# api.no_nul refuses a NUL in any path or query parameter (PostgreSQL's TEXT cannot hold one).
NO_NUL_PATTERN = "^[^\\x00]*$"


def _forbid_nul(schema: dict[str, Any]) -> None:
    """Declare that a string parameter may not hold NUL, unless its own pattern already says
    what it may hold."""
    for branch in schema.get("anyOf", []):
        _forbid_nul(branch)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _forbid_nul(schema["items"])  # a repeated parameter: each value
    if schema.get("type") == "string":
        schema.setdefault("pattern", NO_NUL_PATTERN)


def _is_fastapi_validation(response: Any) -> bool:
    if not isinstance(response, dict):
        return False
    body = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(body.get("$ref") == _FASTAPI_VALIDATION)


def _declare_batch_limits(components: dict[str, Any], limits: Limits) -> None:
    """The per-batch limits of ``prepare_batch`` (422 ``limit_exceeded`` past one, 400 for a
    timestamp out of range), declared on the wire schemas they bound."""
    batch = components["Batch"]
    batch["x-runwatch-limits"] = msgspec.structs.asdict(limits)
    props = batch["properties"]
    props["events"]["maxItems"] = limits.max_events_per_batch
    props["points"]["description"] = (
        f"At most {limits.max_points_per_batch:,} values and "
        f"{limits.max_keys_per_batch:,} distinct keys in one batch."
    )
    _, ts, values = components["PointRow"]["prefixItems"]
    ts.update(minimum=0, maximum=MAX_TIMESTAMP)
    values["propertyNames"] = {
        "minLength": 1,
        "maxLength": limits.max_key_length,
        "pattern": NO_NUL_PATTERN,
    }
    props["texts"]["description"] = f"At most {limits.max_texts_per_batch:,} text values."
    _, ts, texts = components["TextRow"]["prefixItems"]
    ts.update(minimum=0, maximum=MAX_TIMESTAMP)
    texts["propertyNames"] = {
        "minLength": 1,
        "maxLength": limits.max_key_length,
        "pattern": NO_NUL_PATTERN,
    }
    texts["additionalProperties"]["maxLength"] = limits.max_text_length
    event = components["EventIn"]["properties"]
    event["kind"].update(minLength=1, maxLength=limits.max_kind_length)
    event["ts"].update(minimum=0, maximum=MAX_TIMESTAMP)
    _branch(event["entity"], "string")["maxLength"] = limits.max_key_length
    event["payload"]["description"] = f"At most {limits.max_event_payload_bytes:,} bytes as JSON."
    components["StatusIn"]["properties"]["ts"].update(minimum=0, maximum=MAX_TIMESTAMP)
    table = components["TableIn"]["properties"]
    table["rows"]["maxItems"] = limits.max_table_rows
    _branch(table["max_rows"], "integer")["maximum"] = limits.max_table_rows
    point_set = components["PointSetIn"]["properties"]
    point_set["points"]["maxItems"] = limits.max_point_set
    _branch(point_set["cap"], "integer")["maximum"] = limits.max_point_set
    props["media"]["maxItems"] = limits.max_media_per_batch
    props["histograms"]["maxItems"] = limits.max_histograms_per_batch
    histogram = components["HistogramIn"]["properties"]
    histogram["counts"].update(minItems=1, maxItems=limits.max_histogram_bins)
    histogram["edges"].update(minItems=2, maxItems=limits.max_histogram_bins + 1)
    components["MediaIn"]["properties"]["ts"].update(minimum=0, maximum=MAX_TIMESTAMP)
    histogram["ts"].update(minimum=0, maximum=MAX_TIMESTAMP)
    components["SnapshotIn"]["properties"]["value"]["description"] = (
        f"JSON, or a (nested) list of numbers; at most {limits.max_snapshot_bytes:,} bytes as JSON."
    )


def _branch(prop: dict[str, Any], json_type: str) -> dict[str, Any]:
    """The ``anyOf`` alternative of an optional property that has ``json_type``."""
    return next(b for b in prop["anyOf"] if b.get("type") == json_type)
