"""The authorization code flow with PKCE through authlib's OAuth2Session, the sign-in form submitted by the test
as a browser would (cookie jar, the page's form fields), the ID token checked by authlib's OpenID Connect claims
validation, and the discovery documents by authlib's RFC 8414 and OpenID Connect Discovery validators."""
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata

from conftest import GATEWAY, api
from test_client_credentials import validate_rfc9068

REDIRECT = "https://app.example/callback"


class FormParser(HTMLParser):
    """The sign-in page's form: its action and every input's name and value."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self.labels = None, {}, []
        self._in_label = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        if tag == "input" and "name" in attrs:
            self.fields[attrs["name"]] = attrs.get("value", "")
        self._in_label = tag == "label"

    def handle_data(self, data):
        if self._in_label:
            self.labels.append(data.strip())

    def handle_endtag(self, tag):
        self._in_label = False


@pytest.fixture(scope="module")
def web_client(admin_token):
    created = api("POST", "/v1/clients", admin_token, {
        "name": "Interop Web", "type": "public", "workspace_id": "default",
        "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT],
    })
    assert created.status_code == 201, created.text
    return created.json()


def sign_in(authorization_url, username="admin", password=None):
    """What a browser does: load the page (keeping its cookie), fill the labelled fields, submit, stop at the
    redirect back to the client."""
    import os
    browser = requests.Session()
    page = browser.get(authorization_url, timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    parser = FormParser()
    parser.feed(page.text)
    assert {"Tenant", "Workspace", "Username", "Password"} <= set(parser.labels)
    fields = dict(parser.fields)
    fields.update({"username": username, "password": password or os.environ["GATEWAY_ADMIN_PASSWORD"]})
    answer = browser.post(GATEWAY + parser.action, data=fields, allow_redirects=False, timeout=30)
    return answer


def test_code_flow_with_pkce_and_openid_connect(web_client, discovery):
    session = OAuth2Session(web_client["client_id"], redirect_uri=REDIRECT, scope="openid profile",
                            code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    answer = sign_in(url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    returned = parse_qs(urlparse(location).query)
    assert returned["iss"] == [discovery["issuer"]] and returned["state"] == [state]
    token = session.fetch_token(discovery["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"].startswith("iamr_")

    claims = validate_rfc9068(token["access_token"], discovery["issuer"])
    assert claims["client_id"] == web_client["client_id"] and claims["scope"] == "openid profile"

    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                          claims_options={"iss": {"essential": True, "value": discovery["issuer"]}},
                          claims_params={"nonce": nonce, "client_id": web_client["client_id"], "access_token": token["access_token"]})
    id_token.validate()  # iss, aud, exp, iat, nonce, at_hash, auth_time
    assert id_token["sub"].startswith("platform:")

    # Refresh through authlib: rotation, and the old one is spent.
    refreshed = session.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    reuse = requests.post(discovery["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                                             "client_id": web_client["client_id"]}, timeout=10)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"


def test_a_wrong_password_stays_on_the_page(web_client, discovery):
    session = OAuth2Session(web_client["client_id"], redirect_uri=REDIRECT, scope="openid", code_challenge_method="S256")
    url, _ = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=generate_token(48))
    answer = sign_in(url, password="not-the-password")
    assert answer.status_code == 401 and "Location" not in answer.headers
    assert 'role="alert"' in answer.text


def test_an_unregistered_redirect_is_an_error_page_not_a_redirect(web_client, discovery):
    session = OAuth2Session(web_client["client_id"], redirect_uri="https://evil.example/cb", scope="openid", code_challenge_method="S256")
    url, _ = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=generate_token(48))
    page = requests.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 400 and "Location" not in page.headers


def test_metadata_validates_as_rfc8414_and_openid_discovery(discovery):
    AuthorizationServerMetadata(discovery).validate()
    OpenIDProviderMetadata(discovery).validate()


def test_userinfo_and_revocation_with_authlib(web_client, discovery):
    session = OAuth2Session(web_client["client_id"], redirect_uri=REDIRECT, scope="openid profile",
                            code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(48)
    url, _ = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
    token = session.fetch_token(discovery["token_endpoint"], authorization_response=sign_in(url).headers["Location"], code_verifier=verifier)
    info = session.get(discovery["userinfo_endpoint"])
    assert info.status_code == 200 and info.json()["sub"].startswith("platform:") and info.json()["preferred_username"] == "admin"
    revoked = session.revoke_token(discovery["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200
    assert requests.get(discovery["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]}, timeout=10).status_code == 401
