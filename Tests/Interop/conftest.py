"""Shared fixtures: the live gateway started by run.sh, an admin token, and a confidential client with a role."""
import os
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
