from __future__ import annotations

import pytest

from infra.errors import ConfigError
from infra.settings import load_settings


def test_observe_settings_defaults_and_validation() -> None:
    s = load_settings(metric_streams_uri="s3://streams-bucket/cw/")
    assert s.metric_streams_uri == "s3://streams-bucket/cw"
    assert (s.metrics_retention_days, s.cost_reread_days) == (90, 14)
    for bad, variable in (
        ({"metric_streams_uri": "file:///tmp/x"}, "LOCXIA_METRIC_STREAMS_URI"),
        ({"cost_reread_days": 0}, "LOCXIA_COST_REREAD_DAYS"),
        ({"metrics_retention_days": 0}, "LOCXIA_METRICS_RETENTION_DAYS"),
    ):
        with pytest.raises(ConfigError, match=f"invalid setting {variable}"):
            load_settings(**bad)


def test_anomaly_settings_defaults_and_bounds() -> None:
    s = load_settings()
    assert (s.anomaly_score, s.anomaly_floor_usd) == (5.0, 1.0)
    for bad, variable in (
        ({"anomaly_score": 1.0}, "LOCXIA_ANOMALY_SCORE"),
        ({"anomaly_floor_usd": -1}, "LOCXIA_ANOMALY_FLOOR_USD"),
    ):
        with pytest.raises(ConfigError, match=f"invalid setting {variable}"):
            load_settings(**bad)
