"""The call path in native code: a CPython builtin emitted next to the entry function.

    PyObject *pycall(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kw)

does what the generated Python call path (callpath.py) does, with no Python in between: it
checks each feed (exact ndarray type, dtype object, rank, static dims, C-contiguous and
aligned) reading the array's fields at offsets found at run time (pyapi.array_layout), binds
the symbolic dims, checks derived dims and the graph's assumptions, reads each variable's
current array (`var._value`, so `var.value = ...` between calls is seen) and checks it too,
sizes and allocates the outputs (np.empty: fresh arrays the caller owns) and the arena, then
releases the GIL, takes the function's lock, runs the entry, and returns the outputs. The
last outputs are the updates' new values: after success, with the GIL held throughout, each
becomes its variable's array (`var._value = new`), so no thread sees half a commit.

Feeds the checks refuse, and keyword feeds, go to the Python `general(*args, **kw)`, which
converts them (or raises FeedError) and returns a tuple the checks accept; a nonzero status
goes to `failed(status, feeds)`, which raises. Everything process-specific (the ndarray
type, dtype objects, variables, callables, the lock and the arena) is read from a context
array of 64-bit slots, so the code itself stays cacheable on disk.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir

from backends.llvm import pyapi
from backends.llvm.interface import Interface
from backends.llvm.irutil import I32, I64, PTR, i64, loop, unoptimized
from backends.llvm.lower import Plan
from graphc.dims import Call, DimExpr
from graphc.errors import CompileError

NAME = "pycall"
MISMATCH = 1            # what `attempt` returns (as a pointer) when its checks refuse the feeds
OUT_OF_MEMORY = -1      # the status when the arena cannot grow
TRIES = 3               # general() runs at most this often per call (another thread may
#                         replace a variable's array between its repair and the checks)
VOID = ir.VoidType()
_API = {  # name: (return type, argument types)
    "PyTuple_GetItem": (PTR, [PTR, I64]), "PyTuple_New": (PTR, [I64]),
    "PyTuple_SetItem": (I32, [PTR, I64, PTR]), "PyTuple_Size": (I64, [PTR]),
    "PyLong_AsVoidPtr": (PTR, [PTR]), "PyLong_FromSsize_t": (PTR, [I64]),
    "PyObject_GetAttr": (PTR, [PTR, PTR]), "PyObject_Vectorcall": (PTR, [PTR, PTR, I64, PTR]),
    "Py_DecRef": (VOID, [PTR]), "Py_IncRef": (VOID, [PTR]), "PyList_New": (PTR, [I64]),
    "PyList_SetItem": (I32, [PTR, I64, PTR]), "PyEval_SaveThread": (PTR, []),
    "PyEval_RestoreThread": (VOID, [PTR]), "PyThread_acquire_lock": (I32, [PTR, I32]),
    "PyThread_release_lock": (VOID, [PTR]), "PyMem_RawMalloc": (PTR, [I64]),
    "PyMem_RawFree": (VOID, [PTR]), "PyObject_SetAttr": (I32, [PTR, PTR, PTR]),
}
_FIXED = ("type_offset", "data_offset", "ndim_offset", "dims_offset", "descr_offset",
          "flags_offset", "feed_bits", "variable_bits", "ndarray", "empty", "general", "mismatch",
          "failed", "value_name", "single", "lock", "arena", "arena_raw", "capacity", "blas")
ARENA_ALIGN = 64


def available() -> bool:
    """Whether this process can run native call paths (else the Python one is used)."""
    return pyapi.available([*_API, "PyThread_allocate_lock", "PyThread_free_lock",
                            "PyCFunction_NewEx"])


class Slots:
    """Where each value lives in the context array: fixed slots, then per input, variable,
    output (its dtype object; a variable's object; an output's static shape tuple or 0) and
    update (the variable it assigns)."""

    def __init__(self, inputs: int, variables: int, outputs: int, updates: int):
        names = list(_FIXED)
        names += [f"input_descr{i}" for i in range(inputs)]
        names += [f"{what}{j}" for j in range(variables) for what in ("variable", "var_descr")]
        names += [f"{what}{k}" for k in range(outputs)
                  for what in ("out_descr", "out_shape", "out_last")]
        names += [f"target{j}" for j in range(updates)]
        self.index = {name: k for k, name in enumerate(names)}

    def __len__(self) -> int:
        return len(self.index)


def emit(module: ir.Module, plan: Plan, updates: int) -> None:
    """Add `pycall` (and its helper) to the module holding the plan's entry function; the
    plan's last `updates` outputs are new values of variables."""
    graph = plan.graph
    slots = Slots(len(graph.inputs), len(graph.variables), len(graph.outputs), updates)
    api = {name: _declare(module, name, *types) for name, types in _API.items()}
    attempt = _Attempt(module, plan, slots, api, updates).function
    _emit_pycall(module, len(graph.inputs), slots, api, attempt)


