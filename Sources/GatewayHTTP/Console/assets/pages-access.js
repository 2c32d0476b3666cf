// Roles (with the permission picker grouped by service), assignments and the audit log.
import { del, get, post, put, withQuery } from "./api.js";
import { act, field, h, replace, select, status, table, when } from "./dom.js";
import { confirmButton, writeForm } from "./widgets.js";

/** The registry (name -> {service, label}) when the caller may read it, else an empty map. */
async function catalog(ctx) {
  if (!ctx.canHome("permissions.read")) return new Map();
  const reply = await get("/v1/permissions");
  return new Map(reply.permissions.map((p) => [p.name, p]));
}

/** Checkboxes of every registered permission, one fieldset per service, labelled with the registry's labels. */
function permissionPicker(registry, chosen = []) {
  const byService = new Map();
  for (const p of [...registry.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!byService.has(p.service)) byService.set(p.service, []);
    byService.get(p.service).push(p);
  }
  const selected = new Set(chosen);
  const groups = [...byService.keys()].sort().map((service) => h("fieldset", { class: "checks service" },
    h("legend", {}, service),
    byService.get(service).map((p) => {
      const id = `perm-${Math.random().toString(36).slice(2, 8)}-${p.name.replace(/[^a-z0-9]/gi, "-")}`;
      return h("div", { class: "check" },
        h("input", { type: "checkbox", id, value: p.name, checked: selected.has(p.name) }),
        h("label", { for: id }, p.label || p.name, " ", h("code", { class: "perm-name" }, p.name)));
    })));
  const el = h("div", { class: "picker", role: "group", "aria-label": "Permissions" }, h("p", { class: "label" }, "Permissions"), h("div", { class: "groups" }, groups));
  return { el, value: () => [...el.querySelectorAll("input:checked")].map((i) => i.value) };
}

function permissionList(names, registry) {
  return h("ul", { class: "chips" }, names.map((n) => h("li", { title: n }, registry.get(n)?.label ?? n)));
}

const roles = {
  path: "roles",
  title: "Roles",
  visible: (ctx) => ctx.canHome("roles.read"),
  async render(el, ctx) {
    const [list, registry] = await Promise.all([get("/v1/roles"), catalog(ctx)]);
    el.append(h("h1", {}, "Roles"));
    const canCreateHere = ctx.can("roles.create");
    const canCreateTenantWide = ctx.canHome("roles.create");
    if ((canCreateHere || canCreateTenantWide) && registry.size) {
      const name = field("Name", { name: "name", required: true, autocomplete: "off" });
      const description = field("Description (optional)", { name: "description" });
      const scopes = [];
      if (canCreateTenantWide) scopes.push({ value: "", label: "Tenant-wide (assignable in any workspace)" });
      if (canCreateHere) scopes.push({ value: ctx.workspace, label: `Only workspace ${ctx.workspace}` });
      const scope = select("Scope", scopes, { name: "workspace_id" });
      const picker = permissionPicker(registry);
      el.append(writeForm("New role", [name.el, description.el, scope.el, picker.el], "Create role", async (form, st) => {
        const body = { name: name.control.value.trim(), permissions: picker.value() };
        if (description.control.value.trim()) body.description = description.control.value.trim();
        if (scope.control.value) body.workspace_id = scope.control.value;
        const created = await post("/v1/roles", body);
        form.reset();
        st.ok(`Role ${created.name} created (${created.role_id}).`);
        await renderList();
      }));
    }
    const listArea = h("div", { class: "list" });
    el.append(h("h2", {}, "All roles"), listArea);
    async function renderList(data) {
      const current = data ?? await get("/v1/roles");
      replace(listArea, table("Roles", ["Role", "Scope", "Permissions", "Actions"], current.roles.map((r) => [
        h("div", {}, h("strong", {}, r.name), " ", h("code", {}, r.role_id), r.system ? h("span", { class: "tag" }, "system") : "",
          r.description && !r.system ? h("p", { class: "hint" }, r.description) : ""),
        r.workspace_id ? `workspace ${r.workspace_id}` : "tenant-wide",
        permissionList(r.permissions, registry),
        r.system ? "" : roleActions(r, ctx, registry, renderList),
      ])));
    }
    await renderList(list);
  },
};

