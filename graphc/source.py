"""Where the user built a node: the first stack frame outside graphc's own packages."""
from __future__ import annotations

import os
import sys
from typing import NamedTuple

_PACKAGE_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + name + os.sep
    for name in ("graphc", "frontends", "backends")
)


class SourceLoc(NamedTuple):
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def user_location() -> SourceLoc | None:
    """Return file:line of the innermost caller that is not graphc's own code."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIRS):
            return SourceLoc(filename, frame.f_lineno)
        frame = frame.f_back
    return None
