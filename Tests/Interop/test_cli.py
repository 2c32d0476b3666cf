"""The command line of SPEC 2 as an operator meets it: --version, a misspelled variable, a port in use, and
`users reset-password` against the store of the running gateway."""
import os
import subprocess
import time

import requests

from conftest import GATEWAY, api

BIN = os.environ["GATEWAY_BIN"]


def run(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip().count(".") == 2


def test_a_misspelled_variable_stops_start_up_with_exit_2():
    result = run("serve", env={"IAM_GATEWAY_HTTP_PROT": "9999"})
    assert result.returncode == 2
    assert "IAM_GATEWAY_HTTP_PROT" in result.stderr and "IAM_GATEWAY_HTTP_PORT" in result.stderr


def test_a_port_in_use_is_named():
    port = GATEWAY.rsplit(":", 1)[1]
    # The metrics listener is off here: its port is the running gateway's too, and only the HTTP port is under test.
    result = run("serve", "--host", "127.0.0.1", "--port", port, env={"IAM_GATEWAY_METRICS_LISTEN": ""})
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "already in use" in result.stderr
    bad = run("serve", "--port", "70000")
    assert bad.returncode != 0 and "--port" in bad.stderr


def test_a_file_that_is_no_certificate_stops_start_up_with_exit_2(tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("garbage")
    result = run("serve", "--port", "0", env={
        "IAM_GATEWAY_METRICS_LISTEN": "",
        "IAM_GATEWAY_HTTP_TLS_CERTIFICATE": str(garbage),
        "IAM_GATEWAY_HTTP_TLS_PRIVATE_KEY": str(garbage),
    })
    assert result.returncode == 2, result.stderr
    assert f"http.tls.certificate: {garbage} holds no PEM certificate" in result.stderr
    assert "Fatal error" not in result.stderr


def test_reset_password_offline_revokes_the_users_sessions(admin_token):
    created = api("POST", "/v1/users", admin_token, {"username": "cli-user", "password": "cli-password-1", "user_id": "cli-user"})
    assert created.status_code == 201, created.text
    assigned = api("POST", "/v1/assignments", admin_token, {"user_id": "cli-user", "role_id": "viewer", "workspace_id": "default"})
    assert assigned.status_code == 201, assigned.text

    def login(password):
        return requests.post(GATEWAY + "/v1/auth/login", json={"tenant_id": "platform", "workspace_id": "default",
                                                                "username": "cli-user", "password": password}, timeout=30)

    old = login("cli-password-1").json()["access_token"]
    assert requests.get(GATEWAY + "/v1/me", headers={"Authorization": "Bearer " + old}, timeout=10).status_code == 200

    result = run("users", "reset-password", "--tenant", "platform", "cli-user")
    assert result.returncode == 0, result.stderr
    generated = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("new password")]
    assert len(generated) == 1 and len(generated[0]) >= 16
    assert "revoked 1 session" in result.stdout

    # The running gateway reloads revocations every second.
    deadline = time.time() + 5
    status = 200
    while time.time() < deadline and status == 200:
        status = requests.get(GATEWAY + "/v1/me", headers={"Authorization": "Bearer " + old}, timeout=10).status_code
        time.sleep(0.2)
    assert status == 401
    assert login("cli-password-1").status_code == 401
    assert login(generated[0]).status_code == 200

    assert run("users", "reset-password", "--password", "short", "cli-user").returncode == 2
    missing = run("users", "reset-password", "--tenant", "platform", "nobody")
    assert missing.returncode == 1 and "no user nobody" in missing.stderr