function roleActions(role, ctx, registry, refresh) {
  const st = status();
  const parts = [];
  if (ctx.canHome("roles.update") && registry.size) {
    const area = h("div", { class: "inline-form" });
    const edit = h("button", { type: "button", class: "secondary", dataset: { write: "" } }, "Edit");
    edit.addEventListener("click", () => {
      if (area.firstChild) { replace(area); return; }
      const name = field("Name", { value: role.name, required: true });
      const picker = permissionPicker(registry, role.permissions);
      const save = h("button", { type: "submit" }, "Save role");
      const form = h("form", { dataset: { write: "" }, "aria-label": `Edit ${role.name}` }, name.el, picker.el, save);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        act(save, st, async () => {
          await put(`/v1/roles/${encodeURIComponent(role.role_id)}`, { name: name.control.value.trim(), permissions: picker.value() });
          await refresh();
        });
      });
      replace(area, form);
      name.control.focus();
    });
    parts.push(edit, area);
  }
  if (ctx.canHome("roles.delete")) {
    parts.unshift(confirmButton("Delete", `Delete role ${role.name}?`, st, async () => {
      await del(`/v1/roles/${encodeURIComponent(role.role_id)}`);
      await refresh();
    }));
  }
  return h("div", { class: "row-actions" }, parts, st.el);
}

/** Principal ids -> readable names, from the lists the caller may read. */
async function principals(ctx) {
  const names = new Map();
  const tasks = [];
  if (ctx.canHome("users.manage")) tasks.push(get("/v1/users").then((r) => r.users.forEach((u) => names.set(u.user_id, `${u.username} (user)`))));
  if (ctx.canHome("apikeys.manage")) tasks.push(get("/v1/api-keys").then((r) => r.api_keys.forEach((k) => names.set(k.key_id, `${k.name} (API key)`))));
  if (ctx.canHome("clients.manage")) tasks.push(get("/v1/clients").then((r) => r.clients.forEach((c) => names.set(c.client_id, `${c.name} (client)`))));
  await Promise.all(tasks);
  return names;
}

const assignments = {
  path: "assignments",
  title: "Assignments",
  visible: (ctx) => ctx.canHome("assignments.read"),
  async render(el, ctx) {
    const [names, roleList] = await Promise.all([principals(ctx), ctx.canHome("roles.read") ? get("/v1/roles") : { roles: [] }]);
    const roleNames = new Map(roleList.roles.map((r) => [r.role_id, r.system ? r.name : `${r.name} (${r.role_id})`]));
    el.append(h("h1", {}, "Assignments"), h("p", { class: "hint" }, `Who holds which role in workspace ${ctx.workspace}, and tenant-wide (every workspace).`));
    if (ctx.can("assignments.manage")) {
      const principal = names.size
        ? select("Principal", [...names].sort((a, b) => a[1].localeCompare(b[1])).map(([value, label]) => ({ value, label })), { name: "user_id" }, "Choose a principal…")
        : field("Principal id (user, API key or client)", { name: "user_id", required: true, autocomplete: "off" });
      const assignable = roleList.roles.filter((r) => !r.workspace_id || r.workspace_id === ctx.workspace);
      const role = assignable.length
        ? select("Role", assignable.map((r) => ({ value: r.role_id, label: r.system ? r.name : `${r.name} (${r.role_id})` })), { name: "role_id" }, "Choose a role…")
        : field("Role id", { name: "role_id", required: true, autocomplete: "off" });
      const where = [{ value: ctx.workspace, label: `In workspace ${ctx.workspace}` }];
      if (ctx.canWide("assignments.manage")) where.push({ value: "*", label: "Tenant-wide (every workspace)" });
      const scope = select("Where", where, { name: "workspace_id" });
      el.append(writeForm("New assignment", [principal.el, role.el, scope.el], "Assign role", async (_form, st) => {
        const created = await post("/v1/assignments", { user_id: principal.control.value.trim(), role_id: role.control.value.trim(), workspace_id: scope.control.value });
        st.ok(`Assigned ${created.role_id} to ${names.get(created.user_id) ?? created.user_id} ${created.workspace_id === "*" ? "tenant-wide" : `in ${created.workspace_id}`}.`);
        await renderLists();
      }));
    }
    const lists = h("div", { class: "list" });
    el.append(lists);
    async function renderLists() {
      const [here, wide] = await Promise.all([
        get(withQuery("/v1/assignments", { workspace_id: ctx.workspace })),
        get(withQuery("/v1/assignments", { workspace_id: "*" })),
      ]);
      // Removing a tenant-wide assignment needs assignments.manage tenant-wide (SPEC 4.1).
      const rows = (list, manage) => list.assignments.map((a) => {
        const st = status();
        return [names.get(a.user_id) ?? "", h("code", {}, a.user_id), roleNames.get(a.role_id) ?? a.role_id, when(a.created_at),
          manage ? h("div", { class: "row-actions" }, confirmButton("Remove", `Remove ${a.role_id} from ${a.user_id}?`, st, async () => {
            await del(`/v1/assignments/${encodeURIComponent(a.assignment_id)}`);
            await renderLists();
          }), st.el) : ""];
      });
      const headers = ["Principal", "Id", "Role", "Since", "Actions"];
      replace(lists,
        h("h2", {}, `In workspace ${ctx.workspace}`), table(`Assignments in ${ctx.workspace}`, headers, rows(here, ctx.can("assignments.manage")), "No assignment in this workspace."),
        h("h2", {}, "Tenant-wide"), table("Tenant-wide assignments", headers, rows(wide, ctx.canWide("assignments.manage")), "No tenant-wide assignment."));
    }
    await renderLists();
  },
};

