"""The errors graphc raises for user mistakes; all derive from GraphcError."""
from __future__ import annotations


class GraphcError(Exception):
    """Base class: catch this to catch any graphc user error."""


class ShapeError(GraphcError, ValueError):
    """An op was given operands whose shapes do not fit together."""


class DTypeError(GraphcError, TypeError):
    """An op was given operands of a dtype it does not accept."""


class GraphError(GraphcError, ValueError):
    """A graph is malformed: a missing input, a bad update, a cycle."""


class CompileError(GraphcError):
    """A backend cannot compile a graph (for example, an op it lacks)."""


class FeedError(GraphcError, ValueError):
    """A compiled function was fed an array of the wrong shape or dtype."""


class IndexRangeError(GraphcError, IndexError):
    """An index computed or fed at run time lies outside the axis it indexes."""


class NonFiniteError(GraphcError, FloatingPointError):
    """With check_finite on, a node produced NaN or infinity."""


class ParseError(GraphcError, ValueError):
    """A text-IR file is malformed; `line` and `column` (1-based) say where."""

    def __init__(self, message: str, line: int, column: int, source: str = "<text>",
                 text: str | None = None):
        self.message, self.line, self.column, self.source = message, line, column, source
        shown = f"{source}:{line}:{column}: {message}"
        if text is not None:
            shown += f"\n    {text}\n    {' ' * (column - 1)}^"
        super().__init__(shown)


class VerifyError(GraphcError):
    """Verify mode found a pass whose graph computes something else than the graph it was given."""
