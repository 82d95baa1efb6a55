"""Span shapes of the proxies and gateways that sit between services, mixed with the apps'
own OpenTelemetry spans: Envoy's OpenTelemetry tracer as Istio configures it (sidecars and
ingress gateways), nginx's native OpenTelemetry module and Kong's OpenTelemetry plugin, each
read from its source. The apps' spans are those of the OpenTelemetry HTTP client and server
conventions (1.23+).

What a mesh adds to a request: the calling app's CLIENT span, under it its sidecar's span for
the outbound request (kind CLIENT, service '<app>.<namespace>'), under that the called pod's
sidecar's span for the inbound request (kind SERVER, '<app>.<namespace>'), under that the
called app's SERVER span. These tests do not decide whether a proxy is shown as a node of its
own (as Jaeger's dependency graph does) or folded into the app it serves: they check the sane
minimum either way (``_hops``): the request reaches the called service through proxies only,
each hop counted once per request (per attempt when the proxy retried), context unbroken (one
trace, one flow per request, the async hop joined), no clock skew from the proxies' spans."""

from __future__ import annotations

import math
from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.builders import SpanRef, SpanSet

N = 3
NS = "shop"
# the proxies' services: Istio names a sidecar's spans '<app label>.<namespace>'
PROXIES = {f"{app}.{NS}" for app in ("checkout", "orders", "billing", "payments",
                                     "inventory")} | {
    "istio-ingressgateway.istio-system", "productpage.default"}


def _host(app: str, ns: str = NS) -> str:
    return f"{app}.{ns}.svc.cluster.local"


def _envoy(app: str, url: str, method: str, status: int, cluster: str, *, peer: str,
           upstream: str | None = "10.244.2.7:8080", flags: str = "-", ns: str = NS,
           node: str = "sidecar") -> dict[str, Any]:
    """The attributes Envoy's OpenTelemetry tracer gives a downstream (HCM) span, all string
    values (Span::setTag): read from envoyproxy/envoy source/common/tracing/
    http_tracer_impl.cc (finalizeDownstreamSpan: guid:x-request-id, http.url, http.method,
    downstream_cluster, user_agent, http.protocol, request_size, response_size,
    http.status_code), source/common/tracing/tracer_impl.cc (startSpan: node_id, zone;
    finalizeSpan: component=proxy, response_flags, peer.address, upstream_cluster,
    upstream_cluster.name, upstream_address) and the Istio tags of istio/istio
    pilot/pkg/networking/core/tracing.go (buildServiceTags)."""
    a: dict[str, Any] = {
        "node_id": f"{node}~10.244.1.12~{app}-6d8f9c7b4-x2x7q.{ns}~{ns}.svc.cluster.local",
        "zone": "", "guid:x-request-id": "5a6c9d0e-1b2c-4d5e-8f90-0a1b2c3d4e5f",
        "http.url": url, "http.method": method, "downstream_cluster": "-",
        "user_agent": "python-requests/2.32.3", "http.protocol": "HTTP/1.1",
        "peer.address": peer, "request_size": "84", "response_size": "512",
        "component": "proxy", "upstream_cluster": cluster, "upstream_cluster.name": cluster,
        "http.status_code": str(status), "response_flags": flags,
        "istio.canonical_revision": "latest", "istio.canonical_service": app,
        "istio.mesh_id": "cluster.local", "istio.namespace": ns,
        "istio.cluster_id": "Kubernetes"}
    if upstream is not None:
        a["upstream_address"] = upstream
    if status >= 500:
        a["error"] = "true"
    return a


