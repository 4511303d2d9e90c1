"""Big loop nests on both cores: a kernel's loop nest outlined into chunks a thread team shares.

A parallel kernel is three functions. The *chunk* function is the loop nest with its outermost
loop running from `lo` to `hi` (and, for reductions, a chunk index and scratch memory for the
chunk's partial result). The *worker* claims chunks from an atomic counter until none is
left, so a core that another process slows down simply takes fewer chunks. The kernel itself
estimates the work from the actual sizes (dims are symbolic, so this happens at run time) and
either calls the chunk function once over the whole range, or hands the worker to the team.

The team is libgomp's (`GOMP_parallel`; its threads persist between regions). Generated code
reaches it only through the process's runtime record, linked in under RUNTIME_SYMBOL when the
object code is loaded, so cached object code holds no address and runs (on one thread) where
libgomp is missing. One team at a time per process: a kernel that finds the team busy (another
Python thread's call) runs on its own thread. Elementwise results do not depend on who runs
which chunk; reductions make their chunks depend on sizes only (see reduce.py), so results are
the same for any number of threads and any timing.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator, Sequence

from llvmlite import ir

from graphc.scalar import Scalar

RUNTIME_SYMBOL = "graphc_parallel_runtime"
LIBGOMP = "libgomp.so.1"
# NOTE: work is counted in rough scalar-operation units per element (`expression_cost`).
# Waking the team and joining it costs ~10-20 µs on this machine type; a kernel goes parallel
# when it has about 100 µs of work on one thread (benchmarks/llvm_threads.py measures both).
MIN_WORK = 1 << 18
CHUNKS_PER_THREAD = 8         # chunks claimed dynamically: a stalled core takes fewer
MIN_CHUNK_WORK = 1 << 14      # and none so small that claiming it costs more than running it

_I32, _I64, _PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
RUNTIME_TYPE = ir.LiteralStructType([_PTR, _I64, _I32, _I32])
_PARALLEL, _MIN_WORK, _THREADS, _BUSY = range(4)
CHUNK_ARGS = (_I64, _I64, _I64, _PTR)      # lo, hi, chunk index, scratch
_GOMP_PARALLEL = ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I32, _I32])


class _Runtime(ctypes.Structure):
    """What generated code reads about the team (its layout is RUNTIME_TYPE's)."""

    _fields_ = [("parallel", ctypes.c_void_p),    # GOMP_parallel, or NULL: one thread only
                ("min_work", ctypes.c_int64),     # less work than this runs on the caller
                ("threads", ctypes.c_int32),      # the team's size (1: never use the team)
                ("busy", ctypes.c_int32)]         # 1 while a team runs


_runtime = _Runtime(None, MIN_WORK, 1, 0)
_loaded = False
_load_lock = threading.Lock()


def _default_threads() -> int:
    """OMP_NUM_THREADS if set (the usual knob), else the CPUs this process may run on."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"].split(",")[0]))
    except (KeyError, ValueError):
        return len(os.sched_getaffinity(0))


def _load() -> None:
    """Find libgomp's GOMP_parallel once; without it every kernel runs on its caller."""
    global _loaded
    with _load_lock:
        if _loaded:
            return
        _loaded = True
        try:
            gomp = ctypes.CDLL(LIBGOMP)
        except OSError:
            return
        _runtime.parallel = ctypes.cast(gomp.GOMP_parallel, ctypes.c_void_p).value
        _runtime.threads = _default_threads()


def _forget_team() -> None:
    # NOTE: a forked child inherits libgomp's record of a thread pool whose threads did not
    # survive the fork; a parallel region there would wait for them forever.
    _runtime.parallel = None


os.register_at_fork(after_in_child=_forget_team)


def runtime_address() -> int:
    """The address generated code finds under RUNTIME_SYMBOL (libgomp loaded on first use)."""
    _load()
    return ctypes.addressof(_runtime)


def available() -> bool:
    """Whether a thread team can run kernels in this process."""
    _load()
    return bool(_runtime.parallel)


def threads() -> int:
    """How many threads a parallel kernel uses (1 when no team is available)."""
    _load()
    return _runtime.threads if _runtime.parallel else 1


def set_threads(count: int) -> None:
    """Use `count` threads for big kernels from now on (1 turns the team off)."""
    if count < 1:
        raise ValueError(f"set_threads: need at least one thread, got {count}")
    _load()
    _runtime.threads = count


@contextlib.contextmanager
def settings(threads: int | None = None, min_work: int | None = None) -> Iterator[None]:
    """Temporarily another team size or work threshold (tests and benchmarks compare them)."""
    _load()
    saved = _runtime.threads, _runtime.min_work
    try:
        if threads is not None:
            set_threads(threads)
        if min_work is not None:
            _runtime.min_work = min_work
        yield
    finally:
        _runtime.threads, _runtime.min_work = saved


_COST = {"arg": 1, "const": 0, "div": 4, "sqrt": 4, "pow": 40}
_TRANSCENDENTAL_COST = 20


def expression_cost(roots: Sequence[Scalar]) -> int:
    """Rough work per element of evaluating `roots` and storing each (shared subterms once)."""
    seen: set[int] = set()
    total = len(roots)
    stack = list(roots)
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        total += _COST.get(e.prim, _TRANSCENDENTAL_COST if e.prim in _TRANSCENDENTALS else 1)
        stack.extend(e.args)
    return total


_TRANSCENDENTALS = frozenset({"exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "erf"})


def _runtime_record(module: ir.Module) -> ir.GlobalVariable:
    """The module's declaration of the process's runtime record (resolved when loaded)."""
    record = module.globals.get(RUNTIME_SYMBOL)
    if record is None:
        record = ir.GlobalVariable(module, RUNTIME_TYPE, name=RUNTIME_SYMBOL)
    return record


def _field(b: ir.IRBuilder, record: ir.Value, index: int) -> ir.Value:
    return b.gep(record, [_I32(0), _I32(index)], inbounds=True)    # (typed by the global)


def run_chunks(k, chunk_fn: ir.Function, extent: ir.Value, item_work: ir.Value,
               chunk: ir.Value | None = None, scratch: ir.Value | None = None) -> ir.Value:
    """Emit, in kernel k, chunk_fn over [0, extent) of the outermost axis; return the status
    (the largest any chunk returned: `check` it).

    chunk_fn takes k's arguments, then CHUNK_ARGS. With `chunk` None how the range is cut is
    the team's business (the caller alone runs it whole); a given `chunk` fixes the pieces,
    which the caller alone runs in index order. `item_work` is the work of one index of the
    axis in expression_cost units: with less than the runtime's min_work in all, or no team,
    or the team busy, the caller runs everything.
    """
    b = k.b
    scratch = scratch if scratch is not None else ir.Constant(_PTR, None)
    args = list(k.function.args)
    record = _runtime_record(b.module)
    # NOTE: loaded as a typed function pointer, so llvmlite knows the callee's signature
    gomp_parallel = _GOMP_PARALLEL.as_pointer()
    parallel = b.load(_field(b, record, _PARALLEL), typ=gomp_parallel)
    threads = b.load(_field(b, record, _THREADS), typ=_I32)
    min_work = b.load(_field(b, record, _MIN_WORK), typ=_I64)
    wanted = b.and_(b.and_(b.icmp_unsigned("!=", parallel, ir.Constant(gomp_parallel, None)),
                           b.icmp_signed(">", threads, _I32(1))),
                    b.icmp_signed(">=", b.mul(extent, item_work), min_work))
    worker = _worker(b.module, chunk_fn, len(args))
    claim = b.append_basic_block("claim_team")
    team = b.append_basic_block("team")
    alone = b.append_basic_block("alone")
    joined = b.append_basic_block("joined")
    if chunk is not None:
        closure = _closure(k, args, extent, chunk, scratch)
    b.cbranch(wanted, claim, alone)

    b.position_at_end(claim)
    claimed = b.cmpxchg(_field(b, record, _BUSY), _I32(0), _I32(1), "acquire", "monotonic")
    b.cbranch(b.extract_value(claimed, 1), team, alone)

    b.position_at_end(team)
    if chunk is None:
        closure = _closure(k, args, extent, _team_chunk(b, extent, item_work, threads),
                           scratch)
    b.call(parallel, [worker, closure, threads, _I32(0)])
    b.store_atomic(_I32(0), _field(b, record, _BUSY), "release", 4)
    team_status = b.load(_member(b, closure, len(args), _STATUS), typ=_I32)
    team_end = b.block
    b.branch(joined)

    b.position_at_end(alone)
    if chunk is None:
        alone_status = b.call(chunk_fn, args + [_I64(0), extent, _I64(0), scratch])
    else:
        b.call(worker, [closure])
        alone_status = b.load(_member(b, closure, len(args), _STATUS), typ=_I32)
    alone_end = b.block
    b.branch(joined)

    b.position_at_end(joined)
    status = b.phi(_I32)
    status.add_incoming(team_status, team_end)
    status.add_incoming(alone_status, alone_end)
    return status


def check(k, status: ir.Value) -> None:
    """Return a nonzero status (from chunks) from kernel k."""
    b = k.b
    failed = b.append_basic_block("chunk_failed")
    go_on = b.append_basic_block("chunks_ok")
    b.cbranch(b.icmp_unsigned("!=", status, _I32(0)), failed, go_on)
    b.position_at_end(failed)
    b.ret(status)
    b.position_at_end(go_on)


def _team_chunk(b: ir.IRBuilder, extent: ir.Value, item_work: ir.Value,
                threads: ir.Value) -> ir.Value:
    """Items per chunk: CHUNKS_PER_THREAD chunks per thread, none under MIN_CHUNK_WORK."""
    pieces = b.mul(b.sext(threads, _I64), _I64(CHUNKS_PER_THREAD))
    even = ceil_div(b, extent, pieces)
    least = ceil_div(b, _I64(MIN_CHUNK_WORK), larger(b, item_work, _I64(1)))
    return larger(b, even, least)


def ceil_div(b: ir.IRBuilder, a: ir.Value, d: ir.Value) -> ir.Value:
    """⌈a / d⌉ of non-negative i64 values (d > 0)."""
    return b.sdiv(b.add(a, b.sub(d, _I64(1))), d)


def larger(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


# the closure a kernel hands its worker: its arguments, then these fields
_EXTENT, _CHUNK, _NEXT, _SCRATCH, _STATUS = range(1, 6)


def _closure_type(nargs: int) -> ir.LiteralStructType:
    return ir.LiteralStructType([ir.ArrayType(_PTR, nargs), _I64, _I64, _I64, _PTR, _I32])


def _member(b: ir.IRBuilder, closure: ir.Value, nargs: int, *indices: int) -> ir.Value:
    """The address of a closure field (an argument's slot: indices 0, i)."""
    # NOTE: the kernel's closure is a typed alloca, the worker's an opaque pointer; llvmlite
    # types a gep by the pointer's pointee when it has one, so it gets no source type then.
    typed = not closure.type.is_opaque
    return b.gep(closure, [_I32(0), *map(_I32, indices)], inbounds=True,
                 source_etype=None if typed else _closure_type(nargs))


def _closure(k, args: list[ir.Value], extent: ir.Value, chunk: ir.Value,
             scratch: ir.Value) -> ir.Value:
    """A closure on k's stack holding what the worker needs, its counter and status zero."""
    b = k.b
    closure = k.alloca(_closure_type(len(args)))
    for i, arg in enumerate(args):
        b.store(arg, _member(b, closure, len(args), 0, i))
    for index, value in ((_EXTENT, extent), (_CHUNK, larger(b, chunk, _I64(1))), (_NEXT, _I64(0)),
                         (_SCRATCH, scratch), (_STATUS, _I32(0))):
        b.store(value, _member(b, closure, len(args), index))
    return closure


def _worker(module: ir.Module, chunk_fn: ir.Function, nargs: int) -> ir.Function:
    """void worker(closure): run chunks claimed from the closure's counter until none is
    left, recording the largest nonzero status."""
    name = chunk_fn.name + ".worker"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    worker = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR]), name=name)
    worker.linkage = "internal"
    worker.attributes.add("nounwind")
    (closure,) = worker.args
    b = ir.IRBuilder(worker.append_basic_block("start"))
    args = [b.load(_member(b, closure, nargs, 0, i), typ=_PTR) for i in range(nargs)]
    extent, chunk = (b.load(_member(b, closure, nargs, f), typ=_I64)
                     for f in (_EXTENT, _CHUNK))
    scratch = b.load(_member(b, closure, nargs, _SCRATCH), typ=_PTR)
    claim = b.append_basic_block("claim")
    run = b.append_basic_block("run")
    failed = b.append_basic_block("failed")
    done = b.append_basic_block("done")
    b.branch(claim)
    b.position_at_end(claim)
    index = b.atomic_rmw("add", _member(b, closure, nargs, _NEXT), _I64(1), "monotonic")
    lo = b.mul(index, chunk)
    b.cbranch(b.icmp_signed(">=", lo, extent), done, run)
    b.position_at_end(run)
    end = b.add(lo, chunk)
    hi = b.select(b.icmp_signed("<", end, extent), end, extent)
    status = b.call(chunk_fn, args + [lo, hi, index, scratch])
    b.cbranch(b.icmp_unsigned("!=", status, _I32(0)), failed, claim)
    b.position_at_end(failed)
    b.atomic_rmw("umax", _member(b, closure, nargs, _STATUS), status, "monotonic")
    b.branch(claim)
    b.position_at_end(done)
    b.ret_void()
    return worker
