"""client_credentials with authlib's OAuth2Session (both client authentication methods), the tokens checked by
authlib's RFC 9068 validator, and every token endpoint error parsed by oauthlib."""
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from oauthlib.oauth2.rfc6749.parameters import parse_token_response

from conftest import AUDIENCE, GATEWAY, api, make_client


class GatewayValidator(JWTBearerTokenValidator):
    """authlib's RFC 9068 validator, keys from the gateway's JWKS."""

    def get_jwks(self):
        return JsonWebKey.import_key_set(requests.get(GATEWAY + "/.well-known/jwks.json", timeout=10).json())


def validate_rfc9068(token, issuer):
    validator = GatewayValidator(issuer=issuer, resource_server=AUDIENCE)
    claims = validator.authenticate_token(token)
    validator.validate_token(claims, scopes=None, request=None)
    return claims


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_authlib(method, confidential_client, discovery):
    session = OAuth2Session(
        confidential_client["client_id"], confidential_client["client_secret"], token_endpoint_auth_method=method,
    )
    token = session.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] > 0
    claims = validate_rfc9068(token["access_token"], discovery["issuer"])
    assert claims["client_id"] == confidential_client["client_id"]
    assert claims["sub"] == confidential_client["client_id"]
    assert "sid" not in claims
    # The token works at the gateway's own API.
    me = requests.get(GATEWAY + "/v1/me", headers={"Authorization": "Bearer " + token["access_token"]}, timeout=10)
    assert me.status_code == 200 and me.json()["sub"] == confidential_client["client_id"]


def test_first_party_tokens_pass_the_rfc9068_validator(admin_token, discovery):
    claims = validate_rfc9068(admin_token, discovery["issuer"])
    assert claims["client_id"] == "first-party"
    assert claims["sid"]


def test_rfc9068_validator_refuses_a_token_for_another_audience(admin_token, discovery):
    exchanged = requests.post(GATEWAY + "/v1/auth/token", json={"audience": "echo"},
                              headers={"Authorization": "Bearer " + admin_token}, timeout=10)
    assert exchanged.status_code == 200, exchanged.text
    with pytest.raises(Exception):
        validate_rfc9068(exchanged.json()["access_token"], discovery["issuer"])
    # ... and accepts it as the downstream service it is for, with the first-party client_id carried over.
    validator = GatewayValidator(issuer=discovery["issuer"], resource_server="echo")
    claims = validator.authenticate_token(exchanged.json()["access_token"])
    validator.validate_token(claims, scopes=None, request=None)
    assert claims["client_id"] == "first-party"


def error_cases(client, unassigned):
    basic = (client["client_id"], client["client_secret"])
    return [
        ("wrong secret", (client["client_id"], "iamc_wrong"), {"grant_type": "client_credentials"}, "invalid_client"),
        ("unknown grant", basic, {"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ("scope", basic, {"grant_type": "client_credentials", "scope": "admin"}, "invalid_scope"),
        ("no grant type", basic, {"client_id": client["client_id"]}, "invalid_request"),
        ("no role", (unassigned["client_id"], unassigned["client_secret"]), {"grant_type": "client_credentials"}, "unauthorized_client"),
    ]


def test_oauthlib_parses_every_token_endpoint_error(admin_token, confidential_client, discovery):
    unassigned = make_client(admin_token, role=None)
    for name, auth, form, expected in error_cases(confidential_client, unassigned):
        reply = requests.post(discovery["token_endpoint"], data=form, auth=auth, timeout=10)
        assert reply.headers["Cache-Control"] == "no-store", name
        assert confidential_client["client_secret"] not in reply.text, name
        # oauthlib maps the `error` member to its exception classes (for invalid_request it picks one of several
        # classes sharing that code, so the code is what is compared).
        with pytest.raises(oauth_errors.OAuth2Error) as raised:
            parse_token_response(reply.text)
        assert raised.value.error == expected, name
        assert raised.value.description, name
        if expected == "invalid_client":
            assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Basic"), name
        else:
            assert reply.status_code == 400, name


def test_discovery_advertises_only_what_works(discovery, confidential_client):
    assert discovery["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token",
                                                  "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert set(discovery["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert discovery["response_types_supported"] == ["code"]
    assert discovery["end_session_endpoint"].endswith("/oauth/logout")
    same = requests.get(GATEWAY + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert same == discovery
    # Each advertised method works (checked with authlib here and in test_exchange_introspection); a confidential
    # client that presents no secret is refused.
    reply = requests.post(discovery["token_endpoint"], data={
        "grant_type": "client_credentials", "client_id": confidential_client["client_id"],
    }, timeout=10)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"


def test_another_tenants_admin_cannot_see_or_delete_the_client(admin_token, confidential_client):
    created = api("POST", "/v1/tenants", admin_token, {"tenant_id": "interop-other", "name": "Other",
                                                        "admin": {"username": "other-admin", "password": "other-password"}})
    assert created.status_code in (201, 409), created.text
    login = requests.post(GATEWAY + "/v1/auth/login", json={"tenant_id": "interop-other", "workspace_id": "default",
                                                            "username": "other-admin", "password": "other-password"}, timeout=30)
    assert login.status_code == 200, login.text
    other = login.json()["access_token"]
    client_id = confidential_client["client_id"]
    assert api("GET", f"/v1/clients/{client_id}", other).status_code == 404
    assert api("DELETE", f"/v1/clients/{client_id}", other).status_code == 404
    assert api("GET", f"/v1/clients/{client_id}", admin_token).status_code == 200
