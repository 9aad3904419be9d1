// Renaming and retagging a run from its page's header (PATCH /api/v1/runs/{id}), offered to a
// token that may write the run's project: "Rename" opens the name in place (Enter saves, Escape
// cancels), each tag has a × and a small input adds one. A refusal shows the server's message.
// Names and tags reach the page as text only.

import { describeError, patchJSON } from "./api.js";
import { node } from "./dom.js";
import { may, whoami } from "./whoami.js";

// The bounds of a run's name and of a tag (RunCreate in protocol.py): the server refuses past them.
const MAX_NAME = 500;
const MAX_TAG = 200;

function input(className, label, maxLength) {
  const el = node("input", `text-input ${className}`);
  el.type = "text";
  el.maxLength = maxLength;
  el.autocomplete = "off";
  el.setAttribute("aria-label", label);
  return el;
}

/**
 * Mount beside the header's name element `nameEl` and in the tags cell (`tagsWrap`, its
 * `tagsCell`) for the run at API path `base`. `onEdited({name, tags})` after the server took an
 * edit. Returns {setRun(run)}: the run as the header shows it (its name, tags and project).
 */
export function mount({ nameEl, tagsWrap, tagsCell, base, onEdited }) {
  const rename = node("button", "icon-button rename-button", "✎");
  rename.type = "button";
  rename.id = "rename-run";
  rename.title = "Rename";
  rename.setAttribute("aria-label", "Rename run");
  const nameInput = input("name-input", "Run name", MAX_NAME);
  nameInput.id = "run-name-edit";
  const error = node("span", "edit-error");
  error.id = "run-edit-error";
  error.setAttribute("role", "alert");
  nameEl.after(rename, nameInput, error);
  const chips = node("span", "tag-list");
  const addTag = input("tag-input", "Add a tag", MAX_TAG);
  addTag.id = "run-tag-add";
  addTag.placeholder = "+ tag";
  tagsCell.append(chips, addTag);

  let run = null;
  let allowed = false; // until the token's scope is known: offer nothing it may not do
  let asked = false;
  let editing = false;
  let shownTags = null; // the tags the chips show (JSON), so a status change keeps them

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }

  function render() {
    const tags = run ? run.tags || [] : [];
    const key = JSON.stringify([tags, allowed]);
    if (key !== shownTags) {
      shownTags = key;
      chips.replaceChildren(...tags.map((tag, i) => chip(tag, i)));
    }
    nameEl.hidden = editing;
    nameInput.hidden = !editing;
    rename.hidden = !allowed || editing;
    addTag.hidden = !allowed;
    tagsWrap.hidden = tags.length === 0 && !allowed;
  }

  function chip(tag, index) {
    const el = node("span", "tag", tag);
    if (!allowed) return el;
    // Its × is drawn by the stylesheet: the chip's text stays its tag.
    const remove = node("button", "tag-remove");
    remove.type = "button";
    remove.title = "Remove tag";
    remove.setAttribute("aria-label", `Remove tag ${tag}`);
    remove.addEventListener("click", () => save({ tags: run.tags.filter((_, i) => i !== index) }, remove));
    el.append(remove);
    return el;
  }

  /** Send `patch`; true when the server took it (the page then shows its answer). */
  async function save(patch, control) {
    control.disabled = true;
    try {
      const answer = await patchJSON(base, patch);
      showError("");
      onEdited({ name: answer.name, tags: answer.tags });
      return true;
    } catch (err) {
      showError(describeError(err));
      return false;
    } finally {
      control.disabled = false;
    }
  }

  function stopEditing() {
    editing = false;
    render();
  }

  rename.addEventListener("click", () => {
    editing = true;
    showError("");
    nameInput.value = run.name;
    render();
    nameInput.focus();
    nameInput.select();
  });
  nameInput.addEventListener("keydown", async (e) => {
    if (e.key === "Escape") {
      showError("");
      stopEditing();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (nameInput.value === run.name || (await save({ name: nameInput.value }, nameInput))) stopEditing();
      else nameInput.focus();
    }
  });
  addTag.addEventListener("keydown", async (e) => {
    if (e.key === "Escape") {
      addTag.value = "";
      showError("");
    } else if (e.key === "Enter") {
      e.preventDefault();
      const tag = addTag.value.trim();
      const done = !tag || run.tags.includes(tag) || (await save({ tags: [...run.tags, tag] }, addTag));
      if (done) addTag.value = "";
      addTag.focus();
    }
  });

  showError("");
  render();
  return {
    setRun(info) {
      run = info;
      if (!asked) {
        asked = true;
        whoami().then((who) => {
          allowed = may(who, "write", run.project);
          render();
        });
      }
      render();
    },
  };
}
