// The run page's widgets beside the charts and the feed: vitals bar, controls, leaderboard,
// scatter, snapshot scrubber, request snapshot, entity history and the commands they send.
// Hydrated from /state at once, then kept current by live messages.

import { describeError, getJSON } from "./api.js";
import * as commands from "./commands.js";
import * as controls from "./controls.js";
import * as entityPanel from "./entity-panel.js";
import { formatCount } from "./format.js";
import * as leaderboard from "./leaderboard.js";
import * as requestSnapshot from "./request-snapshot.js";
import * as rerun from "./rerun.js";
import * as scatter from "./scatter.js";
import * as scrubber from "./snapshot-scrubber.js";
import * as sparkline from "./sparkline.js";
import * as vitalsBar from "./vitals-bar.js";
import { may, whoami } from "./whoami.js";

const pathOf = (key) => key.split("/").map(encodeURIComponent).join("/");

/** Mount on the run page's elements (looked up by id in `doc`); `base` is the run's API path. */
export function mount(doc, { base }) {
  const $ = (id) => doc.getElementById(id);
  let feed = null;
  let running = false;
  let commanding = false; // sending commands (Deprecate) needs the 'admin' scope
  whoami().then((who) => {
    commanding = may(who, "admin");
    if (feed) feed.setActions(running && commanding);
  });

  const cmds = commands.mount({ base, onChange: onCommand });
  const ctl = controls.mount($("run-controls"), { base, sendCommand: (kind, payload) => cmds.send(kind, payload) });
  const vitals = vitalsBar.mount($("vitals"), {
    load: (keys) => getJSON(`${base}/sparklines`, { keys: keys.join(","), n: sparkline.MAX_SAMPLES }),
  });
  const board = leaderboard.mount($("leaderboard"), {
    onCount(rows, tables) {
      $("lb-count").textContent = tables ? `${formatCount(rows)} row${rows === 1 ? "" : "s"}` : "";
      $("leaderboard-panel").dataset.empty = String(tables === 0);
    },
  });
  const points = scatter.mount($("scatter"), {
    onChange({ sets }) {
      $("scatter-panel").hidden = sets === 0;
      showLower();
    },
  });
  const snaps = scrubber.mount($("snapshots"), {
    keySelect: $("snap-key"),
    load: (key, at) => getJSON(`${base}/snapshots/${pathOf(key)}`, { at }),
    onChange({ keys }) {
      $("snapshot-panel").hidden = keys === 0;
      showLower();
    },
  });
  const entity = entityPanel.mount($("entity-panel"), {
    load: (id) => getJSON(`${base}/entities/${encodeURIComponent(String(id))}/events`),
  });

  function showLower() {
    $("run-lower").hidden = $("scatter-panel").hidden && $("snapshot-panel").hidden;
  }

  function onCommand(cmd) {
    if (cmd.kind === "cancel") ctl.onCancel(cmd);
    else if (cmd.kind === "deprecate" && feed && cmd.payload && cmd.payload.entity !== undefined) {
      feed.setEntityCommand(cmd.payload.entity, cmd);
    }
  }

  async function deprecate(id) {
    try {
      await cmds.send("deprecate", { entity: id });
    } catch (err) {
      const now = Date.now() / 1000;
      const refused = { id: -1, kind: "deprecate", payload: { entity: id }, state: "failed", error: describeError(err), created_at: now, updated_at: now };
      if (feed) feed.setEntityCommand(id, refused);
    }
  }

  function setStatus(word) {
    running = word === "running";
    ctl.setStatus(word);
    if (feed) feed.setActions(running && commanding);
  }

  return {
    /** Options for the event feed's mount: kind filter, entity history, Deprecate. */
    feedHooks: { kindSelect: $("feed-kind"), onEntity: (id) => entity.open(id), onDeprecate: deprecate },
    /** Open an entity's history in the drawer (the Media tab's label maps pick entities too). */
    openEntity: (id) => entity.open(id),
    /** Send a run command through the page's one command list (states reach the feed too). */
    sendCommand: (kind, payload) => cmds.send(kind, payload),
    /** The feed, once mounted with `feedHooks`. */
    setFeed(f) {
      feed = f;
      feed.setActions(running && commanding);
    },
    /** Everything from /state at once (page load, refresh, re-sync after a reset). */
    hydrate(state) {
      const run = state.run;
      setStatus(run.status);
      vitals.hydrate(run, state.vitals);
      board.setTables(state.tables);
      points.setSets(state.point_sets);
      snaps.setKeys(state.snapshots);
      const rows = requestSnapshot.mount($("request-snapshot"), run.snapshot);
      $("env-count").textContent = rows ? String(rows) : "";
      // A run launched from a template opens its panel: template, parameters, Re-run.
      if (rerun.mount($("rerun"), run)) $("env-panel").open = true;
      cmds.load().catch(() => {}); // command states are a nicety: live messages bring new ones
    },
    /** One live message (every type; the ones these widgets do not use are ignored). */
    apply(msg) {
      switch (msg.type) {
        case "points":
          vitals.addPoints(msg.points);
          break;
        case "vitals":
          vitals.mark(msg.keys);
          break;
        case "table":
          board.onTable(msg);
          break;
        case "points_set":
          points.onPointsSet(msg);
          break;
        case "snapshot":
          snaps.onSnapshot(msg);
          break;
        case "command":
          cmds.note(msg.command);
          break;
        case "event":
          entity.add({ seq: msg.seq, ...msg.event });
          break;
        case "status":
          setStatus(msg.state);
          break;
        case "run.closed":
          running = false;
          if (feed) feed.setActions(false);
          break;
        default:
          break;
      }
    },
  };
}
