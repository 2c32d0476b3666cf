"""Schemathesis against the live gateway with its OpenAPI 3.1 document (issue 17).

Every operation of the document is called with generated inputs, valid ones (positive) and invalid ones (negative:
wrong types, out-of-range values, missing required fields, huge strings), as the platform admin and as a viewer of
a fresh tenant. Every answer must be documented: no 5xx, a documented status, content type, headers and body
schema, and invalid input refused with a 4xx. A request that takes longer than REQUEST_TIMEOUT fails the test (a
hang).

The document is the gateway's own `GET /v1/openapi.json` when it answers 200, else the file in the repository
(Sources/GatewayHTTP/OpenAPI/openapi.json, also docs/openapi.json).

Operations left out of a run, and why (each still runs where it can do no harm):
- `POST /v1/auth/logout` would revoke the session the run uses; test_logout runs it with a session of its own
  (after the first example that session is revoked, so the rest check the 401 answers).
- `POST /v1/admin/keys/rotate` as the platform admin: `?force=true` examples would rotate the key ring dozens of
  times (a new RSA key each time, every retiring key kept in the JWKS). As the viewer it runs (403).
- `PUT /v1/me/password` and `POST /v1/auth/login` as the platform admin: wrong passwords count against the login
  throttle (50 failures per client address in 15 minutes; 5 per account and address), which would lock every later
  sign-in from this address, the admin's included. Both run in the viewer run only, with a smaller budget
  (SCHEMATHESIS_SLOW_EXAMPLES); the viewer's sessions are signed in before, and its password is never guessed.
- `POST /v1/users`, `POST /v1/tenants` and `PUT /v1/users/{user_id}/password` as the platform admin get the smaller
  budget too: each valid example hashes a password (scrypt).
Cases whose path names the bootstrap admin or the viewer (delete, password reset, session revocation) are skipped,
so the run never disables the accounts it uses.

Budget: SCHEMATHESIS_MAX_EXAMPLES (default 20) examples per operation and run, about a minute in all on 2 cores
against a debug build. Hypothesis keeps no example database (no .hypothesis directory) and is derandomized, so a
run is reproducible; raise the budget locally to search harder.
"""
import json
import os
import pathlib
import time
import uuid

import warnings

import tempfile

import hypothesis
import hypothesis.configuration
import jsonschema
import pytest
import requests
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# Hypothesis's caches (constants, unicode data) go to a temporary directory, not a .hypothesis directory in the tree.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))

with warnings.catch_warnings():
    # schemathesis 3.x still uses jsonschema's RefResolver API (deprecated, not removed, in the pinned jsonschema).
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis
    from schemathesis import DataGenerationMethod, GenerationConfig
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        status_code_conformance,
    )
    from schemathesis.generation import HeaderConfig

GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "Sources" / "GatewayHTTP" / "OpenAPI" / "openapi.json"
REQUEST_TIMEOUT = 15
STATS = os.environ.get("SCHEMATHESIS_STATS")
EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))