const AUDIT_ACTIONS = ["login.success", "login.failure", "login.denied", "logout", "oauth.sign_in", "oauth.code_reuse", "refresh.reuse",
  "refresh.wrong_client", "user.create", "user.delete", "user.password", "user.password_change", "user.sessions_revoke", "role.create",
  "role.update", "role.delete", "assignment.create", "assignment.delete", "apikey.create", "apikey.delete", "client.create", "client.delete",
  "workspace.create", "tenant.create", "tenant.admin", "keys.rotate", "keys.rotate_forced", "keys.retire", "keys.revoke", "cross_tenant"];

const audit = {
  path: "audit",
  title: "Audit log",
  visible: (ctx) => ctx.canHome("audit.read"),
  async render(el) {
    el.append(h("h1", {}, "Audit log"));
    const action = field("Action", { name: "action", placeholder: "e.g. login.success", autocomplete: "off", list: "audit-actions" });
    const known = h("datalist", { id: "audit-actions" }, AUDIT_ACTIONS.map((a) => h("option", { value: a })));
    const actor = field("Actor", { name: "actor", placeholder: "tenant/principal", autocomplete: "off" });
    const since = field("From", { name: "since", type: "datetime-local" });
    const until = field("Until", { name: "until", type: "datetime-local" });
    const limit = select("Per page", [25, 10, 50, 100].map((n) => ({ value: String(n) })), { name: "limit" });
    const apply = h("button", { type: "submit" }, "Apply filters");
    const st = status();
    const filters = h("form", { class: "card filters", role: "search", "aria-label": "Audit filters" },
      h("div", { class: "grid" }, action.el, actor.el, since.el, until.el, limit.el), h("div", { class: "actions" }, apply), st.el);
    const results = h("div", { class: "list" });
    const older = h("button", { type: "button", class: "secondary" }, "Older events");
    const newer = h("button", { type: "button", class: "secondary" }, "Newer events");
    const pager = h("nav", { class: "pager", "aria-label": "Audit pages" }, newer, older);
    el.append(filters, known, results, pager);

    const iso = (v) => (v ? new Date(v).toISOString() : "");
    let cursors = [null]; // cursor of each page shown so far; the last is the current page
    let next = null;
    async function load() {
      const reply = await get(withQuery("/v1/audit-events", {
        action: action.control.value.trim(), actor: actor.control.value.trim(), since: iso(since.control.value), until: iso(until.control.value),
        limit: limit.control.value, cursor: cursors[cursors.length - 1],
      }));
      next = reply.cursor ?? null;
      older.hidden = !next;
      newer.hidden = cursors.length <= 1;
      replace(results, table("Audit events", ["When", "Actor", "Action", "Target", "Workspace", "Request id"], reply.events.map((e) => [
        when(e.at), e.actor, h("code", {}, e.action), e.target ?? "", e.workspace_id ?? "", e.request_id ? h("code", {}, e.request_id) : "",
      ]), "No event matches these filters."));
    }
    filters.addEventListener("submit", (e) => { e.preventDefault(); cursors = [null]; act(apply, st, load); });
    older.addEventListener("click", () => { cursors.push(next); act(older, st, load); });
    newer.addEventListener("click", () => { cursors.pop(); act(newer, st, load); });
    await load();
  },
};

export const accessPages = [roles, assignments, audit];
