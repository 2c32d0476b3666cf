"""SPEC 10 with software nobody here wrote: the gateway's /metrics read by prometheus_client's parser, and a real
Prometheus server (Debian's) that scrapes it, answers `up == 1` and the request counter, and loads the README's alert
rules (docs/monitoring/alerts.yml)."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import GATEWAY, free_port, wait_until_ready

METRICS = os.environ["GATEWAY_METRICS_URL"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAMILIES = {
    "iam_gateway_http_requests": "counter",
    "iam_gateway_http_request_duration_seconds": "histogram",
    "iam_gateway_tokens_minted": "counter",
    "iam_gateway_downstream_token_cache_hits": "counter",
    "iam_gateway_downstream_token_cache_misses": "counter",
    "iam_gateway_logins": "counter",
    "iam_gateway_refresh_reuse_detected": "counter",
    "iam_gateway_signing_key_age_seconds": "gauge",
    "iam_gateway_store_errors": "counter",
}


def scrape():
    reply = requests.get(METRICS, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(reply.text)}


def sample(families, family, name, **labels):
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def test_families_parse_and_move(admin_token):
    before = scrape()
    for name, kind in FAMILIES.items():
        assert name in before, f"{name} missing"
        assert before[name].type == kind, f"{name} is {before[name].type}"
    assert requests.get(GATEWAY + "/v1/health", timeout=10).status_code == 200
    bad = requests.post(GATEWAY + "/v1/auth/login", json={"tenant_id": "platform", "workspace_id": "default",
                                                            "username": "admin", "password": "not-the-password"}, timeout=30)
    assert bad.status_code == 401
    after = scrape()
    health = dict(route="api", method="GET", status="200")
    assert sample(after, "iam_gateway_http_requests", "iam_gateway_http_requests_total", **health) \
        > sample(before, "iam_gateway_http_requests", "iam_gateway_http_requests_total", **health)
    assert sample(after, "iam_gateway_logins", "iam_gateway_logins_total", result="invalid_credentials") \
        == sample(before, "iam_gateway_logins", "iam_gateway_logins_total", result="invalid_credentials") + 1
    assert sample(after, "iam_gateway_signing_key_age_seconds", "iam_gateway_signing_key_age_seconds", status="active") > 0
    # Bounded labels: no tenant, user or token value anywhere.
    text = requests.get(METRICS, timeout=10).text
    assert admin_token[:24] not in text and "platform" not in text and "admin" not in text


@pytest.fixture(scope="module")
def prometheus():
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    work = tempfile.mkdtemp(prefix="iam-gateway-prometheus-")
    target = METRICS.split("//", 1)[1].split("/", 1)[0]
    shutil.copy(os.path.join(ROOT, "docs", "monitoring", "alerts.yml"), os.path.join(work, "alerts.yml"))
    with open(os.path.join(work, "prometheus.yml"), "w") as config:
        config.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: iam-gateway
    static_configs:
      - targets: ["{target}"]
""")
    port = free_port()
    log = open(os.path.join(work, "prometheus.log"), "w")
    process = subprocess.Popen([
        binary, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
        f"--web.listen-address=127.0.0.1:{port}",
    ], stdout=log, stderr=subprocess.STDOUT, cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/-/ready", process, os.path.join(work, "prometheus.log"))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def query(url, expression):
    reply = requests.get(url + "/api/v1/query", params={"query": expression}, timeout=10)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "success"
    return body["data"]["result"]


def test_a_real_prometheus_scrapes_the_gateway(prometheus):
    requests.get(GATEWAY + "/v1/health", timeout=10)
    deadline = time.time() + 60
    up = counter = []
    while time.time() < deadline:
        up = query(prometheus, 'up{job="iam-gateway"}')
        counter = query(prometheus, 'sum(iam_gateway_http_requests_total{route="api"})')
        if up and up[0]["value"][1] == "1" and counter and float(counter[0]["value"][1]) > 0:
            break
        time.sleep(0.5)
    assert up and up[0]["value"][1] == "1", up
    assert counter and float(counter[0]["value"][1]) > 0, counter
    histogram = query(prometheus, 'histogram_quantile(0.5, sum by (le) (iam_gateway_http_request_duration_seconds_bucket{route="api"}))')
    assert histogram and float(histogram[0]["value"][1]) > 0, "the duration histogram is usable by histogram_quantile"
    rules = requests.get(prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {rule["name"]: rule["health"] for group in rules for rule in group["rules"]}
    assert {"IAMGatewayRefreshTokenReuse", "IAMGatewaySigningKeyTooOld"} <= set(loaded), loaded
    deadline = time.time() + 20
    while time.time() < deadline and any(health != "ok" for health in loaded.values()):
        time.sleep(0.5)
        rules = requests.get(prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
        loaded = {rule["name"]: rule["health"] for group in rules for rule in group["rules"]}
    assert all(health == "ok" for health in loaded.values()), loaded


def test_a_scrape_storm_never_slows_or_fails_client_requests():
    """The metrics listener is separate: 8 scrapers in a loop while clients call the API; every client request
    succeeds, and none takes longer than a second."""
    import threading
    stop = threading.Event()
    scrapes = []

    def scrape_loop():
        while not stop.is_set():
            scrapes.append(requests.get(METRICS, timeout=10).status_code)

    threads = [threading.Thread(target=scrape_loop) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        slowest = 0.0
        for _ in range(50):
            started = time.time()
            assert requests.get(GATEWAY + "/v1/health", timeout=10).status_code == 200
            slowest = max(slowest, time.time() - started)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(scrapes) > 50 and all(status == 200 for status in scrapes)
    assert slowest < 1.0, f"a client request took {slowest:.2f} s during the scrape storm"
