"""Helpers for the console's browser tests: headless Debian Chromium driven by Selenium through the system
chromedriver (an explicit Service path, so Selenium Manager never downloads anything), sign-in through the gateway's
own sign-in page, navigation through the console's links, and the browser console log."""
import json
import os
import pathlib
import urllib.parse
import uuid

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import GATEWAY

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
SCREENSHOTS = pathlib.Path(__file__).resolve().parent / "screenshots"
DESKTOP = (1280, 800)
MOBILE = (390, 844)
ADMIN_PASSWORD = os.environ.get("GATEWAY_ADMIN_PASSWORD", "")


def make_driver(size=DESKTOP):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions", "--hide-scrollbars", f"--window-size={size[0]},{size[1]}",
                     f"--user-data-dir=/tmp/console-chromium-{uuid.uuid4().hex[:8]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    set_viewport(driver, size)
    return driver


def set_viewport(driver, size):
    """Makes the page's viewport (window.innerWidth x innerHeight) exactly `size`."""
    driver.set_window_size(*size)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    outer = driver.get_window_size()
    driver.set_window_size(size[0] + outer["width"] - inner[0], size[1] + outer["height"] - inner[1])


def wait(driver, seconds=15):
    return WebDriverWait(driver, seconds)


def sign_in_page(driver, username, password, tenant="platform", workspace="default"):
    """Fills the gateway's sign-in page (fields labelled Tenant, Workspace, Username, Password) and submits it."""
    wait(driver).until(EC.presence_of_element_located((By.ID, "username")))
    assert "/oauth/authorize" in driver.current_url
    for field_id, value in (("tenant_id", tenant), ("workspace_id", workspace), ("username", username), ("password", password)):
        element = driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def wait_console(driver, base=GATEWAY):
    """Until the console shows a page: the navigation is rendered and the page finished loading."""
    wait(driver).until(lambda d: d.current_url.startswith(base + "/console")
                       and "/console/callback" not in d.current_url
                       and d.find_elements(By.CSS_SELECTOR, "#nav a")
                       and d.find_elements(By.CSS_SELECTOR, "main .page[data-ready='true']"))


def sign_in(driver, username="admin", password=None, tenant="platform", workspace="default", start="/console/", base=GATEWAY):
    driver.get(base + start)
    sign_in_page(driver, username, password or ADMIN_PASSWORD, tenant, workspace)
    wait_console(driver, base)


def nav_titles(driver):
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#nav a") if a.get_attribute("textContent")]


def go(driver, title):
    """Opens a console page by its link in the navigation (opening the mobile menu first when it is collapsed)."""
    wait_loaded(driver)
    toggle = driver.find_elements(By.CSS_SELECTOR, ".menu-toggle")
    if toggle and toggle[0].is_displayed() and toggle[0].get_attribute("aria-expanded") != "true":
        toggle[0].click()
    link = driver.find_element(By.XPATH, f"//nav[@id='nav']//a[normalize-space()='{title}']")
    link.click()
    wait(driver).until(lambda d: d.find_elements(By.XPATH, f"//main//h1[normalize-space()='{title}']"))
    wait_loaded(driver)


def wait_loaded(driver):
    """Until the page's tables or its 'nothing here' line (or an error) are present."""
    wait(driver).until(lambda d: d.execute_script(
        "const p = document.querySelector('main .page');"
        "return p && p.dataset.ready === 'true';"))


def browser_errors(driver, allow=()):
    """SEVERE entries of the browser console since the last call, except those matching one of `allow` (compiled
    regular expressions or substrings)."""
    def allowed(message):
        return any(a.search(message) if hasattr(a, "search") else a in message for a in allow)
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and not allowed(entry["message"])]


def screenshot(driver, name):
    """`name.png`: what the viewport shows; `name-full.png`: the whole page (the window stretched to its height)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    current = driver.get_window_size()
    extra = current["height"] - driver.execute_script("return window.innerHeight")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(current["width"], min(height, 6000) + extra)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SCREENSHOTS / f"{name}-full.png"))
    driver.set_window_size(current["width"], current["height"])
    return SCREENSHOTS / f"{name}.png"


def token_responses(driver):
    """The token endpoint's answers seen by the browser since the last call, read through the DevTools protocol (the
    page itself keeps them in module variables only): [(request form, response body)]."""
    requests_by_id, answers = {}, []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent" and params["request"]["url"].endswith("/oauth/token"):
            requests_by_id[params["requestId"]] = dict(urllib.parse.parse_qsl(params["request"].get("postData", "")))
        if message["method"] == "Network.responseReceived" and params["response"]["url"].endswith("/oauth/token"):
            body = driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": params["requestId"]})
            answers.append((requests_by_id.get(params["requestId"], {}), json.loads(body["body"])))
    return answers


def horizontal_overflow(driver):
    """How many CSS pixels the document is wider than the viewport (0 = no horizontal scroll)."""
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
