// Building blocks shared by the pages: a create form, a two-step delete, a secret shown once with a copy button.
import { act, h, replace, status } from "./dom.js";

/** <form data-write> with a heading, fields, a submit button and its status line. onSubmit(form) may throw. */
export function writeForm(title, fields, submitLabel, onSubmit) {
  const st = status();
  const button = h("button", { type: "submit" }, submitLabel);
  const form = h("form", { class: "card", dataset: { write: "" }, "aria-label": title },
    h("h2", {}, title), fields, h("div", { class: "actions" }, button), st.el);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    act(button, st, () => onSubmit(form, st));
  });
  return form;
}

/** A delete (or other destructive) button that asks again in place before acting. */
export function confirmButton(label, question, st, onConfirm) {
  const wrap = h("span", { class: "confirm" });
  const first = h("button", { type: "button", class: "danger", dataset: { write: "" } }, label);
  const showFirst = () => replace(wrap, first);
  first.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", dataset: { write: "" } }, `Yes, ${label.toLowerCase()}`);
    const no = h("button", { type: "button", class: "secondary" }, "Cancel");
    yes.addEventListener("click", () => act(yes, st, onConfirm).then(showFirst));
    no.addEventListener("click", () => { showFirst(); first.focus(); });
    replace(wrap, h("span", { class: "question" }, question), yes, no);
    no.focus();
  });
  showFirst();
  return wrap;
}

/** A secret shown once: a read-only field, a copy button and a warning. */
export function secretBox(label, secret) {
  const id = `secret-${Math.random().toString(36).slice(2)}`;
  const input = h("input", { id, class: "secret", readonly: true, value: secret, spellcheck: "false" });
  const st = status();
  const copy = h("button", { type: "button", class: "secondary copy" }, "Copy");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(secret);
      st.ok("Copied to the clipboard.");
    } catch {
      st.ok("Selected: press Ctrl+C (or ⌘C) to copy.");
    }
  });
  return h("div", { class: "secret-box", role: "group", "aria-label": label },
    h("label", { for: id }, label), h("div", { class: "row" }, input, copy),
    h("p", { class: "warning" }, "This is shown only once: store it now. The gateway keeps only a hash."), st.el);
}