def _declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, ir.FunctionType(ret, args),
                                                              name)


class _Attempt:
    """`ptr attempt(ptr ctx, ptr args, i64 nargs)`: the result, NULL on error, or MISMATCH."""

    def __init__(self, module: ir.Module, plan: Plan, slots: Slots, api: dict, updates: int):
        self.plan, self.env, self.slots, self.api = plan, plan.graph.dims, slots, api
        self.updates = updates
        fn = ir.Function(module, ir.FunctionType(PTR, [PTR, PTR, I64]), name=f"{NAME}.attempt")
        fn.linkage = "internal"
        # NOTE: straight-line checks: unoptimized, a call took at most ~10 ns longer (of
        # 280-430 ns from Python, side by side in one process), while optimizing the call
        # path took ~10 ms of LLVM's time per graph, a third of a small graph's compile.
        unoptimized(fn)
        self.function = fn
        self.ctx, args, nargs = fn.args
        self.feeds = args, nargs
        self.b = b = ir.IRBuilder(fn.append_basic_block("start"))
        graph = plan.graph
        n_vars, n_outs = len(graph.variables), len(graph.outputs)
        self.result = b.alloca(PTR, name="result")
        self.held_vars = b.alloca(PTR, max(n_vars, 1), name="held_vars")
        self.held_outs = b.alloca(PTR, max(n_outs, 1), name="held_outs")
        self.tables = [b.alloca(PTR, max(n, 1), name=name) for n, name in
                       ((len(graph.inputs), "inputs"), (n_vars, "variables"),
                        (n_outs, "outputs"))]
        self.dim_table = b.alloca(I64, max(len(self.env.signature), 1), name="dims")
        self.argv = b.alloca(PTR, 2, name="argv")      # for calls into Python
        for k in range(n_vars):
            b.store(PTR(None), self._at(self.held_vars, k))
        for k in range(n_outs):
            b.store(PTR(None), self._at(self.held_outs, k))
        self.exit = fn.append_basic_block("exit")
        self.mismatch = self._returning(ir.Constant(I64, MISMATCH).inttoptr(PTR), "mismatch")
        self.error = self._returning(PTR(None), "error")
        self.offsets = {name: self.slot(f"{name}_offset") for name in
                        ("type", "data", "ndim", "dims", "descr", "flags")}
        self.symbols: dict[str, ir.Value] = {}      # input-bound symbol -> its value
        self.derived: list[tuple[ir.Value, object]] = []     # (fed size, dim it must equal)
        self.require(b.icmp_signed("==", nargs, i64(len(graph.inputs))))
        for i, t in enumerate(graph.inputs):
            self.feed(b.load(self._at(args, i), typ=PTR), i, t)
        for test in self.feed_tests():
            self.require(test)
        for j, var in enumerate(graph.variables):
            self.variable(j, var)
        for k, t in enumerate(graph.outputs):
            self.output(k, t)
        for k, s in enumerate(self.env.signature):
            b.store(self.symbols[s], self._at(self.dim_table, k, I64))
        self.run(self.value(self.env.resolve(plan.arena_size)))
        self.finish_exit(n_vars, n_outs)

    # ---- helpers ------------------------------------------------------------------------------

    def _at(self, base: ir.Value, index, ty: ir.Type = PTR) -> ir.Value:
        index = i64(index) if isinstance(index, int) else index
        return self.b.gep(base, [index], source_etype=ty)

    def slot(self, name: str, ty: ir.Type = I64) -> ir.Value:
        """The context's slot `name`, as an i64 (or a pointer)."""
        value = self.b.load(self._at(self.ctx, self.slots.index[name], I64), typ=I64, name=name)
        return self.b.inttoptr(value, PTR) if ty is PTR else value

    def field(self, obj: ir.Value, name: str, ty: ir.Type) -> ir.Value:
        """A field of an ndarray object at its run-time offset."""
        return self.b.load(self.b.gep(obj, [self.offsets[name]], source_etype=ir.IntType(8)),
                           typ=ty)

    def _returning(self, value: ir.Value, name: str) -> ir.Block:
        block = self.function.append_basic_block(name)
        builder = ir.IRBuilder(block)
        builder.store(value, self.result)
        builder.branch(self.exit)
        return block

    def require(self, condition: ir.Value, otherwise: ir.Block | None = None) -> None:
        """Go on if condition holds, else to `otherwise` (the mismatch block)."""
        go_on = self.function.append_basic_block("ok")
        self.b.cbranch(condition, go_on, otherwise or self.mismatch)
        self.b.position_at_end(go_on)

    def call(self, name: str, *args) -> ir.Value:
        return self.b.call(self.api[name], list(args))

    # ---- dims ---------------------------------------------------------------------------------

    def value(self, d) -> ir.Value:
        """An i64 for dim d, from the input-bound symbols' values (Python's // semantics)."""
        b = self.b
        if isinstance(d, int):
            return i64(d)
        if isinstance(d, str):
            if d in self.symbols:
                return self.symbols[d]
            rep = self.env.resolve(d)
            if rep == d:
                raise CompileError(f"symbolic dim {d} is not bound by any input's shape")
            return self.value(rep)
        if isinstance(d, Call):
            x, y = (self.value(a) for a in d.args)
            if d.fn == "floordiv":
                quotient, remainder = b.sdiv(x, y), b.srem(x, y)
                inexact = b.icmp_signed("!=", remainder, i64(0))
                signs_differ = b.icmp_signed("<", b.xor(remainder, y), i64(0))
                return b.sub(quotient, b.zext(b.and_(inexact, signs_differ), I64))
            return b.select(b.icmp_signed(">" if d.fn == "max" else "<", x, y), x, y)
        assert isinstance(d, DimExpr)
        total = i64(0)
        for mono, coeff in d.terms:
            term = i64(coeff)
            for atom in mono:
                term = b.mul(term, self.value(atom))
            total = b.add(total, term)
        return total

    def feed_tests(self) -> list[ir.Value]:
        """Derived input dims and the graph's assumptions, once every symbol is bound."""
        b, tests = self.b, []
        for got, want in self.derived:
            tests.append(b.icmp_signed("==", got, self.value(want)))
        for a, _ in self.env.assumptions:
            if self.env.unbound(a.a) or self.env.unbound(a.b):
                continue
            x, y = self.value(a.a), self.value(a.b)
            test = b.icmp_signed("==", x, y)
            if a.kind == "broadcast":
                test = b.or_(test, b.icmp_signed("==", x, i64(1)))
            tests.append(test)
        return tests

    # ---- arrays -------------------------------------------------------------------------------

    def array(self, obj: ir.Value, descr: ir.Value, shape: Sequence, bits: ir.Value,
              otherwise: ir.Block | None = None) -> tuple[ir.Value, list[ir.Value]]:
        """Check obj is an ndarray of this dtype object, rank and flags; its data and dims."""
        b = self.b
        self.require(b.icmp_unsigned("==", self.field(obj, "type", PTR), self.slot("ndarray",
                                                                                    PTR)),
                     otherwise)
        flags = b.zext(self.field(obj, "flags", I32), I64)
        self.require(b.and_(b.and_(b.icmp_unsigned("==", self.field(obj, "descr", PTR), descr),
                                   b.icmp_signed("==", self.field(obj, "ndim", I32),
                                                 ir.Constant(I32, len(shape)))),
                            b.icmp_unsigned("==", b.and_(flags, bits), bits)), otherwise)
        dims = self.field(obj, "dims", PTR)
        sizes = [b.load(self._at(dims, axis, I64), typ=I64) for axis in range(len(shape))]
        return self.field(obj, "data", PTR), sizes

    def feed(self, obj: ir.Value, i: int, t) -> None:
        data, sizes = self.array(obj, self.slot(f"input_descr{i}", PTR), t.shape,
                                 self.slot("feed_bits"))
        self.b.store(data, self._at(self.tables[0], i))
        tests = []
        for got, want in zip(sizes, t.shape):
            if isinstance(want, int):
                tests.append(self.b.icmp_signed("==", got, i64(want)))
            elif isinstance(want, (DimExpr, Call)):
                self.derived.append((got, want))
            elif want in self.symbols:
                tests.append(self.b.icmp_signed("==", got, self.symbols[want]))
            else:
                self.symbols[want] = got
        for test in tests:
            self.require(test)

    def variable(self, j: int, var) -> None:
        """The variable's current array (a new reference, released on exit), checked."""
        b = self.b
        value = self.call("PyObject_GetAttr", self.slot(f"variable{j}", PTR),
                          self.slot("value_name", PTR))
        self.require(b.icmp_unsigned("!=", value, PTR(None)), self.error)
        b.store(value, self._at(self.held_vars, j))
        data, sizes = self.array(value, self.slot(f"var_descr{j}", PTR), var.shape,
                                 self.slot("variable_bits"))
        for got, want in zip(sizes, var.shape):
            self.require(b.icmp_signed("==", got, i64(want)))
        b.store(data, self._at(self.tables[1], j))

    def output(self, k: int, t) -> None:
        """A fresh array from np.empty(shape, dtype), or, for an output of static shape that is
        no new value of a variable, the array the previous call returned when nothing but the
        context holds it any more (the caller dropped it): a fresh megabyte-sized array costs
        page faults on first touch (a 64 MB one ~3 ms, as long as a pass over it)."""
        b = self.b
        static = all(isinstance(self.env.resolve(d), int) for d in t.shape)
        if not static or k >= len(self.plan.graph.outputs) - self.updates:
            out = self.fresh(k, t, static)
        else:
            last = self._at(self.ctx, self.slots.index[f"out_last{k}"], I64)
            kept = b.inttoptr(b.load(last, typ=I64), PTR)
            chosen = b.alloca(PTR)
            # NOTE: the reference count is the object's first field (Py_ssize_t ob_refcnt)
            alone = b.alloca(ir.IntType(1))
            b.store(ir.Constant(ir.IntType(1), 0), alone)
            with b.if_then(b.icmp_unsigned("!=", kept, PTR(None))):
                b.store(b.icmp_signed("==", b.load(kept, typ=I64), i64(1)), alone)
            with b.if_else(b.load(alone, typ=ir.IntType(1))) as (reuse, fresh):
                with reuse:
                    self.call("Py_IncRef", kept)
                    b.store(kept, chosen)
                with fresh:
                    new = self.fresh(k, t, static)
                    with b.if_then(b.icmp_unsigned("!=", kept, PTR(None))):
                        self.call("Py_DecRef", kept)
                    self.call("Py_IncRef", new)
                    b.store(b.ptrtoint(new, I64), last)
                    b.store(new, chosen)
            out = b.load(chosen, typ=PTR)
        b.store(out, self._at(self.held_outs, k))
        b.store(self.field(out, "data", PTR), self._at(self.tables[2], k))

    def fresh(self, k: int, t, static: bool) -> ir.Value:
        """np.empty(shape, dtype) for output k (to the error block if that fails)."""
        b = self.b
        if static:
            shape = self.slot(f"out_shape{k}", PTR)       # a tuple made once
        else:
            shape = self.call("PyTuple_New", i64(len(t.shape)))
            self.require(b.icmp_unsigned("!=", shape, PTR(None)), self.error)
            for axis, d in enumerate(t.shape):
                item = self.call("PyLong_FromSsize_t", self.value(self.env.resolve(d)))
                self.require(b.icmp_unsigned("!=", item, PTR(None)),
                             self._releasing(shape, self.error))
                self.call("PyTuple_SetItem", shape, i64(axis), item)
        b.store(shape, self.argv)
        b.store(self.slot(f"out_descr{k}", PTR), self._at(self.argv, 1))
        out = self.call("PyObject_Vectorcall", self.slot("empty", PTR), self.argv, i64(2),
                        PTR(None))
        if not static:
            self.call("Py_DecRef", shape)
        self.require(b.icmp_unsigned("!=", out, PTR(None)), self.error)
        return out

    def _releasing(self, obj: ir.Value, then: ir.Block) -> ir.Block:
        block = self.function.append_basic_block("release")
        builder = ir.IRBuilder(block)
        builder.call(self.api["Py_DecRef"], [obj])
        builder.branch(then)
        return block

    # ---- the native call ----------------------------------------------------------------------

    def run(self, nbytes: ir.Value) -> None:
        """Without the GIL and under the lock: grow the arena if needed, run the entry."""
        b, fn = self.b, self.function
        saved = self.call("PyEval_SaveThread")
        lock = self.slot("lock", PTR)
        self.call("PyThread_acquire_lock", lock, ir.Constant(I32, 1))
        grow, grown, ready = (fn.append_basic_block(n) for n in ("grow", "grown", "ready"))
        before = b.block
        b.cbranch(b.icmp_signed(">", nbytes, self.slot("capacity")), grow, ready)
        b.position_at_end(grow)
        self.call("PyMem_RawFree", self.slot("arena_raw", PTR))
        raw = self.call("PyMem_RawMalloc", b.add(nbytes, i64(ARENA_ALIGN)))
        raw_int = b.ptrtoint(raw, I64)
        aligned = b.and_(b.add(raw_int, i64(ARENA_ALIGN - 1)), i64(-ARENA_ALIGN))
        failed = b.icmp_unsigned("==", raw_int, i64(0))
        for name, value in (("arena_raw", raw_int), ("arena", b.select(failed, i64(0), aligned)),
                            ("capacity", b.select(failed, i64(-1), nbytes))):
            b.store(value, self._at(self.ctx, self.slots.index[name], I64))
        b.cbranch(failed, ready, grown)
        b.position_at_end(grown)
        b.branch(ready)
        b.position_at_end(ready)
        can_run = b.phi(ir.IntType(1))
        can_run.add_incoming(ir.Constant(ir.IntType(1), 1), before)
        can_run.add_incoming(ir.Constant(ir.IntType(1), 0), grow)
        can_run.add_incoming(ir.Constant(ir.IntType(1), 1), grown)
        entry = fn.module.get_global("entry")
        run, after = fn.append_basic_block("run"), fn.append_basic_block("after")
        status_before = b.block
        b.cbranch(can_run, run, after)
        b.position_at_end(run)
        status = b.call(entry, [*self.tables, self.slot("arena", PTR), self.dim_table,
                                self.slot("blas", PTR)])
        b.branch(after)
        b.position_at_end(after)
        final = b.phi(I32)
        final.add_incoming(ir.Constant(I32, OUT_OF_MEMORY), status_before)
        final.add_incoming(status, run)
        self.call("PyThread_release_lock", lock)
        self.call("PyEval_RestoreThread", saved)
        failure = fn.append_basic_block("failure")
        self.require(b.icmp_signed("==", final, ir.Constant(I32, 0)), failure)
        self.succeed()
        b.position_at_end(failure)
        args, nargs = self.feeds
        feeds = self.call("PyTuple_New", nargs)         # (so failed() can name the value)
        self.require(b.icmp_unsigned("!=", feeds, PTR(None)), self.error)
        with loop(b, nargs, name="feed") as i:
            item = b.load(b.gep(args, [i], source_etype=PTR), typ=PTR)
            self.call("Py_IncRef", item)
            self.call("PyTuple_SetItem", feeds, i, item)
        code = self.call("PyLong_FromSsize_t", b.sext(final, I64))
        b.store(code, self.argv)
        b.store(feeds, self._at(self.argv, 1))
        raised = self.call("PyObject_Vectorcall", self.slot("failed", PTR), self.argv, i64(2),
                           PTR(None))
        self.call("Py_DecRef", code)
        self.call("Py_DecRef", feeds)
        self.call("Py_DecRef", raised)      # NOTE: NULL, as failed() raises; Py_DecRef allows it
        b.branch(self.error)

    def succeed(self) -> None:
        """Commit the updates; the other outputs become the result (one array, or a list).

        NOTE: the result list is made before the commit: past it nothing fails, so a call that
        raises has assigned no variable.
        """
        b = self.b
        shown = len(self.plan.graph.outputs) - self.updates
        if shown == 1:
            alone, listed = (self.function.append_basic_block(n) for n in ("alone", "listed"))
            b.cbranch(b.icmp_signed("!=", self.slot("single"), i64(0)), alone, listed)
            b.position_at_end(alone)
            self.commit(shown)
            b.store(b.load(self._at(self.held_outs, 0), typ=PTR), self.result)
            b.store(PTR(None), self._at(self.held_outs, 0))
            b.branch(self.exit)
            b.position_at_end(listed)
        result = self.call("PyList_New", i64(shown))
        self.require(b.icmp_unsigned("!=", result, PTR(None)), self.error)
        self.commit(shown)
        for k in range(shown):
            slot = self._at(self.held_outs, k)
            self.call("PyList_SetItem", result, i64(k), b.load(slot, typ=PTR))
            b.store(PTR(None), slot)
        b.store(result, self.result)
        b.branch(self.exit)

    def commit(self, first: int) -> None:
        """Each update's output (from index `first` on) becomes its variable's array."""
        b = self.b
        for j in range(self.updates):
            new = b.load(self._at(self.held_outs, first + j), typ=PTR)
            self.call("PyObject_SetAttr", self.slot(f"target{j}", PTR),
                      self.slot("value_name", PTR), new)

    def finish_exit(self, n_vars: int, n_outs: int) -> None:
        """Release the variables' arrays and any outputs not handed over; return the result."""
        b = self.b
        b.position_at_end(self.exit)
        for held, count in ((self.held_vars, n_vars), (self.held_outs, n_outs)):
            for k in range(count):
                self.call("Py_DecRef", b.load(self._at(held, k), typ=PTR))
        b.ret(b.load(self.result, typ=PTR))


