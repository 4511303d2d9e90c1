"""Big loop nests on both cores: a kernel's loop nest outlined into chunks a thread team shares.

A parallel kernel is three functions. The *chunk* function is the loop nest with its outermost
loop running from `lo` to `hi` (and, for reductions, a chunk index and scratch memory for the
chunk's partial result). The *worker* claims chunks from an atomic counter until none is
left, so a core that another process slows down simply takes fewer chunks. The kernel itself
estimates the work from the actual sizes (dims are symbolic, so this happens at run time) and
either calls the chunk function once over the whole range, or hands the worker to the team.

The team is libgomp's (`GOMP_parallel`): its threads persist between runs (one pool per
calling thread, made at its first big kernel, kept until it exits). Generated code reaches it
only through the process's runtime record, linked in under RUNTIME_SYMBOL when object code is
loaded, so cached object code holds no address and runs (on one thread) where libgomp is
missing. One team runs at a time: a kernel that finds it busy (another Python thread's call)
runs alone, and so does one offered while the team backs off after a run in which a thread
was descheduled (a loaded machine). Elementwise results do not depend on who runs which
chunk; reductions make their chunks depend on sizes only (see reduce.py), and so do big
BLAS products, cut into pieces along one side (see blas.py): results are the same for any
number of threads and any timing.
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence

from llvmlite import ir

from backends.llvm.irutil import unoptimized
from backends.llvm.target import prefer_wide_vectors
from graphc.scalar import Scalar

RUNTIME_SYMBOL = "graphc_parallel_runtime"
LIBGOMP = "libgomp.so.1"
# NOTE: work is counted in rough scalar-operation units per element (`expression_cost`); one
# unit takes 20-40 ps on one core of this machine type, so MIN_WORK is ~30 µs of work, above
# which the team won in benchmarks/llvm_threads.py --sweep (when it got both cores at all).
MIN_WORK = 1 << 20
CHUNKS_PER_THREAD = 8         # chunks claimed dynamically: a stalled core takes fewer
MIN_CHUNK_WORK = 1 << 14      # and none so small that claiming it costs more than running it

_I32, _I64, _PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
RUNTIME_TYPE = ir.LiteralStructType([_PTR, _I64, _I64, _I32, _I32, _I32, _I32])
_PARALLEL, _MIN_WORK, _REGIONS, _THREADS, _BUSY, _SKIP, _PENALTY = range(7)
MAX_BACKOFF = 63
CHUNK_ARGS = (_I64, _I64, _I64, _PTR)      # lo, hi, chunk index, scratch
_GOMP_PARALLEL = ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I32, _I32])


class _Runtime(ctypes.Structure):
    """What generated code reads about the team (its layout is RUNTIME_TYPE's)."""

    _fields_ = [("parallel", ctypes.c_void_p),    # GOMP_parallel, or NULL: one thread only
                ("min_work", ctypes.c_int64),     # less work than this runs on the caller
                ("regions", ctypes.c_int64),      # how many kernels the team has run
                ("threads", ctypes.c_int32),      # the team's size (1: never use the team)
                ("busy", ctypes.c_int32),         # 1 while a team runs
                ("skip", ctypes.c_int32),         # offers to decline (backing off)
                ("penalty", ctypes.c_int32)]      # the current back-off's length


_runtime = _Runtime(None, MIN_WORK, 0, 1, 0, 0, 0)
_loaded = False
_load_lock = threading.Lock()


def _default_threads() -> int:
    """OMP_NUM_THREADS if set (the usual knob), else the CPUs this process may run on."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"].split(",")[0]))
    except (KeyError, ValueError):
        return len(os.sched_getaffinity(0))


# NOTE: libgomp's idle threads spin through 300,000 pauses (tens of ms) after a team's run
# before they sleep: on 2 shared cores that takes the core BLAS or another process wants, and
# makes the scheduler slow to run the spinner when the next team starts. Unless the user says
# otherwise, they spin ~0.1-0.5 ms, which still spans the gaps between kernels of one call.
_SPIN = {"GOMP_SPINCOUNT": "10000"}


def _load() -> None:
    """Find libgomp's GOMP_parallel once; without it every kernel runs on its caller."""
    global _loaded
    with _load_lock:
        if _loaded:
            return
        _loaded = True
        _runtime.threads = _default_threads()
        told = {"OMP_WAIT_POLICY", *_SPIN} & set(os.environ)
        added = {} if told else _SPIN
        os.environ.update(added)       # (libgomp reads its environment once, when loaded)
        try:
            gomp = ctypes.CDLL(LIBGOMP)
        except OSError:
            return
        finally:
            for name in added:
                del os.environ[name]
        _runtime.parallel = ctypes.cast(gomp.GOMP_parallel, ctypes.c_void_p).value


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


def team_runs() -> int:
    """How many kernels the team has run in this process (the others ran on their caller)."""
    return _runtime.regions


def set_threads(count: int) -> None:
    """Use `count` threads for big kernels and big products from now on (1: one thread)."""
    if count < 1:
        raise ValueError(f"set_threads: need at least one thread, got {count}")
    _load()
    _runtime.threads = count


@contextlib.contextmanager
def settings(threads: int | None = None, min_work: int | None = None) -> Iterator[None]:
    """Temporarily another team size or work threshold (tests and benchmarks compare them).

    NOTE: a threshold below MIN_WORK reaches only kernels whose sizes are symbolic or whose
    static work reaches MIN_WORK: smaller static ones have no team code (`may_share`).
    """
    _load()
    saved = _runtime.threads, _runtime.min_work
    _runtime.skip = _runtime.penalty = 0
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
# NOTE: from this much work per element on, a loop is bound by arithmetic rather than memory:
# 512-bit vectors made W4 (81 units) 25-30% faster on an Ice Lake Xeon, and a negation or a sum
# (3 units) no faster (benchmarks/llvm_threads.py --widths).
ARITHMETIC_BOUND = 8
# NOTE: from this much work per element on (one transcendental), an element is a chain of
# dependent instructions longer than the core overlaps across iterations of a loop that holds
# one vector each, which is what LLVM makes of a long body. LATENCY_VECTORS vectors per iteration
# made W4 20% faster on Zen 5, softplus 30% (benchmarks/llvm_threads.py --interleave); each
# needs its own registers, so more spill.
LATENCY_BOUND = _TRANSCENDENTAL_COST
LATENCY_VECTORS = 4
LATENCY_MIN_ELEMENTS = 64     # one iteration of 4 x 16 float32 lanes: fewer run in remainder loops


def interleave(cost: int, elements: int | None) -> int | None:
    """How many vectors an innermost loop over `elements` (None: known at run time) costing
    `cost` each should keep in flight per iteration (see irutil.loop): one for a loop bound by
    memory, LATENCY_VECTORS for long chains of dependent work, else LLVM's choice."""
    if cost < ARITHMETIC_BOUND:
        return 1
    if cost >= LATENCY_BOUND and (elements is None or elements >= LATENCY_MIN_ELEMENTS):
        return LATENCY_VECTORS
    return None


def finish_chunk(chunk, cost: int) -> ir.Function:
    """End a chunk function (a Kernel) whose elements cost `cost`; one bound by arithmetic
    gets the host's widest useful vectors."""
    return vector_width(chunk.finish(), cost)


def vector_width(function: ir.Function, cost: int) -> ir.Function:
    """The host's widest useful vectors for a loop of elements costing `cost`, if it is bound
    by arithmetic."""
    return prefer_wide_vectors(function) if cost >= ARITHMETIC_BOUND else function


def static_work(env, shape: Sequence, cost: int) -> int | None:
    """The work of a loop nest over `shape` (cost units per element), when every dim is an
    int; None when a dim is symbolic (the work is known only at run time)."""
    sizes = [env.resolve(d) for d in shape]
    if not all(isinstance(d, int) for d in sizes):
        return None
    return math.prod(sizes) * cost


def may_share(work: int | None) -> bool:
    """Whether a loop nest of this work (None: not known before it runs) can reach MIN_WORK,
    so that its kernel needs the team's code (a chunk function, a worker, the offer).

    NOTE: a smaller one runs on its caller whatever `settings(min_work=...)` says later, and
    costs LLVM a third of the functions (compile time, not run time, is what it would spend).
    """
    return work is None or work >= MIN_WORK


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
    axis in expression_cost units: with less than the runtime's min_work in all, no team,
    the team busy or backing off, the caller runs everything.
    """
    b = k.b
    scratch = scratch if scratch is not None else ir.Constant(_PTR, None)
    args = list(k.function.args)
    if chunk is not None:
        return run_pieces(b, k.alloca, chunk_fn, args, extent, item_work, chunk, scratch)
    worker = _worker(b.module, chunk_fn, len(args))
    big = b.icmp_signed(">=", b.mul(extent, item_work), min_work(b))
    with b.if_else(big, likely=False) as (offer, small):
        with offer:
            closure = _closure(b, k.alloca, args, extent, _I64(0), scratch)
            by_team = b.call(_team_function(b.module), [worker, closure, item_work])
            offered_status = _status_after(b, by_team, closure, len(args), lambda: b.call(
                chunk_fn, args + [_I64(0), extent, _I64(0), scratch]))
            offered = b.block
        with small:
            small_status = b.call(chunk_fn, args + [_I64(0), extent, _I64(0), scratch])
            alone = b.block
    status = b.phi(_I32)
    status.add_incoming(offered_status, offered)
    status.add_incoming(small_status, alone)
    return status


def run_pieces(b: ir.IRBuilder, alloca: Callable[[ir.Type], ir.Value], chunk_fn: ir.Function,
               args: list[ir.Value], extent: ir.Value, item_work: ir.Value, chunk: ir.Value,
               scratch: ir.Value | None = None) -> ir.Value:
    """Emit chunk_fn(*args, lo, hi, index, scratch) over [0, extent) in pieces of `chunk`, on
    the team or (see run_chunks) by the caller alone in index order; return the status.

    `alloca` makes a stack slot in the calling function's first block.
    """
    scratch = scratch if scratch is not None else ir.Constant(_PTR, None)
    worker = _worker(b.module, chunk_fn, len(args))
    closure = _closure(b, alloca, args, extent, larger(b, chunk, _I64(1)), scratch)
    by_team = b.call(_team_function(b.module), [worker, closure, item_work])
    return _status_after(b, by_team, closure, len(args), lambda: b.call(worker, [closure]))


def min_work(b: ir.IRBuilder) -> ir.Value:
    """The runtime's min_work (i64): less work than this runs on the caller."""
    return b.load(_field(b, _runtime_record(b.module), _MIN_WORK), typ=_I64)


def _status_after(b: ir.IRBuilder, by_team: ir.Value, closure: ir.Value, nargs: int,
                  alone) -> ir.Value:
    """The chunks' status: from the closure when the team ran them, else after running
    them alone (`alone()` emits that and returns the status, or nothing for the worker)."""
    with b.if_then(b.not_(by_team)):
        result = alone()
        if result.type == _I32:
            b.store(result, _member(b, closure, nargs, _STATUS))
    return b.load(_member(b, closure, nargs, _STATUS), typ=_I32)


def check(k, status: ir.Value) -> None:
    """Return a nonzero status (from chunks) from kernel k."""
    b = k.b
    failed = b.append_basic_block("chunk_failed")
    go_on = b.append_basic_block("chunks_ok")
    b.cbranch(b.icmp_unsigned("!=", status, _I32(0)), failed, go_on)
    b.position_at_end(failed)
    b.ret(status)
    b.position_at_end(go_on)


def ceil_div(b: ir.IRBuilder, a: ir.Value, d: ir.Value) -> ir.Value:
    """⌈a / d⌉ of non-negative i64 values (d > 0)."""
    return b.sdiv(b.add(a, b.sub(d, _I64(1))), d)


def larger(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


# The closure a kernel hands the team: a header of fixed layout, then the kernel's arguments.
_HEADER = [_I64, _I64, _I64, _I64, _PTR, _I32]
_FIRST_DONE, _EXTENT, _CHUNK, _NEXT, _SCRATCH, _STATUS, _ARGS = range(7)


def _closure_type(nargs: int | None) -> ir.LiteralStructType:
    """The closure's type (its header's, for nargs None)."""
    return ir.LiteralStructType(_HEADER + ([] if nargs is None else [ir.ArrayType(_PTR, nargs)]))


def _member(b: ir.IRBuilder, closure: ir.Value, nargs: int | None, *indices: int) -> ir.Value:
    """The address of a closure field (an argument's slot: indices _ARGS, i)."""
    # NOTE: a kernel's closure is a typed alloca, the worker's an opaque pointer; llvmlite
    # types a gep by the pointer's pointee when it has one, so it gets no source type then.
    typed = not closure.type.is_opaque
    return b.gep(closure, [_I32(0), *map(_I32, indices)], inbounds=True,
                 source_etype=None if typed else _closure_type(nargs))


def _closure(b: ir.IRBuilder, alloca: Callable[[ir.Type], ir.Value], args: list[ir.Value],
             extent: ir.Value, chunk: ir.Value, scratch: ir.Value) -> ir.Value:
    """A closure on the caller's stack: what the worker needs, its counter and status at zero
    (chunk 0: the team decides)."""
    closure = alloca(_closure_type(len(args)))
    for i, arg in enumerate(args):
        b.store(arg, _member(b, closure, len(args), _ARGS, i))
    for index, value in ((_EXTENT, extent), (_CHUNK, chunk), (_NEXT, _I64(0)),
                         (_SCRATCH, scratch), (_STATUS, _I32(0))):
        b.store(value, _member(b, closure, len(args), index))
    return closure


def _clock(b: ir.IRBuilder) -> ir.Value:
    """The CPU's time-stamp counter (cheap, steady on x86; only differences are used)."""
    module = b.module
    counter = module.globals.get("llvm.readcyclecounter") or ir.Function(
        module, ir.FunctionType(_I64, []), name="llvm.readcyclecounter")
    return b.call(counter, [])


def _worker(module: ir.Module, chunk_fn: ir.Function, nargs: int) -> ir.Function:
    """void worker(closure): run chunks claimed from the closure's counter until none is
    left, recording the largest nonzero status and when the first thread ran out."""
    name = chunk_fn.name + ".worker"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    worker = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR]), name=name)
    worker.linkage = "internal"
    worker.attributes.add("nounwind")
    # NOTE: the team's own code (a worker, the team function) runs once per chunk or per
    # offer, next to microseconds of chunk or parallel region: side by side it ran as fast
    # unoptimized, and optimizing it took LLVM ~4 ms per shared kernel and ~6 per module.
    unoptimized(worker)
    (closure,) = worker.args
    b = ir.IRBuilder(worker.append_basic_block("start"))
    args = [b.load(_member(b, closure, nargs, _ARGS, i), typ=_PTR) for i in range(nargs)]
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
    b.atomic_rmw("min", _member(b, closure, nargs, _FIRST_DONE), _clock(b), "monotonic")
    b.ret_void()
    return worker


