"""The admin console (SPEC 9) in headless Chromium: sign-in by authorization code + PKCE, every page rendered
without a browser-console error at 1280x800 and 390x844 (no horizontal scroll on mobile), writes through the UI
checked through the API, permission gating (a viewer sees no write control), API errors shown in words, an XSS
username shown as text, key rotation, an expired session coming back to the same page, and sign-out revoking the
tokens. Screenshots of every page go to Tests/Interop/screenshots/."""
import json
import re
import time
import uuid

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import GATEWAY, OwnGateway, api
from console_helpers import (ADMIN_PASSWORD, DESKTOP, MOBILE, browser_errors, go, horizontal_overflow, make_driver,
                             nav_titles, screenshot, sign_in, sign_in_page, token_responses, wait, wait_console,
                             wait_loaded)

PASSWORD = "console-test-password-1"
ALL_PAGES = ["Overview", "Workspaces", "Users", "API keys", "OAuth clients", "Roles", "Assignments", "Audit log",
             "Policy versions", "Tenants", "Signing keys"]
WRITE_WORDS = re.compile(r"^(Create|Delete|Remove|Reset|Revoke|Rotate|Assign|Edit|Save|Set password)", re.I)


def slug(title):
    return title.lower().replace(" ", "-")


def http_errors(status, path=""):
    """The browser logs a failed fetch as SEVERE 'Failed to load resource'; an expected one is allowed by this."""
    return (re.compile(re.escape(path) + r"\S* - Failed to load resource: the server responded with a status of " + str(status)),)


def make_user(admin_token, prefix, role=None, workspace="default", username=None):
    username = username or f"{prefix}-{uuid.uuid4().hex[:6]}"
    created = api("POST", "/v1/users", admin_token, {"username": username, "password": PASSWORD})
    assert created.status_code == 201, created.text
    user = created.json()
    if role:
        assigned = api("POST", "/v1/assignments", admin_token, {"user_id": user["user_id"], "role_id": role, "workspace_id": workspace})
        assert assigned.status_code == 201, assigned.text
    return user


def status_text(element, driver):
    """The text of the status line that follows an action inside `element`, once it is shown."""
    wait(driver).until(lambda d: any(s.is_displayed() and s.text for s in element.find_elements(By.CSS_SELECTOR, ".status")))
    return " ".join(s.text for s in element.find_elements(By.CSS_SELECTOR, ".status") if s.is_displayed())


def form_by_title(driver, title):
    return driver.find_element(By.XPATH, f"//form[h2[normalize-space()='{title}']]")


def fill(form, label, value):
    """Types into the control whose <label> reads `label` (the accessible name the user sees)."""
    control = form.find_element(By.ID, form.find_element(By.XPATH, f".//label[normalize-space()='{label}']").get_attribute("for"))
    control.clear()
    control.send_keys(value)
    return control


def choose(form, label, visible_text):
    control = form.find_element(By.ID, form.find_element(By.XPATH, f".//label[normalize-space()='{label}']").get_attribute("for"))
    Select(control).select_by_visible_text(visible_text)


