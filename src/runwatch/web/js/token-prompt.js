// The token prompt: when the API answers 401 (or a socket closes 4401), ask for a token, keep
// it in sessionStorage only (never localStorage, never a cookie) and reload the page.

import { onUnauthorized, token } from "./api.js";
import { node } from "./dom.js";

const TOKEN_KEY = "runwatch_token";

/** Offer the prompt on this page: a <dialog id="token-prompt">, shown whenever the server
 * refuses the tab's token (see api.js onUnauthorized). Returns {show()}. */
export function install() {
  const dialog = node("dialog", "token-prompt");
  dialog.id = "token-prompt";
  dialog.setAttribute("aria-label", "access token");
  document.body.append(dialog);
  const prompt = mount(dialog);
  onUnauthorized(() => prompt.show());
  return prompt;
}

function mount(dialog) {
  const form = node("form", "token-form");
  form.method = "dialog";
  const title = node("h2", "token-title", "This server needs a token");
  const hint = node("p", "token-hint");
  const error = node("p", "token-error");
  error.id = "token-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const field = node("input", "text-input token-input");
  field.id = "token-input";
  field.type = "password";
  field.autocomplete = "off";
  field.placeholder = "paste the token";
  field.setAttribute("aria-label", "access token");
  const actions = node("div", "token-actions");
  const submit = node("button", "button button-primary", "Use token");
  submit.type = "submit";
  submit.id = "token-submit";
  actions.append(submit);
  hint.append(
    "Paste an access token (",
    node("code", "", "runwatch token create"),
    " makes one). It is kept in this tab only and sent with every request.",
  );
  form.append(title, hint, field, error, actions);
  dialog.append(form);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = field.value.trim();
    if (!value) {
      error.textContent = "Enter a token.";
      error.hidden = false;
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      error.textContent = "This browser refuses to store the token (sessionStorage is disabled).";
      error.hidden = false;
      return;
    }
    location.reload();
  });
  // Escape would leave a page that can show nothing: keep the prompt up.
  dialog.addEventListener("cancel", (e) => e.preventDefault());

  return {
    /** Ask for a token; says so when the one this tab holds was refused. */
    show() {
      if (dialog.open) return;
      if (token()) {
        error.textContent = "The server refused this token (401). Check it and try again.";
        error.hidden = false;
      }
      dialog.showModal();
      field.focus();
    },
  };
}
