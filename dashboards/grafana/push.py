"""Pushing the datasource, the folder and the dashboards to Grafana's HTTP API (grafana-client).

Push is idempotent: it reads each object first and writes only what differs, so a second push
changes nothing (no new dashboard versions, no datasource churn). Grafana never returns a
datasource's password, so the datasource carries a fingerprint of what was sent
(``jsonData.locxiaFingerprint``, salted PBKDF2 of the full spec); a changed password changes
the fingerprint and triggers an update.

Writes use Grafana's documented endpoints: ``POST /api/datasources`` and
``PUT /api/datasources/uid/{uid}``, ``POST /api/folders`` and ``PUT /api/folders/{uid}``,
``POST /api/dashboards/db`` with ``overwrite: true`` and the folder uid. HTTP and transport
errors are translated here into :class:`~infra.errors.GrafanaError`, one line each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from infra.errors import GrafanaError
from infra.settings import Settings

Action = Literal["create", "update", "unchanged"]
FINGERPRINT_KEY = "locxiaFingerprint"
PUSH_MESSAGE = "locxia dashboards push"
# Fields of a datasource Grafana returns as sent; anything else (id, version...) is its own.
_DATASOURCE_FIELDS = ("access", "isDefault", "name", "type", "url", "user")


@dataclass(frozen=True)
class Change:
    """One object push looked at, and what it did (or would do) to it."""

    kind: Literal["datasource", "folder", "dashboard"]
    uid: str
    title: str
    action: Action
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def public_url(url: str) -> str:
    """``url`` without credentials (for messages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def fingerprint(spec: Mapping[str, Any]) -> str:
    """A salted, slow hash of a datasource spec (password included), safe to store in Grafana."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    salt = f"locxia-grafana:{spec.get('uid')}".encode()
    return hashlib.pbkdf2_hmac("sha256", canonical, salt, 100_000).hex()[:32]


class GrafanaPusher:
    """Reads and writes Locxia's objects in one Grafana organisation.

    Args:
        api: a ``grafana_client.GrafanaApi``.
        url: Grafana's URL, for messages (credentials are stripped).
    """

    def __init__(self, api: Any, url: str) -> None:
        self.api = api
        self.url = public_url(url)

    @classmethod
    def from_settings(cls, settings: Settings) -> GrafanaPusher:
        """A pusher for ``LOCXIA_GRAFANA_URL`` with the token (or the URL's user:password)."""
        from grafana_client.api import GrafanaApi

        credential: Any = settings.grafana_token or None
        parts = urlsplit(settings.grafana_url)
        if credential is None and parts.username:
            credential = (parts.username, parts.password or "")
        api = GrafanaApi.from_url(
            public_url(settings.grafana_url), credential, timeout=settings.grafana_timeout_seconds
        )
        return cls(api, settings.grafana_url)

    # --- error translation -------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call grafana-client; translate every failure into one :class:`GrafanaError` line."""
        from grafana_client.client import (
            GrafanaClientError,
            GrafanaException,
            GrafanaServerError,
            GrafanaTimeoutError,
        )
        from niquests.exceptions import RequestException

        try:
            return fn(*args, **kwargs)
        except GrafanaTimeoutError as exc:
            raise GrafanaError(
                f"Grafana at {self.url} did not answer in time while {what}"
            ) from exc
        except GrafanaClientError as exc:
            raise self._client_error(what, exc.status_code, exc.response) from exc
        except GrafanaServerError as exc:
            raise GrafanaError(
                f"Grafana at {self.url} failed while {what} ({exc.status_code}): "
                f"{_message(exc.response)}",
                exc.status_code,
            ) from exc
        except (GrafanaException, RequestException, OSError) as exc:
            raise GrafanaError(f"cannot reach Grafana at {self.url}: {_reason(exc)}") from exc

    def _client_error(self, what: str, status: int, response: Any) -> GrafanaError:
        if status == 401:
            return GrafanaError(
                f"Grafana at {self.url} refused the credentials (401) while {what}: set "
                "LOCXIA_GRAFANA_TOKEN to a service account token (or user:password in "
                "LOCXIA_GRAFANA_URL)",
                401,
            )
        if status == 403:
            return GrafanaError(
                f"Grafana at {self.url} forbids {what} (403): the service account needs the "
                f"Admin role for datasources, Editor for folders and dashboards "
                f"({_message(response)})",
                403,
            )
        return GrafanaError(
            f"Grafana at {self.url} rejected {what} ({status}): {_message(response)}", status
        )

    def _get(self, what: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        """GET an object; ``None`` when Grafana answers 404."""
        from grafana_client.client import GrafanaClientError

        try:
            return dict(self._call(what, fn, *args))
        except GrafanaError as exc:
            cause = exc.__cause__
            if isinstance(cause, GrafanaClientError) and cause.status_code == 404:
                return None
            raise

    # --- planning: read, compare ---------------------------------------------------------------
    def plan_datasource(self, spec: Mapping[str, Any]) -> Change:
        """What to do with the datasource (``spec`` as :func:`datasource_spec` gives it)."""
        wanted = dict(spec)
        wanted["jsonData"] = {**spec["jsonData"], FINGERPRINT_KEY: fingerprint(spec)}
        uid, name = str(spec["uid"]), str(spec["name"])
        stored = self._get(
            f"reading datasource {uid}", self.api.datasource.get_datasource_by_uid, uid
        )
        if stored is None:
            return Change("datasource", uid, name, "create", wanted)
        same = all(stored.get(k) == wanted.get(k) for k in _DATASOURCE_FIELDS)
        stored_json = stored.get("jsonData") or {}
        same = same and all(stored_json.get(k) == v for k, v in wanted["jsonData"].items())
        if wanted.get("secureJsonData", {}).get("password"):
            same = same and bool((stored.get("secureJsonFields") or {}).get("password"))
        return Change("datasource", uid, name, "unchanged" if same else "update", wanted)

    def plan_folder(self, uid: str, title: str) -> Change:
        """What to do with the folder the dashboards live in."""
        stored = self._get(f"reading folder {uid}", self.api.folder.get_folder, uid)
        payload = {"title": title, "uid": uid}
        if stored is None:
            return Change("folder", uid, title, "create", payload)
        action: Action = "unchanged" if stored.get("title") == title else "update"
        return Change("folder", uid, title, action, payload)

    def plan_dashboard(self, board: Mapping[str, Any], folder_uid: str) -> Change:
        """What to do with one dashboard (its JSON as ``dashboards.grafana.build`` renders it)."""
        uid, title = str(board["uid"]), str(board["title"])
        payload = {
            "dashboard": {**board, "id": None},
            "folderUid": folder_uid,
            "message": PUSH_MESSAGE,
            "overwrite": True,
        }
        stored = self._get(f"reading dashboard {uid}", self.api.dashboard.get_dashboard, uid)
        if stored is None:
            return Change("dashboard", uid, title, "create", payload)
        current = {k: v for k, v in (stored.get("dashboard") or {}).items() if k not in _OWN}
        wanted = {k: v for k, v in board.items() if k not in _OWN}
        in_folder = (stored.get("meta") or {}).get("folderUid") == folder_uid
        action: Action = "unchanged" if current == wanted and in_folder else "update"
        return Change("dashboard", uid, title, action, payload)

    def plan(
        self,
        datasource: Mapping[str, Any],
        folder: tuple[str, str],
        boards: Sequence[Mapping[str, Any]],
    ) -> list[Change]:
        """Every change a push would make, in the order it makes them (reads only)."""
        changes = [self.plan_datasource(datasource), self.plan_folder(*folder)]
        changes.extend(self.plan_dashboard(board, folder[0]) for board in boards)
        return changes

    # --- applying ------------------------------------------------------------------------------
    def apply(self, changes: Sequence[Change]) -> None:
        """Make the planned changes (``unchanged`` ones are skipped)."""
        for change in changes:
            if change.action == "unchanged":
                continue
            what = f"{'creating' if change.action == 'create' else 'updating'} {change.kind} "
            what += change.uid
            body = dict(change.payload)
            if change.kind == "datasource":
                if change.action == "create":
                    self._call(what, self.api.datasource.create_datasource, body)
                else:
                    self._call(what, self.api.datasource.update_datasource_by_uid, change.uid, body)
            elif change.kind == "folder":
                if change.action == "create":
                    self._call(what, self.api.folder.create_folder, body["title"], uid=change.uid)
                else:
                    self._call(
                        what,
                        self.api.folder.update_folder,
                        change.uid,
                        title=body["title"],
                        overwrite=True,
                    )
            else:
                self._call(what, self.api.dashboard.update_dashboard, body)

    def push(
        self,
        datasource: Mapping[str, Any],
        folder: tuple[str, str],
        boards: Sequence[Mapping[str, Any]],
    ) -> list[Change]:
        """Plan, then apply; returns what was done.

        Raises:
            GrafanaError: Grafana is unreachable, refused the credentials or a write.
        """
        changes = self.plan(datasource, folder, boards)
        self.apply(changes)
        return changes


_OWN = ("id", "version")  # dashboard fields Grafana sets itself on every save


def _message(response: Any) -> str:
    if isinstance(response, dict) and "message" in response:
        return str(response["message"])
    text = str(response or "").strip().splitlines()
    return text[0][:200] if text else "no message"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
