// The console's pages, in navigation order. Each: path, title, visible(ctx) (the caller may read it) and
// render(container, ctx). Write controls carry data-write and exist only when the API would allow them.
import { directoryPages } from "./pages-directory.js";
import { accessPages } from "./pages-access.js";
import { platformPages } from "./pages-platform.js";
import { get } from "./api.js";
import { h, table } from "./dom.js";

const overview = {
  path: "overview",
  title: "Overview",
  visible: () => true,
  async render(el, ctx) {
    const me = ctx.hereMe;
    el.append(
      h("h1", {}, "Overview"),
      h("dl", { class: "facts" },
        h("dt", {}, "Signed in as"), h("dd", {}, ctx.username),
        h("dt", {}, "Principal"), h("dd", {}, h("code", {}, ctx.me.sub)),
        h("dt", {}, "Tenant"), h("dd", {}, ctx.tenant === ctx.homeTenant ? ctx.tenant : `${ctx.tenant} (as platform admin of ${ctx.homeTenant})`),
        h("dt", {}, "Workspace"), h("dd", {}, ctx.workspace),
        h("dt", {}, "Roles here"), h("dd", {}, me.roles.length ? me.roles.join(", ") : "none"),
        h("dt", {}, "Policy version"), h("dd", {}, String(me.policy_version ?? ""))),
      h("h2", {}, "Your permissions in this workspace"),
      me.permissions.length ? h("ul", { class: "chips" }, [...ctx.here].sort().map((p) => h("li", {}, p))) : h("p", {}, "None."),
    );
  },
};

const policy = {
  path: "policy",
  title: "Policy versions",
  visible: () => true,
  async render(el) {
    const feed = await get("/v1/policy-versions");
    el.append(
      h("h1", {}, "Policy versions"),
      h("p", { class: "hint" }, "A workspace's policy version grows with every change that can alter permissions there (roles, assignments, deleted principals)."),
      table("Policy versions", ["Tenant", "Workspace", "Version"],
        feed.versions.map((v) => [v.tenant_id, v.workspace_id, String(v.policy_version)])),
    );
  },
};

export const pages = [overview, ...directoryPages, ...accessPages, policy, ...platformPages];
