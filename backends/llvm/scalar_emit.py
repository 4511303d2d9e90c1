"""Scalar formulas (graphc/scalar.py) as LLVM IR: one emitter per primitive.

Semantics are the formulas' (NumPy's): max and min propagate NaN and, between equal values,
return the second operand; float-to-int casts of NaN or out-of-range values give the minimum
int; bools are bytes holding 0 or 1. Transcendentals come from the vectorizable math library
(backends/llvm/vmath), so loops over them vectorize.
"""
from __future__ import annotations

from typing import Sequence

from llvmlite import ir

from backends.llvm.irutil import I1, I8, TYPES, const, is_float
from backends.llvm.vmath import BINARY, EMITTERS
from graphc import scalar
from graphc.scalar import Scalar

_FLOAT_CMP = {"lt": "<", "le": "<=", "eq": "==", "gt": ">", "ge": ">="}
_INT_LIMITS = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1)}


class ScalarEmitter:
    """Emits the values of scalar expressions over given operand values, sharing subterms."""

    def __init__(self, builder: ir.IRBuilder, roots: Sequence[Scalar], arg_dtypes: Sequence[str],
                 out_dtypes: Sequence[str]):
        self.b = builder
        self.types: dict[int, str] = {}
        self.roots = [scalar.typed(r, arg_dtypes, out) for r, out in zip(roots, out_dtypes)]
        for root, out in zip(self.roots, out_dtypes):
            self.types.update(scalar.dtypes(root, arg_dtypes, out))

    def emit(self, args: Sequence[ir.Value]) -> list[ir.Value]:
        """The roots' values for operand values `args` (one per arg index)."""
        memo: dict[int, ir.Value] = {}
        order = scalar.nodes(self.roots)
        for e in order:
            memo[id(e)] = self._primitive(e, [memo[id(a)] for a in e.args], args)
        return [memo[id(r)] for r in self.roots]

    def _primitive(self, e: Scalar, ops: list[ir.Value], args: Sequence[ir.Value]) -> ir.Value:
        b, dtype, prim = self.b, self.types[id(e)], e.prim
        if prim == "arg":
            return args[e.value]
        if prim == "const":
            return const(dtype, e.value[0])
        operand = self.types[id(e.args[0])] if e.args else dtype
        floating = is_float(operand)
        if prim in ("add", "sub", "mul"):
            if floating:
                return {"add": b.fadd, "sub": b.fsub, "mul": b.fmul}[prim](*ops)
            return {"add": b.add, "sub": b.sub, "mul": b.mul}[prim](*ops)
        if prim == "div":
            return b.fdiv(*ops)
        if prim == "neg":
            return b.fneg(ops[0]) if floating else b.sub(const(dtype, 0), ops[0])
        if prim == "abs":
            if floating:
                return self._intrinsic("llvm.fabs", ops)
            return b.select(b.icmp_signed("<", ops[0], const(dtype, 0)),
                            b.sub(const(dtype, 0), ops[0]), ops[0])
        if prim in ("max", "min"):
            return self._extremum(prim, ops, floating)
        if prim in ("floor", "ceil", "sqrt"):
            return self._intrinsic(f"llvm.{prim}", ops)
        if prim == "log1p" and _of_unit(e.args[0]):
            return EMITTERS["log1p_unit"](b, *ops)
        if prim in EMITTERS:
            return EMITTERS[prim](b, *ops)
        if prim == "pow":
            return BINARY["pow"](b, *ops) if floating else self._int_pow(ops, dtype)
        if prim in _FLOAT_CMP or prim == "ne":
            return b.zext(self._compare(prim, ops, operand), I8)
        if prim in ("and", "or"):
            return (b.and_ if prim == "and" else b.or_)(*ops)
        if prim == "not":
            return b.xor(ops[0], const("bool", 1))
        if prim == "select":
            return b.select(b.icmp_unsigned("!=", ops[0], const("bool", 0)), ops[1], ops[2])
        if prim == "cast":
            return self._cast(ops[0], operand, dtype)
        raise NotImplementedError(f"no IR for primitive {prim}")

    def _compare(self, prim: str, ops: list[ir.Value], dtype: str) -> ir.Value:
        b = self.b
        if is_float(dtype):
            if prim == "ne":
                return b.fcmp_unordered("!=", *ops)       # NaN != anything
            return b.fcmp_ordered(_FLOAT_CMP[prim], *ops)
        symbol = "!=" if prim == "ne" else _FLOAT_CMP[prim]
        if dtype == "bool":
            return b.icmp_unsigned(symbol, *ops)
        return b.icmp_signed(symbol, *ops)

    def _extremum(self, prim: str, ops: list[ir.Value], floating: bool) -> ir.Value:
        """NumPy's maximum: a if (a > b or a is NaN) else b (so NaN wins, ties give b)."""
        b, (x, y) = self.b, ops
        symbol = ">" if prim == "max" else "<"
        if not floating:
            return b.select(b.icmp_signed(symbol, x, y), x, y)
        take_x = b.or_(b.fcmp_ordered(symbol, x, y), b.fcmp_unordered("uno", x, x))
        return b.select(take_x, x, y)

    def _cast(self, x: ir.Value, source: str, target: str) -> ir.Value:
        b, to = self.b, TYPES[target]
        if source == target:
            return x
        if target == "bool":
            zero = const(source, 0)
            test = b.fcmp_unordered("!=", x, zero) if is_float(source) else \
                b.icmp_unsigned("!=", x, zero)
            return b.zext(test, I8)
        if source == "bool":
            return b.uitofp(x, to) if is_float(target) else b.zext(x, to)
        if is_float(source) and is_float(target):
            return b.fpext(x, to) if target == "float64" else b.fptrunc(x, to)
        if is_float(source):
            lo, hi = _INT_LIMITS[target]
            # NOTE: fptosi is poison outside the int's range; x86 (and so NumPy) gives the
            # minimum int there and for NaN, which we say explicitly.
            inside = b.and_(b.fcmp_ordered(">=", x, const(source, float(lo))),
                            b.fcmp_ordered("<", x, const(source, -float(lo))))
            return b.select(inside, b.fptosi(x, to), const(target, lo))
        if is_float(target):
            return b.sitofp(x, to)
        return b.sext(x, to) if to.width > x.type.width else b.trunc(x, to)

    def _intrinsic(self, name: str, ops: list[ir.Value]) -> ir.Value:
        module = self.b.module
        ty = ops[0].type
        full = f"{name}.{'f32' if ty == TYPES['float32'] else 'f64'}"
        fn = module.globals.get(full) or ir.Function(
            module, ir.FunctionType(ty, [ty] * len(ops)), name=full)
        return self.b.call(fn, ops)

    def _int_pow(self, ops: list[ir.Value], dtype: str) -> ir.Value:
        """Integer power by repeated squaring (a negative exponent gives 0 here; the op's
        kernel reports it as an error before)."""
        module = self.b.module
        ty = TYPES[dtype]
        name = f"graphc.ipow.{dtype}"
        fn = module.globals.get(name)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(ty, [ty, ty]), name=name)
            fn.linkage = "internal"
            base, exponent = fn.args
            entry = fn.append_basic_block("entry")
            head = fn.append_basic_block("head")
            body = fn.append_basic_block("body")
            done = fn.append_basic_block("done")
            b = ir.IRBuilder(entry)
            b.branch(head)
            b.position_at_end(head)
            result = b.phi(ty)
            square = b.phi(ty)
            rest = b.phi(ty)
            result.add_incoming(ir.Constant(ty, 1), entry)
            square.add_incoming(base, entry)
            rest.add_incoming(exponent, entry)
            b.cbranch(b.icmp_signed(">", rest, ir.Constant(ty, 0)), body, done)
            b.position_at_end(body)
            odd = b.trunc(rest, I1)
            result.add_incoming(b.select(odd, b.mul(result, square), result), body)
            square.add_incoming(b.mul(square, square), body)
            rest.add_incoming(b.ashr(rest, ir.Constant(ty, 1)), body)
            b.branch(head)
            b.position_at_end(done)
            b.ret(b.select(b.icmp_signed("<", exponent, ir.Constant(ty, 0)),
                           ir.Constant(ty, 0), result))
        return self.b.call(fn, ops)


def _of_unit(e: Scalar) -> bool:
    """e is exp of a non-positive number: in [0, 1] or NaN, never -0 (see vmath log1p_unit)."""
    return e.prim == "exp" and scalar.is_nonpositive(e.args[0])