def column(driver, label):
    """The texts of one column of the page's tables, read in one go (the table may be redrawn meanwhile)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`main .list td[data-label='${arguments[0]}']`)].map((td) => td.textContent)", label)


def row_of(driver, text):
    return driver.find_element(By.XPATH, f"//main//tr[td[contains(normalize-space(), '{text}')]]")


@pytest.fixture(scope="module")
def desktop():
    driver = make_driver(DESKTOP)
    sign_in(driver)
    yield driver
    driver.quit()


def test_sign_in_returns_to_the_page_and_keeps_no_token_in_storage_or_url():
    driver = make_driver(DESKTOP)
    try:
        driver.get(GATEWAY + "/console/roles")
        # No token in memory: the console sends the browser to the gateway's sign-in page with PKCE S256.
        wait(driver).until(lambda d: "/oauth/authorize" in d.current_url)
        assert "code_challenge_method=S256" in driver.current_url and "client_id=console" in driver.current_url
        sign_in_page(driver, "admin", ADMIN_PASSWORD)
        wait_console(driver)
        assert driver.current_url == GATEWAY + "/console/roles"
        assert driver.find_element(By.CSS_SELECTOR, "main h1").text == "Roles"
        storage = driver.execute_script(
            "const all = {}; for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++)"
            " all[s.key(i)] = s.getItem(s.key(i)); return all;")
        assert storage == {}, storage  # the PKCE verifier and state were deleted after use; tokens were never stored
        assert "code=" not in driver.current_url and "state=" not in driver.current_url
        assert driver.execute_script("return history.length") >= 1
        assert browser_errors(driver) == []
    finally:
        driver.quit()


def test_a_broken_sign_in_answer_is_explained_in_words():
    driver = make_driver(DESKTOP)
    try:
        driver.get(GATEWAY + "/console/callback?code=iamac_forged&state=not-mine")
        wait(driver).until(lambda d: d.find_elements(By.XPATH, "//main//h1[normalize-space()='Sign-in problem']"))
        assert "unknown state" in driver.find_element(By.CSS_SELECTOR, "main .status.error").text
        assert "code=" not in driver.current_url  # dropped from the address bar at once
        driver.find_element(By.ID, "sign-in").click()
        wait(driver).until(lambda d: "/oauth/authorize" in d.current_url)
        assert browser_errors(driver) == []
    finally:
        driver.quit()


def test_console_is_served_with_a_strict_csp_and_no_inline_code():
    page = requests.get(GATEWAY + "/console/users", timeout=10)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script in index.html"
    assert " style=" not in page.text and "<style" not in page.text
    for script in re.findall(r'src="(/console/[^"]+\.js)"', page.text):
        source = requests.get(GATEWAY + script, timeout=10).text
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source and "document.write" not in source


def test_every_page_renders_without_console_errors_desktop(desktop):
    assert nav_titles(desktop) == ALL_PAGES
    for title in ALL_PAGES:
        go(desktop, title)
        assert desktop.find_element(By.CSS_SELECTOR, "main h1").text == title
        assert desktop.find_elements(By.CSS_SELECTOR, "main .status.error") == [], title
        screenshot(desktop, f"desktop-{slug(title)}")
        assert browser_errors(desktop) == [], title
        # Platform admin: every page has its write controls.
        if title in ("Workspaces", "Users", "API keys", "OAuth clients", "Roles", "Assignments", "Tenants", "Signing keys"):
            assert desktop.find_elements(By.CSS_SELECTOR, "[data-write]"), f"no write control on {title}"


def test_every_page_on_a_phone_has_no_horizontal_scroll():
    driver = make_driver(MOBILE)
    try:
        sign_in(driver)
        assert driver.execute_script("return window.innerWidth") == MOBILE[0]
        toggle = driver.find_element(By.CSS_SELECTOR, ".menu-toggle")
        assert toggle.is_displayed() and not driver.find_element(By.ID, "nav").is_displayed()
        for title in ALL_PAGES:
            go(driver, title)
            assert not driver.find_element(By.ID, "nav").is_displayed(), "the menu closes after choosing a page"
            assert horizontal_overflow(driver) <= 0, f"{title} scrolls horizontally on a phone"
            assert driver.find_elements(By.CSS_SELECTOR, "main .status.error") == [], title
            screenshot(driver, f"mobile-{slug(title)}")
            assert browser_errors(driver) == [], title
    finally:
        driver.quit()


def test_create_user_role_and_assignment_through_the_ui(desktop, admin_token):
    username = f"ui-user-{uuid.uuid4().hex[:6]}"
    go(desktop, "Users")
    form = form_by_title(desktop, "New user")
    fill(form, "Username", username)
    fill(form, "Password", PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert f"User {username} created" in status_text(form, desktop)
    users = api("GET", "/v1/users", admin_token).json()["users"]
    user = next(u for u in users if u["username"] == username)
    assert row_of(desktop, user["user_id"])

    role_name = f"ui-role-{uuid.uuid4().hex[:6]}"
    go(desktop, "Roles")
    form = form_by_title(desktop, "New role")
    fill(form, "Name", role_name)
    # The picker shows the registry's labels, grouped by service.
    legends = [e.text.lower() for e in form.find_elements(By.CSS_SELECTOR, "fieldset legend")]
    assert "connections" in legends and "iam" in legends
    for label in ("View connections", "Create connections"):
        form.find_element(By.XPATH, f".//label[starts-with(normalize-space(), '{label}')]").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert f"Role {role_name} created" in status_text(form, desktop)
    role = next(r for r in api("GET", "/v1/roles", admin_token).json()["roles"] if r["name"] == role_name)
    assert role["permissions"] == ["connections.create", "connections.read"]
    assert "workspace_id" not in role or role["workspace_id"] is None

    go(desktop, "Assignments")
    form = form_by_title(desktop, "New assignment")
    choose(form, "Principal", f"{username} (user)")
    choose(form, "Role", f"{role_name} ({role['role_id']})")
    choose(form, "Where", "In workspace default")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert f"Assigned {role['role_id']} to {username} (user) in default" in status_text(form, desktop)
    listed = api("GET", f"/v1/assignments?user_id={user['user_id']}", admin_token).json()["assignments"]
    assert [(a["role_id"], a["workspace_id"]) for a in listed] == [(role["role_id"], "default")]
    me = requests.post(GATEWAY + "/v1/auth/login", json={"tenant_id": "platform", "workspace_id": "default",
                                                         "username": username, "password": PASSWORD}, timeout=30)
    assert me.status_code == 200, me.text
    assert browser_errors(desktop) == []


def test_reset_password_and_delete_a_user_through_the_ui(desktop, admin_token):
    user = make_user(admin_token, "ui-reset", role="viewer")
    go(desktop, "Users")
    row = row_of(desktop, user["user_id"])
    row.find_element(By.XPATH, ".//button[normalize-space()='Reset password']").click()
    new_password = "a-brand-new-password-2"
    fill(row, f"New password for {user['username']}", new_password)
    row.find_element(By.XPATH, ".//button[normalize-space()='Set password']").click()
    assert "every session of this user was signed out" in status_text(row, desktop)
    login = lambda password: requests.post(GATEWAY + "/v1/auth/login", json={
        "tenant_id": "platform", "workspace_id": "default", "username": user["username"], "password": password}, timeout=30)
    assert login(new_password).status_code == 200

    row = row_of(desktop, user["user_id"])
    row.find_element(By.XPATH, ".//button[normalize-space()='Delete']").click()
    row.find_element(By.XPATH, ".//button[normalize-space()='Yes, delete']").click()
    wait(desktop).until(lambda d: not d.find_elements(By.XPATH, f"//main//td[contains(., '{user['user_id']}')]"))
    assert all(u["user_id"] != user["user_id"] for u in api("GET", "/v1/users", admin_token).json()["users"])
    assert browser_errors(desktop) == []


def test_api_error_is_shown_in_words_next_to_the_form(desktop, admin_token):
    taken = make_user(admin_token, "ui-taken")
    expected = api("POST", "/v1/users", admin_token, {"username": taken["username"], "password": PASSWORD}).json()["detail"]
    go(desktop, "Users")
    form = form_by_title(desktop, "New user")
    fill(form, "Username", taken["username"])
    fill(form, "Password", PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    text = status_text(form, desktop)
    assert expected and expected in text
    assert form.find_element(By.CSS_SELECTOR, ".status.error").get_attribute("role") == "alert"
    assert browser_errors(desktop, allow=http_errors(409, "/v1/users")) == []


def test_secret_of_a_new_api_key_is_shown_once_with_a_copy_button(desktop, admin_token):
    go(desktop, "API keys")
    form = form_by_title(desktop, "New API key in workspace default")
    name = f"ui-key-{uuid.uuid4().hex[:6]}"
    fill(form, "Name", name)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "API key" in status_text(form, desktop)
    box = desktop.find_element(By.CSS_SELECTOR, ".secret-box")
    secret = box.find_element(By.CSS_SELECTOR, "input.secret").get_attribute("value")
    assert secret.startswith("iamk_")
    box.find_element(By.XPATH, ".//button[normalize-space()='Copy']").click()
    assert status_text(box, desktop)
    # The secret works, and the list (from the API) never shows it.
    key = next(k for k in api("GET", "/v1/api-keys", admin_token).json()["api_keys"] if k["name"] == name)
    # A key with no assignment authenticates (its /v1/me answers) and holds nothing.
    me = requests.get(GATEWAY + "/v1/me", headers={"X-API-Key": secret}, timeout=10)
    assert me.status_code == 200 and me.json()["sub"] == key["key_id"], me.text
    go(desktop, "API keys")
    assert desktop.find_elements(By.CSS_SELECTOR, ".secret-box") == []
    assert secret not in desktop.find_element(By.TAG_NAME, "main").text
    assert row_of(desktop, key["key_id"])
    assert browser_errors(desktop) == []


def test_secret_of_a_new_confidential_client_is_shown_once(desktop, admin_token):
    go(desktop, "OAuth clients")
    form = form_by_title(desktop, "New client in workspace default")
    name = f"ui-client-{uuid.uuid4().hex[:6]}"
    fill(form, "Name", name)
    choose(form, "Type", "Confidential (has a secret)")
    form.find_element(By.XPATH, ".//label[normalize-space()='Client credentials']").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Client" in status_text(form, desktop)
    secret = desktop.find_element(By.CSS_SELECTOR, ".secret-box input.secret").get_attribute("value")
    assert secret.startswith("iamc_")
    client = next(c for c in api("GET", "/v1/clients", admin_token).json()["clients"] if c["name"] == name)
    assert client["type"] == "confidential" and client["grant_types"] == ["client_credentials"]
    assert row_of(desktop, client["client_id"])
    # The secret authenticates the client at the token endpoint (no assignment yet, so no token: unauthorized_client).
    reply = requests.post(GATEWAY + "/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client["client_id"], secret), timeout=10)
    assert reply.json().get("error") != "invalid_client", reply.text
    assert browser_errors(desktop) == []


def test_xss_username_is_rendered_as_text(desktop, admin_token):
    names = ["<script>window.__xss=1</script>", "<img src=x onerror=\"window.__xss=2\">"]
    created = []
    for name in names:
        reply = api("POST", "/v1/users", admin_token, {"username": name, "password": PASSWORD})
        if reply.status_code == 409:
            continue  # already made by an earlier run against the same store
        assert reply.status_code == 201, reply.text
        created.append(reply.json())
    go(desktop, "Users")
    shown = [e.text for e in desktop.find_elements(By.CSS_SELECTOR, "main td .username")]
    for name in names:
        assert name in shown
    assert desktop.execute_script("return window.__xss") is None
    assert desktop.find_elements(By.CSS_SELECTOR, "main img") == []
    assert desktop.find_elements(By.CSS_SELECTOR, "main td script") == []
    go(desktop, "Assignments")  # the principal picker lists them too
    assert desktop.execute_script("return window.__xss") is None
    assert browser_errors(desktop) == []


def test_audit_log_filters_and_pages(desktop, admin_token):
    go(desktop, "Audit log")
    form = desktop.find_element(By.CSS_SELECTOR, "form.filters")
    fill(form, "Action", "login.success")
    form.find_element(By.XPATH, ".//button[normalize-space()='Apply filters']").click()
    wait(desktop).until(lambda d: set(column(d, "Action")) == {"login.success"})
    fill(form, "Action", "")
    choose(form, "Per page", "10")
    form.find_element(By.XPATH, ".//button[normalize-space()='Apply filters']").click()
    wait(desktop).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "main .list tbody tr")) == 10)
    rows = lambda d: list(zip(*(column(d, c) for c in ("When", "Actor", "Action", "Target", "Request id"))))
    first = rows(desktop)
    older = desktop.find_element(By.XPATH, "//button[normalize-space()='Older events']")
    assert older.is_displayed()  # far more than 10 events by now
    older.click()
    wait(desktop).until(lambda d: rows(d) and rows(d) != first)
    assert not set(rows(desktop)) & set(first)  # an older page, not the same events again
    assert desktop.find_element(By.XPATH, "//button[normalize-space()='Newer events']").is_displayed()
    assert browser_errors(desktop) == []


def test_platform_admin_rotates_a_key_and_revokes_one_with_a_typed_confirmation(desktop, admin_token):
    before = api("GET", "/v1/admin/keys", admin_token).json()
    go(desktop, "Signing keys")
    headers = [th.get_attribute("textContent") for th in desktop.find_elements(By.CSS_SELECTOR, "main th")]
    assert {"Key id", "Status", "Age", "Revoke"} <= set(headers), headers
    statuses = {td.text for td in desktop.find_elements(By.CSS_SELECTOR, "main td[data-label='Status']")}
    assert "active" in statuses and statuses <= {"active", "next", "retiring"}
    card = desktop.find_element(By.XPATH, "//div[h2[normalize-space()='Rotation']]")
    card.find_element(By.ID, "rotate-key").click()
    text = status_text(card, desktop)
    after = api("GET", "/v1/admin/keys", admin_token).json()
    active = lambda keys: next(k["kid"] for k in keys if k["status"] == "active")
    if text.startswith("Rotated"):
        assert active(after) != active(before) and active(after) in text
    else:
        # Too early: the 409's detail, in words, and nothing changed.
        assert "published for less than the JWKS max-age" in text, text
        assert active(after) == active(before)
        assert card.find_element(By.XPATH, ".//button[normalize-space()='Force the rotation (emergency)']").is_displayed()
    assert browser_errors(desktop, allow=http_errors(409, "/v1/admin/keys/rotate")) == []

    nxt = next((k["kid"] for k in after if k["status"] == "next"), None)
    if nxt is None:
        pytest.skip("no next key to revoke")
    row = row_of(desktop, nxt)
    assert row.find_elements(By.CSS_SELECTOR, "form.revoke") == []  # the typed confirmation opens on demand
    row.find_element(By.XPATH, ".//button[normalize-space()='Revoke…']").click()
    form = row.find_element(By.CSS_SELECTOR, "form.revoke")
    assert desktop.switch_to.active_element == form.find_element(By.CSS_SELECTOR, "input")
    form.find_element(By.CSS_SELECTOR, "input").send_keys("not-the-kid")
    form.find_element(By.XPATH, ".//button[normalize-space()='Revoke key']").click()
    assert "does not match" in status_text(form, desktop)
    assert any(k["kid"] == nxt for k in api("GET", "/v1/admin/keys", admin_token).json())
    form.find_element(By.CSS_SELECTOR, "input").clear()
    form.find_element(By.CSS_SELECTOR, "input").send_keys(nxt)
    form.find_element(By.XPATH, ".//button[normalize-space()='Revoke key']").click()
    wait(desktop).until(lambda d: d.find_elements(By.ID, "key-banner"))
    assert f"Revoked {nxt}" in desktop.find_element(By.ID, "key-banner").text
    assert all(k["kid"] != nxt for k in api("GET", "/v1/admin/keys", admin_token).json())
    jwks = requests.get(GATEWAY + "/.well-known/jwks.json", timeout=10).json()
    assert all(k["kid"] != nxt for k in jwks["keys"])
    assert browser_errors(desktop) == []


def test_create_a_workspace_and_switch_to_it(desktop, admin_token):
    workspace = f"ui-ws-{uuid.uuid4().hex[:6]}"
    go(desktop, "Workspaces")
    form = form_by_title(desktop, "New workspace")
    fill(form, "Workspace id", workspace)
    fill(form, "Name", "Console test workspace")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(desktop).until(lambda d: d.find_elements(By.XPATH, f"//main//td[contains(., '{workspace}')]"))
    assert f"Workspace {workspace} created" in desktop.find_element(By.CSS_SELECTOR, "main .status.ok").text
    assert any(w["workspace_id"] == workspace for w in api("GET", "/v1/workspaces", admin_token).json()["workspaces"])
    # The picker offers it; the assignments page then speaks of that workspace.
    Select(desktop.find_element(By.ID, "workspace-switch")).select_by_value(workspace)
    wait_loaded(desktop)
    go(desktop, "Assignments")
    assert desktop.find_element(By.XPATH, f"//main//h2[normalize-space()='In workspace {workspace}']")
    Select(desktop.find_element(By.ID, "workspace-switch")).select_by_value("default")
    wait_loaded(desktop)
    assert browser_errors(desktop) == []


def test_tenant_switcher_acts_in_another_tenant(desktop, admin_token):
    tenant = f"ui-t-{uuid.uuid4().hex[:6]}"
    go(desktop, "Tenants")
    form = form_by_title(desktop, "New tenant")
    fill(form, "Tenant id", tenant)
    fill(form, "Name", "Console test tenant")
    fill(form, "Admin username (optional)", "acme-admin")
    fill(form, "Admin password", PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(desktop).until(lambda d: d.find_elements(By.XPATH, f"//main//td[contains(., '{tenant}')]"))
    Select(desktop.find_element(By.ID, "tenant-switch")).select_by_value(tenant)
    wait_loaded(desktop)
    go(desktop, "Users")
    shown = [e.text for e in desktop.find_elements(By.CSS_SELECTOR, "main td .username")]
    assert shown == ["acme-admin"]  # the other tenant's users, through X-Tenant-Id
    Select(desktop.find_element(By.ID, "tenant-switch")).select_by_value("platform")
    wait_loaded(desktop)
    assert "admin" in [e.text for e in desktop.find_elements(By.CSS_SELECTOR, "main td .username")]
    assert browser_errors(desktop) == []


def test_viewer_sees_no_write_control(admin_token):
    viewer = make_user(admin_token, "ui-viewer", role="viewer")
    driver = make_driver(DESKTOP)
    try:
        sign_in(driver, viewer["username"], PASSWORD)
        titles = nav_titles(driver)
        assert titles == ["Overview", "Workspaces", "Policy versions"]
        for title in titles:
            go(driver, title)
            assert driver.find_elements(By.CSS_SELECTOR, "[data-write]") == [], title
            assert driver.find_elements(By.CSS_SELECTOR, "main form") == [], title
            buttons = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]
            assert not [b for b in buttons if WRITE_WORDS.match(b)], (title, buttons)
            assert driver.find_elements(By.CSS_SELECTOR, "main .status.error") == []
        assert driver.find_elements(By.ID, "tenant-switch") == []
        # A page it may not read, opened by address: a message in words, no request refused by the API.
        driver.execute_script("history.pushState(null, '', '/console/users'); dispatchEvent(new PopStateEvent('popstate'));")
        wait_loaded(driver)
        assert "do not have the permission" in driver.find_element(By.CSS_SELECTOR, "main .status.error").text
        screenshot(driver, "desktop-viewer-denied")
        assert browser_errors(driver) == []
    finally:
        driver.quit()


def test_tenant_admin_sees_a_refused_action_in_words(admin_token):
    """A tenant admin (not platform admin) has no platform pages, and deleting the platform admin is refused by the
    API (no takeover of someone more powerful): the console shows the 403's detail next to that row."""
    tenant_admin = make_user(admin_token, "ui-tadmin", role="admin", workspace="*")
    driver = make_driver(DESKTOP)
    try:
        sign_in(driver, tenant_admin["username"], PASSWORD)
        titles = nav_titles(driver)
        assert "Tenants" not in titles and "Signing keys" not in titles and "Users" in titles
        go(driver, "Users")
        bootstrap = next(u for u in api("GET", "/v1/users", admin_token).json()["users"] if u["username"] == "admin")
        row = row_of(driver, bootstrap["user_id"])
        row.find_element(By.XPATH, ".//button[normalize-space()='Delete']").click()
        row.find_element(By.XPATH, ".//button[normalize-space()='Yes, delete']").click()
        text = status_text(row, driver)
        assert text.startswith("Not allowed:") and "permission" in text, text
        assert any(u["user_id"] == bootstrap["user_id"] for u in api("GET", "/v1/users", admin_token).json()["users"])
        assert browser_errors(driver, allow=http_errors(403, "/v1/users/")) == []
    finally:
        driver.quit()


