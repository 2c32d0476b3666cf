"""RFC 8693 token exchange and RFC 7662 introspection through authlib's OAuth2Session."""
import requests
from authlib.integrations.requests_client import OAuth2Session
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from oauthlib.oauth2.rfc6749.parameters import parse_token_response
import pytest

from conftest import GATEWAY, api
from test_client_credentials import GatewayValidator

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture(scope="module")
def public_client(admin_token):
    created = api("POST", "/v1/clients", admin_token, {
        "name": "interop-spa", "type": "public", "workspace_id": "default", "grant_types": [EXCHANGE],
    })
    assert created.status_code == 201, created.text
    assert "client_secret" not in created.json()
    return created.json()


def test_token_exchange_by_a_public_client_with_authlib(public_client, admin_token, discovery):
    assert EXCHANGE in discovery["grant_types_supported"] and "none" in discovery["token_endpoint_auth_methods_supported"]
    session = OAuth2Session(public_client["client_id"], token_endpoint_auth_method="none")
    token = session.fetch_token(discovery["token_endpoint"], grant_type=EXCHANGE, subject_token=admin_token,
                                subject_token_type=ACCESS_TOKEN, audience="echo")
    assert token["issued_token_type"] == ACCESS_TOKEN
    validator = GatewayValidator(issuer=discovery["issuer"], resource_server="echo")
    claims = validator.authenticate_token(token["access_token"])
    validator.validate_token(claims, scopes=None, request=None)
    assert claims["client_id"] == public_client["client_id"]
    me = requests.get(GATEWAY + "/v1/me", headers={"Authorization": "Bearer " + admin_token}, timeout=10).json()
    assert claims["sub"] == me["sub"] and claims["tenant_id"] == "platform"


def test_token_exchange_refusals_parse_as_rfc_errors(public_client, admin_token, discovery):
    base = {"grant_type": EXCHANGE, "client_id": public_client["client_id"], "subject_token": admin_token,
            "subject_token_type": ACCESS_TOKEN}
    for name, extra, code in [
        ("unknown audience", {"audience": "nowhere"}, "invalid_target"),
        ("bad subject", {"audience": "echo", "subject_token": "garbage"}, "invalid_request"),
        ("wrong token type", {"audience": "echo", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
    ]:
        reply = requests.post(discovery["token_endpoint"], data={**base, **extra}, timeout=10)
        assert reply.status_code == 400, name
        with pytest.raises(oauth_errors.OAuth2Error) as raised:
            parse_token_response(reply.text)
        assert raised.value.error == code, name


def test_introspection_with_authlib(confidential_client, admin_token, discovery):
    session = OAuth2Session(confidential_client["client_id"], confidential_client["client_secret"],
                            token_endpoint_auth_method="client_secret_basic")
    active = session.introspect_token(discovery["introspection_endpoint"], token=admin_token)
    assert active.status_code == 200
    body = active.json()
    me = requests.get(GATEWAY + "/v1/me", headers={"Authorization": "Bearer " + admin_token}, timeout=10).json()
    assert body["active"] is True and body["sub"] == me["sub"] and body["client_id"] == "first-party"
    inactive = session.introspect_token(discovery["introspection_endpoint"], token="eyJ.garbage.token")
    assert inactive.json() == {"active": False}
    anonymous = requests.post(discovery["introspection_endpoint"], data={"token": admin_token}, timeout=10)
    assert anonymous.status_code == 401 and "active" not in anonymous.json()


def test_introspection_reports_the_granted_scope(confidential_client, discovery, admin_token):
    """A code-flow token's scope appears in introspection (RFC 7662's `scope`)."""
    from test_code_flow import REDIRECT, sign_in
    from authlib.common.security import generate_token
    created = api("POST", "/v1/clients", admin_token, {"name": "scope-app", "type": "public", "workspace_id": "default",
                                                        "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT]})
    client_id = created.json()["client_id"]
    session = OAuth2Session(client_id, redirect_uri=REDIRECT, scope="openid offline_access", code_challenge_method="S256",
                            token_endpoint_auth_method="none")
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
    token = session.fetch_token(discovery["token_endpoint"], authorization_response=sign_in(url).headers["Location"], code_verifier=verifier)
    introspector = OAuth2Session(confidential_client["client_id"], confidential_client["client_secret"])
    body = introspector.introspect_token(discovery["introspection_endpoint"], token=token["access_token"]).json()
    assert body["active"] is True and body["scope"] == "offline_access openid" and body["client_id"] == client_id
