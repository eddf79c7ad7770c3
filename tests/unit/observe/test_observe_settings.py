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
