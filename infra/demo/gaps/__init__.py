"""The AWS operations moto lacks, answered in front of moto on 127.0.0.1 (demo and tests).

moto implements neither the Price List API nor Cost Explorer's cost allocation tags, and its
``GetCostAndUsage`` only replays canned bodies (it ignores ``Filter`` and ``GroupBy``). Code
that must behave as on AWS for those calls — the catalog refresh, the Cost Explorer basis, the
tag activation check — would otherwise be tested against an HTTP 500. So a small HTTP server
sits between botocore and moto:

* a request whose ``X-Amz-Target`` header names an operation a registered :class:`GapHandler`
  answers (AWS's JSON 1.1 protocol: Price List, Cost Explorer) is answered here;
* ``POST /locxia-gaps/<name>`` seeds handler ``<name>`` with a JSON body (what AWS would hold:
  products, cost lines, tag statuses) — the tests' and the demo's only way in;
* ``POST /moto-api/reset`` resets every handler's state, then is forwarded to moto;
* everything else is forwarded to moto byte for byte, headers included (moto checks request
  signatures when its IAM enforcement is on, and the signature covers the ``Host`` header);
  a handler may complete moto's answer to a query-protocol ``Action`` with what AWS always
  returns and moto leaves out (:meth:`GapHandler.completions`; e.g. EC2's ``PlatformDetails``).

It is a stand-in, not AWS: each handler's module says which documented behaviour it models
and what it does not. Production code never imports this package; the demo and the tests
point ``LOCXIA_AWS_ENDPOINT_URL`` at :attr:`GapServer.endpoint`.

A handler module (``ce.py``: class ``CostExplorerGaps``; ``pricing.py``: class
``PriceListGaps``) exposes a class implementing :class:`GapHandler` (constructed without
arguments) and adds its ``(module, class)`` to ``_HANDLERS``; its tests seed it with
:func:`post_seed`.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

HOST = "127.0.0.1"
SEED_PREFIX = "/locxia-gaps/"
RESET_PATH = "/moto-api/reset"
#: Hop-by-hop headers (RFC 9110 §7.6.1) and the framing this server redoes itself.
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "te"}

JsonObject = dict[str, Any]
Operation = Callable[[JsonObject], JsonObject]
Completion = Callable[[bytes], bytes]


class GapError(Exception):
    """An AWS error answer: ``__type`` code, message and HTTP status (JSON 1.1 protocol)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class GapHandler(Protocol):
    """One AWS service's missing operations, with the state AWS would hold for them."""

    #: Seeding path segment: ``POST /locxia-gaps/<name>``.
    name: str

    def operations(self) -> dict[str, Operation]:
        """``X-Amz-Target`` value (e.g. ``AWSPriceListService.GetProducts``) → operation."""
        ...

    def completions(self) -> dict[str, Completion]:
        """Query-protocol ``Action`` → a function completing moto's successful answer body."""
        ...

    def seed(self, body: JsonObject) -> None:
        """Replace the handler's state with ``body`` (raise :class:`GapError` if malformed)."""
        ...

    def reset(self) -> None:
        """Forget every seeded state (moto's reset does the same to moto)."""
        ...


def default_handlers() -> list[GapHandler]:
    """Every handler this package ships (imported lazily: each module stands alone)."""
    handlers: list[GapHandler] = []
    for module_name, class_name in _HANDLERS:
        module = __import__(f"{__name__}.{module_name}", fromlist=[class_name])
        handlers.append(getattr(module, class_name)())
    return handlers


#: (module, class) of each shipped handler; a module appends itself here when added.
_HANDLERS: list[tuple[str, str]] = [
    ("ce", "CostExplorerGaps"),
    ("ec2", "Ec2Gaps"),
    ("pricing", "PriceListGaps"),
]


