"""Which files the file tools may read: `LYNN_FILE_ROOT`, and whom the server is serving.

Over stdio the client is the user's own agent, running as the user: without a root it may read any
file the user can (the server cannot know more than the user does). Over HTTP the client is whoever
reaches the port, so a `file_path` is refused unless the operator named a root.

With a root, a path is joined to it (when relative), its symlinks and `..` are resolved, and it is
accepted only if the result lies under the root. A refused path is never opened nor stat'ed: only
the links along it are read, so nothing of an outside file (its size, its first line) can come back
in an error. This module never imports the bulk engine: the server builds one `FileAccess` at start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from lynn_mcp.errors import Forbidden, InvalidArgument

if TYPE_CHECKING:
    from lynn_mcp.config import Settings

__all__ = ["USER_FILES", "FileAccess", "LocatedFile", "ServedOver"]

ServedOver = Literal["stdio", "http"]

_OUTSIDE_HINT = (
    "Pass a path under LYNN_FILE_ROOT (a relative path is taken from it), or pass the rows inline."
)
_NO_ROOT_OVER_HTTP = (
    "file_path is refused over HTTP because the server has no LYNN_FILE_ROOT: a remote client may not "
    "read the server's files"
)
_NO_ROOT_HINT = (
    "Pass the rows inline, or ask the server's operator to set LYNN_FILE_ROOT to the directory that "
    "holds the files to load."
)


class LocatedFile(NamedTuple):
    tried: Path
    """The absolute path the caller named (`~` expanded, joined to the root or working directory):
    what errors show, so they never reveal where a symlink points."""
    real: Path
    """`tried` with symlinks and `..` resolved: what is checked and opened."""


@dataclass(frozen=True, slots=True)
class FileAccess:
    """The file policy of one server process."""

    root: Path | None = None
    """An absolute, symlink-free directory (config.Settings resolves LYNN_FILE_ROOT), or None."""
    served_over: ServedOver = "stdio"

    @classmethod
    def of(cls, settings: Settings, served_over: ServedOver) -> FileAccess:
        return cls(settings.file_root, served_over)

    def locate(self, file_path: str) -> LocatedFile:
        """Where `file_path` is, if this policy lets the file tools read it; touches no file content.

        Raises `forbidden` for a path outside the root (or any path over HTTP without a root),
        naming the absolute path tried and the root.
        """
        if self.root is None and self.served_over == "http":
            raise Forbidden(_NO_ROOT_OVER_HTTP, hint=_NO_ROOT_HINT)
        if "\x00" in file_path:
            raise InvalidArgument("file_path contains a NUL character")
        base = self.root if self.root is not None else Path.cwd()
        tried = base / os.path.expanduser(file_path)  # an absolute path replaces the base
        # Not Path.resolve(): it stats the result. realpath reads only the links along the way (a
        # loop stays unresolved, and then fails as unreadable only if it lies under the root).
        real = Path(os.path.realpath(tried))
        if self.root is not None and not real.is_relative_to(self.root):
            raise Forbidden(
                f"file_path {tried} is outside LYNN_FILE_ROOT {self.root} (after following symlinks and ..);"
                " this server reads files only under it",
                hint=_OUTSIDE_HINT,
            )
        return LocatedFile(tried, real)


USER_FILES = FileAccess()
"""The stdio default: no root, any file the user running the server can read."""