def _mesh_call(b: SpanSet, src: str, dst: str, path: str, parent: SpanRef, t: float,
               dur: float, *, status: int = 200, method: str = "POST",
               client_end: float | None = None) -> SpanRef:
    """One HTTP call from app ``src`` to app ``dst`` through both pods' Istio sidecars (no
    spawn_upstream_span on sidecars: tracing.go sets it for gateways only): the app's CLIENT
    span; under it the outbound sidecar's span, CLIENT (egress, opentelemetry_tracer_impl.cc
    getSpanKind), named by the route's decorator '<host>:<port>/*' (route.go
    getRouteOperation); under that the inbound sidecar's SERVER span (ingress), named the same
    (the outbound one propagates x-envoy-decorator-operation, conn_manager_impl.cc); under
    that the called app's SERVER span. Envoy's status follows http.status_code (tracer.cc
    Span::setTag: 5xx, and 4xx on a CLIENT span, is ERROR). ``client_end``: where the app's
    CLIENT span ends, if not when the proxied response did. Returns the called app's span."""
    host = _host(dst)
    url = f"http://{host}:8080{path}"
    err = "ERROR" if status >= 400 else "UNSET"
    client = b.span(src, method, kind="CLIENT", parent=parent, start_ms=t,
                    dur_ms=(client_end if client_end is not None else t + dur) - t,
                    status=err,
                    attrs={"http.request.method": method, "url.full": url,
                           "server.address": host, "server.port": 8080,
                           "network.protocol.version": "1.1",
                           "http.response.status_code": status})
    out = b.span(f"{src}.{NS}", f"{host}:8080/*", kind="CLIENT", parent=client,
                 start_ms=t + 0.2, dur_ms=dur - 0.4, status=err,
                 attrs=_envoy(src, url, method, status, f"outbound|8080||{host}",
                              peer="10.244.1.12:44321"))
    inbound = b.span(f"{dst}.{NS}", f"{host}:8080/*", kind="SERVER", parent=out,
                     start_ms=t + 0.6, dur_ms=dur - 1.2,
                     status="ERROR" if status >= 500 else "UNSET",
                     attrs=_envoy(dst, url, method, status, "inbound|8080||",
                                  peer="10.244.1.12:51562"))
    return b.span(dst, f"{method} {path}", kind="SERVER", parent=inbound, start_ms=t + 0.8,
                  dur_ms=dur - 1.6, status="ERROR" if status >= 500 else "UNSET",
                  attrs={"http.request.method": method, "url.path": path,
                         "http.route": path, "url.scheme": "http",
                         "http.response.status_code": status})


def _hops(a, src: str, dst: str, proxies: set[str] = PROXIES) -> list[dict]:
    """The call edges of the way from service ``src`` to ``dst`` (a node id when it has a
    prefix): a direct call, or calls through proxy services only. Whether the analyzer shows
    a proxy as its own node or folds it into its app, there must be one such way."""
    goal = dst if ":" in dst else f"service:{dst}"
    out: dict[str, list[dict]] = {}
    for e in a.edges:
        if e["type"] == "call":
            out.setdefault(e["source"], []).append(e)
    todo: list[tuple[str, list[dict]]] = [(f"service:{src}", [])]
    while todo:
        node, path = todo.pop()
        for e in out.get(node, []):
            if e["target"] == goal:
                return path + [e]
            name = e["target"].split(":", 1)[1]
            if e["target"].startswith("service:") and name in proxies and e not in path:
                todo.append((e["target"], path + [e]))
    raise AssertionError(f"no calls from {src} to {dst}: {sorted(_edges(a))}")


def _counted(st, a) -> None:
    """Every edge's detail counts what the analysis does."""
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