def response_schema_by_media_type(ctx, response, case):
    """Schemathesis 3.x's response_schema_conformance validates a JSON body against the *first* media type of the
    response, so a status documented with two JSON types (the OAuth endpoints' 400: `application/json` RFC 6749
    error, or `application/problem+json` when the request was refused before the endpoint) would be checked
    against the wrong one. This is the same check with the schema of the response's own media type."""
    status = str(response.status_code)
    responses = case.operation.definition.raw.get("responses", {})
    definition = responses.get(status) or responses.get("default")
    if definition is None:
        return None  # status_code_conformance reports it
    if "$ref" in definition:
        definition = RAW["components"]["responses"][definition["$ref"].rsplit("/", 1)[1]]
    media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        return None
    content = {name.split(";")[0].strip().lower(): value for name, value in definition.get("content", {}).items()}
    schema = content.get(media_type, {}).get("schema")
    if schema is None:
        return None  # content_type_conformance reports an undocumented type
    body = json.loads(response.content) if response.content else None
    jsonschema.validate(body, {**schema, "components": RAW["components"]}, cls=jsonschema.Draft202012Validator,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return True


def documented_parameters(case):
    """The operation's documented parameters by location, with their schemas (header names in lower case)."""
    raw = case.operation.definition.raw
    found = {"query": {}, "header": {}, "path": {}, "cookie": {}}
    for parameter in raw.get("parameters", []):
        if "$ref" in parameter:
            parameter = RAW["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        name = parameter["name"].lower() if parameter["in"] == "header" else parameter["name"]
        found[parameter["in"]][name] = parameter.get("schema", {})
    return found


def valid(value, schema):
    return jsonschema.Draft202012Validator({**schema, "components": RAW["components"]}).is_valid(value)


def negative_data_rejected(ctx, response, case):
    """Invalid input is refused with a 4xx. Schemathesis's negative_data_rejection, except that a case whose only
    "negation" is an undocumented query parameter, header or cookie is not invalid input: HTTP servers ignore
    unknown parameters, and so does the gateway. (Schemathesis's own exemption for that case does not work when the
    operation declares security schemes: it counts the credentials as missing required headers.)"""
    if not case.data_generation_method or not case.data_generation_method.is_negative or 400 <= response.status_code < 500:
        return None
    meta = case.meta
    operation = case.operation
    # Schemathesis marks every component of a negative case negative, also those the operation does not have.
    really_negative = (
        meta is None
        or bool(meta.body and meta.body.is_negative and operation.body)
        or bool(meta.path_parameters and meta.path_parameters.is_negative and operation.path_parameters)
    )
    documented = documented_parameters(case)
    for container, location in (("query", "query"), ("headers", "header"), ("cookies", "cookie")):
        values = getattr(case, container) or {}
        for name, value in values.items():
            schema = documented[location].get(name.lower() if location == "header" else name)
            if schema is not None and not valid(value, schema):
                really_negative = True
    if really_negative:
        raise AssertionError(f"Accepted invalid input: {response.status_code} for a negative case of {case.operation.verbose_name}")
    return None


# `ignored_auth` is left out: it replays requests without credentials, which the 401 responses of every
# authenticated operation already cover. `response_schema_conformance` and `negative_data_rejection` are replaced
# by the checks above.
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_by_media_type,
    negative_data_rejected,
)


# OpenAPI 3.1 support is behind a flag in schemathesis 3.x.
schemathesis.experimental.OPEN_API_3_1.enable()


def load_schema():
    methods = [DataGenerationMethod.positive, DataGenerationMethod.negative]
    # Credentials are the run's own (a bearer token): generated X-API-Key / session cookie values would be ignored
    # (Authorization comes first), so "negative" ones could not be rejected.
    # Header values are valid HTTP field values (RFC 9110 5.5: visible ASCII, obs-text, inner spaces): the gateway
    # answers control characters in a header with 400 before routing (checked once in test_control_characters_in_a_header),
    # and otherwise half of the examples would never reach an endpoint.
    field_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")).map(str.strip)
    config = GenerationConfig(with_security_parameters=False, headers=HeaderConfig(strategy=field_values))
    try:
        served = requests.get(GATEWAY + "/v1/openapi.json", timeout=10)
    except requests.RequestException:
        served = None
    if served is not None and served.status_code == 200:
        return schemathesis.from_uri(GATEWAY + "/v1/openapi.json", base_url=GATEWAY, data_generation_methods=methods, generation_config=config)
    return schemathesis.from_path(str(DOCUMENT), base_url=GATEWAY, data_generation_methods=methods, generation_config=config)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # as at the import above
    schema = load_schema()
RAW = schema.raw_schema

# Operations run apart (see the module docstring).
SESSION_ENDING = ["logout"]
THROTTLED = ["login", "changeOwnPassword"]
HASHING = ["createUser", "createTenant", "resetPassword"]
ADMIN_EXCLUDED = ["rotateKeys"] + THROTTLED
SLOW_EXAMPLES = int(os.environ.get("SCHEMATHESIS_SLOW_EXAMPLES", "10"))


def uses_bearer(case):
    """The operation accepts the API credentials (the OAuth endpoints with client authentication do not)."""
    security = case.operation.definition.raw.get("security", [])
    return any("bearerAuth" in requirement for requirement in security)


class Session:
    """A signed-in session whose access token is renewed with its refresh token before it expires (tokens live 300 s;
    a larger budget runs longer than that)."""

    RENEW_AFTER = 150

    def __init__(self, tenant, workspace, username, password):
        reply = requests.post(GATEWAY + "/v1/auth/login", json={
            "tenant_id": tenant, "workspace_id": workspace, "username": username, "password": password,
        }, timeout=30)
        assert reply.status_code == 200, reply.text
        self._take(reply.json())

    def _take(self, pair):
        self.access, self.refresh, self.since = pair["access_token"], pair["refresh_token"], time.monotonic()

    def token(self):
        if time.monotonic() - self.since > self.RENEW_AFTER:
            reply = requests.post(GATEWAY + "/v1/auth/refresh", json={"refresh_token": self.refresh}, timeout=30)
            if reply.status_code == 200:  # a session ended on purpose (test_logout) stays ended
                self._take(reply.json())
        return self.access


def admin_call(method, path, token, body, tenant=None):
    headers = {"Authorization": f"Bearer {token}"}
    if tenant:
        headers["X-Tenant-Id"] = tenant
    reply = requests.request(method, GATEWAY + path, json=body, headers=headers, timeout=30)
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


@pytest.fixture(scope="module")
def admin():
    """The bootstrap platform admin, signed in for this module (the suite's session-wide admin_token may be older
    than an access token's lifetime by the time this file runs)."""
    return Session("platform", "default", "admin", os.environ["GATEWAY_ADMIN_PASSWORD"])


@pytest.fixture(scope="module")
def viewer(admin):
    """A user with role viewer in a workspace of a fresh tenant, created through the API, and two sessions of it."""
    tenant = "st-" + uuid.uuid4().hex[:10]
    token = admin.token()
    admin_call("POST", "/v1/tenants", token, {"tenant_id": tenant, "name": "Schemathesis " + tenant})
    admin_call("POST", "/v1/workspaces", token, {"workspace_id": "fuzz", "name": "Fuzz"}, tenant=tenant)
    password = "viewer-" + uuid.uuid4().hex
    user = admin_call("POST", "/v1/users", token, {"username": "viewer", "password": password}, tenant=tenant)
    admin_call("POST", "/v1/assignments", token, {"user_id": user["user_id"], "role_id": "viewer", "workspace_id": "fuzz"}, tenant=tenant)
    # Both sessions signed in now: the throttled run's wrong current passwords lock this account's sign-in for a
    # while (5 failures per account and address), and test_logout ends a session of its own.
    return {
        "tenant": tenant, "user_id": user["user_id"],
        "session": Session(tenant, "fuzz", "viewer", password),
        "throwaway": Session(tenant, "fuzz", "viewer", password),
    }


@pytest.fixture(scope="module")
def protected_ids(admin, viewer):
    me = requests.get(GATEWAY + "/v1/me", headers={"Authorization": f"Bearer {admin.token()}"}, timeout=10).json()
    return {me["sub"], viewer["user_id"]}


def run(case, session, protected):
    # Never disable the accounts the run uses (delete, password reset, session revocation of its own users).
    hypothesis.assume(not (case.path_parameters or {}).get("user_id") in protected)
    headers = {"Authorization": f"Bearer {session.token()}"} if uses_bearer(case) else None
    response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=REQUEST_TIMEOUT)
    if STATS:
        # SCHEMATHESIS_STATS=FILE: one line per call (operation, generation method, status) to see what was reached.
        with open(STATS, "a") as out:
            out.write(f"{case.operation.verbose_name}\t{case.data_generation_method.value}\t{response.status_code}\n")


