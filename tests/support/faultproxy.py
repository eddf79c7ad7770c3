"""A fault-injecting HTTP proxy in front of the moto server: AWS as it behaves on a bad day.

Usage::

    faults = Faults([Rule("throttle", share=0.5), Rule("delay", share=0.2, seconds=0.3)], seed=7)
    with fault_proxy(moto_endpoint, faults) as url:
        settings = settings.model_copy(update={"aws_endpoint_url": url})
        ...
    assert faults.injected["throttle"] > 0

Every request draws, rule by rule in order, from one seeded ``random.Random``: a ``delay``
rule that fires sleeps and lets the next rules draw; the first error rule that fires answers
the request itself (moto never sees it); a request no error rule fires on is forwarded as is.
``Faults`` counts requests, forwarded requests and injected faults (per kind and per service).

Errors are shaped the way botocore parses them for the request's protocol, so that its retry
handler classifies them as a real AWS answer would be (botocore/retries/standard.py:
``ThrottledRetryableChecker._THROTTLED_ERROR_CODES`` for throttling codes,
``TransientRetryableChecker._TRANSIENT_STATUS_CODES`` = 500, 502, 503, 504 for server errors):

* JSON protocol (``X-Amz-Target``): ``{"__type": code, "message": ...}`` and the
  ``x-amzn-ErrorType`` header (https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html).
* Smithy RPC v2 CBOR (``smithy-protocol: rpc-v2-cbor``, CloudWatch and the tagging API in
  current botocore): the same map encoded in CBOR
  (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html).
* Query protocol (``Action=`` form body): ``<ErrorResponse><Error><Type>Sender</Type>
  <Code>..</Code>..`` (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html).
* EC2 protocol: ``<Response><Errors><Error><Code>..`` with ``RequestLimitExceeded`` as the
  throttling code (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/throttling.html).
* REST-XML (S3): ``<Error><Code>SlowDown</Code>..`` with HTTP 503, S3's throttling answer
  (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).

The proxy binds 127.0.0.1 on a free port and runs in a daemon thread for the ``with`` block.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

Fault = Literal["throttle", "error500", "error503", "delay"]
FAULTS: tuple[Fault, ...] = ("throttle", "error500", "error503", "delay")

# SigV4 credential scope: <key>/<date>/<region>/<service>/aws4_request
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True)
class Rule:
    """One kind of fault injected into a seeded share of the matching requests.

    Args:
        fault: ``throttle`` (HTTP 400 with the protocol's throttling code; 503 ``SlowDown``
            for S3), ``error500``, ``error503`` or ``delay``.
        share: probability in [0, 1] that a matching request gets the fault.
        service: only requests signed for this service (SigV4 scope: ``monitoring``,
            ``ce``, ``ec2``, ``tagging``...); ``None`` for every service.
        operation: only this operation (``GetMetricData``...); ``None`` for every one.
        seconds: the wait of a ``delay`` rule.
        limit: at most this many injections by this rule (``None``: unlimited).
    """

    fault: Fault
    share: float
    service: str | None = None
    operation: str | None = None
    seconds: float = 0.0
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {FAULTS}")
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be within [0, 1], not {self.share}")
        if self.fault == "delay" and self.seconds <= 0:
            raise ValueError("a delay rule needs seconds > 0")

    def matches(self, service: str, operation: str) -> bool:
        return (self.service is None or self.service == service) and (
            self.operation is None or self.operation == operation
        )


@dataclass
class Faults:
    """The rules of one proxy, its seeded draw, and what it did (read after the block)."""

    rules: Sequence[Rule]
    seed: int = 0
    requests: int = 0
    forwarded: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    by_service: Counter[tuple[str, str]] = field(default_factory=Counter)
    operations: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._fired: Counter[int] = Counter()
        self._lock = threading.Lock()

    @property
    def total_injected(self) -> int:
        """Faults injected, delays included."""
        return sum(self.injected.values())

    def decide(self, service: str, operation: str) -> tuple[float, Fault | None]:
        """Seconds to wait, then the error to answer with (``None``: forward the request)."""
        wait = 0.0
        with self._lock:
            self.requests += 1
            self.operations[(service, operation)] += 1
            for index, rule in enumerate(self.rules):
                if not rule.matches(service, operation):
                    continue
                if rule.limit is not None and self._fired[index] >= rule.limit:
                    continue
                if self._random.random() >= rule.share:
                    continue
                self._fired[index] += 1
                self.injected[rule.fault] += 1
                self.by_service[(service, rule.fault)] += 1
                if rule.fault == "delay":
                    wait += rule.seconds
                    continue
                return wait, rule.fault
            self.forwarded += 1
        return wait, None


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 0x100:
        return bytes([major << 5 | 24, length])
    if length < 0x10000:
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + length.to_bytes(4, "big")


def cbor_encode(value: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949 §3.1: major types 3 and 5): all an error needs."""
    out = bytearray(_cbor_head(5, len(value)))
    for key, item in value.items():
        for text in (key, item):
            raw = text.encode()
            out += _cbor_head(3, len(raw)) + raw
    return bytes(out)