def test_istio_sidecars_between_two_apps_are_one_call_per_request():
    """checkout calls orders through both pods' sidecars (the shape of ``_mesh_call``; the
    service names of istio/istio pkg/bootstrap/config.go serviceClusterOrDefault: '<app
    label>.<namespace>'). One trace per request, unbroken from the caller's server span to the
    called app's (each span the child of the one before); every hop of the way counted once
    per request; no anomaly; one flow per request, entered at checkout."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=45)
        _mesh_call(b, "checkout", "orders", "/orders", root, t + 5, 30)
    st = b.store()
    a = analyze(st)
    hops = _hops(a, "checkout", "orders")
    assert [(e["count"], e["error_count"], e["clock_skew_count"]) for e in hops] == \
        [(N, 0, 0)] * len(hops)
    # nothing but that way: no call counted per proxy hop twice, no other node
    assert all(e["count"] == N for e in a.edges)
    assert {e["id"] for e in a.edges} == {e["id"] for e in hops}
    assert not a.anomalies
    assert _flows(a) == [("checkout", N, 1.0)]
    f = flow_for_trace(st, root.trace_id)
    assert sorted(s["depth"] for s in f["spans"]) == [0, 1, 2, 3, 4]
    _counted(st, a)


def test_sidecar_span_outliving_a_dotnet_client_span_is_no_clock_skew():
    """.NET's HttpClient span ends when the response headers are in: DiagnosticsHandler
    (dotnet/runtime src/libraries/System.Net.Http/src/System/Net/Http/DiagnosticsHandler.cs)
    stops its Activity in the finally around base.SendAsync, which returns the response before
    its content is read. The app's sidecar finishes its outbound span when the whole response
    has been sent to the app (Envoy finalizes the downstream span at stream completion): with
    a 6 ms body, the sidecar's span ends 6 ms after its parent. Both run in one pod on one
    clock: no clock skew, and the call is still counted once per request."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=45)
        _mesh_call(b, "checkout", "orders", "/orders", root, t + 5, 30,
                   client_end=t + 5 + 30 - 6)
    st = b.store()
    a = analyze(st)
    hops = _hops(a, "checkout", "orders")
    assert [(e["count"], e["clock_skew_count"]) for e in hops] == [(N, 0)] * len(hops)
    assert not a.anomalies
    assert _flows(a) == [("checkout", N, 1.0)]
    _counted(st, a)


def test_mesh_request_publishing_to_kafka_is_one_flow_through_the_consumer_mesh_call():
    """checkout calls orders through the mesh; orders publishes to Kafka (the broker
    connection is TCP through the sidecar: Envoy traces HTTP only, the Kafka hop has only the
    apps' spans, here the Java agent's: "orders publish" PRODUCER, "orders process" CONSUMER
    child of it); billing's handler calls payments through the mesh. One trace and one flow
    per order, the delivery joined by context, each hop counted once."""
    b = SpanSet()
    kafka = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    for i in range(N):
        t = i * 1000
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=50)
        srv = _mesh_call(b, "checkout", "orders", "/orders", root, t + 5, 40)
        pub = b.span("orders", "orders publish", kind="PRODUCER", parent=srv,
                     start_ms=t + 20, dur_ms=4,
                     attrs={**kafka, "messaging.operation": "publish",
                            "messaging.client_id": "producer-1",
                            "messaging.kafka.message.key": f"o-{i}",
                            "messaging.kafka.destination.partition": 0,
                            "messaging.kafka.message.offset": 40 + i})
        proc = b.span("billing", "orders process", kind="CONSUMER", parent=pub,
                      start_ms=t + 60, dur_ms=40,
                      attrs={**kafka, "messaging.operation": "process",
                             "messaging.client_id": "consumer-billing-1",
                             "messaging.kafka.consumer.group": "billing",
                             "messaging.kafka.destination.partition": 0,
                             "messaging.kafka.message.offset": 40 + i})
        _mesh_call(b, "billing", "payments", "/charges", proc, t + 65, 30)
    st = b.store()
    a = analyze(st)
    for src, dst in (("checkout", "orders"), ("billing", "payments")):
        assert [e["count"] for e in _hops(a, src, dst)] == [N] * len(_hops(a, src, dst))
    edges = _edges(a)
    assert edges["service:orders->topic:orders"] == ("publish", N)
    assert edges["topic:orders->service:billing"] == ("consume", N)
    consume = a.edge("topic:orders->service:billing")
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] == 36.0
    assert not a.anomalies
    assert _flows(a) == [("checkout", N, 1.0)]
    _counted(st, a)


