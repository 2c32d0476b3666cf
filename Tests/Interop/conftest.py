"""Shared fixtures: the live gateway started by run.sh, an admin token, and a confidential client with a role."""
import os
import socket
import subprocess
import time
import uuid

import pytest
import requests

GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
AUDIENCE = "iam-gateway"


def api(method, path, token, body=None, tenant=None):
    headers = {"Authorization": f"Bearer {token}"}
    if tenant:
        headers["X-Tenant-Id"] = tenant
    reply = requests.request(method, GATEWAY + path, json=body, headers=headers, timeout=10)
    return reply


@pytest.fixture(scope="session")
def admin_token():
    reply = requests.post(GATEWAY + "/v1/auth/login", json={
        "tenant_id": "platform", "workspace_id": "default", "username": "admin",
        "password": os.environ["GATEWAY_ADMIN_PASSWORD"],
    }, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


@pytest.fixture(scope="session")
def discovery():
    reply = requests.get(GATEWAY + "/.well-known/openid-configuration", timeout=10)
    assert reply.status_code == 200
    return reply.json()


def make_client(admin_token, grant_types=("client_credentials",), role="viewer"):
    created = api("POST", "/v1/clients", admin_token, {
        "name": "interop-" + uuid.uuid4().hex[:8], "type": "confidential", "workspace_id": "default",
        "grant_types": list(grant_types),
    })
    assert created.status_code == 201, created.text
    client = created.json()
    if role:
        assigned = api("POST", "/v1/assignments", admin_token, {
            "user_id": client["client_id"], "role_id": role, "workspace_id": "default",
        })
        assert assigned.status_code == 201, assigned.text
    return client


@pytest.fixture(scope="session")
def confidential_client(admin_token):
    return make_client(admin_token)


def free_port():
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url, process, log_path, attempts=150):
    """Polls `url` until it answers 200; fails with the process's log if the process exits first."""
    for _ in range(attempts):
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited:\n" + open(log_path).read()[-4000:])
        time.sleep(0.2)
    pytest.fail(f"{url} did not become ready")


class OwnGateway:
    """A gateway of a test's own: the repository's configuration with only its own IAM_GATEWAY_ variables (its own
    port, store and keys, no metrics listener), started from GATEWAY_BIN and stopped with `stop()`."""

    def __init__(self, work, admin_password, extra_env=None, **settings):
        self.work = str(work)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("IAM_GATEWAY_")}
        env.update({
            "IAM_GATEWAY_HTTP_PORT": str(self.port), "IAM_GATEWAY_ISSUER": self.url,
            "IAM_GATEWAY_KEYS_DIRECTORY": f"{self.work}/Keys", "IAM_GATEWAY_STORAGE_URL": f"sqlite://{self.work}/gateway.sqlite",
            "IAM_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD": admin_password, "IAM_GATEWAY_METRICS_LISTEN": "",
        })
        env.update({"IAM_GATEWAY_" + key.upper(): value for key, value in settings.items()})
        env.update(extra_env or {})
        self.log_path = f"{self.work}/gateway.log"
        self.log = open(self.log_path, "w")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.process = subprocess.Popen([os.environ["GATEWAY_BIN"], "serve"], cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(self.url + "/v1/ready", self.process, self.log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
