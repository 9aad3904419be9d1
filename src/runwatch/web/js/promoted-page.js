// The /promoted page: every promotion (newest first) with its run, name, artifact and checksum.

import { describeError, getJSON } from "./api.js";
import { formatAgo, formatCount, formatDateTime } from "./format.js";
import * as tokenPrompt from "./token-prompt.js";

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function row(p) {
  const tr = document.createElement("tr");
  tr.dataset.id = String(p.id);
  tr.dataset.run = p.run_id;
  const run = document.createElement("td");
  run.className = "col-run";
  const link = document.createElement("a");
  link.className = "run-link";
  link.href = `/runs/${encodeURIComponent(p.run_id)}`;
  link.textContent = p.run_name || p.run_id;
  const sub = document.createElement("div");
  sub.className = "run-sub";
  sub.textContent = p.run_id;
  run.append(link, sub);
  const sha = cell("", "col-sha");
  const code = document.createElement("code");
  code.className = "sha";
  code.textContent = p.sha256;
  code.title = p.sha256;
  sha.append(code);
  const of = p.detail && p.detail.of === "config+summary" ? "config + final metrics" : "";
  const when = cell(formatAgo(p.created_at, Date.now() / 1000), "col-num col-updated");
  when.title = formatDateTime(p.created_at);
  tr.append(run, cell(p.project, "col-project"), cell(p.name, "col-name"), cell(p.artifact || of, p.artifact ? "col-artifact" : "col-artifact none"), sha, when);
  return tr;
}

async function main() {
  let answer;
  try {
    answer = await getJSON("/api/v1/promoted");
  } catch (err) {
    $("promoted-error").textContent = describeError(err);
    $("promoted-error").hidden = false;
    return;
  }
  const items = answer.promoted || [];
  $("promoted").replaceChildren(...items.map(row));
  $("promoted-empty").hidden = items.length > 0;
  $("promoted-count").textContent = `${formatCount(items.length)} promoted`;
}

tokenPrompt.install();
main();