# (Not encoded, left alone: an app calling several services through its sidecar. Each
# Istio sidecar is a service node of its own ('<app>.<namespace>'), as in Jaeger's
# dependency graph, so the sidecar in front of checkout is where the calls to orders,
# payments and inventory fan out, and the orchestration style names it, not checkout, as the
# central service. Folding a proxy into the app it fronts needs Envoy's component=proxy tag,
# which no stored column keeps.)


# (Not encoded, left alone: a sidecar answering 503 itself (flag UH) when orders has no
# healthy endpoint. Its outbound CLIENT span has no span under it and names orders by its
# cluster DNS name (orders.shop.svc.cluster.local), so the refused call is a call to an
# external peer of that name, not a failed call on the way to orders: peers are matched to
# services by their exact name only.)


def test_sidecar_egress_to_a_host_outside_the_mesh_is_one_external_call():
    """checkout calls a legacy HTTP service outside the cluster (a ServiceEntry host): its
    sidecar's outbound span (upstream_cluster 'outbound|80||<host>') has no span under it.
    That peer is one external node, called once per request, whether the app's CLIENT span
    or its sidecar's span is taken as the caller (both name the host)."""
    b = SpanSet()
    host = "inventory.legacy.example.com"
    url = f"http://{host}/stock/42"
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=45)
        client = b.span("checkout", "GET", kind="CLIENT", parent=root, start_ms=t + 5,
                        dur_ms=20, attrs={"http.request.method": "GET", "url.full": url,
                                          "server.address": host, "server.port": 80,
                                          "http.response.status_code": 200})
        b.span(f"checkout.{NS}", f"{host}:80/*", kind="CLIENT", parent=client,
               start_ms=t + 5.2, dur_ms=19.6,
               attrs=_envoy("checkout", url, "GET", 200, f"outbound|80||{host}",
                            peer="10.244.1.12:44321", upstream="203.0.113.40:80"))
    st = b.store()
    a = analyze(st)
    hops = _hops(a, "checkout", f"external:{host}")
    assert [e["count"] for e in hops] == [N] * len(hops)
    assert [e["id"] for e in a.edges if e["target"].startswith("external:")] == \
        [hops[-1]["id"]]
    assert not a.anomalies
    assert _flows(a) == [("checkout", N, 1.0)]
    _counted(st, a)


def _productpage(b: SpanSet, gw: SpanRef, t: float, dur: float, status: int = 200) -> None:
    """productpage's sidecar (inbound SERVER) and app span under the gateway's span."""
    host = _host("productpage", "default")
    url = "http://bookinfo.example.com/productpage"
    inbound = b.span("productpage.default", f"{host}:9080/productpage", kind="SERVER",
                     parent=gw, start_ms=t + 0.6, dur_ms=dur - 1.2,
                     status="ERROR" if status >= 500 else "UNSET",
                     attrs=_envoy("productpage", url, "GET", status, "inbound|9080||",
                                  peer="10.244.0.31:40212", upstream="10.244.3.5:9080",
                                  ns="default"))
    b.span("productpage", "GET /productpage", kind="SERVER", parent=inbound,
           start_ms=t + 0.8, dur_ms=dur - 1.6, status="ERROR" if status >= 500 else "UNSET",
           attrs={"http.request.method": "GET", "url.path": "/productpage",
                  "http.route": "/productpage", "http.response.status_code": status})


