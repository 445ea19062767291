"""Folders and share links (the PostDICOM operations)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

COMMANDS: dict[str, Callable[..., Awaitable[int]]] = {}


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the `dicomweb` parser (none yet)."""
    del commands
