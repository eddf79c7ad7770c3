"""Scratch of killed feed processes is reclaimed; a live process's scratch is kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.jobs import Registry
from infra.jobs.runner import Runner
from infra.settings import Settings
from pipelines.feed.scratch import scratch_dir

MIB = 1024 * 1024

# A feed step in its own process: takes scratch, fills it, says where, then waits (or dies).
STEP = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from infra.settings import load_settings
    from pipelines.feed.scratch import scratch_dir

    settings = load_settings(layers_tmp_dir=sys.argv[1])
    with scratch_dir(settings, sys.argv[2]) as scratch:
        (scratch / "download").write_bytes(b"x" * int(sys.argv[3]))
        (scratch / "spill").mkdir()
        (scratch / "spill" / "bucket-00000.arrow").write_bytes(b"y" * 4096)
        print(scratch, flush=True)
        if sys.argv[4] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(120)
    """
)


@pytest.fixture
def scratch_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"layers_tmp_dir": tmp_path / "scratch"})


@pytest.fixture
def step(scratch_settings: Settings) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def run(name: str, size: int, end: str) -> tuple[subprocess.Popen[str], Path]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                STEP,
                str(scratch_settings.layers_tmp_dir),
                name,
                str(size),
                end,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        return proc, Path(proc.stdout.readline().strip())

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _sweep(settings: Settings) -> dict[str, int]:
    runner = Runner(settings, Registry.from_entry_points())
    try:
        return dict(runner.sweep().plugins["feed"])
    finally:
        runner.close()


def test_dead_processes_scratch_is_removed_and_live_ones_kept(
    scratch_settings: Settings, step: object
) -> None:
    killed, dead_dir = step("ingest", 3 * MIB, "die")  # type: ignore[operator]
    assert killed.wait(30) == -signal.SIGKILL
    waiting, live_dir = step("refine", MIB, "wait")  # type: ignore[operator]
    base = scratch_settings.layers_tmp_dir
    assert base is not None
    foreign = base / "locxia-publish~other-host~1~-~abc123"  # a shared tmp: not ours to judge
    legacy = base / "locxia-ingest-k2j4h1"  # made before scratch carried its owner
    for kept in (foreign, legacy):
        kept.mkdir()
        (kept / "f").write_bytes(b"z" * 100)
    assert dead_dir.is_dir() and live_dir.is_dir()

    with scratch_dir(scratch_settings, "publish") as mine:
        (mine / "f").write_bytes(b"w" * 10)
        counts = _sweep(scratch_settings)
        assert mine.is_dir()  # this process's own scratch

    assert counts == {"scratch_dirs_removed": 1, "scratch_bytes_reclaimed": 3 * MIB + 4096}
    assert not dead_dir.exists()
    assert live_dir.is_dir() and (live_dir / "download").stat().st_size == MIB
    assert foreign.is_dir() and legacy.is_dir()
    assert waiting.poll() is None

    waiting.kill()
    waiting.wait(30)
    assert _sweep(scratch_settings) == {
        "scratch_dirs_removed": 1,
        "scratch_bytes_reclaimed": MIB + 4096,
    }
    assert not live_dir.exists()
    assert _sweep(scratch_settings) == {}


def test_scratch_is_named_after_its_owner(scratch_settings: Settings) -> None:
    from infra.jobs.liveness import ProcessIdentity

    me = ProcessIdentity.current()
    with scratch_dir(scratch_settings, "transfer") as path:
        host, pid, token, _ = path.name.removeprefix("locxia-transfer~").split("~")
    assert (int(pid), token.replace("_", ":", 1)) == (me.pid, me.token)
    assert host and "~" not in host
    assert not path.exists()
