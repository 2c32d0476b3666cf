#!/usr/bin/env bash
# Interoperability suite: standard third-party clients (authlib, oauthlib, Apache mod_auth_openidc as a relying
# party) against a live gateway on loopback, and the command line (test_cli.py) as an operator uses it.
#
#   bash Tests/Interop/run.sh        # after `swift build` (or `swift test`); .ci/run calls it after swift test
#   bash Tests/Interop/run.sh -k cli # pytest's arguments after it: here only test_cli.py's tests
#
# Installs what it needs (Debian's apache2 and libapache2-mod-auth-openidc, a Python virtual environment with the
# pinned packages of requirements.txt), starts the
# gateway built by SwiftPM on a free port with its own data directory and a known bootstrap password, runs
# pytest against it, and stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="$PATH:/opt/swift/usr/bin"
HERE=$ROOT/Tests/Interop
VENV=$HERE/.venv

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "== installing python3-venv (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv </dev/null >/dev/null
fi
if [ ! -x /usr/sbin/apache2 ] || [ ! -f /usr/lib/apache2/modules/mod_auth_openidc.so ]; then
    echo "== installing apache2 and libapache2-mod-auth-openidc (Debian packages; the relying-party test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q apache2 libapache2-mod-auth-openidc </dev/null >/dev/null \
        || { apt-get update -q </dev/null >/dev/null && apt-get install -y -q apache2 libapache2-mod-auth-openidc </dev/null >/dev/null; }
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "== installing chromium and chromium-driver (Debian packages; the console's browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium chromium-driver </dev/null >/dev/null \
        || { apt-get update -q </dev/null >/dev/null && apt-get install -y -q chromium chromium-driver </dev/null >/dev/null; }
fi
if [ ! -x /usr/bin/prometheus ]; then
    echo "== installing prometheus (Debian package; a real server scrapes the gateway's metrics)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends prometheus </dev/null >/dev/null \
        || { apt-get update -q </dev/null >/dev/null && apt-get install -y -q --no-install-recommends prometheus </dev/null >/dev/null; }
fi
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"

swift build --product iam-gateway 2>&1 | grep -E "error|warning: [^']" || true
BIN="$(swift build --show-bin-path)/iam-gateway"

WORK="$(mktemp -d /tmp/iam-gateway-interop.XXXXXX)"
PORT=""
for candidate in $(seq 18080 18120); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then PORT="$candidate"; break; fi
done
[ -n "$PORT" ] || { echo "interop: no free port" >&2; exit 1; }
METRICS_PORT=""
for candidate in $(seq 19464 19500); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then METRICS_PORT="$candidate"; break; fi
done
[ -n "$METRICS_PORT" ] || { echo "interop: no free metrics port" >&2; exit 1; }
GATEWAY_PID=""
cleanup() {
    if [ -n "$GATEWAY_PID" ]; then kill "$GATEWAY_PID" 2>/dev/null || true; wait "$GATEWAY_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export IAM_GATEWAY_HTTP_PORT=$PORT
export IAM_GATEWAY_METRICS_LISTEN=127.0.0.1:$METRICS_PORT
export IAM_GATEWAY_ISSUER="http://127.0.0.1:$PORT"
export IAM_GATEWAY_KEYS_DIRECTORY=$WORK/Keys
export IAM_GATEWAY_STORAGE_URL=sqlite://$WORK/gateway.sqlite
export IAM_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD="interop-admin-password"
export IAM_GATEWAY_ROUTES='[{"name":"echo","prefix":"/api/echo","upstream":"http://127.0.0.1:9","audience":"echo"}]'
LOG_LEVEL=debug "$BIN" serve > "$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 150); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/ready', timeout=1)" 2>/dev/null; then break; fi
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then cat "$WORK/gateway.log" >&2; echo "interop: the gateway exited" >&2; exit 1; fi
    sleep 0.2
done

export GATEWAY_URL="http://127.0.0.1:$PORT"
export GATEWAY_METRICS_URL="http://127.0.0.1:$METRICS_PORT/metrics"
export GATEWAY_BIN="$BIN"
export GATEWAY_LOG="$WORK/gateway.log"
export GATEWAY_ADMIN_PASSWORD="$IAM_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD"
# authlib refuses plain http outside this switch; the suite runs on loopback.
export AUTHLIB_INSECURE_TRANSPORT=1
status=0
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$HERE" "$@" || status=$?
if [ "$status" != 0 ]; then echo "== gateway log"; tail -50 "$WORK/gateway.log"; fi
exit "$status"
