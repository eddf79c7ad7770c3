"""A collector process that stops dead before its second GetMetricData call.

Run by the crash test (``python -m tests.integration.observe.hang_collector URL ENDPOINT NOW
MARKER``): a botocore ``before-call`` hook writes MARKER when the second call is about to be
made — the first batch is committed by then — and sleeps until the test SIGKILLs the process.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.aws import AwsClients
from infra.db import connect
from infra.settings import load_settings
from pipelines.observe.metrics.collect import Collector


def main(url: str, endpoint: str, now: str, marker: str) -> None:
    settings = load_settings(database_url=url, aws_endpoint_url=endpoint)
    clients = AwsClients(settings, epoch_timestamps=True)
    calls = 0

    def hang_on_second_call(**_: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            Path(marker).write_text("between batches\n")
            time.sleep(3600)

    clients.session("read").events.register(
        "before-call.cloudwatch.GetMetricData", hang_on_second_call
    )
    with connect(url) as conn:
        collector = Collector(settings, clients, conn, now=datetime.fromisoformat(now), details={})
        collector.run("rds-default")


if __name__ == "__main__":
    main(*sys.argv[1:5])
