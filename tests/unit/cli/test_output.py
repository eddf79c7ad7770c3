"""No control character from data reaches a terminal through the CLI's console."""

from __future__ import annotations

import io
import re

import pytest

from infra.cli.output import SafeConsole, table

HOSTILE = [
    "a\x1b[2Jb",  # clear the screen
    "x\x1b]0;owned\x07y",  # set the window title (OSC ... BEL)
    "ok\rforged by cfo",  # rewrite the line
    "ding\x07",
    "csi\x9b31m",  # an 8-bit CSI
    "bs\x08\x08\x7f",
]


def _render(*things: object) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, color_system="truecolor", width=200)
    for thing in things:
        console.print(thing)
    return out.getvalue()


@pytest.mark.parametrize("text", HOSTILE)
def test_control_characters_are_shown_not_acted_on(text: str) -> None:
    printed = _render(
        f"[bold]note:[/bold] {text}", table(f"History {text}", ["changes"], [(f"note: {text}",)])
    )
    data_controls = {c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0}
    # Rich's own styling is ESC [ ... m: remove it, then no control character may be left.
    unstyled = re.sub(r"\x1b\[[0-9;]*m", "", printed)
    assert not {c for c in unstyled if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0)}
    for char in data_controls:
        assert f"\\x{ord(char):02x}" in unstyled
    assert "\x1b[2J" not in printed and "\x1b]0;" not in printed and "\r" not in printed


def test_plain_text_and_markup_are_unchanged() -> None:
    printed = _render("été [bold]ok[/bold]\ttab")
    assert "été" in printed and "\x1b[1mok" in printed and "\\x" not in printed