class GapServer:
    """The front server: answers what the handlers know, forwards the rest to ``upstream``."""

    def __init__(self, upstream: str, handlers: Iterable[GapHandler] | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port
        self.handlers = {h.name: h for h in (default_handlers() if handlers is None else handlers)}
        self.operations: dict[str, Operation] = {}
        self.completions: dict[str, Completion] = {}
        for handler in self.handlers.values():
            self.operations.update(handler.operations())
            self.completions.update(handler.completions())
        self._lock = threading.Lock()  # handlers are not thread-safe; AWS calls are few
        self._server = ThreadingHTTPServer((HOST, 0), _make_request_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``: what ``LOCXIA_AWS_ENDPOINT_URL`` points at."""
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> str:
        """Serve in a daemon thread; return :attr:`endpoint`."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="aws-gaps", daemon=True
        )
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def answer(self, target: str, body: bytes) -> tuple[int, JsonObject]:
        """Run the operation named by ``target`` on a JSON body; AWS-shaped errors."""
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise GapError("SerializationException", "the request body is not a JSON object")
            with self._lock:
                return 200, self.operations[target](request)
        except GapError as exc:
            return exc.status, {"__type": exc.code, "message": exc.message}
        except json.JSONDecodeError as exc:
            return 400, {"__type": "SerializationException", "message": str(exc)}

    def seed(self, name: str, body: bytes) -> tuple[int, JsonObject]:
        """Seed handler ``name``; 404 for an unknown handler, 400 for a malformed body."""
        handler = self.handlers.get(name)
        if handler is None:
            return 404, {
                "message": f"no gap handler named {name!r}",
                "known": sorted(self.handlers),
            }
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise GapError("ValidationException", "the seed body must be a JSON object")
            with self._lock:
                handler.seed(payload)
        except GapError as exc:
            return exc.status, {"__type": exc.code, "message": exc.message}
        except json.JSONDecodeError as exc:
            return 400, {"message": f"the seed body is not JSON: {exc}"}
        return 200, {"seeded": name}

    def reset(self) -> None:
        """Reset every handler (moto is reset by the forwarded request)."""
        with self._lock:
            for handler in self.handlers.values():
                handler.reset()

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request to moto unchanged; return its status, headers and body."""
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in headers:
                if key.lower() not in _NOT_FORWARDED:
                    conn.putheader(key, value)
            if body or method in {"POST", "PUT", "PATCH"}:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
            # A HEAD answer has no body but tells the object's length: keep moto's header.
            kept = _NOT_FORWARDED - ({"content-length"} if method == "HEAD" else set())
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in kept]
            complete = self.completions.get(_query_action(method, body))
            if complete is not None and resp.status == 200:
                data = complete(data)
            return resp.status, out, data
        finally:
            conn.close()


def _query_action(method: str, body: bytes) -> str:
    """The ``Action`` of a query-protocol (EC2, RDS…) POST body, or ''."""
    if method != "POST" or not body.startswith(b"Action=") and b"&Action=" not in body:
        return ""
    values = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])
    return values[0]


def _make_request_handler(server: GapServer) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            return  # quiet: botocore's own logging tells what was called

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response_only(status)
            for key, value in headers:
                self.send_header(key, value)
            if not any(k.lower() == "content-length" for k, _ in headers):
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _send_json(self, status: int, payload: JsonObject) -> None:
            headers = [("Content-Type", "application/x-amz-json-1.1")]
            if status >= 400 and "__type" in payload:
                headers.append(("x-amzn-ErrorType", str(payload["__type"])))
            self._send(status, headers, json.dumps(payload).encode())

        def _handle(self) -> None:
            body = self._body()
            path = urllib.parse.urlsplit(self.path).path
            target = self.headers.get("X-Amz-Target", "")
            if self.command == "POST" and path.startswith(SEED_PREFIX):
                self._send_json(*server.seed(path.removeprefix(SEED_PREFIX).strip("/"), body))
                return
            if self.command == "POST" and target in server.operations:
                self._send_json(*server.answer(target, body))
                return
            if self.command == "POST" and path == RESET_PATH:
                server.reset()
            try:
                self._send(*server.forward(self.command, self.path, self.headers.items(), body))
            except OSError as exc:
                self._send_json(502, {"message": f"moto did not answer: {exc}"})

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return RequestHandler


@contextmanager
def serving(upstream: str, handlers: Iterable[GapHandler] | None = None) -> Iterator[GapServer]:
    """A started :class:`GapServer` in front of ``upstream`` for the ``with`` block."""
    server = GapServer(upstream, handlers)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def post_seed(endpoint: str, name: str, payload: JsonObject) -> JsonObject:
    """Seed handler ``name`` of the gap server at ``endpoint`` (raises on a refusal)."""
    req = urllib.request.Request(
        f"{endpoint}{SEED_PREFIX}{name}",
        method="POST",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer: JsonObject = json.loads(resp.read())
    return answer
