// Sign-in for a browser-based app (draft-ietf-oauth-browser-based-apps): authorization code + PKCE (S256) as the
// built-in public client "console"; the access, refresh and ID tokens live in this module's variables only (never
// localStorage/sessionStorage, never a URL). Only the PKCE verifier, state and return path cross the redirect, in
// sessionStorage, and are deleted on return.

const CLIENT_ID = "console";
const PENDING = "iam-console.pending.";

let discovery = null;
let tokens = null; // {access, refresh, id, expiresAt}
let refreshing = null;
let lastHint = {};

export async function config() {
  if (!discovery) {
    const reply = await fetch("/.well-known/openid-configuration", { headers: { Accept: "application/json" } });
    if (!reply.ok) throw new Error(`The gateway's discovery document is unavailable (HTTP ${reply.status}).`);
    discovery = await reply.json();
  }
  return discovery;
}

const redirectURI = (d) => `${d.issuer}/console/callback`;

export function accessToken() { return tokens?.access ?? null; }
export function signedIn() { return tokens !== null; }

function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
const random = (n = 32) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/** Sends the browser to the gateway's sign-in page; `returnTo` is the console path to come back to. */
export async function signIn(returnTo = location.pathname + location.search, hint = lastHint) {
  const d = await config();
  const verifier = random(48);
  const state = random(24);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING + state, JSON.stringify({ verifier, returnTo }));
  const params = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: redirectURI(d), scope: "openid profile",
    state, code_challenge: challenge, code_challenge_method: "S256", nonce: random(16),
  });
  if (hint.tenant) params.set("tenant_id", hint.tenant);
  if (hint.workspace) params.set("workspace_id", hint.workspace);
  tokens = null;
  location.assign(`${d.authorization_endpoint}?${params}`);
  return new Promise(() => {}); // the page is leaving
}

async function tokenRequest(form) {
  const d = await config();
  const reply = await fetch(d.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...form }),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const err = new Error(body.error_description || body.error || `The token endpoint answered HTTP ${reply.status}.`);
    err.status = reply.status;
    throw err;
  }
  tokens = {
    access: body.access_token,
    refresh: body.refresh_token ?? tokens?.refresh ?? null,
    id: body.id_token ?? tokens?.id ?? null,
    expiresAt: Date.now() + (body.expires_in ?? 300) * 1000,
  };
  return tokens;
}

/** Handles /console/callback: checks state and iss, redeems the code, drops ?code=&state= from the address bar and
 * answers the path to show. Throws an Error in words when the gateway answered an error. */
export async function completeSignIn() {
  const d = await config();
  const q = new URLSearchParams(location.search);
  const state = q.get("state") || "";
  const raw = sessionStorage.getItem(PENDING + state);
  // Single use: this round trip's entry, and any left by an abandoned sign-in, are deleted now.
  for (const key of Object.keys(sessionStorage)) if (key.startsWith(PENDING)) sessionStorage.removeItem(key);
  history.replaceState(null, "", "/console/callback");
  if (q.get("error")) throw new Error(`Sign-in failed: ${q.get("error_description") || q.get("error")}.`);
  if (!raw) throw new Error("This sign-in answer does not belong to a sign-in started here (unknown state). Sign in again.");
  if (q.get("iss") && q.get("iss") !== d.issuer) throw new Error("The sign-in answer comes from another issuer.");
  const pending = JSON.parse(raw);
  await tokenRequest({ grant_type: "authorization_code", code: q.get("code") || "", redirect_uri: redirectURI(d), code_verifier: pending.verifier });
  const returnTo = typeof pending.returnTo === "string" && pending.returnTo.startsWith("/console") && !pending.returnTo.startsWith("/console/callback")
    ? pending.returnTo : "/console/";
  history.replaceState(null, "", returnTo);
  return returnTo;
}

/** The refresh_token grant (the refresh token rotates); one at a time. False when the session is over. */
export function refresh() {
  if (!tokens?.refresh) return Promise.resolve(false);
  if (!refreshing) {
    refreshing = tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh })
      .then(() => true, () => { tokens = null; return false; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Remembers tenant and workspace so that signing in again after an expired session pre-fills them. */
export function rememberHint(tenant, workspace) { lastHint = { tenant, workspace }; }

/** Sign-out: revoke the refresh token (its family and sessions, RFC 7009), then RP-initiated logout. */
export async function signOut() {
  const d = await config();
  const current = tokens;
  tokens = null;
  if (current?.refresh && d.revocation_endpoint) {
    await fetch(d.revocation_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: current.refresh, token_type_hint: "refresh_token" }),
    }).catch(() => {});
  }
  if (current?.id && d.end_session_endpoint) {
    // RP-initiated logout by a POSTed form (same origin), so the ID token never appears in a URL or the history.
    const form = document.createElement("form");
    form.method = "post";
    form.action = d.end_session_endpoint;
    form.hidden = true;
    const fields = { id_token_hint: current.id, client_id: CLIENT_ID, post_logout_redirect_uri: `${d.issuer}/console/`, state: "signed-out" };
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  } else {
    location.assign("/console/?state=signed-out");
  }
  return new Promise(() => {});
}
