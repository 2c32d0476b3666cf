#!/usr/bin/env bash
# Benchmarks the gateway against the physical limit (OpenSSL, raw RSA) and the peers a user would pick instead
# (nginx proxy_pass, Caddy reverse_proxy), in one run, interleaving the cases (A B C ... A B C ...), and writes
# Benchmarks/RESULTS.md with medians and spreads. Traffic stays on loopback.
#
#   Benchmarks/run.sh                      # defaults: 3 rounds of 8 s per proxy case
#   ROUNDS=5 DURATION=10 Benchmarks/run.sh
#   PROXY_ONLY=1 Benchmarks/run.sh         # only the interleaved proxy cases, medians printed
#   PROXY_ONLY=1 GATEWAY_B=/tmp/old/iam-gateway Benchmarks/run.sh   # A/B: another build as a sixth case
#   PROXY_ONLY=1 GATEWAY_A_DIR=/tmp/a GATEWAY_B=/tmp/a/iam-gateway GATEWAY_B_CONFIG=$'log:\n  access: false\n' Benchmarks/run.sh
#                                          # A/B: the same build with other settings (here: instrumentation off)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/Benchmarks/.work
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
export PATH="$PATH:/opt/swift/usr/bin:/usr/sbin"

missing=()
for tool in wrk nginx caddy curl openssl python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    echo "installing: wrk nginx-light caddy curl openssl (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq wrk nginx-light caddy curl openssl >/dev/null
fi

if [[ -n ${GATEWAY_A_DIR:-} ]]; then
    # A copy of a release build (its iam-gateway and resource bundle), so the tree may change while this runs.
    BIN=$GATEWAY_A_DIR
else
    echo "building release binaries..."
    swift build -c release 2>&1 | grep -E "error|warning: [^']" || true
    BIN=$(swift build -c release --show-bin-path)
fi

rm -rf "$WORK"; mkdir -p "$WORK/logs" "$WORK/www"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; nginx -c "$WORK/nginx.conf" -s stop 2>/dev/null || true; }
trap cleanup EXIT

