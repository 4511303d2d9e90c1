"""Native kernels for the counter-based random ops: the splitmix64 spec of graphc/ops/random_bits.

Element i of a draw is a pure function of (key, i), so the loop has no carried state and
vectorizes. Normals evaluate the spec's own log and cos (exactly rounded IEEE operations in a
fixed order, never libm), so they match the interpreter bit for bit.
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm.access import Access
from backends.llvm.irutil import F64, I64, i64, ir_type, loop
from backends.llvm.kernels import register
from backends.llvm.kernels.base import Kernel
from graphc.ops import random_bits as spec
from graphc.tensor import Tensor


def _mix(b: ir.IRBuilder, z: ir.Value) -> ir.Value:
    z = b.xor(z, b.lshr(z, i64(30)))
    z = b.mul(z, ir.Constant(I64, _signed(spec._M1)))
    z = b.xor(z, b.lshr(z, i64(27)))
    z = b.mul(z, ir.Constant(I64, _signed(spec._M2)))
    return b.xor(z, b.lshr(z, i64(31)))


def _signed(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


def _f(value: float) -> ir.Constant:
    return ir.Constant(F64, value)


def _uniform53(b: ir.IRBuilder, key: ir.Value, element: ir.Value, bits: int = 53) -> ir.Value:
    """The uniform in [0, 1) of element `element` as a double holding `bits` random bits."""
    step = b.add(element, i64(1))
    word = _mix(b, b.add(b.mul(step, ir.Constant(I64, _signed(spec.GOLDEN))), key))
    top = b.lshr(word, i64(64 - bits))
    return b.fmul(b.uitofp(top, F64), _f(2.0 ** -bits))


def _horner(b: ir.IRBuilder, coefficients: tuple, z: ir.Value) -> ir.Value:
    total = _f(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        total = b.fadd(b.fmul(total, z), _f(c))
    return total


def _log_unit(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    """spec.log_unit: frexp by exponent bits, then the atanh series."""
    raw = b.bitcast(v, I64)
    exponent = b.sub(b.and_(b.lshr(raw, i64(52)), i64(0x7FF)), i64(1022))
    m = b.bitcast(b.or_(b.and_(raw, i64(~(0x7FF << 52))), i64(1022 << 52)), F64)
    low = b.fcmp_ordered("<", m, _f(spec.SQRT_HALF))
    m = b.select(low, b.fmul(m, _f(2.0)), m)
    e = b.sitofp(b.sub(exponent, b.zext(low, I64)), F64)
    s = b.fdiv(b.fsub(m, _f(1.0)), b.fadd(m, _f(1.0)))
    log_m = b.fmul(b.fmul(_f(2.0), s), _horner(b, spec.LOG_SERIES, b.fmul(s, s)))
    return b.fadd(b.fmul(e, _f(spec.LN2_HI)), b.fadd(log_m, b.fmul(e, _f(spec.LN2_LO))))


def _cos_turn(b: ir.IRBuilder, u: ir.Value) -> ir.Value:
    """spec.cos_turn: cos(2 pi u) by quarter turns and short series."""
    floor = b.module.globals.get("llvm.floor.f64") or ir.Function(
        b.module, ir.FunctionType(F64, [F64]), name="llvm.floor.f64")
    t = b.fmul(u, _f(4.0))
    q = b.call(floor, [t])
    f = b.fsub(t, q)
    swap = b.fcmp_ordered(">", f, _f(0.5))
    r = b.fmul(b.select(swap, b.fsub(_f(1.0), f), f), _f(spec.HALF_PI))
    z = b.fmul(r, r)
    c = _horner(b, spec.COS_SERIES, z)
    s = b.fmul(r, _horner(b, spec.SIN_SERIES, z))
    cos_f, sin_f = b.select(swap, s, c), b.select(swap, c, s)
    result = sin_f
    for quarter, value in ((2, b.fneg(cos_f)), (1, b.fneg(sin_f)), (0, cos_f)):
        result = b.select(b.fcmp_ordered("==", q, _f(float(quarter))), value, result)
    return result


@register("random_uniform", "random_normal")
def draw(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    state = ins[0]
    k = Kernel(low.module, low.name(node), [out, state], low.env)
    b = k.b
    seed = k.load(state, [i64(0)])
    counter = k.load(state, [i64(1)])
    stream = spec._mix_int(node.attrs["stream"] + 2)
    key = b.xor(b.xor(_mix(b, seed), _mix(b, b.add(counter, i64(1)))),
                ir.Constant(I64, _signed(stream)))
    dtype = ir_type(node.dtype)
    flat = Access(out.buffer, (), (), out.offset)
    with loop(b, k.size(out.shape), name="draw") as i:
        if node.op == "random_uniform":
            value = _uniform53(b, key, i, 24 if node.dtype == "float32" else 53)
        else:
            pair = b.mul(i, i64(2))
            u0, u1 = _uniform53(b, key, pair), _uniform53(b, key, b.add(pair, i64(1)))
            log_v = _log_unit(b, b.fsub(_f(1.0), u0))
            sqrt = b.module.globals.get("llvm.sqrt.f64") or ir.Function(
                b.module, ir.FunctionType(F64, [F64]), name="llvm.sqrt.f64")
            radius = b.call(sqrt, [b.fmul(_f(-2.0), log_v)])
            value = b.fmul(radius, _cos_turn(b, u1))
        if node.dtype == "float32":
            value = b.fptrunc(value, dtype)
        b.store(value, k.address(flat, b.add(k.dims(out.offset), i)))
    return k
