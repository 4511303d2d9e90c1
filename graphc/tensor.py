"""Tensor: the one immutable, hash-consed node type of the IR (a node is also the value it defines).

Identical (op, inputs, attrs) build one object, so common subexpressions are shared as they
are written. Metadata that is not part of a node's identity (user source line, name scope,
the forward node a gradient node came from) is recorded when the node is first built, as are
the assumptions about symbolic dims its type rests on (graphc/assumptions.py), which follow
from its identity. Inside `inheriting(node)` (a rewrite replacing node), new nodes take
node's line, scope and gradient origin.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import weakref
from types import MappingProxyType
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from graphc.assumptions import collecting
from graphc.attrs import check_attrs, key
from graphc.errors import GraphcError, GraphError
from graphc.registry import OPS
from graphc.source import SourceLoc, user_location
from graphc.types import TensorType

F = TypeVar("F", bound=Callable[..., Any])
_cache: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_cache_lock = threading.Lock()
_serial = itertools.count()


class _BuildState(threading.local):
    scope: tuple[str, ...] = ()
    grad_of: Tensor | None = None
    in_dsl: bool = False
    origin: Tensor | None = None       # the node a rewrite is replacing
    fresh: weakref.WeakValueDictionary | None = None    # the nodes of a fresh_nodes() block


_state = _BuildState()


class Tensor:
    """A node: `op` applied to `inputs` with `attrs`, producing a value of `type`."""

    __slots__ = ("op", "inputs", "attrs", "type", "loc", "scope", "name", "grad_of", "serial",
                 "assumes", "__weakref__")
    __array_ufunc__ = None   # make numpy defer to our reflected operators (np_array * tensor)

    op: str
    inputs: tuple[Tensor, ...]
    attrs: MappingProxyType
    type: TensorType
    loc: SourceLoc | None
    scope: tuple[str, ...]
    name: str | None
    grad_of: Tensor | None
    serial: int
    assumes: tuple      # the Assumptions about symbolic dims this node's type rests on

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    @property
    def value(self) -> np.ndarray:
        """The current value of a variable or constant."""
        if self.op == "variable":
            return self.attrs["var"].value
        if self.op == "constant":
            return self.attrs["value"].array
        raise GraphError(f"{self.op} node has no value outside a compiled function")

    @value.setter
    def value(self, new) -> None:
        if self.op != "variable":
            raise GraphError(f"only variables can be assigned a value, not a {self.op} node")
        self.attrs["var"].value = new

    def replace(self, inputs: Sequence[Tensor]) -> Tensor:
        """This node with other inputs, keeping its metadata; self when nothing changed."""
        if all(a is b for a, b in zip(inputs, self.inputs)):
            return self
        return make(self.op, inputs, dict(self.attrs), name=self.name, loc=self.loc,
                    scope=self.scope, grad_of=self.grad_of)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<Tensor {self.op}{label} {self.type}>"

    def __bool__(self) -> bool:
        raise GraphError("a graph Tensor has no truth value until it is computed; "
                         "use gc.where for data-dependent choices")

    def __len__(self) -> int:
        if not self.shape or not isinstance(self.shape[0], int):
            raise GraphError(f"len() needs a static first dim, not shape {self.shape}")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    __hash__ = object.__hash__


def make(op: str, inputs: Sequence[Tensor], attrs: dict[str, Any] | None = None, *,
         name: str | None = None, loc: SourceLoc | None = None,
         scope: tuple[str, ...] | None = None, grad_of: Tensor | None = None) -> Tensor:
    """Build (or find) the node op(inputs, attrs), checking its arity, attrs and type rule."""
    inputs = tuple(inputs)
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensor inputs, got {type(t).__name__}")
    origin = _state.origin
    loc = loc or (origin.loc if origin is not None else None)
    opdef = OPS.get(op)
    try:
        if opdef is None:
            raise GraphError(f"unknown op {op!r}")
        opdef.check_arity(len(inputs))
        attrs = check_attrs(op, opdef.attrs, attrs or {})
    except GraphcError as exc:
        raise _located(exc, op, loc or user_location()) from None
    cache_key = (op, tuple(map(id, inputs)), tuple((k, key(v)) for k, v in attrs.items()))
    cache = _cache if _state.fresh is None else _state.fresh
    found = cache.get(cache_key)
    if found is not None:
        return found
    loc = loc or user_location()
    try:
        with collecting() as assumptions:
            ttype = opdef.type_rule([t.type for t in inputs], attrs)
            if opdef.node_check is not None:
                opdef.node_check(inputs, attrs)
    except GraphcError as exc:
        raise _located(exc, op, loc) from None
    node = object.__new__(Tensor)
    node.op, node.inputs, node.attrs, node.type = op, inputs, MappingProxyType(attrs), ttype
    node.loc, node.name, node.serial = loc, name, next(_serial)
    node.assumes = tuple(dict.fromkeys(assumptions))
    if scope is None:
        scope = origin.scope if origin is not None else _state.scope
    node.scope = scope
    if grad_of is None:
        grad_of = origin.grad_of if origin is not None else _state.grad_of
    node.grad_of = grad_of
    if op == "constant" and not inputs:
        # NOTE: hash-consing shares one constant among every graph that uses its value, so
        # the scope, line and gradient origin of whoever built it first would be wrong for
        # all the others.
        node.loc, node.scope, node.grad_of = None, (), None
    with _cache_lock:   # NOTE: another thread may have built the same node meanwhile
        return cache.setdefault(cache_key, node)


def _located(exc: GraphcError, op: str, loc: SourceLoc | None) -> GraphcError:
    """exc's class with a message naming the op and the user's line (marked, so added once)."""
    message = str(exc) if str(exc).startswith(f"{op}:") else f"{op}: {exc}"
    new = type(exc)(message + (f" (at {loc})" if loc else ""))
    new.located = True  # type: ignore[attr-defined]
    return new


def located(op: str) -> Callable[[F], F]:
    """Decorate a DSL function so the GraphcErrors it raises name `op` and the user's line."""
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if _state.in_dsl:          # called by another DSL function: the outermost one names it
                return fn(*args, **kwargs)
            _state.in_dsl = True
            try:
                return fn(*args, **kwargs)
            except GraphcError as exc:
                if getattr(exc, "located", False):
                    raise
                raise _located(exc, op, user_location()) from None
            finally:
                _state.in_dsl = False
        return wrapper  # type: ignore[return-value]
    return decorate