# The upstream (nginx on 9100: a small 200 answer, and a 1 GiB file) and nginx proxy_pass on 9101.
printf 'ok\n' > "$WORK/www/small"
truncate -s 1G "$WORK/www/big"
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:9100; keepalive 128; }
    server { listen 127.0.0.1:9100; root $WORK/www; location = / { return 200 "ok\n"; } }
    server {
        listen 127.0.0.1:9101;
        location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
NGINX
nginx -c "$WORK/nginx.conf"

cat > "$WORK/Caddyfile" <<CADDY
{
    admin off
    auto_https off
    log {
        output discard
    }
}
:9102 {
    bind 127.0.0.1
    reverse_proxy 127.0.0.1:9100
}
CADDY
GOMAXPROCS=2 caddy run --config "$WORK/Caddyfile" --adapter caddyfile > "$WORK/logs/caddy.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 50); do curl -s -o /dev/null localhost:9102/ && break; sleep 0.2; done

# Two gateways on one store: 9103 with the downstream token cache, 9104 without (a mint on every request).
export LOG_LEVEL=warning
export IAM_GATEWAY_KEYS_DIRECTORY=$WORK/Keys
export IAM_GATEWAY_STORAGE_URL=sqlite://$WORK/gateway.sqlite
export IAM_GATEWAY_BOOTSTRAP_ADMIN_PASSWORD=bench-admin-password
export IAM_GATEWAY_TOKENS_ACCESS_TTL=3600
export IAM_GATEWAY_ROUTES='[{"name":"bench","prefix":"/bench","upstream":"http://127.0.0.1:9100","audience":"bench"}]'
# The gateway under test runs the shipped configuration's instrumentation: metrics on, an access line per request.
IAM_GATEWAY_HTTP_PORT=9103 IAM_GATEWAY_METRICS_LISTEN=127.0.0.1:9463 "$BIN/iam-gateway" serve > "$WORK/logs/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=($GATEWAY_PID)
for _ in $(seq 100); do curl -sf localhost:9103/v1/ready >/dev/null && break; sleep 0.2; done
IAM_GATEWAY_HTTP_PORT=9104 IAM_GATEWAY_METRICS_LISTEN=127.0.0.1:9462 IAM_GATEWAY_TOKENS_DOWNSTREAM_CACHE_SIZE=0 "$BIN/iam-gateway" serve > "$WORK/logs/gateway-nocache.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf localhost:9104/v1/ready >/dev/null && break; sleep 0.2; done
if [[ -n ${GATEWAY_B:-} ]]; then
    # A/B: another build of the gateway (e.g. the commit before a change) on 9105, with the cache, same store.
    # An empty config file (an older build may not know keys added to Config/gateway.yaml since), or GATEWAY_B_CONFIG.
    printf '%s' "${GATEWAY_B_CONFIG:-}" > "$WORK/gateway-b.yaml"
    IAM_GATEWAY_HTTP_PORT=9105 "$GATEWAY_B" serve --config "$WORK/gateway-b.yaml" > "$WORK/logs/gateway-b.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do curl -sf localhost:9105/v1/ready >/dev/null && break; sleep 0.2; done
fi
for port in 9100 9101 9102 9103 9104; do curl -s -o /dev/null "localhost:$port/" || { echo "port $port is not answering"; exit 1; }; done

rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
TOKEN=$(curl -s localhost:9103/v1/auth/login -H 'Content-Type: application/json' -d '{"tenant_id":"platform","workspace_id":"default","username":"admin","password":"bench-admin-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
RSS_IDLE=$(rss $GATEWAY_PID)

declare -A URLS=(
    [direct]="http://127.0.0.1:9100/"
    [nginx]="http://127.0.0.1:9101/"
    [caddy]="http://127.0.0.1:9102/"
    [gateway]="http://127.0.0.1:9103/bench/"
    [gateway_nocache]="http://127.0.0.1:9104/bench/"
    [gateway_b]="http://127.0.0.1:9105/bench/"
)
CASES=(direct nginx caddy gateway gateway_nocache)
[[ -n ${GATEWAY_B:-} ]] && CASES+=(gateway_b)
echo -e "case\tround\treq_per_s\tp50_ms\tp99_ms" > "$WORK/proxy.tsv"
to_ms() { python3 -c "import re,sys; v=sys.argv[1]; n=float(re.match(r'[0-9.]+',v).group()); u=v[len(re.match(r'[0-9.]+',v).group()):]; print({'us':n/1000,'ms':n,'s':n*1000}[u])" "$1"; }
RSS_LOAD=0
for round in $(seq "$ROUNDS"); do
    for name in "${CASES[@]}"; do
        header=()
        [[ $name == gateway* ]] && header=(-H "Authorization: Bearer $TOKEN")
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${header[@]}" "${URLS[$name]}" > "$WORK/logs/wrk-$name-$round.txt" &
        WRK=$!
        if [[ $name == gateway ]]; then sleep $((DURATION / 2)); RSS_LOAD=$(rss $GATEWAY_PID); fi
        wait $WRK
        out="$WORK/logs/wrk-$name-$round.txt"
        if grep -q "Non-2xx" "$out"; then echo "warning: $name answered non-2xx: $(grep Non-2xx "$out")"; fi
        rps=$(awk '/Requests\/sec/ {print $2}' "$out")
        p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$out")")
        p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$out")")
        echo -e "$name\t$round\t$rps\t$p50\t$p99" >> "$WORK/proxy.tsv"
        echo "round $round $name: $rps req/s p50 ${p50} ms p99 ${p99} ms"
    done
done

if [[ ${PROXY_ONLY:-0} == 1 ]]; then
    python3 - "$WORK/proxy.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = lambda name, f: statistics.median(float(r[f]) for r in rows if r["case"] == name)
for name in sorted({r["case"] for r in rows}, key=["direct", "nginx", "caddy", "gateway", "gateway_nocache", "gateway_b"].index):
    print(f"{name:16} {med(name, 'req_per_s'):>10,.0f} req/s  p99 {med(name, 'p99_ms'):.2f} ms  "
          f"{med(name, 'req_per_s') / med('nginx', 'req_per_s'):.2f}x nginx  {med(name, 'req_per_s') / med('caddy', 'req_per_s'):.2f}x Caddy")
PY
    exit 0
fi

# Crypto on one core, interleaved with OpenSSL's own figure.
echo -e "round\traw_sign\tmint\traw_verify\tverify\topenssl_sign\topenssl_verify" > "$WORK/crypto.tsv"
for round in $(seq "$ROUNDS"); do
    crypto=$("$BIN/gateway-bench" crypto --seconds 3)
    ssl=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6"\t"$7}')
    python3 - "$crypto" "$ssl" "$round" >> "$WORK/crypto.tsv" <<'PY'
import json, sys
c = json.loads(sys.argv[1]); s = sys.argv[2].split("\t")
print("\t".join([sys.argv[3], str(c["raw_sign_per_s"]), str(c["mint_per_s"]), str(c["raw_verify_per_s"]), str(c["verify_per_s"]), s[0], s[1]]))
PY
    echo "crypto round $round: $crypto openssl sign/verify: $ssl"