def _emit_pycall(module: ir.Module, n_inputs: int, slots: Slots, api: dict,
                 attempt: ir.Function) -> None:
    """The builtin: attempt the feeds as given, else through general() (at most TRIES times)."""
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, PTR, I64, PTR]), name=NAME)
    unoptimized(fn)           # NOTE: see _Attempt
    self_, args, nargs, kwnames = fn.args
    b = ir.IRBuilder(fn.append_basic_block("start"))
    mismatch = ir.Constant(I64, MISMATCH).inttoptr(PTR)

    def slot(name: str) -> ir.Value:
        at = b.gep(ctx, [i64(slots.index[name])], source_etype=I64)
        return b.inttoptr(b.load(at, typ=I64), PTR)

    ctx = b.call(api["PyLong_AsVoidPtr"], [b.call(api["PyTuple_GetItem"], [self_, i64(0)])])
    items = b.alloca(PTR, max(n_inputs, 1))
    attempt_first, general = fn.append_basic_block("direct"), fn.append_basic_block("general")
    b.cbranch(b.icmp_unsigned("==", kwnames, PTR(None)), attempt_first, general)
    b.position_at_end(attempt_first)
    result = b.call(attempt, [ctx, args, nargs])
    done = fn.append_basic_block("done")
    b.cbranch(b.icmp_unsigned("!=", result, mismatch), done, general)
    b.position_at_end(done)
    b.ret(result)

    b.position_at_end(general)
    tries = b.phi(I64)
    tries.add_incoming(i64(0), attempt_first)
    tries.add_incoming(i64(0), fn.entry_basic_block)
    give_up, again = fn.append_basic_block("give_up"), fn.append_basic_block("again")
    b.cbranch(b.icmp_signed("<", tries, i64(TRIES)), again, give_up)
    b.position_at_end(again)
    converted = b.call(api["PyObject_Vectorcall"], [slot("general"), args, nargs, kwnames])
    got, checked = fn.append_basic_block("converted"), fn.append_basic_block("checked")
    raised = fn.append_basic_block("raised")
    b.cbranch(b.icmp_unsigned("==", converted, PTR(None)), raised, got)
    b.position_at_end(raised)
    b.ret(PTR(None))
    b.position_at_end(got)
    count = b.call(api["PyTuple_Size"], [converted])
    fits, check = fn.append_basic_block("fits"), b.block
    b.cbranch(b.icmp_signed("==", count, i64(n_inputs)), fits, checked)
    b.position_at_end(fits)
    for i in range(n_inputs):
        item = b.call(api["PyTuple_GetItem"], [converted, i64(i)])
        b.store(item, b.gep(items, [i64(i)], source_etype=PTR))
    retried = b.call(attempt, [ctx, items, i64(n_inputs)])
    b.branch(checked)
    b.position_at_end(checked)
    outcome = b.phi(PTR)
    outcome.add_incoming(mismatch, check)
    outcome.add_incoming(retried, fits)
    b.call(api["Py_DecRef"], [converted])
    tries.add_incoming(b.add(tries, i64(1)), checked)
    returned = fn.append_basic_block("returned")
    b.cbranch(b.icmp_unsigned("!=", outcome, mismatch), returned, general)
    b.position_at_end(returned)
    b.ret(outcome)
    b.position_at_end(give_up)
    b.ret(b.call(api["PyObject_Vectorcall"], [slot("mismatch"), args, nargs, kwnames]))


