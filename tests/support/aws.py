"""moto as "AWS": a real HTTP server on 127.0.0.1 reached through boto3's endpoint_url.

Production code never imports moto; tests point ``LOCXIA_AWS_ENDPOINT_URL`` at this server,
so the exact production path (AwsClients → botocore → HTTP) is exercised.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

# Before moto is imported: fake credentials for botocore, and no preloaded AMIs (they cost
# ~2 s on the first EC2 call and flood describe_snapshots).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-3")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
for _var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_var, None)


@contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto server on a free port of 127.0.0.1 behind the gap server; yield its URL.

    The URL is the gap server's (:mod:`infra.demo.gaps`): it answers the operations moto
    lacks (Price List, Cost Explorer's tags and filters) and forwards the rest to moto.
    """
    from moto.server import ThreadedMotoServer

    from infra.demo.gaps import serving

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with serving(f"http://{host}:{port}") as gaps:
            yield gaps.endpoint
    finally:
        server.stop()


def reset(endpoint: str) -> None:
    """Wipe every service's state in the moto server."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()
