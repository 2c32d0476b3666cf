"""SPEC 10 tracing, checked by software nobody here wrote: a gateway with `tracing.otlp_endpoint` exports its spans
over OTLP/HTTP to a receiver that decodes them with the OpenTelemetry protobuf definitions (opentelemetry-proto);
the parent/child structure is checked, and the upstream must see the gateway's upstream span as its parent. A
malformed traceparent is replaced, never forwarded; an unreachable collector never slows or fails a request."""
import gzip
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from conftest import OwnGateway, free_port

BIN = os.environ["GATEWAY_BIN"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "tracing-admin-password"


class Receiver(BaseHTTPRequestHandler):
    spans = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert self.path == "/v1/traces", self.path
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        with Receiver.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    Receiver.spans.extend(scope.spans)
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


class Upstream(BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Upstream.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_gateway(otlp_endpoint, upstream_port, extra_env=None, **settings):
    gateway = OwnGateway(tempfile.mkdtemp(prefix="iam-gateway-tracing-"), PASSWORD, extra_env, tracing_otlp_endpoint=otlp_endpoint, **settings,
                         routes=json.dumps([{"name": "traced", "prefix": "/api/traced",
                                             "upstream": f"http://127.0.0.1:{upstream_port}", "audience": "traced"}]))
    token = requests.post(gateway.url + "/v1/auth/login", json={"tenant_id": "platform", "workspace_id": "default",
                                                                "username": "admin", "password": PASSWORD}, timeout=30).json()["access_token"]
    return gateway, gateway.url, token


def stop_gateway(gateway):
    gateway.stop()
    shutil.rmtree(gateway.work, ignore_errors=True)


@pytest.fixture(scope="module")
def traced():
    receiver = serve(Receiver)
    upstream = serve(Upstream)
    gateway, url, token = start_gateway(f"http://127.0.0.1:{receiver.server_port}", upstream.server_port)
    yield url, token
    stop_gateway(gateway)
    receiver.shutdown()
    upstream.shutdown()


def spans_of(trace_id, names, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with Receiver.lock:
            found = [s for s in Receiver.spans if s.trace_id == trace_id]
        if names <= {s.name for s in found}:
            return found
        time.sleep(0.3)
    raise AssertionError(f"spans {names} not exported; got {[s.name for s in found]}")


def test_the_client_trace_is_continued_and_the_upstream_sees_the_gateway_span(traced):
    url, token = traced
    trace_id, parent_id = os.urandom(16).hex(), os.urandom(8).hex()
    Upstream.seen.clear()
    reply = requests.get(url + "/api/traced/items", headers={
        "Authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{parent_id}-01", "tracestate": "vendor=client"}, timeout=10)
    assert reply.status_code == 200, reply.text
    spans = spans_of(bytes.fromhex(trace_id), {"authenticate", "resolve", "mint", "upstream"})
    by_name = {s.name: s for s in spans}
    server = [s for s in spans if s.kind == s.SPAN_KIND_SERVER]
    assert len(server) == 1, [s.name for s in spans]
    server = server[0]
    assert server.parent_span_id == bytes.fromhex(parent_id), "the server span continues the client's"
    for name in ("authenticate", "resolve", "mint", "upstream"):
        assert by_name[name].parent_span_id == server.span_id, f"{name} is a child of the request's span"
        assert by_name[name].start_time_unix_nano >= server.start_time_unix_nano
        assert by_name[name].end_time_unix_nano <= server.end_time_unix_nano
    assert by_name["upstream"].kind == by_name["upstream"].SPAN_KIND_CLIENT
    sent = Upstream.seen[-1]["traceparent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", sent), sent
    assert sent.split("-")[1] == trace_id, "the same trace"
    assert sent.split("-")[2] == by_name["upstream"].span_id.hex(), "the upstream's parent is the gateway's upstream span"


@pytest.mark.parametrize("malformed", ["00-xyz", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
                                       "00-" + "A" * 32 + "-" + "b" * 16 + "-01"])
def test_a_malformed_traceparent_is_replaced_not_forwarded(traced, malformed):
    url, token = traced
    Upstream.seen.clear()
    reply = requests.get(url + "/api/traced/x", headers={"Authorization": f"Bearer {token}", "traceparent": malformed}, timeout=10)
    assert reply.status_code == 200
    sent = Upstream.seen[-1].get("traceparent")
    assert sent != malformed
    assert sent and re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", sent), sent
    spans_of(bytes.fromhex(sent.split("-")[1]), {"upstream"})


def test_an_unreachable_collector_never_slows_or_fails_requests():
    upstream = serve(Upstream)
    gateway, url, token = start_gateway(f"http://127.0.0.1:{free_port()}", upstream.server_port)
    try:
        started = time.time()
        for _ in range(40):
            reply = requests.get(url + "/api/traced/x", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert reply.status_code == 200
        assert time.time() - started < 20, "40 requests took longer than 20 s with the collector down"
        time.sleep(2.5)  # an export attempt failed meanwhile
        assert requests.get(url + "/v1/health", timeout=5).status_code == 200
        assert gateway.process.poll() is None
    finally:
        stop_gateway(gateway)
        upstream.shutdown()


def test_spans_dropped_from_a_full_queue_are_counted():
    """A collector that does not answer and a queue of two (swift-otel's OTEL_BSP_* variables): requests still
    succeed, and the spans that did not fit are counted in iam_gateway_trace_spans_dropped_total."""
    upstream = serve(Upstream)
    metrics_port = free_port()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts connections, never answers: every export waits for its timeout
    gateway, url, token = start_gateway(
        f"http://127.0.0.1:{silent.getsockname()[1]}", upstream.server_port,
        extra_env={"OTEL_BSP_MAX_QUEUE_SIZE": "2", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1"},
        metrics_listen=f"127.0.0.1:{metrics_port}")
    try:
        for _ in range(30):
            assert requests.get(url + "/api/traced/x", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
        dropped = 0.0
        deadline = time.time() + 20
        while time.time() < deadline and dropped == 0:
            text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            dropped = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("iam_gateway_trace_spans_dropped_total"))
            time.sleep(0.5)
        assert dropped > 0, "dropped spans are counted"
    finally:
        stop_gateway(gateway)
        upstream.shutdown()
        silent.close()
