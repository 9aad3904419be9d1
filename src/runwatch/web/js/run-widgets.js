// The run page's widgets beside the charts and the feed: vitals bar, controls, leaderboard,
// scatter, snapshot scrubber, request snapshot, entity history and the commands they send.
// Hydrated from /state at once, then kept current by live messages.

import { describeError, getJSON, keyPath } from "./api.js";
import * as commands from "./commands.js";
import * as controls from "./controls.js";
import * as entityActions from "./entity-actions.js";
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

/** Mount on the run page's elements (looked up by id in `doc`); `base` is the run's API path;
 * `revealImage(key)` shows an image key's panel (the Media tab). */
export function mount(doc, { base, revealImage = () => {} }) {
  const $ = (id) => doc.getElementById(id);
  let feed = null;
  let running = false;
  let commanding = false; // sending commands (Deprecate) needs the 'admin' scope
  let kinds = []; // the command kinds the producer handles (run.on_command)
  whoami().then((who) => {
    commanding = may(who, "admin");
    syncAllowed();
  });

  const cmds = commands.mount({ base, onChange: onCommand });
  const ctl = controls.mount($("run-controls"), { base, sendCommand: (kind, payload) => cmds.send(kind, payload) });
  const vitals = vitalsBar.mount($("vitals"), {
    load: (keys) => getJSON(`${base}/sparklines`, { key: keys, n: sparkline.MAX_SAMPLES }),
  });
  const board = leaderboard.mount($("leaderboard"), {
    onCount(rows, tables) {
      $("lb-count").textContent = tables ? `${formatCount(rows)} row${rows === 1 ? "" : "s"}` : "";
      $("leaderboard-panel").dataset.empty = String(tables === 0);
    },
    // A table too wide for the side column spans the page below the charts and the feed.
    onWidth(px) {
      const panel = $("leaderboard-panel");
      const side = doc.querySelector(".run-live > .side");
      const room = side.clientWidth - (panel.offsetWidth - panel.clientWidth);
      panel.dataset.wide = String(px > room);
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
    load: (key, at) => getJSON(`${base}/snapshots/${keyPath(key)}`, { at }),
    onChange({ keys }) {
      $("snapshot-panel").hidden = keys === 0;
      showLower();
    },
  });
  const sendCommand = (kind, payload) => cmds.send(kind, payload);
  const drawerActions = []; // the drawer's commands, once it mounts them
  const entity = entityPanel.mount($("entity-panel"), {
    load: (id) => getJSON(`${base}/entities/${encodeURIComponent(String(id))}/events`),
    loadMedia: (id) => getJSON(`${base}/entities/${encodeURIComponent(String(id))}/media`),
    onImage: (key) => revealImage(key),
    onSnapshot(key) {
      snaps.select(key);
      $("snapshot-panel").scrollIntoView({ block: "nearest" });
    },
    actions: (box) => {
      const a = entityActions.mount(box, { sendCommand });
      drawerActions.push(a);
      return a;
    },
  });
  // The producer's commands on the newest entity it can act on (the seed's "Deprecate latest").
  const newest = entityActions.mount($("feed-newest"), {
    openEntity: (id) => entity.open(id),
    sendCommand,
    suffix: "newest",
  });
  const actionSets = [newest, ...drawerActions];

  function syncAllowed() {
    const yes = running && commanding;
    if (feed) feed.setActions(yes);
    for (const a of actionSets) a.setAllowed(yes);
    $("feed-newest-bar").hidden = !(yes && kinds.length && $("feed-newest").dataset.entity !== undefined);
  }

  function setKinds(list) {
    kinds = list.filter((k) => k !== "cancel");
    if (feed) feed.setKinds(kinds);
    for (const a of actionSets) a.setKinds(kinds);
    syncAllowed();
  }

  function showLower() {
    $("run-lower").hidden = $("scatter-panel").hidden && $("snapshot-panel").hidden;
  }

  function onCommand(cmd) {
    if (cmd.kind === "cancel") ctl.onCancel(cmd);
    else if (cmd.payload && cmd.payload.entity !== undefined && cmd.payload.entity !== null) {
      if (feed) feed.setEntityCommand(cmd.payload.entity, cmd);
    }
    for (const a of actionSets) a.note(cmd);
  }

  /** A feed row's command: its chip says pending at once (the row's buttons give way to it, so
   * a second click cannot send it again), then the state the server reports. */
  async function commandEntity(kind, id) {
    const now = Date.now() / 1000;
    const shown = { id: -1, kind, payload: { entity: id }, state: "pending", created_at: now, updated_at: now };
    if (feed) feed.setEntityCommand(id, shown);
    try {
      await cmds.send(kind, { entity: id });
    } catch (err) {
      if (feed) feed.setEntityCommand(id, { ...shown, state: "failed", error: describeError(err) });
    }
  }

  function setStatus(word) {
    running = word === "running";
    ctl.setStatus(word);
    syncAllowed();
  }

  return {
    /** Options for the event feed's mount: kind filter, entity history, Deprecate. */
    feedHooks: {
      kindSelect: $("feed-kind"),
      onEntity: (id) => entity.open(id),
      onCommand: commandEntity,
      onNewest(id) {
        newest.show(id);
        syncAllowed();
      },
    },
    /** Open an entity's history in the drawer (the Media tab's label maps pick entities too). */
    openEntity: (id) => entity.open(id),
    /** Send a run command through the page's one command list (states reach the feed too). */
    sendCommand,
    /** The feed, once mounted with `feedHooks`. */
    setFeed(f) {
      feed = f;
      feed.setKinds(kinds);
      syncAllowed();
    },
    /** Everything from /state at once (page load, refresh, re-sync after a reset). */
    hydrate(state) {
      const run = state.run;
      setKinds(run.command_kinds || []);
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
        case "command_kinds":
          setKinds(msg.kinds);
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
        case "media":
          entity.noteMedia(msg);
          break;
        case "status":
          setStatus(msg.state);
          break;
        case "run.closed":
          running = false;
          syncAllowed();
          break;
        default:
          break;
      }
    },
  };
}
