"""gc.onnx.load: converters checked against NumPy (or onnx's NumPy reference evaluator)."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX importer needs the optional onnx package")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import graphc as gc  # noqa: E402
from frontends.onnx import OnnxError, UnsupportedOnnxError  # noqa: E402
from tests.onnx_models import F, mlp, model, one_node  # noqa: E402

rng = np.random.default_rng(0)


def run(m, *feeds):
    return gc.compile(gc.onnx.load(m))(*feeds)


def reference(m, *feeds):
    names = [i.name for i in m.graph.input if i.name not in {t.name for t in m.graph.initializer}]
    return ReferenceEvaluator(m).run(None, dict(zip(names, feeds)))


def erf(x):
    import scipy.special
    return scipy.special.erf(x)


UNARY = [  # op, attributes, NumPy expectation
    ("Relu", {}, lambda x: np.maximum(x, 0)),
    ("Sigmoid", {}, lambda x: 1 / (1 + np.exp(-x))),
    ("Softsign", {}, lambda x: x / (1 + np.abs(x))),
    ("Gelu", {}, lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))),
    ("Gelu", {"approximate": "tanh"},
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, lambda x: np.clip(0.3 * x + 0.4, 0, 1)),
    ("Selu", {}, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772
                                                          * (np.exp(x) - 1))),
    ("LeakyRelu", {"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    ("Elu", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    ("Softplus", {}, lambda x: np.log1p(np.exp(x))),
    ("Tan", {}, np.tan), ("Cosh", {}, np.cosh), ("Asinh", {}, np.arcsinh),
    ("Round", {}, np.round), ("Mish", {}, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    ("Clip", {"min": -0.5, "max": 0.5}, lambda x: np.clip(x, -0.5, 0.5)),   # opset 6 form
]


@pytest.mark.parametrize("op, attrs, expect", UNARY, ids=[f"{u[0]}{u[1]}" for u in UNARY])
def test_unary_ops_match_numpy(op, attrs, expect) -> None:
    x = (rng.standard_normal((3, 4)) * 2).astype(np.float32)
    x[0, :2] = [0.5, 2.5]        # Round: ties go to even
    opset = 6 if "min" in attrs else 17
    m = one_node(op, [("x", F, [3, 4])], [("y", F, [3, 4])], opset=opset, **attrs)
    np.testing.assert_allclose(run(m, x)[0], expect(x).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_old_broadcast_attribute_aligns_at_axis() -> None:
    """Opset 6 Add with broadcast=1, axis=1 adds a (3,) bias along axis 1 of (2, 3, 4)."""
    m = one_node("Add", [("a", F, [2, 3, 4]), ("b", F, [3])], [("y", F, [2, 3, 4])],
                 opset=6, broadcast=1, axis=1)
    a, b = rng.standard_normal((2, 3, 4)).astype("f4"), rng.standard_normal(3).astype("f4")
    np.testing.assert_allclose(run(m, a, b)[0], a + b[:, None])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_one_hot_gives_off_values_for_indices_out_of_range(backend) -> None:
    """ONNX: an index outside [-depth, depth) gets a row of off-values (gc.one_hot raises)."""
    m = one_node("OneHot", [("i", TensorProto.INT64, [6])], [("y", F, None)], axis=0,
                 initializers=[("depth", np.array(4)), ("values", np.array([-1, 3], "f4"))])
    i = np.array([0, 3, -1, -4, 4, -5])
    want = np.full((4, 6), -1, np.float32)
    for column, hot in enumerate([0, 3, 3, 0]):
        want[hot, column] = 3
    np.testing.assert_array_equal(gc.compile(gc.onnx.load(m), backend=backend)(i)[0], want)
    np.testing.assert_array_equal(reference(m, i)[0], want)


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics(opset: int) -> None:
    """Before opset 13, axis=1 of (2, 3, 4) means softmax over the 12 trailing elements."""
    x = rng.standard_normal((2, 3, 4)).astype("f4")
    m = one_node("Softmax", [("x", F, [2, 3, 4])], [("y", F, [2, 3, 4])], opset=opset, axis=1)
    axes = (1, 2) if opset < 13 else 1
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    np.testing.assert_allclose(run(m, x)[0], e / e.sum(axis=axes, keepdims=True), rtol=1e-6)


POOLS = [  # op, attributes (all against onnx's reference evaluator)
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 2], "pads": [1, 0, 0, 1], "dilations": [2, 2]}),
    ("MaxPool", {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER", "strides": [2, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                     "ceil_mode": 1, "count_include_pad": 1}),
    ("LpPool", {"kernel_shape": [2, 2], "p": 3}),
]


@pytest.mark.parametrize("op, attrs", POOLS, ids=[f"{p[0]}{p[1]}" for p in POOLS])
def test_pooling_geometry_matches_the_reference(op, attrs) -> None:
    x = rng.standard_normal((1, 2, 7, 8)).astype("f4")
    m = one_node(op, [("x", F, [1, 2, 7, 8])], [("y", F, None)], opset=18, **attrs)
    np.testing.assert_allclose(run(m, x)[0], reference(m, x)[0], rtol=1e-5, atol=1e-6)


def conv_transpose(x, w, b, strides, dilations, group, crop):
    """Naive ConvTranspose: every input pixel scatters its weighted kernel, then crop."""
    n, c, h, wd = x.shape
    per_group, out_per_group, kh, kw = c // group, w.shape[1], w.shape[2], w.shape[3]
    (sh, sw), (dh, dw) = strides, dilations
    full = np.zeros((n, out_per_group * group, sh * (h - 1) + dh * (kh - 1) + 1 + crop[4],
                     sw * (wd - 1) + dw * (kw - 1) + 1 + crop[5]))
    for ci in range(c):
        g = ci // per_group
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for e in range(kw):
                        out_channels = slice(g * out_per_group, (g + 1) * out_per_group)
                        full[:, out_channels, i * sh + a * dh, j * sw + e * dw] += \
                            x[:, ci, i, j, None] * w[ci, :, a, e]
    top, left, bottom, right = crop[:4]
    out = full[:, :, top:full.shape[2] - bottom, left:full.shape[3] - right]
    return out + b[:, None, None]


@pytest.mark.parametrize("attrs, crop", [   # crop: pads top, left, bottom, right; extra h, w
    ({}, (0, 0, 0, 0, 0, 0)),
    ({"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 0]}, (1, 0, 1, 1, 1, 0)),
    ({"strides": [2, 1], "dilations": [1, 2], "group": 2}, (0, 0, 0, 0, 0, 0)),
    ({"strides": [2, 2], "output_shape": [8, 8], "auto_pad": "SAME_UPPER"}, (0, 0, 1, 1, 0, 0)),
], ids=str)
def test_conv_transpose_matches_a_naive_scatter(attrs, crop) -> None:
    x = rng.standard_normal((2, 4, 4, 4)).astype("f4")
    w = rng.standard_normal((4, 3, 3, 3)).astype("f4")
    group = attrs.get("group", 1)
    b = rng.standard_normal(3 * group).astype("f4")
    m = one_node("ConvTranspose", [("x", F, [2, 4, 4, 4])], [("y", F, None)],
                 initializers=[("w", w), ("b", b)], **attrs)
    want = conv_transpose(x, w, b, attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]),
                          group, crop)
    np.testing.assert_allclose(run(m, x)[0], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op, extra", [("LSTM", {}), ("GRU", {"linear_before_reset": 1}),
                                       ("RNN", {})])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_ops_match_the_reference(op, extra, direction) -> None:
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    dirs, hidden = 2 if direction == "bidirectional" else 1, 5
    w = rng.standard_normal((dirs, gates * hidden, 3)).astype("f4") * 0.5
    r = rng.standard_normal((dirs, gates * hidden, hidden)).astype("f4") * 0.5
    b = rng.standard_normal((dirs, 2 * gates * hidden)).astype("f4") * 0.1
    h0 = rng.standard_normal((dirs, 2, hidden)).astype("f4")
    node = helper.make_node(op, ["x", "w", "r", "b", "", "h0"], ["y", "y_h"],
                            hidden_size=hidden, direction=direction, **extra)
    m = model([node], [("x", F, [6, 2, 3])], [("y", F, None), ("y_h", F, None)],
              [("w", w), ("r", r), ("b", b), ("h0", h0)])
    x = rng.standard_normal((6, 2, 3)).astype("f4")
    for got, want in zip(run(m, x), reference(m, x)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_dim_params_become_symbolic_dims_fed_any_size() -> None:
    graph = gc.onnx.load(mlp(batch="batch"))
    assert graph.inputs[0].shape == ("batch", 4)
    fn = gc.compile(graph)
    for n in (1, 5):
        x = rng.standard_normal((n, 4)).astype("f4")
        assert fn(x)[0].shape == (n, 3)


def test_shape_arithmetic_folds_at_load_time_and_reads_symbolic_dims() -> None:
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as PyTorch exports flatten."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [("zero", np.array(0, np.int64)), ("axes", np.array([0], np.int64)),
             ("minus1", np.array([-1], np.int64))]
    for batch in (2, "N"):
        m = model(nodes, [("x", F, [batch, 3, 4])], [("y", F, None)], inits)
        graph = gc.onnx.load(m)
        assert {t.op for t in graph.nodes} == {"placeholder", "reshape"}
        x = rng.standard_normal((2, 3, 4)).astype("f4")
        np.testing.assert_array_equal(gc.compile(graph)(x)[0], x.reshape(2, 12))


def test_trainable_initializers_become_variables_that_train() -> None:
    graph = gc.onnx.load(mlp(), trainable=True)
    assert sorted(v.name for v in graph.variables) == ["b1", "b2", "w1", "w2"]
    x, labels = graph.inputs[0], gc.placeholder((None,), "int64", name="labels")
    loss = gc.mean(gc.losses.cross_entropy(graph.outputs[0], labels))
    step = gc.compile([x, labels], loss, updates=gc.optim.SGD(0.1).updates(loss,
                                                                           graph.variables))
    xs, ys = rng.standard_normal((16, 4)).astype("f4"), rng.integers(0, 3, 16)
    losses = [float(step(xs, ys)) for _ in range(20)]
    assert losses[-1] < losses[0] * 0.8


def test_graph_inputs_that_are_initializers_are_weights() -> None:
    m = mlp()
    m.graph.input.extend([helper.make_tensor_value_info(i.name, F, list(i.dims))
                          for i in m.graph.initializer])                 # IR < 4 style
    graph = gc.onnx.load(m)
    assert [t.name for t in graph.inputs] == ["x"]


def test_external_data_is_read_beside_the_model(tmp_path) -> None:
    m = mlp(hidden=64)
    onnx.save_model(m, tmp_path / "mlp.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").exists()
    x = rng.standard_normal((2, 4)).astype("f4")
    np.testing.assert_allclose(run(str(tmp_path / "mlp.onnx"), x)[0], run(mlp(hidden=64), x)[0])


def test_every_unsupported_op_and_attribute_is_listed_at_once() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="fine"),
             helper.make_node("NonMaxSuppression", ["a"], ["b"], name="nms"),
             helper.make_node("Relu", ["b"], ["c"], name="odd", color="blue"),
             helper.make_node("Frobnicate", ["c"], ["y"], name="frob", domain="com.example")]
    m = model(nodes, [("x", F, [2])], [("y", F, [2])])
    m.opset_import.append(helper.make_opsetid("com.example", 3))
    with pytest.raises(UnsupportedOnnxError) as info:
        gc.onnx.load(m)
    text = str(info.value)
    assert len(info.value.unsupported) == 3
    assert "NonMaxSuppression ('nms' (NonMaxSuppression), domain 'ai.onnx', opset 17)" in text
    assert "Relu attribute(s) color ('odd'" in text
    assert "'frob' (com.example.Frobnicate), domain 'com.example', opset 3" in text


def test_values_needed_at_load_time_can_be_given() -> None:
    m = one_node("Reshape", [("x", F, [2, 6]), ("shape", TensorProto.INT64, [2])],
                 [("y", F, None)])
    with pytest.raises(UnsupportedOnnxError, match="must be known when the model loads"):
        gc.onnx.load(m)
    graph = gc.onnx.load(m, static_inputs={"shape": np.array([3, 4])})
    x = rng.standard_normal((2, 6)).astype("f4")
    np.testing.assert_array_equal(gc.compile(graph)(x)[0], x.reshape(3, 4))


def test_narrow_types_compute_wide_and_cast_rounds() -> None:
    """float16 inputs compute in float32; a Cast to float8 rounds to that format's values."""
    import ml_dtypes
    m = one_node("Cast", [("x", F, [5])], [("y", TensorProto.FLOAT8E4M3FN, [5])],
                 to=TensorProto.FLOAT8E4M3FN)
    x = np.array([0.47892547, 1000.0, -3.3, 1e-4, 17.5], np.float32)
    want = np.clip(x, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    np.testing.assert_array_equal(run(m, x)[0], want)


def test_bytes_and_model_protos_load_like_paths(tmp_path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save_model(mlp(), path)
    x = rng.standard_normal((3, 4)).astype("f4")
    want = run(str(path), x)[0]
    np.testing.assert_array_equal(run(path.read_bytes(), x)[0], want)
    np.testing.assert_array_equal(run(onnx.load(path), x)[0], want)
    with pytest.raises(OnnxError, match="takes a path, bytes or an onnx.ModelProto"):
        gc.onnx.load(3.5)


def _body(name, inputs, outputs, nodes):
    return helper.make_graph(nodes, name,
                             [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                             [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])


def test_scan_with_directions_and_axes_matches_numpy() -> None:
    """A running sum over axis 1 of x, backwards, and a per-step product with an outer w."""
    body = _body("step", [("s", F, [2]), ("x_t", F, [2])], [("s2", F, [2]), ("y", F, [2])],
                 [helper.make_node("Add", ["s", "x_t"], ["s2"]),
                  helper.make_node("Mul", ["s2", "w"], ["y"])])
    node = helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=body,
                            num_scan_inputs=1, scan_input_axes=[1],
                            scan_input_directions=[1], scan_output_axes=[1])
    m = model([node], [("s0", F, [2]), ("x", F, [2, 5])],
              [("s_final", F, [2]), ("ys", F, [2, 5])], [("w", np.float32([2.0, -1.0]))])
    s0, x = rng.standard_normal(2).astype("f4"), rng.standard_normal((2, 5)).astype("f4")
    state, ys = s0.copy(), []
    for t in reversed(range(5)):          # scan_input_directions=[1]: the last column first
        state = state + x[:, t]
        ys.append(state * [2.0, -1.0])
    got_state, got_ys = run(m, s0, x)
    np.testing.assert_allclose(got_state, state, rtol=1e-6)
    np.testing.assert_allclose(got_ys, np.stack(ys, axis=1), rtol=1e-6)


@pytest.mark.parametrize("trips", [3, 100])     # unrolled, and a gc.scan over the iterations
def test_loop_with_a_fixed_trip_count_matches_numpy(trips: int) -> None:
    body = _body("body", [("i", TensorProto.INT64, []), ("c", TensorProto.BOOL, []),
                          ("v", F, [3])],
                 [("c_out", TensorProto.BOOL, []), ("v_out", F, [3]), ("trace", F, [3])],
                 [helper.make_node("Identity", ["c"], ["c_out"]),
                  helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["v", "decay"], ["scaled"]),
                  helper.make_node("Add", ["scaled", "fi"], ["v_out"]),
                  helper.make_node("Identity", ["v_out"], ["trace"])])
    node = helper.make_node("Loop", ["n", "", "v0"], ["v_final", "traces"], body=body)
    m = model([node], [("v0", F, [3])], [("v_final", F, [3]), ("traces", F, [trips, 3])],
              [("n", np.int64(trips)), ("decay", np.float32(0.9))])
    v0 = rng.standard_normal(3).astype("f4")
    v, traces = v0.copy(), []
    for i in range(trips):
        v = v * np.float32(0.9) + np.float32(i)
        traces.append(v)
    got_v, got_traces = run(m, v0)
    np.testing.assert_allclose(got_v, v, rtol=1e-5)
    np.testing.assert_allclose(got_traces, np.stack(traces), rtol=1e-5)


def test_if_picks_a_branch_at_load_time_or_at_run_time() -> None:
    then = _body("then", [], [("a", F, [2])], [helper.make_node("Neg", ["x"], ["a"])])
    other = _body("else", [], [("b", F, [2])], [helper.make_node("Exp", ["x"], ["b"])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    x = rng.standard_normal(2).astype("f4")
    m = model([node], [("c", TensorProto.BOOL, []), ("x", F, [2])], [("y", F, [2])])
    for c in (True, False):
        np.testing.assert_allclose(run(m, np.bool_(c), x)[0], -x if c else np.exp(x))
    fixed = model([node], [("x", F, [2])], [("y", F, [2])], [("c", np.bool_(False))])
    assert "exp" in {t.op for t in gc.onnx.load(fixed).nodes}
    assert "neg" not in {t.op for t in gc.onnx.load(fixed).nodes}


EINSUMS = [  # equation, operand shapes
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 5)]),
    ("bii->bi", [(3, 4, 4)]),
    ("ijk,k->", [(2, 3, 4), (4,)]),
    ("ab,cd->abcd", [(2, 3), (4, 1)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_matches_numpy(equation: str, shapes) -> None:
    xs = [rng.standard_normal(s).astype("f4") for s in shapes]
    names = [f"x{k}" for k in range(len(xs))]
    m = model([helper.make_node("Einsum", names, ["y"], equation=equation)],
              [(name, F, list(x.shape)) for name, x in zip(names, xs)], [("y", F, None)])
    np.testing.assert_allclose(run(m, *xs)[0], np.einsum(equation, *xs), rtol=1e-5, atol=1e-5)
