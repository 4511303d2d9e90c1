"""Tokens of the text IR (see graphc/printing.py for the syntax), each with its line and column.

Statements end at the end of a line, so line ends are tokens; blank lines and lines that start
with `#` are skipped; a `#` after a statement starts its annotation, kept as one raw token.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from graphc.errors import ParseError

_STRING = r'"(?:[^"\\]|\\.)*"'
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in [
    ("space", r"[ \t\r]+"),
    ("note", r"#.*"),
    ("value", rf"%(?:[\w.\-]+|{_STRING})"),
    ("float", r"-?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+|-inf\b"),
    ("int", r"-?\d+"),
    ("sym", r"\?\w+"),
    ("ident", r"[A-Za-z_]\w*"),
    ("string", _STRING),
    ("opaque", rf"!{_STRING}"),
    ("punct", r"<-|//|[(){}\[\],=:*+\-]"),
]))


@dataclass(frozen=True)
class Token:
    kind: str      # value, float, int, sym, ident, string, opaque, punct, note, newline, eof
    text: str
    line: int
    col: int

    def describe(self) -> str:
        if self.kind == "newline":
            return "the end of the line"
        if self.kind == "eof":
            return "the end of the file"
        return repr(self.text)


class Source:
    """The text being parsed, to point errors at a line and column."""

    def __init__(self, text: str, name: str):
        self.lines = text.splitlines()
        self.name = name

    def error(self, message: str, line: int, col: int) -> ParseError:
        shown = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        if shown is not None:
            shown = _SURROGATE.sub("?", shown)      # the message must print
        return ParseError(message, line, col, self.name, shown)

    def at(self, token: Token, message: str) -> ParseError:
        return self.error(message, token.line, token.col)


def tokenize(source: Source) -> list[Token]:
    """Every token of the text, a newline token ending each statement line, and an eof token."""
    tokens: list[Token] = []
    for number, line in enumerate(source.lines, start=1):
        surrogate = _SURROGATE.search(line)
        if surrogate:       # NOTE: not Unicode text: it could not be saved back as UTF-8
            raise source.error("a lone surrogate is not Unicode text", number,
                               surrogate.start() + 1)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pos = 0
        while pos < len(line):
            match = _TOKEN.match(line, pos)
            if match is None:
                raise source.error(f"unexpected character {line[pos]!r}", number, pos + 1)
            if match.lastgroup != "space":
                tokens.append(Token(match.lastgroup, match.group(), number, pos + 1))
            pos = match.end()
        tokens.append(Token("newline", "", number, len(line) + 1))
    last = len(source.lines)
    tokens.append(Token("eof", "", max(last, 1), len(source.lines[-1]) + 1 if last else 1))
    return tokens


def unquote(source: Source, token: Token, text: str) -> str:
    """The string a JSON-quoted token spells; it must be Unicode text (no lone surrogates)."""
    try:
        value = json.loads(text)
        value.encode("utf-8")
    except json.JSONDecodeError as exc:
        raise source.at(token, f"bad string {text}: {exc.msg}") from None
    except UnicodeEncodeError:
        raise source.at(token, f"bad string {text}: a lone surrogate is not Unicode text "
                               "(and could not be saved)") from None
    return value


def value_name(source: Source, token: Token) -> str:
    """The name of a `%name` or `%"quoted name"` token (no NUL: names key archive members)."""
    body = token.text[1:]
    name = unquote(source, token, body) if body.startswith('"') else body
    if "\0" in name:
        raise source.at(token, "a value name cannot contain a NUL character")
    return name


# ---- annotations: `# scope/path @ file:line (grad of %v)` --------------------------------------

_NOTE = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in [
    ("space", r"\s+"),
    ("grad", r"\(grad of (?:%[\w.\-]+|%" + _STRING + r")\)"),
    ("loc", r"@\s*(?:" + _STRING + r"|[^\s\"()#]+):\d+"),
    ("scope", r"(?:[\w.\-]+|" + _STRING + r")(?:/(?:[\w.\-]+|" + _STRING + r"))*"),
]))
_PART = re.compile(r"[\w.\-]+|" + _STRING)


@dataclass(frozen=True)
class Note:
    scope: tuple[str, ...] = ()
    loc: tuple[str, int] | None = None
    grad_of: Token | None = None     # the `%v` token, resolved by the parser


def parse_note(source: Source, token: Token | None) -> Note:
    """The scope, source location and gradient origin an annotation records."""
    if token is None:
        return Note()
    text, pos, seen = token.text, 1, {}
    while pos < len(text):
        match = _NOTE.match(text, pos)
        kind = match.lastgroup if match else None
        col = token.col + pos
        if kind is None or kind in seen or (kind == "scope" and seen):
            raise source.error("cannot read this annotation; it is `# scope @ file:line "
                               "(grad of %value)`, each part optional, in that order",
                               token.line, col)
        if kind != "space":
            seen[kind] = (match.group(), col)
        pos = match.end()
    note = Note()
    if "scope" in seen:
        text, col = seen["scope"]
        parts = tuple(unquote(source, token, p) if p.startswith('"') else p
                      for p in _PART.findall(text))
        note = Note(scope=parts)
    if "loc" in seen:
        text, col = seen["loc"]
        file, line = text[1:].strip().rsplit(":", 1)
        if file.startswith('"'):
            file = unquote(source, token, file)
        if len(line) > 18:
            raise source.error(f"line number {line[:24]}... is out of range", token.line, col)
        note = Note(note.scope, (file, int(line)))
    if "grad" in seen:
        text, col = seen["grad"]
        name = text[len("(grad of "):-1]
        note = Note(note.scope, note.loc, Token("value", name, token.line, col + len("(grad of ")))
    return note
