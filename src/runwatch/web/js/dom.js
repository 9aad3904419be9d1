// Building page elements: one helper, so user-supplied text only ever reaches the page as text.

/** A new `tag` element with `className` (if any) and `text` (if given) set as its text content. */
export function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}
