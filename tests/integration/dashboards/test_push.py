"""`locxia dashboards push` against a local stand-in of Grafana's HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboards.grafana.build import all_dashboards
from dashboards.grafana.common import DATASOURCE_TYPE, DATASOURCE_UID, FOLDER_TITLE, FOLDER_UID
from dashboards.grafana.provisioning import DatasourceLogin, datasource_spec
from dashboards.grafana.push import FINGERPRINT_KEY, Change, GrafanaPusher
from infra.db.localcluster import free_port
from infra.errors import GrafanaError
from infra.settings import load_settings
from tests.support.grafana import FakeGrafana, fake_grafana

LOGIN = "postgresql://grafana:s3cret@db.internal:5433/locxia?sslmode=verify-full"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with fake_grafana() as fake:
        yield fake


def _push(url: str, token: str | None, login: str = LOGIN, dry_run: bool = False) -> list[Change]:
    settings = load_settings(grafana_url=url, grafana_token=token)
    pusher = GrafanaPusher.from_settings(settings)
    changes = pusher.plan(
        datasource_spec(DatasourceLogin.from_url(login)),
        (FOLDER_UID, FOLDER_TITLE),
        all_dashboards(),
    )
    if not dry_run:
        pusher.apply(changes)
    return changes


def _actions(changes: list[Change]) -> dict[str, str]:
    return {f"{c.kind}:{c.uid}": c.action for c in changes}


def test_first_push_creates_datasource_folder_and_dashboards(grafana: FakeGrafana) -> None:
    changes = _push(grafana.url, grafana.token)
    boards = all_dashboards()
    assert set(_actions(changes).values()) == {"create"}
    assert {c.uid for c in changes if c.kind == "dashboard"} == {
        "locxia-orchestrator",
        "locxia-costs",
        "locxia-resources",
        "locxia-layers",
    }
    assert all(r.authorization == f"Bearer {grafana.token}" for r in grafana.requests)
    writes = grafana.writes()
    assert [(w.method, w.path) for w in writes] == [
        ("POST", "/api/datasources"),
        ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(boards),
    ]
    ds = writes[0].body
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == DATASOURCE_TYPE
    assert ds["access"] == "proxy" and ds["url"] == "db.internal:5433" and ds["user"] == "grafana"
    assert ds["jsonData"]["database"] == "locxia" and ds["jsonData"]["sslmode"] == "verify-full"
    assert ds["secureJsonData"] == {"password": "s3cret"}
    assert (
        len(ds["jsonData"][FINGERPRINT_KEY]) == 32
        and "s3cret" not in ds["jsonData"][FINGERPRINT_KEY]
    )
    assert writes[1].body == {"title": FOLDER_TITLE, "uid": FOLDER_UID}
    for write, board in zip(writes[2:], boards, strict=True):
        assert write.body["overwrite"] is True and write.body["folderUid"] == FOLDER_UID
        assert write.body["dashboard"] == {**board, "id": None}
    # what Grafana now holds: the password only as a flag, each dashboard at version 1
    assert grafana.datasources[DATASOURCE_UID]["secureJsonFields"] == {"password": True}
    assert "secureJsonData" not in grafana.datasources[DATASOURCE_UID]
    assert {uid: d["dashboard"]["version"] for uid, d in grafana.dashboards.items()} == {
        b["uid"]: 1 for b in boards
    }


def test_a_second_push_changes_nothing(grafana: FakeGrafana) -> None:
    _push(grafana.url, grafana.token)
    before = len(grafana.writes())
    changes = _push(grafana.url, grafana.token)
    assert set(_actions(changes).values()) == {"unchanged"}
    assert len(grafana.writes()) == before  # only reads the second time
    assert all(d["dashboard"]["version"] == 1 for d in grafana.dashboards.values())
    assert grafana.datasources[DATASOURCE_UID]["version"] == 1


def test_a_new_password_or_an_edit_in_grafana_is_pushed_again(grafana: FakeGrafana) -> None:
    _push(grafana.url, grafana.token)
    uid = all_dashboards()[0]["uid"]
    grafana.dashboards[uid]["dashboard"]["title"] = "edited by hand"
    grafana.folders[FOLDER_UID]["title"] = "Renamed"
    changes = _push(grafana.url, grafana.token, login=LOGIN.replace("s3cret", "n3w"))
    assert _actions(changes) == {
        f"datasource:{DATASOURCE_UID}": "update",
        f"folder:{FOLDER_UID}": "update",
        f"dashboard:{uid}": "update",
        # the dashboards nobody edited are left alone
        **{f"dashboard:{b['uid']}": "unchanged" for b in all_dashboards()[1:]},
    }
    assert grafana.secrets[DATASOURCE_UID] == {"password": "n3w"}
    assert grafana.dashboards[uid]["dashboard"]["title"] == all_dashboards()[0]["title"]
    assert grafana.dashboards[uid]["dashboard"]["version"] == 2
    assert grafana.folders[FOLDER_UID]["title"] == FOLDER_TITLE


def test_dry_run_only_reads(grafana: FakeGrafana) -> None:
    changes = _push(grafana.url, grafana.token, dry_run=True)
    assert set(_actions(changes).values()) == {"create"}
    assert grafana.writes() == [] and grafana.requests


def _one_line(exc: pytest.ExceptionInfo[GrafanaError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_bad_credentials_are_one_clear_line(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaError) as exc:
        _push(grafana.url, "wrong")
    message = _one_line(exc)
    assert exc.value.status == 401
    assert f"Grafana at {grafana.url} refused the credentials (401)" in message
    assert "LOCXIA_GRAFANA_TOKEN" in message and "wrong" not in message


def test_a_forbidden_write_is_one_clear_line(grafana: FakeGrafana) -> None:
    grafana.forbid.add("/api/datasources")
    with pytest.raises(GrafanaError) as exc:
        _push(grafana.url, grafana.token)
    assert exc.value.status == 403
    assert f"forbids creating datasource {DATASOURCE_UID} (403)" in _one_line(exc)
    assert grafana.folders == {} and grafana.dashboards == {}  # stopped at the first refusal


def test_connection_refused_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GrafanaError) as exc:
        _push(url, "token")
    assert _one_line(exc) == f"cannot reach Grafana at {url}: connection refused"
    assert exc.value.status is None


def test_credentials_in_the_url_never_appear_in_messages() -> None:
    url = f"http://admin:hunter2@127.0.0.1:{free_port()}"
    with pytest.raises(GrafanaError) as exc:
        _push(url, None)
    assert "hunter2" not in str(exc.value) and "admin" not in str(exc.value)


def test_basic_auth_from_the_url_is_sent(grafana: FakeGrafana) -> None:
    url = grafana.url.replace("http://", "http://admin:pw@")
    with pytest.raises(GrafanaError):  # the stand-in only accepts its token
        _push(url, None)
    sent: Any = grafana.requests[0].authorization
    assert sent is not None and sent.startswith("Basic ")
