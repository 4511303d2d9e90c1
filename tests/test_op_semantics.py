"""Op declarations: arity, attribute schemas, traits, and scalar formulas as the ops' meaning."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc
from backends.numpy.kernels import UFUNCS, factory
from graphc import scalar
from graphc.registry import OPS, Kind, Trait
from graphc.tensor import make

ELEMENTWISE = sorted(name for name, op in OPS.items() if op.kind is Kind.ELEMENTWISE)


# ---- declarations -----------------------------------------------------------------------------

def test_every_elementwise_op_has_a_formula_and_every_op_an_arity() -> None:
    assert {"add", "where", "cast", "sigmoid", "softplus", "relu"} <= set(ELEMENTWISE)
    for name in ELEMENTWISE:
        assert OPS[name].formula is not None, name
    for op in OPS.values():
        assert isinstance(op.arity, (int, tuple)), op.name


def test_traits_come_from_the_registry() -> None:
    from backends.numpy.memory import VIEW_OPS
    assert VIEW_OPS == {n for n, op in OPS.items() if op.has(Trait.VIEW)}
    assert {"reshape", "transpose", "slice", "broadcast_to"} <= VIEW_OPS
    assert OPS["add"].has(Trait.COMMUTATIVE) and not OPS["subtract"].has(Trait.COMMUTATIVE)
    assert OPS["multiply"].identity == 1 and OPS["logical_or"].absorbing is True


def test_a_wrong_operand_count_is_refused_naming_the_op() -> None:
    x = gc.placeholder((2,), name="x")
    w = gc.variable(np.ones(2, np.float32), name="W")
    with pytest.raises(gc.GraphError, match=r"neg: takes 1 operand, got 2 .*test_op_semantics"):
        make("neg", [x, w])
    with pytest.raises(gc.GraphError, match="add: takes 2 operands, got 1"):
        make("add", [x])
    with pytest.raises(gc.GraphError, match="concatenate: takes at least 1 operand"):
        make("concatenate", [], {"axis": 0})


@pytest.mark.parametrize("op, attrs, message", [
    ("sum", {"axes": (0,)}, "missing attribute 'keepdims'"),
    ("sum", {"axes": (0,), "keepdims": False, "axis": 1}, "unknown attribute 'axis'"),
    ("sum", {"axes": "0", "keepdims": False}, "attribute axes='0' must be a tuple of axes"),
    ("sum", {"axes": (0, 0), "keepdims": False}, "must be distinct"),
    ("sum", {"axes": (3,), "keepdims": False}, "below the rank"),
    ("cast", {"dtype": "float16"}, "float16 is not supported"),
    ("reshape", {"shape": (2, -3)}, "dims are non-negative"),
    ("pad", {"pads": ((1, 1),), "value": "zero"}, "must be a number"),
])
def test_bad_attributes_are_graph_errors(op: str, attrs: dict, message: str) -> None:
    x = gc.placeholder((2,), name="x")
    with pytest.raises(gc.GraphcError, match=message):
        make(op, [x], attrs)


def test_list_attributes_are_normalized_and_nan_attributes_hash_cons() -> None:
    x = gc.placeholder((2, 3), name="x")
    assert make("transpose", [x], {"perm": [1, 0]}) is make("transpose", [x], {"perm": (1, 0)})
    assert gc.pad(x, 1, float("nan")) is gc.pad(x, 1, float("nan"))
    assert gc.pad(x, 1, -0.0) is not gc.pad(x, 1, 0.0)
    assert make("sum", [x], {"axes": [np.int64(1)], "keepdims": np.bool_(True)}) is \
        gc.sum(x, 1, keepdims=True)


# ---- formulas ---------------------------------------------------------------------------------

def _edge_values(dtype: str) -> np.ndarray:
    info = np.finfo(dtype)
    base = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-3, -1e-3, 20.0, -20.0, 88.0, -88.0,
            700.0, -700.0, 1e4, -1e4, float(info.max), -float(info.max), float(info.tiny),
            float(info.smallest_subnormal), -float(info.smallest_subnormal), np.inf, -np.inf,
            np.nan, np.pi, 1e-30]
    return np.array(base, dtype)


def _operands(arity: int, name: str, dtype: str) -> list[np.ndarray]:
    values = _edge_values(dtype)
    if name in ("logical_not", "logical_and", "logical_or"):
        values = np.array([True, False])
    pairs = np.array(list(itertools.product(range(len(values)), repeat=arity))).T
    return [values[p] for p in pairs]


def _tolerance_ulps(name: str) -> int:
    """Formulas that compose transcendental primitives differ from NumPy's own by a few ulp."""
    return {"sigmoid": 4, "softplus": 4, "rsqrt": 2,
            "erf": 1}.get(name, 0)     # erf: SciPy's and libm's differ by an ulp


