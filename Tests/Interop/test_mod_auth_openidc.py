"""Apache mod_auth_openidc (Debian's libapache2-mod-auth-openidc) as an OpenID Connect relying party of the
gateway: a browser-less login through it (its redirects followed with a cookie jar, the sign-in form posted) ends
on a protected page that shows the claims it got."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

from conftest import GATEWAY, api, free_port
from test_code_flow import FormParser

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"


@pytest.fixture(scope="module")
def relying_party(admin_token):
    if not os.path.exists(f"{MODULES}/mod_auth_openidc.so"):
        pytest.fail("libapache2-mod-auth-openidc is not installed (Tests/Interop/run.sh installs it)")
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/protected/redirect_uri"
    created = api("POST", "/v1/clients", admin_token, {
        "name": "Apache RP", "type": "confidential", "workspace_id": "default",
        "grant_types": ["authorization_code"], "redirect_uris": [redirect],
    })
    assert created.status_code == 201, created.text
    client = created.json()
    root = tempfile.mkdtemp(prefix="iam-gateway-apache-")
    os.chmod(root, 0o755)
    with open(f"{root}/claims.sh", "w") as script:
        script.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv | grep '^OIDC_CLAIM_' | sort\n")
    os.chmod(f"{root}/claims.sh", 0o755)
    with open(f"{root}/httpd.conf", "w") as conf:
        conf.write(f"""
ServerRoot {root}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
LogLevel warn auth_openidc:info
User nobody
Group nogroup
LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule alias_module {MODULES}/mod_alias.so
LoadModule cgi_module {MODULES}/mod_cgi.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
OIDCProviderMetadataURL {GATEWAY}/.well-known/openid-configuration
OIDCClientID {client["client_id"]}
OIDCClientSecret {client["client_secret"]}
OIDCRedirectURI {redirect}
OIDCCryptoPassphrase {uuid.uuid4().hex}
OIDCScope "openid profile"
OIDCPKCEMethod S256
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCPassClaimsAs environment
ScriptAlias /protected/claims {root}/claims.sh
<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
""")
    process = subprocess.Popen([APACHE, "-X", "-f", f"{root}/httpd.conf"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail("apache2 exited: " + process.stdout.read().decode(errors="replace"))
            time.sleep(0.1)
    yield {"base": f"http://127.0.0.1:{port}", "client": client, "root": root}
    process.terminate()
    process.wait(timeout=10)
    with open(f"{root}/error.log") as log:
        print(log.read()[-4000:])
    shutil.rmtree(root, ignore_errors=True)


def test_login_through_mod_auth_openidc_ends_on_the_protected_page(relying_party):
    browser = requests.Session()
    page = browser.get(relying_party["base"] + "/protected/claims", timeout=30)
    assert page.status_code == 200 and page.url.startswith(GATEWAY + "/oauth/authorize"), page.text[:500]
    parser = FormParser()
    parser.feed(page.text)
    fields = dict(parser.fields)
    fields.update({"tenant_id": "platform", "workspace_id": "default", "username": "admin",
                   "password": os.environ["GATEWAY_ADMIN_PASSWORD"]})
    landed = browser.post(GATEWAY + parser.action, data=fields, timeout=30)
    assert landed.status_code == 200, landed.text[:1000]
    assert landed.url == relying_party["base"] + "/protected/claims"
    claims = dict(line.split("=", 1) for line in landed.text.splitlines() if "=" in line)
    assert claims["OIDC_CLAIM_iss"] == os.environ.get("IAM_GATEWAY_ISSUER", GATEWAY)
    assert claims["OIDC_CLAIM_aud"] == relying_party["client"]["client_id"]
    assert claims["OIDC_CLAIM_sub"].startswith("platform:")
    assert claims["OIDC_CLAIM_preferred_username"] == "admin"
    # The session cookie of the relying party now opens the page without the gateway.
    again = browser.get(relying_party["base"] + "/protected/claims", allow_redirects=False, timeout=10)
    assert again.status_code == 200 and "OIDC_CLAIM_sub" in again.text
