"""The text-IR parser: tokens to a graph, each node rebuilt through make() as its line is read.

Every use of a value must follow its definition (so a file cannot describe a cycle), each
node's written type must be the one its op's type rule gives, and each mistake is reported as
gc.ParseError at its line and column. Dims written `?n` become fresh symbols; dims the user
named (`batch`) keep their names; derived dims are expressions of them (`?1-1`, `3*n`,
`max(?1-2,0)`, `(?1+1)//2`).

A hostile file gets a ParseError too: integers are 64-bit, floats finite unless written `inf`,
tuples, dim expressions and subgraphs nest at most MAX_DEPTH deep, names are Unicode text
without NUL (they become archive member names), and the arrays the types declare total
max_bytes at most, counted before anything is allocated.
"""
from __future__ import annotations

import contextlib
import difflib
import math
import re
from typing import Iterator, Mapping

import numpy as np

from frontends.files import NpzReader, read_member
from frontends.textir_syntax import Note, Source, Token, parse_note, unquote, value_name
from graphc import dims as D
from graphc.dtypes import FROM_SHORT, SHORT
from graphc.errors import GraphcError
from graphc.graph import Graph
from graphc.ops.leaves import Const, Variable, placeholder
from graphc.registry import OPS
from graphc.source import SourceLoc
from graphc.tensor import Tensor, fresh_nodes, make
from graphc.types import TensorType, fresh_symbol

MAX_DEPTH = 32            # nesting of tuples, dim expressions and subgraphs
INT_LIMIT = 1 << 63       # integers are int64 everywhere