def _ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ints = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = a.view(ints).astype(np.int64), b.view(ints).astype(np.int64)
    ia = np.where(ia < 0, np.iinfo(ints).min - ia, ia)     # a monotone integer line
    ib = np.where(ib < 0, np.iinfo(ints).min - ib, ib)
    return np.abs(ia - ib)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if n != "cast"])
def test_fast_numpy_kernels_agree_with_the_formulas_on_edge_values(name: str, dtype: str) -> None:
    """The interpreter's ufuncs compute what the core's scalar formula means."""
    opdef = OPS[name]
    arity = opdef.arity if isinstance(opdef.arity, int) else opdef.arity[0]
    args = _operands(arity, name, dtype)
    if name == "where":
        args[0] = args[0] > 0
    operand_types = [gc.placeholder((len(a),), str(a.dtype)) for a in args]
    node = make(name, operand_types)
    expr = scalar.trace(opdef.formula, arity, {})
    want = scalar.evaluate(expr, args, node.dtype)
    with np.errstate(all="ignore"):
        got = np.asarray(factory(name)(node, None)(*args), dtype=node.dtype)
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=name)
        return
    same_nan = np.isnan(got) == np.isnan(want)
    assert same_nan.all(), f"{name}: NaN differs at {[a[~same_nan] for a in args]}"
    finite = ~np.isnan(got)
    ulps = _ulp_distance(got[finite], want[finite])
    worst = int(ulps.max()) if ulps.size else 0
    assert worst <= _tolerance_ulps(name), (
        f"{name} {dtype}: {worst} ulp at {[a[finite][ulps.argmax()] for a in args]}")


def test_every_fast_kernel_is_checked() -> None:
    assert set(UFUNCS) <= set(ELEMENTWISE)


@pytest.mark.parametrize("source, target", [("float32", "int32"), ("float64", "int64"),
                                            ("float32", "bool"), ("int64", "float32"),
                                            ("bool", "float64"), ("int32", "int64")])
def test_cast_formula_matches_numpy_astype(source: str, target: str) -> None:
    values = np.array([0, 1, -1, 2.7, -2.7, 1e3], dtype=source) if source != "bool" else \
        np.array([True, False])
    expr = scalar.trace(OPS["cast"].formula, 1, {"dtype": target})
    np.testing.assert_array_equal(scalar.evaluate(expr, [values], target), values.astype(target))


def test_constant_folding_goes_through_the_formulas() -> None:
    x = gc.placeholder((3,), name="x")
    c = gc.sigmoid(gc.constant(np.array([-1000.0, 0.0, 1000.0], np.float32)))
    (folded,) = gc.optimize(gc.Graph([x], [x + c]))[0].outputs[0].inputs[1:]
    assert folded.op == "constant"
    np.testing.assert_array_equal(folded.value, [0.0, 0.5, 1.0])


def test_a_shared_weak_constant_takes_each_context_dtype() -> None:
    """The weak 1 of a float32 1 / x and of a float64 select is one node: each place gets its
    own dtype (typing it once gave both float32, and native code failed to build)."""
    a, b = scalar.arg(0), scalar.arg(1)
    root = scalar.cast(1 / a, "float64") + scalar.apply("select", b > 0, 1, b)
    typed = scalar.typed(root, ["float32", "float64"], "float64")
    consts = {e.value for e in scalar.nodes([typed]) if e.prim == "const"}
    assert {(1, "float32"), (1, "float64")} <= consts
    got = scalar.evaluate(root, [np.float32([4.0]), np.array([-2.0])], "float64")
    np.testing.assert_array_equal(got, [-1.75])


def test_the_sign_test_knows_only_what_the_primitives_imply() -> None:
    x, y = scalar.arg(0), scalar.arg(1)
    nonpositive = [-abs(x), -scalar.exp(x), scalar.const(-2.0), -abs(x) - scalar.exp(y),
                   scalar.minimum(x, -abs(y)), scalar.maximum(-abs(x), scalar.const(-1.0))]
    unknown = [x, -x, abs(x), x - abs(y), scalar.maximum(x, -abs(y)), -abs(x) + y,
               scalar.tanh(-abs(x)), scalar.const(1.0)]
    assert all(scalar.is_nonpositive(e) for e in nonpositive)
    assert not any(scalar.is_nonpositive(e) for e in unknown)
    deep = -abs(x)
    for _ in range(200):                 # shared subterms: walked once, not 2^200 times
        deep = deep + deep
    assert scalar.is_nonpositive(deep)
