"""Runs last (file order): after every other test drove the gateway, with the log at debug level, nothing in its
log is a secret, a code or a token."""
import os
import re


def test_the_gateway_log_holds_no_secret_code_or_token():
    with open(os.environ["GATEWAY_LOG"]) as log:
        text = log.read()
    assert "applied schema migration" in text, "the log is the gateway's"
    for name, pattern in [
        ("refresh token", r"iamr_[A-Za-z0-9_-]{8}"), ("client secret", r"iamc_[A-Za-z0-9_-]{8}"),
        ("authorization code", r"iamac_[A-Za-z0-9_-]{8}"), ("API key", r"iamk_[A-Za-z0-9_-]{8}"),
        ("JWT", r"eyJ[A-Za-z0-9_-]{10,}\.eyJ"), ("admin password", re.escape(os.environ["GATEWAY_ADMIN_PASSWORD"])),
        ("user password", r"cli-password-1|other-password"),
    ]:
        assert not re.search(pattern, text), f"a {name} is in the gateway log"


def test_every_request_left_an_access_line_without_query_or_credential():
    with open(os.environ["GATEWAY_LOG"]) as log:
        lines = [line for line in log if " access: request " in line]
    assert len(lines) > 50, "the suite's requests are in the access log"
    for line in lines:
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        for field in ("request_id", "method", "route", "path", "status", "duration_ms", "bytes"):
            assert field in fields, f"{field} missing: {line}"
        assert "?" not in fields["path"], f"a query string in the access log: {line}"
        assert "Bearer" not in line and "iam-session" not in line.lower(), line
