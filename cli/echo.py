"""Printing results: one line at a time, flushed, quiet when the reader has gone away.

Kept apart from the batch machinery so that a single command imports only this.
"""
from __future__ import annotations

import os
import sys

import click


def closed_pipe() -> None:
    """The reader went away (``matd … | head -1``): point stdout at /dev/null, so that the
    interpreter's last flush cannot fail, and end through the CLI's boundary, which exits
    quietly with status 0 (as ripgrep does; no traceback, no message)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    raise BrokenPipeError


def emit(text: str, err: bool = False) -> None:
    """``click.echo`` (which flushes), ending quietly on a closed pipe."""
    try:
        click.echo(text, err=err)
    except BrokenPipeError:
        if err:          # nobody reads the diagnostics any more: not a reason to stop
            return
        closed_pipe()
