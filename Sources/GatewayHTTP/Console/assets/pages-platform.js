// Platform admin pages: tenants and signing keys.
import { get, post } from "./api.js";
import { act, age, field, h, replace, status, table, when } from "./dom.js";
import { writeForm } from "./widgets.js";

const tenants = {
  path: "tenants",
  title: "Tenants",
  // Platform-only permissions count only in tenant platform (SPEC 4).
  visible: (ctx) => ctx.homeTenant === "platform" && ctx.canHome("tenants.manage"),
  async render(el, ctx) {
    const list = await get("/v1/tenants", { tenant: null });
    el.append(h("h1", {}, "Tenants"));
    const id = field("Tenant id", { name: "tenant_id", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", autocomplete: "off" });
    const name = field("Name", { name: "name", required: true });
    const adminName = field("Admin username (optional)", { name: "admin_username", autocomplete: "off" });
    const adminPassword = field("Admin password", { name: "admin_password", type: "password", autocomplete: "new-password" });
    el.append(writeForm("New tenant", [id.el, name.el, h("div", { class: "grid" }, adminName.el, adminPassword.el)], "Create tenant", async (_form, st) => {
      const body = { tenant_id: id.control.value.trim(), name: name.control.value.trim() };
      if (adminName.control.value.trim()) body.admin = { username: adminName.control.value.trim(), password: adminPassword.control.value };
      const created = await post("/v1/tenants", body, { tenant: null });
      st.ok(`Tenant ${created.tenant_id} created${created.admin ? ` with admin ${created.admin.username}` : ""}.`);
      ctx.tenants = (await get("/v1/tenants", { tenant: null })).tenants;
      ctx.flash(`Tenant ${created.tenant_id} created${created.admin ? ` with admin ${created.admin.username}` : ""}.`);
      await ctx.refresh();
    }));
    el.append(h("h2", {}, "All tenants"), table("Tenants", ["Tenant", "Name", "Created", "Console"], list.tenants.map((t) => {
      // Only a platform admin may act in another tenant (X-Tenant-Id).
      let open = "";
      if (ctx.platformAdmin && t.tenant_id !== ctx.tenant) {
        open = h("button", { type: "button", class: "secondary", "aria-label": `Switch the console to tenant ${t.tenant_id}` }, "Switch to");
        open.addEventListener("click", () => {
          const picker = document.getElementById("tenant-switch");
          picker.value = t.tenant_id;
          picker.dispatchEvent(new Event("change"));
        });
      } else if (t.tenant_id === ctx.tenant) {
        open = "shown";
      }
      return [h("code", {}, t.tenant_id), t.name, when(t.created_at), open];
    })));
  },
};

const keys = {
  path: "keys",
  title: "Signing keys",
  visible: (ctx) => ctx.homeTenant === "platform" && ctx.canHome("keys.read"),
  async render(el, ctx) {
    el.append(h("h1", {}, "Signing keys"),
      h("p", { class: "hint" }, "The next key is published in the JWKS before it signs, so verifiers have it when it becomes active; a retiring key stays published until its tokens expire."));
    const st = status();
    if (ctx.canHome("keys.rotate")) {
      const rotate = h("button", { type: "button", id: "rotate-key", dataset: { write: "" } }, "Rotate now");
      const force = h("button", { type: "button", class: "danger", hidden: true, dataset: { write: "" } }, "Force the rotation (emergency)");
      const run = (button, query) => act(button, st, async () => {
        force.hidden = true;
        try {
          const r = await post(`/v1/admin/keys/rotate${query}`, undefined, { tenant: null });
          await renderList();
          st.ok(`Rotated: ${r.active_kid} now signs${r.previous_kid ? `; ${r.previous_kid} is retiring` : ""}.`);
        } catch (err) {
          // 409: the next key is too young for every verifier to have fetched it; offer the emergency path.
          if (err.status === 409) force.hidden = false;
          throw err;
        }
      });
      rotate.addEventListener("click", () => run(rotate, ""));
      force.addEventListener("click", () => run(force, "?force=true"));
      el.append(h("div", { class: "card", dataset: { write: "" } }, h("h2", {}, "Rotation"), h("div", { class: "actions" }, rotate, force), st.el));
    }
    const listArea = h("div", { class: "list" });
    el.append(h("h2", {}, "Keys"), listArea);
    async function renderList() {
      const list = await get("/v1/admin/keys", { tenant: null });
      const order = { active: 0, next: 1, retiring: 2 };
      list.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9));
      replace(listArea, table("Signing keys", ["Key id", "Status", "Algorithm", "Age", "Created", "Activated", "Retires", "Revoke"], list.map((k) => [
        h("code", {}, k.kid), h("span", { class: `tag status-${k.status}` }, k.status), k.alg, age(k.created_at), when(k.created_at),
        k.activated_at ? when(k.activated_at) : "", k.retire_at ? when(k.retire_at) : "",
        ctx.canHome("keys.rotate") ? revokeForm(k, renderList) : "",
      ])));
    }
    await renderList();
  },
};

/** Revocation is an emergency measure: the key id must be typed to confirm. */
function revokeForm(key, refresh) {
  const area = h("div", { class: "revoke-area" });
  const open = h("button", { type: "button", class: "danger", dataset: { write: "" }, "aria-expanded": "false" }, "Revoke…");
  open.addEventListener("click", () => {
    const shown = area.firstChild !== null;
    open.setAttribute("aria-expanded", String(!shown));
    if (shown) { replace(area); return; }
    const form = revokeConfirmation(key, refresh);
    replace(area, form);
    form.querySelector("input").focus();
  });
  return h("div", {}, open, area);
}

function revokeConfirmation(key, refresh) {
  const st = status();
  const confirm = field(`Type ${key.kid} to revoke it`, { autocomplete: "off", spellcheck: "false", class: "confirm-input" });
  const button = h("button", { type: "submit", class: "danger" }, "Revoke key");
  const form = h("form", { class: "revoke", dataset: { write: "" }, "aria-label": `Revoke ${key.kid}` }, confirm.el, button, st.el);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (confirm.control.value.trim() !== key.kid) {
      st.error(new Error("The typed key id does not match; nothing was revoked."));
      confirm.control.focus();
      return;
    }
    act(button, st, async () => {
      const r = await post(`/v1/admin/keys/${encodeURIComponent(key.kid)}/revoke`, undefined, { tenant: null });
      await refresh();
      const banner = document.getElementById("key-banner") || h("p", { id: "key-banner", class: "status ok", role: "status" });
      replace(banner, `Revoked ${r.revoked_kid}; ${r.active_kid} signs now.`);
      document.querySelector(".page h1")?.after(banner);
    });
  });
  return form;
}

export const platformPages = [tenants, keys];
