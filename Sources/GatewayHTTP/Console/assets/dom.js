// Tiny DOM helpers. Text from data only ever goes through textContent (never innerHTML), so a username such as
// "<script>…" is shown as text.

/** h("button", {class: "x", onclick: f}, "Label", child) -> element. Attributes starting with "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCounter = 0;
/** A labelled form field: <div class="field"><label for=id>text</label><input id=id ...></div>. */
export function field(label, attrs = {}, tag = "input") {
  const id = attrs.id || `f${++fieldCounter}`;
  const control = h(tag, { ...attrs, id });
  return { el: h("div", { class: "field" }, h("label", { for: id }, label), control), control };
}

/** A select with options [{value, label}]; with `prompt`, a first empty choice that must be replaced. */
export function select(label, options, attrs = {}, prompt = null) {
  const f = field(label, prompt ? { ...attrs, required: true } : attrs, "select");
  if (prompt) f.control.append(h("option", { value: "" }, prompt));
  for (const o of options) f.control.append(h("option", { value: o.value }, o.label ?? o.value));
  return f;
}

/** A message area for one form or action: shows an error (the API's detail) or a success in words. */
export function status() {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite", hidden: true });
  return {
    el,
    error(err) {
      el.hidden = false;
      el.className = "status error";
      el.setAttribute("role", "alert");
      replace(el, messageOf(err));
    },
    ok(text) {
      el.hidden = false;
      el.className = "status ok";
      el.setAttribute("role", "status");
      replace(el, text);
    },
    clear() { el.hidden = true; replace(el); },
  };
}

export function messageOf(err) {
  if (!err) return "Something went wrong.";
  if (err.status === 403) return `Not allowed: ${err.message}`;
  return err.message || String(err);
}

/** A table inside its own scrolling container; rows is a list of arrays of cells (nodes or text). */
export function table(caption, headers, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { "data-label": headers[i] }, c)))))));
}

/** "3 min", "2 h", "5 d" since an ISO date. */
export function age(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** Runs an async action from a button, disabling it meanwhile and reporting the result in `st`. */
export async function act(button, st, fn) {
  if (button) button.disabled = true;
  st?.clear();
  try {
    return await fn();
  } catch (err) {
    if (st) st.error(err); else console.warn(err);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