@dataclass(frozen=True)
class _Request:
    service: str
    operation: str
    protocol: Literal["json", "cbor", "query", "ec2", "rest-xml", "rest-json"]
    content_type: str


def _classify(path: str, headers: Message[str, str], body: bytes) -> _Request:
    auth = headers.get("Authorization", "") or ""
    scope = _SCOPE.search(auth) or _SCOPE.search(
        "Credential=" + (parse_qs(urlsplit(path).query).get("X-Amz-Credential", [""])[0])
    )
    service = scope.group(1) if scope else "unknown"
    content_type = headers.get("Content-Type", "") or ""
    target = headers.get("X-Amz-Target")
    if (headers.get("smithy-protocol") or "") == "rpc-v2-cbor":
        # /service/<ServiceName>/operation/<Operation>
        return _Request(service, path.rstrip("/").rsplit("/", 1)[-1], "cbor", "application/cbor")
    if target:
        return _Request(service, target.rsplit(".", 1)[-1], "json", content_type)
    if "x-www-form-urlencoded" in content_type:
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        return _Request(service, action, "ec2" if service == "ec2" else "query", "text/xml")
    if service == "s3":
        return _Request(service, "", "rest-xml", "application/xml")
    return _Request(service, "", "rest-json", "application/json")


def _error(request: _Request, fault: Fault) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of ``fault`` in the request's protocol."""
    request_id = str(uuid.uuid4())
    if fault == "throttle":
        status, message = 400, "Rate exceeded"
        code = {
            "query": "Throttling",
            "ec2": "RequestLimitExceeded",
            "rest-xml": "SlowDown",
        }.get(request.protocol, "ThrottlingException")
        if request.protocol == "rest-xml":
            status, message = 503, "Please reduce your request rate."
    elif fault == "error500":
        status, code, message = 500, "InternalFailure", "Injected internal error"
        if request.protocol in ("ec2", "rest-xml"):
            code = "InternalError"
    else:
        status, code, message = 503, "ServiceUnavailable", "Injected unavailability"
    headers = {"x-amzn-RequestId": request_id, "Content-Type": request.content_type}
    if request.protocol in ("json", "rest-json", "cbor"):
        headers["x-amzn-ErrorType"] = code
        payload = {"__type": code, "message": message}
        if request.protocol == "cbor":
            headers["smithy-protocol"] = "rpc-v2-cbor"
            return status, headers, cbor_encode(payload)
        return status, headers, json.dumps(payload).encode()
    if request.protocol == "query":
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    elif request.protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        body = (
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    return status, headers, ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode()


def _handler(target: str, faults: Faults) -> type[BaseHTTPRequestHandler]:
    parts = urlsplit(target)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    local = threading.local()

    def upstream() -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            local.conn = conn
        return conn

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet: the counters tell what happened."""

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _relay(self) -> None:
            body = self._body()
            request = _classify(self.path, self.headers, body)
            wait, fault = faults.decide(request.service, request.operation)
            if wait:
                time.sleep(wait)
            if fault is not None:
                status, headers, payload = _error(request, fault)
                self._answer(status, list(headers.items()), payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            for attempt in (1, 2):
                conn = upstream()
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    conn.close()
                    local.conn = None
                    if attempt == 2:
                        raise
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            self._answer(response.status, kept, payload)

        def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client was killed mid-request

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _relay

    return Handler


@contextmanager
def fault_proxy(target_url: str, rules: Faults | Sequence[Rule], *, seed: int = 0) -> Iterator[str]:
    """Serve a proxy to ``target_url`` injecting ``rules``; yield its URL on 127.0.0.1.

    Pass a ``Faults`` to read its counters afterwards; a plain sequence of rules is wrapped in
    one seeded with ``seed``.
    """
    faults = rules if isinstance(rules, Faults) else Faults(list(rules), seed=seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(target_url, faults))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
