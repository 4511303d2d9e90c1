"""Whole calls on the team or alone, whichever has lately been faster.

A kernel offered to the team gains on it, but what the team costs is not all in that kernel:
while its threads wait for the next offer they spin, and on a virtual machine whose two
vCPUs at times share one physical core, the spinning thread slows the serial kernels beside
it (W3 measured 1.7 ms per step with the team against 1.2 ms on one thread, in stretches of
tens of seconds, and 0.8 ms with it otherwise). Only the whole call shows that, so a module
whose kernels can share gets an entry that times each call (the CPU's cycle counter) and
keeps an estimate per way (`_updated`): the first calls alternate, then every
PROBE_PERIOD-th call runs the other way, and the faster way runs the rest. Running alone is
the module's alone switch (parallel.alone_switch), which makes its offers decline; the
team's threads then fall asleep. Results do not depend on the way (see parallel.py), so the
switch is only ever a question of speed; concurrent calls share the estimates without locks
(they may time each other's way: an estimate, not a verdict).
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm import parallel
from backends.llvm.irutil import I32, I64, unoptimized

PROBE_PERIOD = 128         # a call in 128 runs the way not chosen (W4: 12 instead of 6.4 ms)
FIRST_CALLS = 32           # which alternate ways, to start both estimates from many calls
_RECORD = ir.LiteralStructType([I64, I64, I64])   # calls, estimated cycles on the team, alone
_CALLS, _ON_TEAM, _ALONE = range(3)


def paced_entry(module: ir.Module, steps: ir.Function, name: str) -> ir.Function:
    """An entry `name` with steps' signature that runs steps on the team or alone (see the
    module docstring); without a team, or with pacing off (parallel.settings), it just
    calls steps."""
    entry = ir.Function(module, steps.function_type, name=name)
    unoptimized(entry)                      # (a few instructions per call)
    record = ir.GlobalVariable(module, _RECORD, name="graphc.pace")
    record.linkage = "internal"
    record.initializer = ir.Constant(_RECORD, None)
    b = ir.IRBuilder(entry.append_basic_block("start"))
    args = list(entry.args)
    paced = b.and_(b.icmp_signed(">", parallel.runtime_field(b, "threads"), I32(1)),
                   b.icmp_signed("!=", parallel.runtime_field(b, "paced"), I32(0)))
    switch = parallel.alone_switch(module)
    with b.if_then(b.not_(paced)):
        b.store_atomic(I32(0), switch, "monotonic", 4)
        b.ret(b.call(steps, args))

    def slot(index: int) -> ir.Value:
        return b.gep(record, [I32(0), I32(index)], inbounds=True)

    calls = b.atomic_rmw("add", slot(_CALLS), I64(1), "monotonic")
    on_team, alone = (b.load_atomic(slot(i), "monotonic", 8, typ=I64) for i in (_ON_TEAM, _ALONE))
    # NOTE: call 0 (arena pages first touched, caches cold) is not timed, nor is a failed
    # call; the first calls alternate (odd ones alone), then the faster way runs but for
    # probes.
    first = b.icmp_signed("<", calls, I64(FIRST_CALLS))
    prefer_alone = b.icmp_signed("<", alone, on_team)
    probe = b.icmp_signed("==", b.srem(calls, I64(PROBE_PERIOD)), I64(0))
    run_alone = b.select(first, b.trunc(calls, ir.IntType(1)), b.xor(prefer_alone, probe))
    b.store_atomic(b.zext(run_alone, I32), switch, "monotonic", 4)
    started = parallel.clock(b)
    status = b.call(steps, args)
    cycles = b.sub(parallel.clock(b), started)
    timed = b.and_(b.and_(b.icmp_signed(">", calls, I64(0)), b.icmp_signed(">", cycles, I64(0))),
                   b.icmp_signed("==", status, I32(0)))
    with b.if_then(timed):
        estimate = b.select(run_alone, slot(_ALONE), slot(_ON_TEAM))
        old = b.load_atomic(estimate, "monotonic", 8, typ=I64)
        b.store_atomic(_updated(b, old, cycles), estimate, "monotonic", 8)
    b.ret(status)
    return entry


def _updated(b: ir.IRBuilder, old: ir.Value, cycles: ir.Value) -> ir.Value:
    """A way's new estimate after a call of `cycles`: a quarter of the way to it, counted at
    most twice the estimate (the first call sets it).

    NOTE: a call the machine interrupted reads slow; on the way that is only probed, one such
    call would otherwise hold the estimate up for many probes. A lasting slowdown (the other
    vCPU now shares our core) still shows within a few calls. (Moving faster towards faster
    calls made the estimate a low quantile, and a way whose times scatter look faster.)
    """
    high = b.shl(old, I64(1))
    capped = b.select(b.icmp_signed(">", cycles, high), high, cycles)
    moved = b.add(old, b.ashr(b.sub(capped, old), I64(2)))
    return b.select(b.icmp_signed("==", old, I64(0)), cycles, moved)
