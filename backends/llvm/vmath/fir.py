"""Typed IR helpers over one float type, scalar or vector, so each math routine is written once."""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir


def element_type(ty: ir.Type) -> ir.Type:
    """The float type of a scalar, or of a vector's lanes."""
    return ty.element if isinstance(ty, ir.VectorType) else ty


def is_float_type(ty: ir.Type) -> bool:
    """True for f32/f64 and for vectors of them: the types vmath emitters accept."""
    return isinstance(element_type(ty), (ir.FloatType, ir.DoubleType))


def type_suffix(ty: ir.Type) -> str:
    """The overload suffix LLVM uses in intrinsic and vmath names: f32, v8f32, f64, v4f64."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{ty.element.intrinsic_name}"
    return ty.intrinsic_name


def declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    """The module's function `name`, declared on first use."""
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, fnty, name=name)


class FloatIR:
    """An IRBuilder bound to one float type `ty`: splatted constants, intrinsics, bit tricks.

    Integers used for exponent manipulation have the same width as the float (i32 for f32,
    i64 for f64) and the same vector shape.
    """

    def __init__(self, builder: ir.IRBuilder, ty: ir.Type):
        if not is_float_type(ty):
            raise TypeError(f"vmath works on f32/f64 scalars and vectors, not {ty}")
        self.b = builder
        self.ty = ty
        self.is_f64 = isinstance(element_type(ty), ir.DoubleType)
        self.prec = "f64" if self.is_f64 else "f32"  # the key of coefficient tables
        self.width = ty.count if isinstance(ty, ir.VectorType) else 0
        self.bits = 64 if self.is_f64 else 32
        self.mant_bits = 52 if self.is_f64 else 23
        self.bias = 1023 if self.is_f64 else 127
        self.ity = self._shaped(ir.IntType(self.bits))
        self.i32 = self._shaped(ir.IntType(32))

    def _shaped(self, elem: ir.Type) -> ir.Type:
        return ir.VectorType(elem, self.width) if self.width else elem

    def with_type(self, ty: ir.Type) -> FloatIR:
        """The same builder bound to another float type (same vector shape expected)."""
        return FloatIR(self.b, ty)

    # -- constants -------------------------------------------------------------------------
    def _splat(self, ty: ir.Type, value) -> ir.Constant:
        if isinstance(ty, ir.VectorType):
            return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)
        return ir.Constant(ty, value)

    def c(self, value: float) -> ir.Constant:
        """A float constant (llvmlite prints it as an exact hex double, rounded to f32 for f32)."""
        return self._splat(self.ty, float(value))

    def ci(self, value: int) -> ir.Constant:
        """An integer constant of the float's width."""
        return self._splat(self.ity, int(value))

    # -- arithmetic ------------------------------------------------------------------------
    def add(self, a, b):
        return self.b.fadd(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def neg(self, a):
        return self.b.fneg(a)

    def _intrinsic(self, name: str, nargs: int):
        fnty = ir.FunctionType(self.ty, [self.ty] * nargs)
        return declare(self.b.module, f"{name}.{type_suffix(self.ty)}", fnty)

    def call(self, name: str, *args):
        """Call the overloaded intrinsic `llvm.<name>` on this type."""
        return self.b.call(self._intrinsic(f"llvm.{name}", len(args)), list(args))

    def fma(self, a, b, c):
        """a*b + c, fused or not as the target prefers (polynomials)."""
        return self.call("fmuladd", a, b, c)

    def fma_exact(self, a, b, c):
        """a*b + c with one rounding (argument reduction relies on it; FMA hardware assumed)."""
        return self.call("fma", a, b, c)

    def rint(self, a):
        return self.call("rint", a)

    def floor(self, a):
        return self.call("floor", a)

    def fabs(self, a):
        return self.call("fabs", a)

    def copysign(self, mag, sign):
        return self.call("copysign", mag, sign)

    def poly(self, x, coeffs):
        """Horner: coeffs[0] + coeffs[1]*x + ... (floats or IR values) with fused multiply-adds."""
        values = [self.c(c) if isinstance(c, float) else c for c in coeffs]
        acc = values[-1]
        for coef in reversed(values[:-1]):
            acc = self.fma(acc, x, coef)
        return acc

    # -- comparisons and selection ---------------------------------------------------------
    def lt(self, a, b):
        return self.b.fcmp_ordered("<", a, b)

    def le(self, a, b):
        return self.b.fcmp_ordered("<=", a, b)

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", a, b)

    def ge(self, a, b):
        return self.b.fcmp_ordered(">=", a, b)

    def eq(self, a, b):
        return self.b.fcmp_ordered("==", a, b)

    def lt_or_nan(self, a, b):
        return self.b.fcmp_unordered("<", a, b)

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def is_finite(self, a):
        """False for inf and nan."""
        return self.b.fcmp_ordered("<", self.fabs(a), self.c(float("inf")))

    def select(self, cond, a, b):
        return self.b.select(cond, a, b)

    def and_(self, a, b):
        return self.b.and_(a, b)

    def or_(self, a, b):
        return self.b.or_(a, b)

    def not_(self, a):
        return self.b.not_(a)

    # -- bits and integers -----------------------------------------------------------------
    def as_int(self, a):
        return self.b.bitcast(a, self.ity)

    def as_float(self, i):
        return self.b.bitcast(i, self.ty)

    def to_int(self, a):
        """An integral float (|a| < 2^31) as a same-width integer (via i32: cheap on AVX2)."""
        i = self.b.fptosi(a, self.i32)
        return self.b.sext(i, self.ity) if self.is_f64 else i

    def to_float(self, i):
        return self.b.sitofp(i, self.ty)

    def pow2(self, n):
        """2^n for an integer n in the normal exponent range, built from its bits."""
        biased = self.b.add(n, self.ci(self.bias))
        return self.as_float(self.b.shl(biased, self.ci(self.mant_bits)))

    def ldexp(self, x, n):
        """x * 2^n for integer n in [2*emin, 2*emax]: two factors keep each power normal."""
        half = self.b.ashr(n, self.ci(1))
        return self.mul(self.mul(x, self.pow2(half)), self.pow2(self.b.sub(n, half)))


Body = Callable[..., ir.Value]  # (FloatIR, *values) -> value
Emitter = Callable[..., ir.Value]  # (IRBuilder, *values) -> value


def routine(name: str, body: Body) -> Emitter:
    """An emitter calling `graphc.vmath.<name>.<type>`, defined on first use from `body`.

    The function is internal and alwaysinline: the call disappears before the loop vectorizer
    runs, so a scalar loop calling it vectorizes, and the IR stays readable.
    """
    def emit(builder: ir.IRBuilder, *args: ir.Value) -> ir.Value:
        ty = args[0].type
        if not is_float_type(ty) or any(a.type != ty for a in args):
            raise TypeError(f"vmath.{name} takes f32/f64 scalars or vectors of one type, "
                            f"got {', '.join(str(a.type) for a in args)}")
        module = builder.module
        fname = f"graphc.vmath.{name}.{type_suffix(ty)}"
        fn = module.globals.get(fname)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(ty, [ty] * len(args)), name=fname)
            fn.linkage = "internal"
            for attr in ("alwaysinline", "nounwind", "readnone"):
                fn.attributes.add(attr)
            inner = ir.IRBuilder(fn.append_basic_block("entry"))
            inner.ret(body(FloatIR(inner, ty), *fn.args))
        return builder.call(fn, list(args))
    emit.__name__ = emit.__qualname__ = name
    emit.__doc__ = body.__doc__
    return emit