def test_istio_ingress_gateway_client_span_is_where_the_flow_enters():
    """Istio's ingress gateway (Envoy, spawn_upstream_span off: PILOT_SPAWN_UPSTREAM_SPAN_
    FOR_GATEWAY defaults to false in istio/istio pilot/pkg/features) reports one span per
    request, of kind CLIENT (its listeners are egress), named by the VirtualService route's
    decorator '<host>:<port><path>', and a root: the browser sent no context (istio/istio
    #55637, #23815: "no span of kind=server reported for ingress-gateway"). The flow enters
    at the gateway; the call to productpage is counted once per request."""
    b = SpanSet()
    host = _host("productpage", "default")
    for i in range(N):
        t = i * 100
        gw = b.span("istio-ingressgateway.istio-system", f"{host}:9080/productpage",
                    kind="CLIENT", start_ms=t, dur_ms=30,
                    attrs=_envoy("istio-ingressgateway",
                                 "http://bookinfo.example.com/productpage", "GET", 200,
                                 f"outbound|9080||{host}", peer="198.51.100.23:51234",
                                 upstream="10.244.3.5:9080", ns="istio-system",
                                 node="router"))
        _productpage(b, gw, t, 30)
    st = b.store()
    a = analyze(st)
    hops = _hops(a, "istio-ingressgateway.istio-system", "productpage")
    assert [e["count"] for e in hops] == [N] * len(hops)
    assert not a.anomalies
    assert _flows(a) == [("istio-ingressgateway.istio-system", N, 1.0)]
    _counted(st, a)


def test_gateway_upstream_span_per_attempt_counts_each_retry_as_a_call():
    """A gateway Envoy with spawn_upstream_span (Istio's PILOT_SPAWN_UPSTREAM_SPAN_FOR_GATEWAY,
    Contour): its downstream span is SERVER (getSpanKind), and the router opens a CLIENT child
    "router <cluster> egress" per upstream attempt, a retry tagged retry.count (envoyproxy/envoy
    source/common/router/upstream_request.cc), each attempt injecting its own context. The
    first attempt got a 503 from productpage and Istio's default retry policy retried it: two
    calls per request, one failed; still one flow per request, no anomaly."""
    b = SpanSet()
    host = _host("productpage", "default")
    cluster = f"outbound|9080||{host}"
    for i in range(N):
        t = i * 100
        gw = b.span("istio-ingressgateway.istio-system", f"{host}:9080/productpage",
                    kind="SERVER", start_ms=t, dur_ms=62,
                    attrs=_envoy("istio-ingressgateway",
                                 "http://bookinfo.example.com/productpage", "GET", 200,
                                 cluster, peer="198.51.100.23:51234", upstream="10.244.3.5:9080",
                                 ns="istio-system", node="router"))
        for k, status in enumerate((503, 200)):
            t0 = t + 1 + k * 30
            up = b.span("istio-ingressgateway.istio-system", f"router {cluster} egress",
                        kind="CLIENT", parent=gw, start_ms=t0, dur_ms=28,
                        status="ERROR" if status >= 400 else "UNSET",
                        attrs={"component": "proxy", "http.protocol": "HTTP/1.1",
                               "http.status_code": str(status), "response_flags": "-",
                               "upstream_cluster": cluster, "upstream_cluster.name": cluster,
                               "upstream_address": "10.244.3.5:9080",
                               "peer.address": "10.244.3.5:9080",
                               **({"retry.count": "1"} if k else {})})
            _productpage(b, up, t0, 28, status)
    st = b.store()
    a = analyze(st)
    hops = _hops(a, "istio-ingressgateway.istio-system", "productpage")
    assert [(e["count"], e["error_count"]) for e in hops] == [(2 * N, N)] * len(hops)
    assert not a.anomalies
    assert _flows(a) == [("istio-ingressgateway.istio-system", N, 1.0)]
    _counted(st, a)


