"""A stand-in for Grafana's HTTP API on 127.0.0.1 that records every request.

No Grafana binary can be installed here, so this server answers the endpoints `locxia
dashboards push` uses the way Grafana 11 documents them: token auth (401 otherwise), 404 for
missing objects, 409 for a duplicate datasource name or folder uid, 412 when a dashboard or
folder is saved over a newer version without ``overwrite``, versions that increase on every
save, secrets never returned (``secureJsonFields`` instead). ``forbid`` makes writes under a
path prefix answer 403, like a service account without the right role.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class FakeGrafana:
    token: str = "glsa_test_token"
    forbid: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    _ids: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # --- endpoints: each returns (status, body) ----------------------------------------------
    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        routes = [
            ("GET", r"/api/datasources/uid/([^/]+)", self.get_datasource),
            ("POST", r"/api/datasources", self.create_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self.update_datasource),
            ("GET", r"/api/folders/([^/]+)", self.get_folder),
            ("POST", r"/api/folders", self.create_folder),
            ("PUT", r"/api/folders/([^/]+)", self.update_folder),
            ("GET", r"/api/dashboards/uid/([^/]+)", self.get_dashboard),
            ("POST", r"/api/dashboards/db", self.save_dashboard),
        ]
        for verb, pattern, fn in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                if method != "GET" and any(path.startswith(p) for p in self.forbid):
                    return 403, {
                        "message": "You'll need additional permissions to perform this action."
                    }
                return fn(body, *match.groups())
        return 404, {"message": "Not found"}

    def get_datasource(self, _body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, self.datasources[uid]

    def _store_datasource(
        self, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        secure = body.get("secureJsonData") or {}
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        fields = dict((existing or {}).get("secureJsonFields") or {})
        fields.update(dict.fromkeys(secure, True))
        stored.update(
            id=(existing or {}).get("id") or self.next_id(),
            orgId=1,
            readOnly=False,
            secureJsonFields=fields,
            version=((existing or {}).get("version") or 0) + 1,
        )
        self.secrets = {**getattr(self, "secrets", {}), body["uid"]: secure}
        return stored

    def create_datasource(self, body: Any) -> tuple[int, Any]:
        for key in ("name", "type", "access"):
            if not body.get(key):
                return 400, {"message": f"Required field {key} missing"}
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        if body.get("uid") in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        stored = self._store_datasource(body, None)
        self.datasources[body["uid"]] = stored
        return 200, {
            "datasource": stored,
            "id": stored["id"],
            "message": "Datasource added",
            "name": stored["name"],
        }

    def update_datasource(self, body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        stored = self._store_datasource({**body, "uid": uid}, self.datasources[uid])
        self.datasources[uid] = stored
        return 200, {
            "datasource": stored,
            "id": stored["id"],
            "message": "Datasource updated",
            "name": stored["name"],
        }

    def get_folder(self, _body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.folders:
            return 404, {"message": "folder not found", "status": "not-found"}
        return 200, self.folders[uid]

    def create_folder(self, body: Any) -> tuple[int, Any]:
        if not body.get("title"):
            return 400, {"message": "folder title cannot be empty"}
        uid = body.get("uid") or f"f{self.next_id()}"
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        self.folders[uid] = {"id": self.next_id(), "uid": uid, "title": body["title"], "version": 1}
        return 200, self.folders[uid]

    def update_folder(self, body: Any, uid: str) -> tuple[int, Any]:
        folder = self.folders.get(uid)
        if folder is None:
            return 404, {"message": "folder not found"}
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return 412, {
                "message": "the folder has been changed by someone else",
                "status": "version-mismatch",
            }
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, folder

    def get_dashboard(self, _body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        saved = self.dashboards[uid]
        return 200, {
            "dashboard": saved["dashboard"],
            "meta": {
                "folderUid": saved["folderUid"],
                "version": saved["dashboard"]["version"],
                "slug": uid,
            },
        }

    def save_dashboard(self, body: Any) -> tuple[int, Any]:
        board = body.get("dashboard")
        if not isinstance(board, dict) or not board.get("title"):
            return 400, {"message": "Dashboard title cannot be empty"}
        folder_uid = body.get("folderUid")
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found"}
        uid = board.get("uid") or f"d{self.next_id()}"
        existing = self.dashboards.get(uid)
        if (
            existing
            and not body.get("overwrite")
            and board.get("version") != existing["dashboard"]["version"]
        ):
            return 412, {
                "message": "The dashboard has been changed by someone else",
                "status": "version-mismatch",
            }
        version = existing["dashboard"]["version"] + 1 if existing else 1
        ident = existing["dashboard"]["id"] if existing else self.next_id()
        self.dashboards[uid] = {
            "dashboard": {**board, "id": ident, "uid": uid, "version": version},
            "folderUid": folder_uid or "",
        }
        return 200, {
            "id": ident,
            "uid": uid,
            "url": f"/d/{uid}/x",
            "status": "success",
            "version": version,
            "slug": "x",
        }


def _handler(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?", 1)[0]
            auth = self.headers.get("Authorization")
            with fake._lock:
                fake.requests.append(Recorded(self.command, path, body, auth))
                if auth != f"Bearer {fake.token}":
                    status, answer = 401, {"message": "Invalid API key"}
                else:
                    status, answer = fake.handle(self.command, path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def fake_grafana(**kwargs: Any) -> Iterator[FakeGrafana]:
    """Serve a :class:`FakeGrafana` on a free port of 127.0.0.1 for the block."""
    fake = FakeGrafana(**kwargs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
