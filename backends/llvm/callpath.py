"""A compiled function's call path, generated once as Python source specialized to its graph.

    def call(args, first=True):     # feeds needing nothing done to them go straight to run
        if len(args) == 2:
            x0, x1 = args
            if type(x0) is ndarray and x0.dtype is dtype0 and x0.flags.num & FAST == FAST ...:
                s0, s1 = x0.shape, x1.shape
                if len(s0) == 2 and len(s1) == 2:
                    n0 = s0[0]
                    if s0[1] == 2 and s1[0] == n0 and ...:     # static dims, shared symbols,
                        return run(x0, x1, n0)                 # derived dims, assumptions
        if first:                       # FeedChecker: converts, copies or raises FeedError
            return call(general(*args), False)
        mismatch(*args)                 # general's feeds refused: a bug

    def run(x0, x1, n0):  # outputs and arena sized inline from the dim expressions
        ...

`run` allocates fresh outputs (the caller owns them), then under the function's lock grows the
arena if needed, writes the pointer slots of arrays that changed since the last call (feeds,
and variables whose array was replaced by `var.value = ...`), the dims, and makes the one
foreign call.
"""
from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence

import numpy as np

from backends.llvm.call import EntryFunction, data_address
from backends.llvm.interface import Interface
from backends.llvm.pyapi import flag_bits
from graphc.dims import Call, DimExpr, python_source
from graphc.errors import CompileError

_FILENAME = "<graphc-llvm-call>"


# NOTE: derived from arrays known to differ in that one property, not hard-coded.
C_CONTIGUOUS, ALIGNED, _ = flag_bits()
assert C_CONTIGUOUS and ALIGNED, "NumPy's flag bits could not be told apart"
FAST = C_CONTIGUOUS | ALIGNED


def generate_call(interface: Interface, entry: EntryFunction, variables: Sequence,
                  targets: Sequence, general: Callable, mismatch: Callable, failed: Callable,
                  usable: Callable, single_output: bool) -> tuple[str, Callable]:
    """The source of the call path and its `call(args)` function.

    `general(*args)` returns the feeds converted so that the inline checks pass, or raises
    FeedError (`mismatch(*args)` raises if they still do not); `failed(status, feeds)` raises
    for a nonzero status; `usable(variable)` is the variable's array as native code reads it.
    The interface's last outputs become the `targets`' arrays after success.
    """
    graph, env = interface, interface.dims
    local: dict[str, str] = {}          # input-bound symbol -> the local holding its value
    for i, t in enumerate(graph.inputs):
        for axis, d in enumerate(t.shape):
            if isinstance(d, str):
                local.setdefault(d, f"n{len(local)}")

    def value(d) -> str:
        """Python source for d's value from the input-bound symbols' locals."""
        def name_of(s: str) -> str:
            if s in local:
                return local[s]
            rep = env.resolve(s)
            if rep == s:
                raise CompileError(f"symbolic dim {s} is not bound by any input's shape")
            return f"({value(rep)})"
        return python_source(d, name_of)

    namespace: dict = {"__builtins__": {"len": len, "max": max, "min": min, "type": type},
                       "ndarray": np.ndarray, "empty": np.empty, "FAST": FAST,
                       "general": general, "mismatch": mismatch, "failed": failed,
                       "usable": usable,
                       "data_address": data_address, "addressof": ctypes.addressof,
                       "from_buffer": ctypes.c_char.from_buffer, "lock": threading.Lock(),
                       "function": entry.function, "pointers": entry.pointers,
                       "held": entry.held, "dims": entry.dims, "arena": [None, 0, -1]}
    feeds = [f"x{i}" for i in range(len(graph.inputs))]
    signature = [local[s] for s in env.signature]
    source = _check_source(graph, env, feeds, local, value, namespace)
    source += _run_source(interface, entry, variables, targets, feeds, signature, value, namespace,
                          single_output)
    exec(compile(source, _FILENAME, "exec"), namespace)  # noqa: S102 (our own generated code)
    return source, namespace["call"]


