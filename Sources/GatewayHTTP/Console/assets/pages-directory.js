// Workspaces, users, API keys and OAuth clients.
import { del, get, post, put } from "./api.js";
import { act, field, h, replace, select, status, table, when } from "./dom.js";
import { confirmButton, secretBox, writeForm } from "./widgets.js";

const workspaces = {
  path: "workspaces",
  title: "Workspaces",
  visible: () => true,
  async render(el, ctx) {
    const list = await get("/v1/workspaces");
    el.append(h("h1", {}, "Workspaces"));
    if (ctx.canWide("workspaces.manage")) { // SPEC 4.1: creating or changing workspaces needs it tenant-wide
      const id = field("Workspace id", { name: "workspace_id", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", autocomplete: "off" });
      const name = field("Name", { name: "name", required: true });
      el.append(writeForm("New workspace", [id.el, name.el], "Create workspace", async (_form, st) => {
        const created = await post("/v1/workspaces", { workspace_id: id.control.value.trim(), name: name.control.value.trim() });
        st.ok(`Workspace ${created.workspace_id} created.`);
        ctx.flash(`Workspace ${created.workspace_id} created.`);
        await ctx.refresh();
      }));
    }
    el.append(table("Workspaces", ["Workspace", "Name", "Created"],
      list.workspaces.map((w) => [h("code", {}, w.workspace_id), w.name, when(w.created_at)])));
  },
};

const users = {
  path: "users",
  title: "Users",
  visible: (ctx) => ctx.canHome("users.manage"),
  async render(el, ctx) {
    const list = await get("/v1/users");
    el.append(h("h1", {}, "Users"));
    const username = field("Username", { name: "username", required: true, autocomplete: "off" });
    const password = field("Password", { name: "password", type: "password", required: true, autocomplete: "new-password", minlength: "8" });
    const userID = field("User id (optional)", { name: "user_id", autocomplete: "off" });
    el.append(writeForm("New user", [username.el, password.el, userID.el], "Create user", async (form, st) => {
      const body = { username: username.control.value, password: password.control.value };
      if (userID.control.value.trim()) body.user_id = userID.control.value.trim();
      const created = await post("/v1/users", body);
      await renderList();
      form.reset();
      st.ok(`User ${created.username} created (${created.user_id}).`);
    }));
    const listArea = h("div", { class: "list" });
    el.append(h("h2", {}, "All users"), listArea);

    async function renderList(data) {
      const current = data ?? await get("/v1/users");
      replace(listArea, table("Users", ["Username", "User id", "Created", "Actions"], current.users.map((u) => [
        h("span", { class: "username" }, u.username), h("code", {}, u.user_id), when(u.created_at), userActions(u, renderList),
      ])));
    }
    await renderList(list);
  },
};

function userActions(user, refresh) {
  const st = status();
  const reset = h("button", { type: "button", class: "secondary", dataset: { write: "" } }, "Reset password");
  const resetArea = h("div", { class: "inline-form" });
  reset.addEventListener("click", () => {
    if (resetArea.firstChild) { replace(resetArea); return; }
    const pw = field(`New password for ${user.username}`, { type: "password", required: true, autocomplete: "new-password", minlength: "8" });
    const save = h("button", { type: "submit" }, "Set password");
    const form = h("form", { dataset: { write: "" } }, pw.el, save);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      act(save, st, async () => {
        await put(`/v1/users/${encodeURIComponent(user.user_id)}/password`, { password: pw.control.value });
        replace(resetArea);
        st.ok("Password reset; every session of this user was signed out.");
      });
    });
    replace(resetArea, form);
    pw.control.focus();
  });
  const revoke = h("button", { type: "button", class: "secondary", dataset: { write: "" } }, "Revoke sessions");
  revoke.addEventListener("click", () => act(revoke, st, async () => {
    const r = await post(`/v1/users/${encodeURIComponent(user.user_id)}/sessions/revoke`);
    st.ok(`${r.revoked_sessions} session(s) revoked.`);
  }));
  const remove = confirmButton("Delete", `Delete ${user.username}?`, st, async () => {
    await del(`/v1/users/${encodeURIComponent(user.user_id)}`);
    await refresh();
  });
  return h("div", { class: "row-actions" }, reset, revoke, remove, resetArea, st.el);
}