def test_nginx_otel_gateway_span_in_milliseconds_is_no_clock_skew():
    """nginx's native module (nginxinc/nginx-otel src/http_module.cpp): one SERVER span per
    request, named by the location ('/api/'), timed in whole milliseconds (toNanoSec(sec,
    msec): r->start_msec, and ngx_timeofday() cached at the event loop's wake-up), attributes
    of the 1.16 conventions (http.method, http.target, http.route, http.status_code as an
    int, net.host.name, net.sock.peer.addr); with otel_trace_context propagate it injects its
    own span's context, so the app's SERVER span is its child. The app's nanosecond span may
    end after nginx's truncated end: no clock skew, and the flow lasts until the app's end."""
    b = SpanSet()
    for i in range(N):
        t = i * 100 + 0.37  # when nginx really began
        start, end = math.floor(t), math.floor(t + 20.6)
        ng = b.span("nginx", "/api/", kind="SERVER", start_ms=start, dur_ms=end - start,
                    attrs={"http.method": "GET", "http.target": f"/api/orders/{40 + i}",
                           "http.scheme": "http", "http.route": "/api/", "http.flavor": "1.1",
                           "http.user_agent": "curl/8.5.0", "http.request_content_length": 0,
                           "net.host.name": "shop.example.com",
                           "net.sock.peer.addr": "198.51.100.23",
                           "net.sock.peer.port": 51234, "http.response_content_length": 312,
                           "http.status_code": 200})
        b.span("api", "GET /api/orders/{id}", kind="SERVER", parent=ng, start_ms=t + 0.5,
               dur_ms=19.8, attrs={"http.request.method": "GET",
                                   "http.route": "/api/orders/{id}",
                                   "http.response.status_code": 200})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:nginx->service:api": ("call", N)}
    assert a.edge("service:nginx->service:api")["clock_skew_count"] == 0
    assert not a.anomalies
    assert _flows(a) == [("nginx", N, 1.0)]
    assert a.flows[0]["e2e_p50_ms"] == 20.67
    _counted(st, a)


def test_kong_balancer_tries_are_calls_of_the_gateway():
    """Kong's OpenTelemetry plugin (Kong/kong kong/observability/tracing/instrumentation.lua,
    kong/plugins/opentelemetry/traces.lua): a "kong" SERVER root (http.method, http.url,
    http.host, net.peer.ip, kong.request.id, http.status_code, http.route), "kong.router" and
    "kong.access.plugin.<name>" spans, and a "kong.balancer" CLIENT span per upstream try
    (try_count, net.peer.ip/port, net.peer.name: the upstream host, here a compose service
    named as the app is). The last try's span was pre-created at access and injected: the
    app's SERVER span is its child. A first try that could not connect is its own span with
    status ERROR and http.status_code 502, and nothing under it. Each try is a call of the
    gateway to orders: two per request, one failed."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        kong = b.span("kong", "kong", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.method": "GET",
                             "http.url": f"http://api.example.com/orders/{40 + i}",
                             "http.host": "api.example.com", "http.scheme": "http",
                             "http.flavor": "1.1", "http.client_ip": "198.51.100.23",
                             "net.peer.ip": "10.0.0.2", "kong.request.id": f"a1b2c3d4e5f6{i}",
                             "http.status_code": 200, "http.route": "/orders"})
        b.span("kong", "kong.router", parent=kong, start_ms=t + 0.1, dur_ms=0.1)
        b.span("kong", "kong.access.plugin.opentelemetry", parent=kong, start_ms=t + 0.3,
               dur_ms=0.1)
        peer = {"net.peer.name": "orders", "net.peer.port": 8080, "http.method": "GET",
                "http.url": f"http://orders/orders/{40 + i}"}
        b.span("kong", "kong.balancer", kind="CLIENT", parent=kong, start_ms=t + 0.5,
               dur_ms=3, status="ERROR",
               attrs={"try_count": 1, "net.peer.ip": "10.0.0.7", **peer,
                      "http.status_code": 502})
        last = b.span("kong", "kong.balancer", kind="CLIENT", parent=kong, start_ms=t + 3.6,
                      dur_ms=36.4, attrs={"try_count": 2, "net.peer.ip": "10.0.0.8", **peer})
        b.span("orders", "GET /orders/{id}", kind="SERVER", parent=last, start_ms=t + 4.2,
               dur_ms=34, attrs={"http.request.method": "GET", "http.route": "/orders/{id}",
                                 "http.response.status_code": 200})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:kong->service:orders": ("call", 2 * N)}
    assert a.edge("service:kong->service:orders")["error_count"] == N
    assert not a.anomalies
    assert _flows(a) == [("kong", N, 1.0)]
    _counted(st, a)
