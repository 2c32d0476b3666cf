// The console's shell: sign-in, the caller's permissions (GET /v1/me?workspace_id=), the tenant switcher (platform
// admin, X-Tenant-Id), the workspace picker, the navigation (only the pages the caller may read) and
// history.pushState routing.
import { completeSignIn, config, rememberHint, signedIn, signIn, signOut } from "./auth.js";
import { get, setTenant } from "./api.js";
import { h, replace, messageOf } from "./dom.js";
import { pages } from "./pages.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const topbar = document.getElementById("topbar");

/** What the pages read: who is signed in, where, and what they may do there. */
const ctx = {
  me: null,            // GET /v1/me for the token's own workspace
  hereMe: null,        // GET /v1/me for the workspace shown, in the tenant shown
  here: new Set(),     // permissions in the workspace shown
  home: new Set(),     // permissions in the token's workspace (what list endpoints check)
  wide: new Set(),     // permissions held tenant-wide in the tenant shown
  homeTenant: null,
  tenant: null,        // tenant shown
  workspace: null,     // workspace shown
  workspaces: [],
  tenants: [],
  platformAdmin: false,
  username: "",
  can(p) { return this.here.has(p); },
  canHome(p) { return this.home.has(p); },
  canWide(p) { return this.wide.has(p); },
  navigate,
  reload: () => render(),
  refresh: () => refreshContext(),
  flash(text) { flashed = text; },
};
let flashed = null;

function onError(err) {
  const box = document.getElementById("global-error") || h("p", { id: "global-error", class: "status error", role: "alert" });
  replace(box, `Unexpected problem: ${messageOf(err)}`);
  if (!box.isConnected) main.prepend(box);
}
window.addEventListener("error", (e) => onError(e.error || e.message));
window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); onError(e.reason); });

function route() {
  const path = location.pathname.replace(/^\/console\/?/, "").replace(/\/+$/, "");
  return path || "overview";
}

export async function navigate(path) {
  history.pushState(null, "", path);
  await render();
  window.scrollTo(0, 0);
  main.focus({ preventScroll: true }); // a keyboard or screen-reader user continues in the page just opened
}

async function loadAccess() {
  // List endpoints check the token's own workspace ("home"); actions in the workspace shown check that one ("here");
  // workspace changes and tenant-wide assignments check what is held tenant-wide ("wide"). GET /v1/me answers each in
  // the tenant shown (X-Tenant-Id, a platform admin's tenant switch), where a platform admin holds platform_admin.
  ctx.me = await get("/v1/me", { tenant: null });
  ctx.home = new Set(ctx.me.permissions);
  const [here, wide] = await Promise.all([
    get(`/v1/me?workspace_id=${encodeURIComponent(ctx.workspace)}`),
    get("/v1/me?workspace_id=*"),
  ]);
  ctx.hereMe = here;
  ctx.here = new Set(here.permissions);
  ctx.wide = new Set(wide.permissions);
  rememberHint(ctx.homeTenant, ctx.me.workspace_id);
}

async function loadWorkspaces() {
  const list = await get("/v1/workspaces");
  ctx.workspaces = list.workspaces.map((w) => w.workspace_id);
  if (!ctx.workspaces.includes(ctx.workspace)) ctx.workspace = ctx.workspaces.includes("default") ? "default" : ctx.workspaces[0];
}

function renderTopbar() {
  const items = [h("span", { class: "brand" }, "IAM Gateway")];
  const menu = h("button", { type: "button", class: "menu-toggle", "aria-controls": "nav", "aria-expanded": "false" }, "Menu");
  menu.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });
  items.unshift(menu);
  const pickers = h("div", { class: "pickers" });
  if (ctx.platformAdmin && ctx.tenants.length) {
    const tenantSelect = h("select", { id: "tenant-switch", "aria-label": "Tenant" },
      ctx.tenants.map((t) => h("option", { value: t.tenant_id, selected: t.tenant_id === ctx.tenant }, t.tenant_id)));
    tenantSelect.addEventListener("change", async () => {
      ctx.tenant = tenantSelect.value;
      setTenant(ctx.tenant === ctx.homeTenant ? null : ctx.tenant);
      ctx.workspace = "default";
      await refreshContext();
    });
    pickers.append(h("label", { for: "tenant-switch" }, "Tenant"), tenantSelect);
  } else {
    pickers.append(h("span", { class: "tag", title: "Tenant" }, `Tenant ${ctx.tenant}`));
  }
  const wsSelect = h("select", { id: "workspace-switch", "aria-label": "Workspace" },
    ctx.workspaces.map((w) => h("option", { value: w, selected: w === ctx.workspace }, w)));
  wsSelect.addEventListener("change", async () => { ctx.workspace = wsSelect.value; await refreshContext(); });
  pickers.append(h("label", { for: "workspace-switch" }, "Workspace"), wsSelect);
  items.push(pickers);
  const signOutButton = h("button", { type: "button", id: "sign-out", class: "secondary" }, "Sign out");
  signOutButton.addEventListener("click", () => { signOutButton.disabled = true; signOut(); });
  items.push(h("span", { class: "who" }, h("span", { class: "username" }, ctx.username), signOutButton));
  replace(topbar, items);
}