class Context:
    """The context array a pycall builtin reads, and the objects its slots point to.

    It owns the lock and the arena (freed with it), and keeps alive what the slots point to
    and the code itself (`keepalive`: the loaded library).
    """

    def __init__(self, interface: Interface, blas: int, single_output: bool,
                 general: Callable, mismatch: Callable, failed: Callable, keepalive: object):
        graph, targets = interface, interface.targets
        layout = pyapi.array_layout()
        assert layout is not None, "native call paths need pyapi.available()"
        self.slots = Slots(len(graph.inputs), len(graph.variables), len(graph.outputs),
                           len(targets))
        self.array = np.zeros(len(self.slots), np.int64)
        self.keepalive = keepalive
        shapes = [graph.dims.resolve_shape(t.shape) for t in graph.outputs]
        variables = [node.attrs["var"] for node in graph.variables]
        descrs = [np.dtype(t.dtype) for t in graph.inputs] + \
            [np.dtype(v.type.dtype) for v in variables] + [np.dtype(t.dtype) for t in graph.outputs]
        self._objects = [np.ndarray, np.empty, "_value", general, mismatch, failed, *shapes,
                         *variables, *targets, *descrs]
        values = {
            "type_offset": layout.type, "data_offset": layout.data, "ndim_offset": layout.ndim,
            "dims_offset": layout.dims, "descr_offset": layout.descr,
            "flags_offset": layout.flags, "feed_bits": layout.c_contiguous | layout.aligned,
            "variable_bits": layout.c_contiguous | layout.aligned,
            "ndarray": id(np.ndarray), "empty": id(np.empty), "general": id(general),
            "mismatch": id(mismatch), "failed": id(failed), "value_name": id(self._objects[2]),
            "single": int(single_output), "blas": blas}
        for i, t in enumerate(graph.inputs):
            values[f"input_descr{i}"] = id(np.dtype(t.dtype))
        for j, var in enumerate(variables):
            values[f"variable{j}"] = id(var)
            values[f"var_descr{j}"] = id(np.dtype(var.type.dtype))
        for k, (t, shape) in enumerate(zip(graph.outputs, shapes)):
            values[f"out_descr{k}"] = id(np.dtype(t.dtype))
            values[f"out_shape{k}"] = id(shape)
        for j, var in enumerate(targets):
            values[f"target{j}"] = id(var)
        for name, value in values.items():
            self.array[self.slots.index[name]] = value
        self._lock = _c_function("PyThread_allocate_lock", ctypes.c_void_p, [])()
        if not self._lock:
            raise MemoryError("cannot allocate the lock of a native call path")
        self.array[self.slots.index["lock"]] = self._lock

    @property
    def address(self) -> int:
        return self.array.ctypes.data

    def __del__(self) -> None:
        raw = int(self.array[self.slots.index["arena_raw"]])
        if raw:
            _c_function("PyMem_RawFree", None, [ctypes.c_void_p])(raw)
        for name, index in self.slots.index.items():     # the outputs kept for reuse
            if name.startswith("out_last") and self.array[index]:
                _c_function("Py_DecRef", None, [ctypes.c_void_p])(int(self.array[index]))
        if getattr(self, "_lock", None):     # NOTE: unset if __init__ failed before
            _c_function("PyThread_free_lock", None, [ctypes.c_void_p])(self._lock)


def _c_function(name: str, restype, argtypes: list):
    """A C API function with its own prototype (ctypes.pythonapi's are shared by everyone)."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))
