// A WAI-ARIA tablist: click or arrow keys select a tab, its panel shows, the others hide, and the
// selection lives in the address's hash so a reload (or a shared link) opens the same tab.

const KEYS = { ArrowRight: 1, ArrowLeft: -1 };

/**
 * Mount on `tablist` (an element holding `[role=tab]` buttons with `data-tab` and
 * `aria-controls`). The first tab is the default and has no hash.
 *
 * opts.onSelect(name) -> called after a tab was shown (also for the initial one)
 */
export function mount(tablist, { onSelect } = {}) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const names = tabs.map((t) => t.dataset.tab);
  const fallback = names[0];
  let current = null;

  const panelOf = (tab) => document.getElementById(tab.getAttribute("aria-controls"));
  const fromHash = () => {
    const name = decodeURIComponent(location.hash.slice(1));
    return names.includes(name) ? name : fallback;
  };

  function select(name, { focus = false, remember = true } = {}) {
    if (!names.includes(name)) name = fallback;
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      const panel = panelOf(tab);
      if (panel) panel.hidden = !on;
      if (on && focus) tab.focus();
    }
    if (remember) {
      const hash = name === fallback ? "" : `#${name}`;
      // replaceState: switching tabs is not navigation, Back still leaves the page.
      if (location.hash !== hash) history.replaceState(history.state, "", `${location.pathname}${location.search}${hash}`);
    }
    const changed = name !== current;
    current = name;
    if (changed && onSelect) onSelect(name);
  }

  for (const tab of tabs) {
    const panel = panelOf(tab);
    if (panel) {
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
    }
    tab.addEventListener("click", () => select(tab.dataset.tab));
  }
  tablist.addEventListener("keydown", (event) => {
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    let next = null;
    if (event.key in KEYS) next = (at + KEYS[event.key] + tabs.length) % tabs.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = tabs.length - 1;
    if (next === null) return;
    event.preventDefault();
    select(names[next], { focus: true });
  });
  // A link to "#logs" (the analytics-only notice has two) selects that tab.
  addEventListener("hashchange", () => select(fromHash(), { remember: false }));

  select(fromHash(), { remember: false });
  return {
    select,
    get current() {
      return current;
    },
  };
}
