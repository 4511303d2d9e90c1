"""Vectorizable math for the native backend: transcendentals as straight-line IR, not libm calls.

`EMITTERS[name](builder, x)` and `BINARY["pow"](builder, x, y)` return the result for f32/f64
scalars and vectors. Each defines an internal alwaysinline `graphc.vmath.<name>.<type>` in the
builder's module, so a scalar loop calling it is widened by LLVM's loop vectorizer.
"""

from __future__ import annotations

from backends.llvm.vmath import exp_log, power, special, trig
from backends.llvm.vmath.fir import Emitter, FloatIR, routine


def _sqrt(m: FloatIR, x):
    """The hardware's correctly rounded square root, so every float primitive has an entry."""
    return m.call("sqrt", x)


EMITTERS: dict[str, Emitter] = {
    "exp": routine("exp", exp_log.exp),
    "expm1": routine("expm1", exp_log.expm1),
    "log": routine("log", exp_log.log),
    "log1p": routine("log1p", exp_log.log1p),
    "log1p_unit": routine("log1p_unit", exp_log.log1p_unit),
    "sin": routine("sin", trig.sin),
    "cos": routine("cos", trig.cos),
    "tanh": routine("tanh", special.tanh),
    "erf": routine("erf", special.erf),
    "sqrt": routine("sqrt", _sqrt),
}
BINARY: dict[str, Emitter] = {
    "pow": routine("pow", power.pow_),
}
