"""Make untrusted text (file names, reasons from servers) safe to print on a terminal, and
print it there."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from rich.console import Console

# C0 and C1 controls (ESC, CR, LF, BEL, DEL, CSI …) and the bidi controls that reorder what
# a line shows: a file name holding them could recolour the terminal or forge a log line.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each control character as a visible escape (`\\x1b`, `\\n`, `\\u202e`).

    Python's own `unicode_escape` spelling, so the name stays recognisable; JSON output is
    never passed through here: it carries names exactly.
    """
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def output_console(as_json: bool) -> Console:
    """Where human output goes: with --json, stdout carries only JSON lines, so stderr."""
    return Console(file=sys.stderr if as_json else sys.stdout, highlight=False)


def print_lines(console: Console, lines: Iterable[str]) -> None:
    """Each line made printable, never read as Rich markup, never wrapped."""
    for line in lines:
        console.print(printable(line), markup=False, soft_wrap=True)
