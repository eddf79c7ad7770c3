"""``python -m bench [name ...]``: run benchmarks (all by default), update docs/benchmarks.md."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from bench.common import REPORT, write_section

HERE = Path(__file__).parent


def available() -> list[str]:
    """Benchmark modules: every module in bench/ that defines NAME, TITLE and run()."""
    names = []
    for info in pkgutil.iter_modules([str(HERE)]):
        if info.name in ("common", "__main__") or info.name.startswith("_"):
            continue
        names.append(info.name)
    return sorted(names)


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(
            f"error: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {module.TITLE}", flush=True)
        body = module.run()
        print(body, flush=True)
        write_section(module.NAME, module.TITLE, body)
    print(f"written: {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
