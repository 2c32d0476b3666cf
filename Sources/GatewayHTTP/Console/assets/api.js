// The public HTTP API with the in-memory bearer token: X-Tenant-Id for a platform admin's tenant switch,
// problem+json errors turned into an Error whose message is the `detail`, one refresh-and-retry on a 401, then
// sign-in again (coming back to the same page).
import { accessToken, refresh, signIn } from "./auth.js";

let tenantOverride = null;
/** The tenant the console acts in when it is not the token's (platform admin only), or null. */
export function setTenant(tenant) { tenantOverride = tenant; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `The gateway answered HTTP ${status}.`);
    this.status = status;
    this.code = body?.code;
  }
}

async function send(method, path, body, options) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${accessToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const tenant = options.tenant === undefined ? tenantOverride : options.tenant;
  if (tenant) headers["X-Tenant-Id"] = tenant;
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

export async function api(method, path, body, options = {}) {
  let reply = await send(method, path, body, options);
  if (reply.status === 401) {
    if (await refresh()) reply = await send(method, path, body, options);
    if (reply.status === 401) await signIn();
  }
  if (reply.status === 204) return null;
  const text = await reply.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body ?? {}, options);
export const put = (path, body, options) => api("PUT", path, body, options);
export const del = (path, options) => api("DELETE", path, undefined, options);

/** "/v1/x" + {a: 1, b: ""} -> "/v1/x?a=1" (empty values left out). */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