SETTINGS = dict(
    deadline=None,
    database=None,  # no .hypothesis directory in the tree
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.exclude(operation_id=SESSION_ENDING + ADMIN_EXCLUDED + HASHING).parametrize()
@settings(max_examples=EXAMPLES, **SETTINGS)
def test_as_platform_admin(case, admin, protected_ids):
    run(case, admin, protected_ids)


@schema.include(operation_id=HASHING).parametrize()
@settings(max_examples=SLOW_EXAMPLES, **SETTINGS)
def test_as_platform_admin_password_hashing(case, admin, protected_ids):
    run(case, admin, protected_ids)


@schema.exclude(operation_id=SESSION_ENDING + THROTTLED).parametrize()
@settings(max_examples=EXAMPLES, **SETTINGS)
def test_as_viewer(case, viewer, protected_ids):
    run(case, viewer["session"], protected_ids)


@schema.include(operation_id=THROTTLED).parametrize()
@settings(max_examples=SLOW_EXAMPLES, **SETTINGS)
def test_as_viewer_throttled(case, viewer, protected_ids):
    run(case, viewer["session"], protected_ids)


@schema.include(operation_id=SESSION_ENDING).parametrize()
@settings(max_examples=EXAMPLES, **SETTINGS)
def test_logout(case, viewer, protected_ids):
    run(case, viewer["throwaway"], protected_ids)


def test_the_runs_left_their_sessions_working(admin, viewer):
    """The exclusions held: after everything above, the admin's and the viewer's sessions still answer."""
    for session in (admin, viewer["session"]):
        reply = requests.get(GATEWAY + "/v1/me", headers={"Authorization": f"Bearer {session.token()}"}, timeout=10)
        assert reply.status_code == 200, reply.text


def test_the_document_is_valid_openapi_3_1():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    document, _ = read_from_filename(str(DOCUMENT))
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    served = requests.get(GATEWAY + "/v1/openapi.json", timeout=10)
    if served.status_code == 200:
        assert served.json() == document, "the gateway serves the document of the repository"


def test_control_characters_in_a_header():
    """A header value with a control character is refused with a 400 problem before routing, never a 5xx."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(GATEWAY)
    with socket.create_connection((url.hostname, url.port or 80), timeout=REQUEST_TIMEOUT) as connection:
        connection.sendall(b"GET /v1/health HTTP/1.1\r\nHost: " + url.netloc.encode() + b"\r\nX-Request-Id: a\x01b\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/problem+json" in head.lower(), head
    assert json.loads(body)["code"] == "invalid_request"