@contextlib.contextmanager
def fresh_nodes() -> Iterator[None]:
    """Build nodes apart from every existing node (a parser recreating a graph as written).

    NOTE: hash-consing would otherwise hand back an existing equal node, with that node's
    creation order, scope and source line. The block's nodes are the calling thread's own.
    """
    outer, _state.fresh = _state.fresh, weakref.WeakValueDictionary()
    try:
        yield
    finally:
        _state.fresh = outer


@contextlib.contextmanager
def inheriting(origin: Tensor) -> Iterator[None]:
    """Nodes built inside take origin's line, scope and gradient origin (a rewrite of it)."""
    outer, _state.origin = _state.origin, origin
    try:
        yield
    finally:
        _state.origin = outer


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """Nodes built inside `with gc.scope("block1"):` belong to that (nested) name scope."""
    outer = _state.scope
    _state.scope = outer + (name,)
    try:
        yield
    finally:
        _state.scope = outer


@contextlib.contextmanager
def building_gradient_of(node: Tensor) -> Iterator[None]:
    """Mark nodes built inside as the gradient of `node`, in a "grad" scope beside it."""
    outer_scope, outer_grad = _state.scope, _state.grad_of
    _state.scope, _state.grad_of = ("grad",) + node.scope, node
    try:
        yield
    finally:
        _state.scope, _state.grad_of = outer_scope, outer_grad