const apiKeys = {
  path: "api-keys",
  title: "API keys",
  visible: (ctx) => ctx.canHome("apikeys.manage"),
  async render(el, ctx) {
    const list = await get("/v1/api-keys");
    el.append(h("h1", {}, "API keys"));
    const secretArea = h("div", { class: "secret-area" });
    if (ctx.can("apikeys.manage")) {
      const name = field("Name", { name: "name", required: true });
      const expires = field("Expires in (seconds, optional)", { name: "expires_in", type: "number", min: "60", inputmode: "numeric" });
      const service = field("Service (optional, for a service key)", { name: "service", autocomplete: "off" });
      el.append(writeForm(`New API key in workspace ${ctx.workspace}`, [name.el, expires.el, service.el], "Create API key", async (form, st) => {
        const body = { name: name.control.value.trim(), workspace_id: ctx.workspace };
        if (expires.control.value) body.expires_in = Number(expires.control.value);
        if (service.control.value.trim()) body.service = service.control.value.trim();
        const created = await post("/v1/api-keys", body);
        form.reset();
        st.ok(`API key ${created.key_id} created.`);
        replace(secretArea, secretBox(`Secret of ${created.key_id}`, created.api_key));
        await renderList();
      }), secretArea);
    }
    const listArea = h("div", { class: "list" });
    el.append(h("h2", {}, "All API keys"), listArea);
    async function renderList(data) {
      const current = data ?? await get("/v1/api-keys");
      replace(listArea, table("API keys", ["Name", "Key id", "Workspace", "Service", "Created", "Expires", "Actions"], current.api_keys.map((k) => {
        const st = status();
        return [k.name, h("code", {}, k.key_id), k.workspace_id, k.service ?? "", when(k.created_at), k.expires_at ? when(k.expires_at) : "never",
          h("div", { class: "row-actions" }, confirmButton("Delete", `Delete key ${k.name}?`, st, async () => {
            await del(`/v1/api-keys/${encodeURIComponent(k.key_id)}`);
            await renderList();
          }), st.el)];
      })));
    }
    await renderList(list);
  },
};

const GRANTS = [
  ["authorization_code", "Authorization code (+PKCE)"],
  ["refresh_token", "Refresh token"],
  ["client_credentials", "Client credentials"],
  ["urn:ietf:params:oauth:grant-type:token-exchange", "Token exchange"],
];

const clients = {
  path: "clients",
  title: "OAuth clients",
  visible: (ctx) => ctx.canHome("clients.manage"),
  async render(el, ctx) {
    const list = await get("/v1/clients");
    el.append(h("h1", {}, "OAuth clients"));
    const secretArea = h("div", { class: "secret-area" });
    if (ctx.can("clients.manage")) {
      const name = field("Name", { name: "name", required: true });
      const type = select("Type", [{ value: "confidential", label: "Confidential (has a secret)" }, { value: "public", label: "Public (PKCE, no secret)" }], { name: "type" });
      const redirects = field("Redirect URIs (one per line)", { name: "redirect_uris", rows: "2", spellcheck: "false" }, "textarea");
      const logouts = field("Post-logout redirect URIs (one per line, optional)", { name: "post_logout_redirect_uris", rows: "2", spellcheck: "false" }, "textarea");
      const grants = h("fieldset", { class: "checks" }, h("legend", {}, "Grant types"),
        GRANTS.map(([value, label]) => {
          const id = `grant-${value.replace(/[^a-z]/g, "")}`;
          return h("div", { class: "check" }, h("input", { type: "checkbox", id, name: "grant_types", value }), h("label", { for: id }, label));
        }));
      const lines = (t) => t.value.split("\n").map((s) => s.trim()).filter(Boolean);
      el.append(writeForm(`New client in workspace ${ctx.workspace}`, [name.el, type.el, redirects.el, logouts.el, grants], "Create client", async (form, st) => {
        const created = await post("/v1/clients", {
          name: name.control.value.trim(), type: type.control.value, workspace_id: ctx.workspace,
          redirect_uris: lines(redirects.control), post_logout_redirect_uris: lines(logouts.control),
          grant_types: [...grants.querySelectorAll("input:checked")].map((i) => i.value),
        });
        form.reset();
        st.ok(`Client ${created.client_id} created.`);
        replace(secretArea, created.client_secret ? secretBox(`Secret of ${created.client_id}`, created.client_secret) : "");
        await renderList();
      }), secretArea);
    }
    const listArea = h("div", { class: "list" });
    el.append(h("h2", {}, "All clients"), listArea);
    async function renderList(data) {
      const current = data ?? await get("/v1/clients");
      replace(listArea, table("OAuth clients", ["Name", "Client id", "Type", "Workspace", "Grants", "Redirect URIs", "Actions"], current.clients.map((c) => {
        const st = status();
        return [c.name, h("code", {}, c.client_id), c.type, c.workspace_id, c.grant_types.join(", "),
          h("ul", { class: "plain" }, c.redirect_uris.map((u) => h("li", {}, u))),
          h("div", { class: "row-actions" }, confirmButton("Delete", `Delete client ${c.name}?`, st, async () => {
            await del(`/v1/clients/${encodeURIComponent(c.client_id)}`);
            await renderList();
          }), st.el)];
      })));
    }
    await renderList(list);
  },
};

export const directoryPages = [workspaces, users, apiKeys, clients];