def _check_source(graph, env, feeds: list[str], local: dict, value, namespace: dict) -> str:
    """`call(args)`: the inline checks of the fast path, else the general path."""
    run_args = ", ".join(feeds + [local[s] for s in env.signature])
    otherwise = ["    if first:", "        return call(general(*args), False)",
                 "    mismatch(*args)", "", ""]
    if not feeds:
        return "\n".join(["def call(args, first=True):", "    if not args:",
                          "        return run()", *otherwise])
    types, ranks, dims, bound = [], [], [], set()
    for i, (x, t) in enumerate(zip(feeds, graph.inputs)):
        namespace[f"dtype{i}"] = np.dtype(t.dtype)
        types.append(f"type({x}) is ndarray and {x}.dtype is dtype{i} "
                     f"and {x}.flags.num & FAST == FAST")
        ranks.append(f"len(s{i}) == {len(t.shape)}")
    binds, derived = [], []
    for i, t in enumerate(graph.inputs):
        for axis, d in enumerate(t.shape):
            got = f"s{i}[{axis}]"
            if isinstance(d, int):
                dims.append(f"{got} == {d}")
            elif isinstance(d, (DimExpr, Call)):
                derived.append(f"{got} == {value(d)}")
            elif d in bound:
                dims.append(f"{got} == {local[d]}")
            else:
                bound.add(d)
                binds.append(f"{local[d]} = {got}")
    tests = dims + derived + [_assumption(a, value) for a, _ in env.assumptions
                              if not (env.unbound(a.a) or env.unbound(a.b))]
    lines = ["def call(args, first=True):",
             f"    if len(args) == {len(feeds)}:",
             f"        {', '.join(feeds)}, = args",
             f"        if {_conjunction(types, 12)}:",
             *[f"            s{i} = {x}.shape" for i, x in enumerate(feeds)],
             f"            if {_conjunction(ranks, 16)}:",
             *[f"                {b}" for b in binds]]
    call_run = f"return run({run_args})"
    if tests:
        lines += [f"                if {_conjunction(tests, 20)}:",
                  f"                    {call_run}"]
    else:
        lines.append(f"                {call_run}")
    lines += otherwise
    return "\n".join(lines)


def _assumption(a, value) -> str:
    x, y = value(a.a), value(a.b)
    return f"({x}) == ({y})" + (f" or ({x}) == 1" if a.kind == "broadcast" else "")


def _conjunction(tests: list[str], indent: int) -> str:
    """`(a) and (b) ...` over several lines, parenthesized as a whole."""
    return "(" + (" and\n" + " " * (indent + 1)).join(f"({t})" for t in tests) + ")"


def _run_source(interface: Interface, entry: EntryFunction, variables: Sequence, targets: Sequence,
                feeds: list[str], signature: list[str], value, namespace: dict,
                single_output: bool) -> str:
    """`run(feeds..., dims...)`: fresh outputs, the tables, one native call, the commit."""
    graph, env = interface, interface.dims
    lines = [f"def run({', '.join(feeds + signature)}):"]
    outputs = []
    for k, t in enumerate(graph.outputs):
        namespace[f"out_dtype{k}"] = np.dtype(t.dtype)
        shape = "".join(f"{value(env.resolve(d))}, " for d in t.shape)
        lines.append(f"    o{k} = empty(({shape}), out_dtype{k})")
        outputs.append(f"o{k}")
    lines += [f"    nbytes = {value(env.resolve(interface.arena_size))}",
              "    with lock:",
              "        if nbytes > arena[2]:",
              "            arena[0] = empty(nbytes, 'uint8')",
              "            arena[1], arena[2] = data_address(arena[0]), nbytes"]
    slot = 0
    for x in feeds:
        lines += [f"        if {x} is not held[{slot}]:",
                  f"            held[{slot}] = {x}",
                  f"            pointers[{slot}] = data_address({x})"]
        slot += 1
    for j, var in enumerate(variables):
        namespace[f"var{j}"] = var
        lines += [f"        if var{j}._value is not held[{slot}]:",
                  f"            held[{slot}] = v = usable(var{j})",
                  f"            pointers[{slot}] = data_address(v)"]
        slot += 1
    for k, t in enumerate(graph.outputs):
        static_size = all(isinstance(env.resolve(d), int) for d in t.shape)
        nonempty = static_size and all(env.resolve(d) > 0 for d in t.shape)
        # NOTE: c_char.from_buffer is the fastest lookup but refuses an empty array.
        lookup = f"addressof(from_buffer(o{k}))" if nonempty else f"data_address(o{k})"
        lines.append(f"        pointers[{slot + k}] = {lookup}")
    lines += [f"        dims[{i}] = {s}" for i, s in enumerate(signature)]
    a = entry.arguments
    lines += [f"        status = function({a[0]}, {a[1]}, {a[2]}, arena[1], {a[3]}, {a[4]})",
              "    if status:",
              f"        failed(status, ({''.join(x + ', ' for x in feeds)}))"]
    shown = outputs[:len(outputs) - len(targets)]
    for j, (var, new) in enumerate(zip(targets, outputs[len(shown):])):
        namespace[f"target{j}"] = var
        lines.append(f"    target{j}._value = {new}")
    lines += [f"    return {shown[0] if single_output else '[' + ', '.join(shown) + ']'}", ""]
    return "\n".join(lines)
