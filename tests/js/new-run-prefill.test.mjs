// new-run-prefill.js: which template and values the New-run form takes from an earlier run.
import { test } from "node:test";

import { prefillNote, templateOf, valuesFrom } from "../../src/runwatch/web/js/new-run-prefill.js";
import { same } from "./helpers.mjs";

const TRAIN = { name: "train", params: [{ name: "lr" }, { name: "model" }, { name: "data" }] };
const QUEUED = {
  id: "abc",
  name: "train-abc",
  config: { lr: 0.5, model: "cnn", data: "a.csv" },
  snapshot: { template: "train", params: { lr: 0.2, model: "mlp", data: "b.csv" } },
};
const BY_HAND = { id: "r1", name: "<b>x</b>", config: { lr: 0.3, other: 1 }, snapshot: {} };

test("a run queued from a template starts from the parameters it was queued with", () => {
  same(templateOf(QUEUED), "train");
  same(valuesFrom(QUEUED, TRAIN), { values: { lr: 0.2, model: "mlp", data: "b.csv" }, filled: ["lr", "model", "data"] });
  same(prefillNote(QUEUED, TRAIN, ["lr"], ["train"]), "Prefilled from run train-abc (abc), queued from template train: review and queue.");
});

test("another run fills the parameters named like its config keys", () => {
  same([templateOf(BY_HAND), templateOf(null), templateOf({ snapshot: { template: "t" } })], [null, null, null]);
  same(valuesFrom(BY_HAND, TRAIN), { values: { lr: 0.3 }, filled: ["lr"] });
  same(valuesFrom(QUEUED, { name: "eval", params: [{ name: "model" }, { name: "steps" }] }), { values: { model: "cnn" }, filled: ["model"] });
  same(
    prefillNote(BY_HAND, TRAIN, [], ["train"]),
    "run <b>x</b> (r1) was not queued from a template: pick a template; none of its config keys names a parameter of train.",
  );
  same(
    prefillNote(QUEUED, { name: "eval" }, ["model"], ["train", "eval"]),
    "run train-abc (abc) was queued from template train; under eval, parameters named like its config keys are filled from it (model).",
  );
  same(
    prefillNote(QUEUED, { name: "eval" }, ["model"], ["eval"]),
    "run train-abc (abc) was queued from template train, which this server no longer declares: pick a template; parameters named like its config keys are filled from it (model).",
  );
});