def test_workspace_admin_gets_no_tenant_wide_control(admin_token):
    """An admin of one workspace only (SPEC 4.1): creating workspaces and tenant-wide assignments need the permission
    tenant-wide, so the console (GET /v1/me?workspace_id=*) shows neither, while the workspace's own controls stay."""
    user = make_user(admin_token, "ui-wsadmin", role="admin", workspace="default")
    login = requests.post(GATEWAY + "/v1/auth/login", json={
        "tenant_id": "platform", "workspace_id": "default", "username": user["username"], "password": PASSWORD,
    }, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    # What the API says, which the console must match.
    assert api("POST", "/v1/workspaces", token, {"workspace_id": f"ws-{uuid.uuid4().hex[:6]}", "name": "x"}).status_code == 403
    assert api("GET", "/v1/me?workspace_id=*", token).json()["permissions"] == []
    driver = make_driver(DESKTOP)
    try:
        sign_in(driver, user["username"], PASSWORD)
        go(driver, "Workspaces")
        assert driver.find_elements(By.XPATH, "//form[h2[normalize-space()='New workspace']]") == []
        go(driver, "Assignments")
        form = form_by_title(driver, "New assignment")
        where = [o.text for o in Select(form.find_element(By.NAME, "workspace_id")).options]
        assert where == ["In workspace default"], where
        # The bootstrap admin's tenant-wide assignment is listed without a Remove button; the workspace's have one.
        wide = driver.find_element(By.XPATH, "//table[.//caption[normalize-space()='Tenant-wide assignments'] or @aria-label='Tenant-wide assignments']")
        assert wide.find_elements(By.XPATH, ".//button[normalize-space()='Remove']") == []
        assert driver.find_elements(By.XPATH, f"//tr[.//code[normalize-space()='{user['user_id']}']]//button[normalize-space()='Remove']")
        assert browser_errors(driver) == []
    finally:
        driver.quit()


def test_expired_session_signs_in_again_and_returns_to_the_same_page(admin_token):
    user = make_user(admin_token, "ui-expiry", role="admin", workspace="*")
    driver = make_driver(DESKTOP)
    try:
        sign_in(driver, user["username"], PASSWORD)
        go(driver, "Roles")
        # Every session and refresh family of the user revoked: the access token gets 401 and the refresh fails.
        revoked = api("POST", f"/v1/users/{user['user_id']}/sessions/revoke", admin_token)
        assert revoked.status_code == 200 and revoked.json()["revoked_sessions"] >= 1
        toggle = driver.find_element(By.XPATH, "//nav[@id='nav']//a[normalize-space()='Users']")
        toggle.click()
        wait(driver).until(lambda d: "/oauth/authorize" in d.current_url)
        assert "tenant_id=platform" in driver.current_url  # pre-filled from the expired session
        sign_in_page(driver, user["username"], PASSWORD)
        wait_console(driver)
        assert driver.current_url == GATEWAY + "/console/users"
        assert driver.find_element(By.CSS_SELECTOR, "main h1").text == "Users"
        assert browser_errors(driver, allow=http_errors(401) + http_errors(400, "/oauth/token")) == []
    finally:
        driver.quit()


def test_keyboard_navigation_and_visible_focus(desktop):
    go(desktop, "Overview")
    # After choosing a page the focus is in it; the skip link is the first thing Tab reaches in the document.
    assert desktop.switch_to.active_element.get_attribute("id") == "main"
    assert desktop.execute_script(
        "return document.querySelector('a, button, input, select, textarea, [tabindex]:not([tabindex=\"-1\"])').textContent") == "Skip to content"
    for _ in range(20):  # back from the page into the navigation, by keyboard only
        ActionChains(desktop).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        active = desktop.switch_to.active_element
        if active.tag_name == "a" and active.text == "Users":
            break
    assert active.text == "Users"
    outline = desktop.execute_script("const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth];")
    assert outline[0] != "none" and outline[1] != "0px", outline
    ActionChains(desktop).send_keys(Keys.ENTER).perform()
    wait(desktop).until(lambda d: d.current_url == GATEWAY + "/console/users")
    wait_loaded(desktop)
    # Every control in the page has an accessible name: a <label for>, aria-label or text.
    unnamed = desktop.execute_script("""
        return [...document.querySelectorAll('input, select, textarea, button')].filter((el) => {
          if (el.type === 'hidden') return false;
          const label = el.id && document.querySelector(`label[for="${el.id}"]`);
          return !(label || el.getAttribute('aria-label') || (el.textContent || '').trim());
        }).map((el) => el.outerHTML.slice(0, 80));""")
    assert unnamed == []


def test_sign_out_revokes_the_tokens(admin_token):
    user = make_user(admin_token, "ui-signout", role="viewer")
    driver = make_driver(DESKTOP)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        sign_in(driver, user["username"], PASSWORD)
        tokens = [body for _form, body in token_responses(driver)]
        assert tokens and tokens[-1]["refresh_token"] and tokens[-1]["id_token"]
        access = tokens[-1]["access_token"]
        assert requests.get(GATEWAY + "/v1/me", headers={"Authorization": f"Bearer {access}"}, timeout=10).status_code == 200
        driver.find_element(By.ID, "sign-out").click()
        wait(driver).until(lambda d: d.find_elements(By.XPATH, "//main//h1[normalize-space()='Signed out']"))
        assert driver.current_url == GATEWAY + "/console/"
        sent = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        sent = [m["params"]["request"] for m in sent if m["method"] == "Network.requestWillBeSent"]
        assert [r["method"] for r in sent if r["url"].startswith(GATEWAY + "/oauth/revoke")] == ["POST"]
        assert [r["method"] for r in sent if r["url"].startswith(GATEWAY + "/oauth/logout")] == ["POST"]
        assert not [r["url"] for r in sent if "token" in r["url"].split("?", 1)[-1]]  # no token in any URL
        # RFC 7009 revocation and RP-initiated logout: neither token works any more.
        me = requests.get(GATEWAY + "/v1/me", headers={"Authorization": f"Bearer {access}"}, timeout=10)
        assert me.status_code == 401
        refreshed = requests.post(GATEWAY + "/oauth/token", data={"grant_type": "refresh_token", "client_id": "console",
                                                                  "refresh_token": tokens[-1]["refresh_token"]}, timeout=10)
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        assert driver.find_element(By.ID, "sign-in").is_displayed()
        assert browser_errors(driver) == []
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def short_lived_gateway(tmp_path_factory):
    """A second gateway of its own whose access tokens live 5 s, to see the console refresh them: the repository's
    configuration with only its own IAM_GATEWAY_ variables (no metrics listener, its own port, store and keys)."""
    gateway = OwnGateway(tmp_path_factory.mktemp("console-gateway"), ADMIN_PASSWORD, tokens_access_ttl="5", tokens_leeway="0")
    try:
        yield gateway.url
    finally:
        gateway.stop()


def test_an_expired_access_token_is_refreshed_with_rotation(short_lived_gateway):
    base = short_lived_gateway
    driver = make_driver(DESKTOP)
    try:
        sign_in(driver, base=base)
        first = token_responses(driver)
        assert [form.get("grant_type") for form, _ in first] == ["authorization_code"]
        assert first[0][0]["code_verifier"] and first[0][0]["client_id"] == "console"
        go(driver, "Users")
        time.sleep(6)  # the access token is now expired
        go(driver, "Roles")  # 401, refresh_token grant, the same call again: the page shows, no new sign-in
        assert driver.current_url == base + "/console/roles"
        assert driver.find_elements(By.CSS_SELECTOR, "main .status.error") == []
        refreshed = token_responses(driver)
        assert [form.get("grant_type") for form, _ in refreshed] == ["refresh_token"]
        assert refreshed[0][0]["refresh_token"] == first[0][1]["refresh_token"]
        assert refreshed[0][1]["refresh_token"] != first[0][1]["refresh_token"]  # rotated
        assert browser_errors(driver, allow=http_errors(401)) == []
        # The spent refresh token is refused (and, as reuse, revokes the family): the next expiry signs in again.
        reused = requests.post(base + "/oauth/token", data={"grant_type": "refresh_token", "client_id": "console",
                                                            "refresh_token": first[0][1]["refresh_token"]}, timeout=10)
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        time.sleep(6)
        driver.find_element(By.XPATH, "//nav[@id='nav']//a[normalize-space()='Audit log']").click()
        wait(driver).until(lambda d: "/oauth/authorize" in d.current_url)
        sign_in_page(driver, "admin", ADMIN_PASSWORD)
        wait_console(driver, base)
        assert driver.current_url == base + "/console/audit"
    finally:
        driver.quit()