class Parser:
    """Recursive descent over the tokens, building each node as soon as its line is read."""

    def __init__(self, src: Source, tokens: list[Token], arrays: Mapping | NpzReader | None,
                 arrays_source: str, max_bytes: int):
        self.src, self.tokens, self.pos = src, tokens, 0
        self.arrays, self.arrays_source = arrays, arrays_source
        self.max_bytes, self.declared_bytes = max_bytes, 0
        self.depth = 0                     # tuples, dim expressions and subgraphs we are in
        self.symbols: dict[str, str] = {}          # dim as written -> the symbol it stands for
        self.built: set[int] = set()               # ids of the nodes made so far
        self.defined_at = _definitions(src, tokens)

    # ---- tokens -------------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, kind: str, text: str | None = None, what: str | None = None) -> Token:
        token = self.peek()
        if token.kind != kind or (text is not None and token.text != text):
            wanted = what or (repr(text) if text else kind)
            raise self.src.at(token, f"expected {wanted}, found {token.describe()}")
        return self.next()

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        token = self.peek()
        if token.kind == kind and (text is None or token.text == text):
            return self.next()
        return None

    def end(self) -> None:
        self.expect("newline", what="the end of the line")
        self.expect("eof", what="the end of the file (one graph per file)")

    # ---- graphs -------------------------------------------------------------------------------

    def graph(self, prefix: str) -> Graph:
        """`graph(%x: f32[?1,3], ...) {` statements `}`."""
        with fresh_nodes(), self.nested():
            return self._graph(prefix)

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        """One level deeper in tuples and subgraphs (a file may not exhaust the stack)."""
        if self.depth >= MAX_DEPTH:
            raise self.src.at(self.peek(), f"tuples, dims and graphs nest more than "
                                           f"{MAX_DEPTH} deep here")
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def _graph(self, prefix: str) -> Graph:
        self.expect("ident", "graph", "'graph(' to start the graph")
        self.expect("punct", "(")
        scope = _Scope(prefix)
        while not self.accept("punct", ")"):
            if scope.inputs:
                self.expect("punct", ",", "',' or ')'")
            scope.inputs.append(self.parameter(scope))
        self.expect("punct", "{")
        self.expect("newline", what="a new line after '{'")
        returned = None
        while True:
            token = self.peek()
            if token.kind == "punct" and token.text == "}":
                break
            if token.kind == "ident" and token.text == "return":
                if returned is not None:
                    raise self.src.at(token, f"a second return (the first is at line "
                                             f"{returned.line})")
                returned = token
                self.next()
                scope.outputs = self.value_list(scope)
            elif token.kind == "value" and self.peek(1).text == "<-":
                if returned is None:
                    raise self.src.at(token, "updates (`%var <- %value`) come after return")
                self.update(scope)
            elif token.kind == "value":
                if returned is not None:
                    raise self.src.at(token, "nodes must be defined before return")
                self.node(scope)
            elif token.kind == "eof":
                raise self.src.at(token, "the file ends inside the graph (it is truncated, or "
                                         "misses its return and '}')")
            else:
                raise self.src.at(token, "expected a node (`%name = op(...) : type`), return, "
                                         f"an update or '}}', found {token.describe()}")
            self.expect("newline", what="the end of the statement")
        closing = self.next()
        if returned is None:
            raise self.src.at(closing, "the graph has no return statement")
        try:
            return Graph(scope.inputs, scope.outputs, scope.updates)
        except GraphcError as exc:
            raise self.src.at(closing, str(exc)) from None

    def parameter(self, scope: _Scope) -> Tensor:
        token = self.expect("value", what="an input (%name: type)")
        self.expect("punct", ":")
        dtype, shape, _ = self.type_tokens()
        node = placeholder(shape, dtype, name=scope.node_name(token, self.src))
        node.loc = None      # NOTE: placeholders keep no source line (see the module doc)
        scope.define(token, node, self.src)
        return node

    def value_list(self, scope: _Scope) -> list[Tensor]:
        values: list[Tensor] = []
        while self.peek().kind == "value":
            values.append(scope.use(self.next(), self))
            if not self.accept("punct", ","):
                break
        return values

    def update(self, scope: _Scope) -> None:
        var_token = self.next()
        var = scope.use(var_token, self)
        self.expect("punct", "<-")
        value = scope.use(self.expect("value", what="the new value (%name)"), self)
        if var.op != "variable":
            raise self.src.at(var_token, f"only variables can be updated, %{var_token.text[1:]} "
                                         f"is a {var.op}")
        if value.type != var.type:
            raise self.src.at(var_token, f"the update has type {self.shown(value.type)}, the "
                                         f"variable is {self.shown(var.type)}")
        if any(v is var for v, _ in scope.updates):
            raise self.src.at(var_token, "this variable is updated twice")
        scope.updates.append((var, value))

    # ---- nodes --------------------------------------------------------------------------------

    def node(self, scope: _Scope) -> None:
        """`%name = op(%a, %b) {attrs} : type  # annotation`."""
        name_token = self.next()
        self.expect("punct", "=")
        op_token = self.expect("ident", what="an op name")
        self.expect("punct", "(")
        inputs = self.value_list(scope)
        self.expect("punct", ")", "',' or ')' after the operands")
        key = scope.prefix + value_name(self.src, name_token)
        attrs = self.attrs(key) if self.peek().text == "{" else {}
        self.expect("punct", ":", "':' and the value's type")
        type_token = self.peek()
        dtype, dims, dim_tokens = self.type_tokens()
        note = parse_note(self.src, self.accept("note"))
        node = self.build(scope, name_token, op_token, inputs, attrs, (dtype, dims), note)
        self.check_type(node, dtype, dims, dim_tokens, type_token)
        scope.define(name_token, node, self.src)

    def build(self, scope: _Scope, name_token: Token, op_token: Token, inputs: list[Tensor],
              attrs: dict, annotated: tuple, note: Note) -> Tensor:
        op = op_token.text
        if op not in OPS:
            close = difflib.get_close_matches(op, OPS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise self.src.at(op_token, f"unknown op {op!r}{hint}")
        if op == "placeholder":
            raise self.src.at(op_token, "placeholders are the graph's inputs: declare them in "
                                        "graph(...)")
        if op in ("variable", "constant"):
            attrs = self.leaf_attrs(scope, name_token, op_token, inputs, attrs, annotated)
        grad_of = scope.use(note.grad_of, self) if note.grad_of is not None else None
        # NOTE: without a recorded source line, a type error names the IR line instead.
        loc = SourceLoc(*note.loc) if note.loc else SourceLoc(self.src.name, op_token.line)
        name = scope.node_name(name_token, self.src)
        try:
            node = make(op, inputs, attrs, name=name, loc=loc, scope=note.scope, grad_of=grad_of)
        except GraphcError as exc:
            raise self.src.at(op_token, self.with_text_dims(str(exc))) from None
        except Exception as exc:   # NOTE: a type rule fed attributes it does not expect
            raise self.src.at(op_token, f"{op}: operands or attributes it cannot take "
                                        f"({type(exc).__name__}: {exc})") from None
        if id(node) not in self.built:
            self.built.add(id(node))
            if not note.loc:
                node.loc = None
        return node

    def leaf_attrs(self, scope: _Scope, name_token: Token, op_token: Token, inputs, attrs: dict,
                   annotated: tuple) -> dict:
        """The attrs of a variable or constant: its value, inline or from the arrays."""
        op, (dtype, dims) = op_token.text, annotated
        if inputs:
            raise self.src.at(op_token, f"a {op} takes no operands")
        shape = tuple(d for d in dims if isinstance(d, int))
        if len(shape) != len(dims):
            raise self.src.at(op_token, f"a {op} has a static shape; symbolic dims are for "
                                        "inputs")
        self.declared_bytes += math.prod(shape) * np.dtype(dtype).itemsize
        if self.declared_bytes > self.max_bytes:
            raise self.src.at(op_token, f"the arrays declared so far take "
                                        f"{self.declared_bytes:,} bytes, over the limit of "
                                        f"{self.max_bytes:,}; pass max_bytes= to gc.load or "
                                        "gc.parse to allow a bigger model")
        allowed = {"value"} if op == "constant" and not shape else set()
        extra = set(attrs) - allowed
        if extra:
            raise self.src.at(op_token, f"unexpected attribute {sorted(extra)[0]!r} on a {op}")
        if op == "constant" and not shape:
            if "value" not in attrs:
                raise self.src.at(op_token, "a scalar constant needs {value=...}")
            return {"value": Const(self.scalar(attrs["value"], dtype, op_token))}
        array = self.stored(scope.prefix + value_name(self.src, name_token), dtype, shape,
                            name_token, op)
        if op == "constant":
            return {"value": Const(array)}
        return {"var": Variable(array, scope.node_name(name_token, self.src))}

    def scalar(self, value, dtype: str, token: Token) -> np.ndarray:
        kind = np.dtype(dtype).kind
        fits = {"b": isinstance(value, bool),
                "i": isinstance(value, int) and not isinstance(value, bool),
                "f": isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]
        if not fits:
            raise self.src.at(token, f"value {value!r} is not of type {SHORT[dtype]}")
        try:
            with np.errstate(over="raise"):
                return np.array(value, dtype)
        except (OverflowError, FloatingPointError):
            raise self.src.at(token, f"value {value} does not fit in {dtype}") from None

    def stored(self, key: str, dtype: str, shape: tuple, token: Token, op: str) -> np.ndarray:
        """The value of a variable or constant: read (checked first) or, without arrays, zeros.

        The result is the caller's own writeable array (a variable may be updated in place).
        """
        if self.arrays is None:
            return np.zeros(shape, dtype)     # NOTE: calloc'd: no memory used until written
        if key not in self.arrays:
            raise self.src.at(token, f"{op} %{key} has no stored value in {self.arrays_source}")

        def check(got_dtype: np.dtype, got_shape: tuple) -> None:
            if got_dtype != np.dtype(dtype) or tuple(got_shape) != shape:
                got = f"{got_dtype} {tuple(got_shape)}"
                raise self.src.at(token, f"the stored value of {op} %{key} is {got}, the text "
                                         f"says {SHORT[dtype]}[{','.join(map(str, shape))}]")
        array = read_member(self.arrays, key, check)
        return array if isinstance(self.arrays, NpzReader) else np.array(array)

    def check_type(self, node: Tensor, dtype: str, dims: list, dim_tokens: list[Token],
                   type_token: Token) -> None:
        """The annotated type must be the one the op's type rule gives."""
        if node.dtype != dtype or node.ndim != len(dims):
            raise self.src.at(type_token, f"{node.op} gives {self.shown(node.type)}, the text "
                                          "says " + self.shown(TensorType(dtype, tuple(dims))))
        for got, want, token in zip(node.shape, dims, dim_tokens):
            if got != want:
                raise self.src.at(token, f"{node.op} gives {self.shown(node.type)}, the text "
                                         "says " + self.shown(TensorType(dtype, tuple(dims))))

    def _written_name(self) -> dict:
        return {sym: text for text, sym in self.symbols.items()}

    def shown(self, ttype: TensorType) -> str:
        """A type with dims named as in the text, for error messages."""
        names = self._written_name()
        dims = [D.format_dim(d, lambda s: names.get(s, "?")) for d in ttype.shape]
        return f"{SHORT.get(ttype.dtype, ttype.dtype)}[{','.join(dims)}]"

    def with_text_dims(self, message: str) -> str:
        """A type rule's message with symbolic dims named as in the text."""
        names = self._written_name()
        return re.sub(r"\?\d+", lambda m: names.get(m.group(), m.group()), message)

    # ---- types and attributes -----------------------------------------------------------------

    def type_tokens(self) -> tuple[str, list, list[Token]]:
        """`f32[?1,64]` as its dtype, its dims (ints, symbols, expressions) and their tokens."""
        token = self.expect("ident", what="a type such as f32[?1,64]")
        if token.text not in FROM_SHORT:
            raise self.src.at(token, f"unknown dtype {token.text!r}; the dtypes are "
                                     + ", ".join(FROM_SHORT))
        self.expect("punct", "[")
        dims, dim_tokens = [], []
        while not self.accept("punct", "]"):
            if dims:
                self.expect("punct", ",", "',' or ']'")
            dim_tokens.append(self.peek())
            dims.append(self.dim_expr(introduce=True))
        return FROM_SHORT[token.text], dims, dim_tokens

    # ---- dim expressions: sum := product (('+' | '-') product)*, product := factor
    # (('*' factor) | ('//' int))*, factor := int | dim name | '(' sum ')' | max/min(sum, sum)

    def dim_expr(self, introduce: bool = False, first=None):
        total = self.dim_product(introduce, first)
        while True:
            token = self.peek()
            if token.kind == "punct" and token.text in "+-":
                self.next()
                term = self.dim_product(introduce)
                total = D.add(total, term) if token.text == "+" else D.sub(total, term)
            elif token.kind == "int" and token.text.startswith("-"):   # `n-1` reads as n, -1
                self.next()
                total = D.sub(total, self.dim_product(introduce, first=-self.integer(token)))
            else:
                return total

    def dim_product(self, introduce: bool, first=None):
        value = self.dim_factor(introduce) if first is None else first
        while True:
            if self.accept("punct", "*"):
                value = D.mul(value, self.dim_factor(introduce))
            elif self.peek().text == "//":
                self.next()
                token = self.expect("int", what="a positive int divisor")
                if self.integer(token) <= 0:
                    raise self.src.at(token, "a dim is divided by a positive int")
                value = D.floordiv(value, int(token.text))
            else:
                return value

    def dim_factor(self, introduce: bool):
        token = self.next()
        if token.kind == "int":
            if self.integer(token) < 0:
                raise self.src.at(token, "dims are non-negative")
            return int(token.text)
        if token.kind == "punct" and token.text == "(":
            with self.nested():
                value = self.dim_expr(introduce)
            self.expect("punct", ")")
            return value
        if token.kind == "ident" and token.text in ("max", "min") and self.peek().text == "(":
            self.next()
            with self.nested():
                a = self.dim_expr(introduce)
                self.expect("punct", ",")
                b = self.dim_expr(introduce)
            self.expect("punct", ")")
            return (D.maximum if token.text == "max" else D.minimum)(a, b)
        if token.kind in ("sym", "ident"):
            return self.attr_dim(token.text, token, introduce)
        raise self.src.at(token, f"expected a dim (a size, a symbol such as ?1 or an "
                                 f"expression of them), found {token.describe()}")

    def attr_dim(self, dim, token: Token | None = None, introduce: bool = False):
        """A dim written in an input's type or an attribute: a size, or the symbol it names.

        `?n` may appear first anywhere; a named dim (`batch`) is introduced by a type only, so
        a misspelt keyword in an attribute is an error rather than a new dim.
        """
        if isinstance(dim, int):
            return dim
        if dim not in self.symbols:
            if not (introduce or dim.startswith("?")):
                raise self.src.at(token, f"unknown name {dim!r}: an attribute value is a "
                                         "number, a \"string\", None, True, False, a tuple, "
                                         "a type or a dim of an input's type")
            self.symbols[dim] = fresh_symbol() if dim.startswith("?") else dim
        return self.symbols[dim]

    def attrs(self, key: str) -> dict:
        self.expect("punct", "{")
        attrs: dict = {}
        while not self.accept("punct", "}"):
            if attrs:
                self.expect("punct", ",", "',' or '}'")
            name = self.expect("ident", what="an attribute name")
            if name.text in attrs:
                raise self.src.at(name, f"attribute {name.text!r} is given twice")
            self.expect("punct", "=")
            attrs[name.text] = self.attr_value(f"{key}/{name.text}/")
        return attrs

    def attr_value(self, prefix: str):
        value = self.attr_primary(prefix)
        token = self.peek()
        continues = (token.kind == "punct" and token.text in ("*", "//", "+", "-")) or (
            token.kind == "int" and token.text.startswith("-"))
        if continues and D.is_dim(value):        # a dim expression such as 3*?1 or ?1-1
            return self.dim_expr(first=value)
        return value

    def integer(self, token: Token) -> int:
        """An int token's value; graphc's integers are 64-bit."""
        digits = token.text.lstrip("-")
        value = int(token.text) if len(digits) <= 19 else INT_LIMIT
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise self.src.at(token, f"integer {token.text[:24]}{'...' * (len(digits) > 22)} "
                                     "does not fit in 64 bits")
        return value

    def real(self, token: Token) -> float:
        """A float token's value; one too big for a float64 is an error, not inf."""
        value = float(token.text)
        if math.isinf(value) and "inf" not in token.text:
            raise self.src.at(token, f"float {token.text[:24]} is out of range (write inf for "
                                     "infinity)")
        return value

    def attr_primary(self, prefix: str):
        token = self.peek()
        if token.kind == "int":
            return self.integer(self.next())
        if token.kind == "float":
            return self.real(self.next())
        if token.kind == "string":
            return unquote(self.src, token, self.next().text)
        if token.kind == "sym":
            return self.attr_dim(self.next().text)
        if token.kind == "punct" and token.text == "(":
            return self.tuple_value(prefix)
        if token.kind == "ident":
            literal = {"None": None, "True": True, "False": False, "inf": float("inf"),
                       "nan": float("nan")}
            if token.text in literal:
                return literal[self.next().text]
            following = self.peek(1).text
            if token.text in FROM_SHORT and following == "[":
                dtype, dims, _ = self.type_tokens()
                return TensorType(dtype, tuple(dims))
            if token.text == "graph" and following == "(":
                return self.graph(prefix)
            if token.text in ("max", "min") and following == "(":
                return self.dim_expr()
            return self.attr_dim(token.text, self.next())
        if token.kind == "opaque":
            raise self.src.at(token, "this attribute was printed from a Python object the text "
                                     "IR cannot express, so it cannot be read back")
        raise self.src.at(token, f"expected an attribute value, found {token.describe()}")

    def tuple_value(self, prefix: str):
        """A tuple, `(a, b)` or `(a,)`; `(a)` without a comma is a parenthesized dim."""
        with self.nested():
            self.expect("punct", "(")
            items: list = []
            while not self.accept("punct", ")"):
                items.append(self.attr_value(prefix))
                if not self.accept("punct", ","):
                    self.expect("punct", ")", "',' or ')'")
                    if len(items) == 1 and D.is_dim(items[0]):
                        return items[0]
                    break
            return tuple(items)


class _Scope:
    """The values one graph block defines, by name, and what it returns and updates."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.values: dict[str, tuple[Tensor, int]] = {}
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.updates: list[tuple[Tensor, Tensor]] = []

    def node_name(self, token: Token, src: Source) -> str | None:
        """The node's own name: none when the text names it by its position."""
        name = value_name(src, token)
        return None if name == str(len(self.values)) else name

    def define(self, token: Token, node: Tensor, src: Source) -> None:
        name = value_name(src, token)
        if name in self.values:
            raise src.at(token, f"%{name} is already defined at line {self.values[name][1]}")
        self.values[name] = (node, token.line)

    def use(self, token: Token, parser: Parser) -> Tensor:
        name = value_name(parser.src, token)
        if name in self.values:
            return self.values[name][0]
        later = [line for line in parser.defined_at.get(name, ()) if line > token.line]
        if later:
            raise parser.src.at(token, f"%{name} is used before its definition at line "
                                       f"{later[0]}: a graph defines each value before its use, "
                                       "so it has no cycles")
        raise parser.src.at(token, f"%{name} is not defined")


def _definitions(src: Source, tokens: list[Token]) -> dict[str, list[int]]:
    """The lines where each %name is defined (to tell use-before-definition from a typo)."""
    found: dict[str, list[int]] = {}
    for token, following in zip(tokens, tokens[1:]):
        if token.kind == "value" and following.text == "=":
            found.setdefault(value_name(src, token), []).append(token.line)
    return found
