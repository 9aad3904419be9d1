// Shared by the unit tests of the dashboard's pure functions (run by `node --test tests/js/`).
import assert from "node:assert/strict";

/** A value as Python would see it after a JSON round trip: undefined is null, -0 is 0. */
export function plain(value) {
  if (value === undefined) return null;
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Deep equality of ``actual`` (as plain data) and ``expected``. */
export function same(actual, expected, message) {
  assert.deepStrictEqual(plain(actual), expected, message);
}

/** ``actual`` within a relative 1e-6 of ``expected`` (pytest.approx's default). */
export function approx(actual, expected) {
  const tolerance = Math.max(1e-12, Math.abs(expected) * 1e-6);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not about ${expected}`);
}