function renderNav() {
  const current = route();
  const links = pages.filter((p) => p.visible(ctx)).map((p) => {
    const a = h("a", { href: `/console/${p.path === "overview" ? "" : p.path}`, "aria-current": p.path === current ? "page" : false }, p.title);
    a.addEventListener("click", (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      nav.classList.remove("open");
      navigate(a.getAttribute("href"));
    });
    return h("li", {}, a);
  });
  replace(nav, h("ul", {}, links));
}

let renderCount = 0;
async function render() {
  const mine = ++renderCount;
  renderTopbar();
  renderNav();
  const page = pages.find((p) => p.path === route());
  const container = h("div", { class: "page" });
  replace(main, container);
  if (!page) {
    replace(container, h("h1", {}, "Not found"), h("p", {}, "This console page does not exist."));
    container.dataset.ready = "true";
    return;
  }
  document.title = `${page.title} · IAM Gateway console`;
  if (!page.visible(ctx)) {
    replace(container, h("h1", {}, page.title), h("p", { class: "status error", role: "alert" }, "You do not have the permission to see this page in this workspace."));
    container.dataset.ready = "true";
    return;
  }
  if (flashed) {
    container.append(h("p", { class: "status ok", role: "status" }, flashed));
    flashed = null;
  }
  try {
    await page.render(container, ctx);
  } catch (err) {
    if (mine !== renderCount) return;
    container.append(h("p", { class: "status error", role: "alert" }, `This page could not be loaded: ${messageOf(err)}`));
  }
  container.dataset.ready = "true";
}

async function refreshContext() {
  main.querySelector(".page")?.removeAttribute("data-ready"); // busy until the page is drawn again
  try {
    await loadWorkspaces();
    await loadAccess();
  } catch (err) {
    onError(err);
  }
  await render();
}

function signedOutPage() {
  history.replaceState(null, "", "/console/");
  replace(topbar, h("span", { class: "brand" }, "IAM Gateway"));
  replace(nav);
  const button = h("button", { type: "button", id: "sign-in" }, "Sign in");
  button.addEventListener("click", () => signIn("/console/"));
  replace(main, h("div", { class: "page narrow" }, h("h1", {}, "Signed out"), h("p", {}, "You are signed out of the console."), button));
}

function failurePage(err) {
  replace(topbar, h("span", { class: "brand" }, "IAM Gateway"));
  replace(nav);
  const button = h("button", { type: "button", id: "sign-in" }, "Sign in again");
  button.addEventListener("click", () => signIn("/console/"));
  replace(main, h("div", { class: "page narrow" }, h("h1", {}, "Sign-in problem"),
    h("p", { class: "status error", role: "alert" }, messageOf(err)), button));
}

async function start() {
  await config();
  const q = new URLSearchParams(location.search);
  if (location.pathname === "/console/callback") {
    try { await completeSignIn(); } catch (err) { failurePage(err); return; }
  } else if (q.get("state") === "signed-out") {
    signedOutPage();
    return;
  }
  if (!signedIn()) { await signIn(); return; }
  ctx.me = await get("/v1/me", { tenant: null });
  ctx.homeTenant = ctx.tenant = ctx.me.tenant_id;
  ctx.workspace = ctx.me.workspace_id;
  ctx.platformAdmin = ctx.me.roles.includes("platform_admin") && ctx.me.permissions.includes("tenants.manage");
  const info = await get("/oauth/userinfo", { tenant: null }).catch(() => null);
  ctx.username = info?.preferred_username || ctx.me.sub;
  if (ctx.platformAdmin) ctx.tenants = (await get("/v1/tenants", { tenant: null })).tenants;
  window.addEventListener("popstate", () => render());
  await refreshContext();
}

start().catch((err) => failurePage(err));