_TEAM_FUNCTION = "graphc.parallel.team"


def _team_function(module: ir.Module) -> ir.Function:
    """i1 team(worker, closure, item_work): run worker(closure) on the team and return 1, or
    return 0 (the caller then runs the chunks alone) when there is no team, it has one
    thread, it is busy, it is backing off, or the work is below min_work.

    Backing off: when, in a team's run, the first thread to run out of chunks waited for the
    others more than half the run (on a loaded machine, a thread was descheduled), the next
    1, 3, 7, ... MAX_BACKOFF offers run alone; a run without such a wait ends it.
    """
    existing = module.globals.get(_TEAM_FUNCTION)
    if existing is not None:
        return existing
    team = ir.Function(module, ir.FunctionType(ir.IntType(1), [_PTR, _PTR, _I64]),
                       name=_TEAM_FUNCTION)
    team.linkage = "internal"
    unoptimized(team)         # NOTE: see _worker
    worker, closure, item_work = team.args
    b = ir.IRBuilder(team.append_basic_block("start"))
    record = _runtime_record(module)
    gomp_parallel = _GOMP_PARALLEL.as_pointer()      # (typed: llvmlite then knows the callee)
    parallel = b.load(_field(b, record, _PARALLEL), typ=gomp_parallel)
    threads = b.load(_field(b, record, _THREADS), typ=_I32)
    extent = b.load(_member(b, closure, None, _EXTENT), typ=_I64)
    wanted = b.and_(b.and_(b.icmp_unsigned("!=", parallel, ir.Constant(gomp_parallel, None)),
                           b.icmp_signed(">", threads, _I32(1))),
                    b.icmp_signed(">=", b.mul(extent, item_work),
                                  b.load(_field(b, record, _MIN_WORK), typ=_I64)))
    no = team.append_basic_block("no")
    b.position_at_end(no)
    b.ret(ir.Constant(ir.IntType(1), 0))
    b.position_at_end(team.entry_basic_block)
    offered = team.append_basic_block("offered")
    b.cbranch(wanted, offered, no)
    b.position_at_end(offered)
    skip_slot = _field(b, record, _SKIP)
    skip = b.load_atomic(skip_slot, "monotonic", 4, typ=_I32)
    with b.if_then(b.icmp_signed(">", skip, _I32(0))):
        b.store_atomic(b.sub(skip, _I32(1)), skip_slot, "monotonic", 4)
        b.branch(no)
    claimed = b.cmpxchg(_field(b, record, _BUSY), _I32(0), _I32(1), "acquire", "monotonic")
    go = team.append_basic_block("go")
    b.cbranch(b.extract_value(claimed, 1), go, no)
    b.position_at_end(go)
    chunk_slot = _member(b, closure, None, _CHUNK)
    chunk = b.load(chunk_slot, typ=_I64)
    pieces = b.mul(b.sext(threads, _I64), _I64(CHUNKS_PER_THREAD))
    chosen = larger(b, ceil_div(b, extent, pieces),
                    ceil_div(b, _I64(MIN_CHUNK_WORK), larger(b, item_work, _I64(1))))
    b.store(b.select(b.icmp_signed(">", chunk, _I64(0)), chunk, chosen), chunk_slot)
    first_done = _member(b, closure, None, _FIRST_DONE)
    b.store(_I64(2 ** 63 - 1), first_done)
    started = _clock(b)
    b.call(parallel, [worker, closure, threads, _I32(0)])
    ended = _clock(b)
    waited = b.sub(ended, b.load(first_done, typ=_I64))
    straggled = b.icmp_signed(">", b.mul(waited, _I64(2)), b.sub(ended, started))
    penalty_slot = _field(b, record, _PENALTY)
    doubled = b.add(b.mul(b.load(penalty_slot, typ=_I32), _I32(2)), _I32(1))
    penalty = b.select(straggled, b.select(b.icmp_signed(">", doubled, _I32(MAX_BACKOFF)),
                                           _I32(MAX_BACKOFF), doubled), _I32(0))
    b.store(penalty, penalty_slot)
    b.store_atomic(penalty, skip_slot, "monotonic", 4)
    regions = _field(b, record, _REGIONS)
    b.store(b.add(b.load(regions, typ=_I64), _I64(1)), regions)
    b.store_atomic(_I32(0), _field(b, record, _BUSY), "release", 4)
    b.ret(ir.Constant(ir.IntType(1), 1))
    return team