done

# IAMEnforcement's full verification of one fresh token against a raw RSA-2048 verify of the same signing input.
ENFORCEMENT=$("$BIN/gateway-bench" enforcement --seconds 3 --rounds "$ROUNDS")
echo "enforcement: $ENFORCEMENT"

AUTH=$("$BIN/gateway-bench" auth --gateway http://127.0.0.1:9103 --username admin --password bench-admin-password --audience bench --seconds 5 --concurrency 8 --pid $GATEWAY_PID)
echo "auth: $AUTH"
CACHE=$("$BIN/gateway-bench" cache-memory --entries 100000)
echo "cache memory: $CACHE"

# Streaming 1 GiB through the gateway while sampling its RSS.
RSS_STREAM=0
curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" -w '%{size_download} %{time_total}\n' http://127.0.0.1:9103/bench/big > "$WORK/stream.txt" &
CURL=$!
while kill -0 $CURL 2>/dev/null; do r=$(rss $GATEWAY_PID); RSS_STREAM=$(python3 -c "print(max($RSS_STREAM, $r))"); sleep 0.2; done
STREAM=$(cat "$WORK/stream.txt")
echo "stream: $STREAM (bytes seconds), max RSS ${RSS_STREAM} MB"

# Last, as it fills every cache: the running gateway's RSS after 100k distinct principals passed through a route.
# The principals are not users in the store (no password hashing for 100k of them), but the proxy refuses a
# principal with no role in the workspace: each gets a `viewer` assignment, written straight into the SQLite file.
python3 - "$WORK/gateway.sqlite" "${PRINCIPAL_COUNT:-100000}" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
now = time.time()
with db:
    db.executemany("INSERT OR IGNORE INTO assignments (assignment_id, tenant_id, workspace_id, principal_id, role_id, created_at) VALUES (?, 'platform', 'default', ?, 'viewer', ?)",
                   ((f"as-bench-{i}", "u-%020x" % i, now) for i in range(int(sys.argv[2]))))
PY
PRINCIPALS=$("$BIN/gateway-bench" principals --gateway http://127.0.0.1:9103 --keys "$WORK/Keys" --pid $GATEWAY_PID --count "${PRINCIPAL_COUNT:-100000}")
echo "principals: $PRINCIPALS"
if ! python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["failures"] == 0 else 1)' "$PRINCIPALS"; then
    echo "error: requests failed in the principals phase; its memory figures would not be what they claim"; exit 1
fi

# Sections measured by hand (A/B runs), below the marker, are kept across runs.
KEPT=$(sed -n '/^<!-- kept across runs -->/,$p' "$ROOT/Benchmarks/RESULTS.md" 2>/dev/null || true)
python3 - "$WORK" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$RSS_IDLE" "$RSS_LOAD" "$RSS_STREAM" "$STREAM" "$AUTH" "$CACHE" "$PRINCIPALS" "$(git rev-parse --short HEAD)" "$ENFORCEMENT" > "$ROOT/Benchmarks/RESULTS.md" <<'PY'
import csv, json, statistics, sys, datetime, os
work, rounds, duration, conns, rss_idle, rss_load, rss_stream, stream, auth, cache, principals, commit, enforcement = sys.argv[1:]
rows = list(csv.DictReader(open(f"{work}/proxy.tsv"), delimiter="\t"))
def med(name, field):
    values = [float(r[field]) for r in rows if r["case"] == name]
    return statistics.median(values), min(values), max(values)
cases = ["direct", "nginx", "caddy", "gateway", "gateway_nocache"]
labels = {"direct": "upstream direct", "nginx": "nginx proxy_pass", "caddy": "Caddy reverse_proxy",
          "gateway": "gateway, bearer + cached downstream token", "gateway_nocache": "gateway, mint on every request (cache off)"}
nginx_rps = med("nginx", "req_per_s")[0]; caddy_rps = med("caddy", "req_per_s")[0]
out = []
out.append("# Benchmark results\n")
out.append(f"Run {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')} at commit `{commit}` on {os.cpu_count()} cores, "
           f"with `Benchmarks/run.sh` (ROUNDS={rounds} DURATION={duration} CONNECTIONS={conns}); cases interleaved, "
           "medians with min–max over the rounds. Everything (wrk, upstream, proxies) shares the same 2 cores.\n")
out.append("## Proxy throughput and latency (wrk, keep-alive, loopback, one small upstream)\n")
out.append("| case | req/s (median) | spread | p50 ms | p99 ms | vs nginx | vs Caddy |")
out.append("|---|---:|---:|---:|---:|---:|---:|")
for c in cases:
    r, lo, hi = med(c, "req_per_s"); p50 = med(c, "p50_ms")[0]; p99 = med(c, "p99_ms")[0]
    out.append(f"| {labels[c]} | {r:,.0f} | {lo:,.0f}–{hi:,.0f} | {p50:.2f} | {p99:.2f} | {r/nginx_rps:.2f}x | {r/caddy_rps:.2f}x |")
crypto = list(csv.DictReader(open(f"{work}/crypto.tsv"), delimiter="\t"))
def cm(f):
    v = [float(r[f]) for r in crypto]; return statistics.median(v), min(v), max(v)
out.append("\n## Signing and verification, one core (ops/s)\n")
out.append("| measure | median | spread |")
out.append("|---|---:|---:|")
names = {"openssl_sign": "OpenSSL `speed rsa2048` sign", "raw_sign": "RSA-2048 sign, swift-crypto raw", "mint": "gateway mint (full RS256 JWS)",
         "openssl_verify": "OpenSSL `speed rsa2048` verify", "raw_verify": "RSA-2048 verify, swift-crypto raw", "verify": "IAMEnforcement verify (full token checks)"}
for f in ["openssl_sign", "raw_sign", "mint", "openssl_verify", "raw_verify", "verify"]:
    m, lo, hi = cm(f); out.append(f"| {names[f]} | {m:,.0f} | {lo:,.0f}–{hi:,.0f} |")
out.append(f"\nMint / OpenSSL sign = **{cm('mint')[0]/cm('openssl_sign')[0]:.2f}x**; verify / raw verify = **{cm('verify')[0]/cm('raw_verify')[0]:.2f}x**.\n")
e = json.loads(enforcement)
out.append("## Enforcement library: full verification of a fresh token, one core (issue 17)\n")
out.append(f"One gateway access token ({e['token_bytes']:.0f} bytes), verified in full by `TokenVerifier` (parse, header checks, `kid` lookup, RS256 verify, "
           "claims checks; no cache) and, alternately, only its RSA-2048 PKCS#1 v1.5 SHA-256 signature over the same signing input; medians of the rounds.\n")
out.append("| measure | ops/s |")
out.append("|---|---:|")
out.append(f"| raw RSA-2048 verify, same signing input | {e['raw_verify_same_input_per_s']:,.0f} |")
out.append(f"| full verification (`TokenVerifier`) | {e['full_verify_per_s']:,.0f} |")
out.append(f"| the same path with Foundation's JSONDecoder for header and claims (before issue 17) | {e['legacy_full_verify_per_s']:,.0f} |")
out.append(f"| header decode: FlatJSON / JSONDecoder | {e['header_decode_per_s']:,.0f} / {e['header_jsondecoder_per_s']:,.0f} |")
out.append(f"| claims decode: FlatJSON / JSONDecoder | {e['claims_decode_per_s']:,.0f} / {e['claims_jsondecoder_per_s']:,.0f} |")
out.append(f"| base64url decode of the three parts | {e['base64_three_parts_per_s']:,.0f} |")
out.append(f"| verified-claims cache hit (SHA-256 of the token and lookup) | {e['cache_hit_lookup_per_s']:,.0f} |")
out.append(f"\nFull verification / raw verify = **{e['full_verify_per_s']/e['raw_verify_same_input_per_s']:.2f}x** (before: {e['legacy_full_verify_per_s']/e['raw_verify_same_input_per_s']:.2f}x).\n")
a = json.loads(auth)
out.append("## Login, refresh and token exchange (HTTP, 8 concurrent clients, both cores; login 4, one account)\n")
out.append("| operation | per second | per CPU-second of the gateway |")
out.append("|---|---:|---:|")
out.append(f"| login (scrypt N=2^15) | {a['login_per_s']:,.0f} | {a['login_per_gateway_cpu_s']:,.0f} |")
out.append(f"| refresh (rotation) | {a['refresh_per_s']:,.0f} | {a['refresh_per_gateway_cpu_s']:,.0f} |")
out.append(f"| token exchange | {a['exchange_per_s']:,.0f} | {a['exchange_per_gateway_cpu_s']:,.0f} |")
out.append("\nThe client (8 chains over AsyncHTTPClient; 4 for login, as the login throttle admits at most 5 password checks in flight per account) runs on the same 2 cores; the last column divides by the CPU time the gateway process used in each phase.")
c = json.loads(cache)
size, seconds = stream.split()
out.append("\n## Memory (RSS of the gateway process)\n")
out.append("| state | RSS MB |")
out.append("|---|---:|")
out.append(f"| idle, after start-up | {float(rss_idle):.1f} |")
out.append(f"| under the cached-token wrk load | {float(rss_load):.1f} |")
out.append(f"| streaming a 1 GiB download ({int(size)/2**30:.2f} GiB in {float(seconds):.1f} s), maximum sampled | {float(rss_stream):.1f} |")
out.append(f"| downstream token cache with {int(c['entries']):,} distinct principals (in-process, `gateway-bench cache-memory`) | {c['rss_after_mb']:.1f} (+{c['rss_delta_mb']:.1f}) |")
p = json.loads(principals)
out.append(f"| the running gateway after {int(p['principals']):,} distinct principals went through a route ({int(p['failures'])} failures, {p['seconds']:.0f} s): verified-token, resolution and downstream-token caches all filled, 1 s after the last request | {p['rss_after_mb']:.1f} |")
out.append(f"| the same, settled: 35 s later, after the gateway's heap trimmer (every 30 s) has run | {p['rss_settled_mb']:.1f} |")
out.append(f"| of the settled figure: anonymous (heap, stacks) / file-backed (the mapped executable and libraries, shared and reclaimable) | {p['rss_anon_settled_mb']:.1f} / {p['rss_file_settled_mb']:.1f} |")
gw = med("gateway", "req_per_s")[0]
mint_ratio = cm("mint")[0] / cm("openssl_sign")[0]
def yes(ok): return "yes" if ok else "no"
out.append("\n## Targets (issues 8 and 17) against this run\n")
out.append("| target | this run | met |")
out.append("|---|---|---|")
out.append(f"| gateway proxy with cached token >= 0.5x nginx proxy_pass | {gw/nginx_rps:.2f}x | {yes(gw/nginx_rps >= 0.5)} |")
out.append(f"| gateway proxy with cached token >= 2x Caddy reverse_proxy | {gw/caddy_rps:.2f}x | {yes(gw/caddy_rps >= 2)} |")
out.append(f"| mint >= 0.9x OpenSSL RSA-2048 sign, one core | {mint_ratio:.2f}x | {yes(mint_ratio >= 0.9)} |")
for name, key in [("refresh", "refresh"), ("token exchange", "exchange")]:
    wall = a[f"{key}_per_s"]; cpu = a[f"{key}_per_gateway_cpu_s"]
    out.append(f"| {name} >= 1,200/s per core | {cpu:,.0f} per CPU-second of the gateway; {wall:,.0f}/s on the 2 cores it shares with the client ({wall/2:,.0f} per core) | "
               f"per gateway CPU-second: {yes(cpu >= 1200)}; per shared core: {yes(wall / 2 >= 1200)} |")
out.append(f"| RSS <= 150 MB with 100k cached tokens | downstream token cache: {c['rss_after_mb']:.1f} MB; whole gateway after 100k principals (three caches): {p['rss_after_mb']:.1f} MB right after, {p['rss_settled_mb']:.1f} MB settled | "
           f"cache: {yes(c['rss_after_mb'] <= 150)}; whole gateway right after: {yes(p['rss_after_mb'] <= 150)}; settled: {yes(p['rss_settled_mb'] <= 150)} |")
enf_ratio = e["full_verify_per_s"] / e["raw_verify_same_input_per_s"]
out.append(f"| full verification of a fresh token >= 0.8x raw RSA-2048 verify of it (issue 17) | {enf_ratio:.2f}x | {yes(enf_ratio >= 0.8)} |")
out.append(f"| streaming memory bounded | {float(rss_stream):.1f} MB max while 1 GiB passes | {yes(float(rss_stream) < 150)} |")
out.append("\nWhere the time goes, and what would close the gaps: [PROFILE.md](PROFILE.md).")
out.append("\n## Commands\n")
out.append("```\nBenchmarks/run.sh                       # everything above\n"
           f"wrk -t2 -c{conns} -d{duration}s --latency [-H 'Authorization: Bearer ...'] URL\n"
           "gateway-bench crypto --seconds 3; openssl speed -seconds 3 rsa2048\n"
           "gateway-bench enforcement --seconds 3 --rounds 3\n"
           "gateway-bench auth --gateway http://127.0.0.1:9103 --username admin --password ... --audience bench\n"
           "gateway-bench cache-memory --entries 100000\n"
           "gateway-bench principals --gateway http://127.0.0.1:9103 --keys Benchmarks/.work/Keys --pid <gateway pid> --count 100000\n```")
print("\n".join(out))
PY
if [[ -n $KEPT ]]; then printf '\n%s\n' "$KEPT" >> "$ROOT/Benchmarks/RESULTS.md"; fi
echo "wrote Benchmarks/RESULTS.md"
