"""graphc as an onnx.backend: a fixed, fast subset of onnx's conformance suite, and the
backend's contract (exact dtypes and shapes, declining unsupported models as skips)."""
from __future__ import annotations

import re
import unittest

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX backend needs the optional onnx package")

from onnx import TensorProto  # noqa: E402

from frontends.onnx.backend import Declined, GraphcBackend  # noqa: E402
from frontends.onnx.suite import CATEGORIES, run_category  # noqa: E402
from tests.onnx_models import F, mlp, one_node  # noqa: E402

# One or a few tests per op family of the subset, plus a real model (the full run is
# `make onnx-suite`).
NODE_TESTS = [
    "test_add_bcast", "test_div_uint8", "test_pow_types_int32_float32",
    "test_clip_default_inbounds",
    "test_gelu_tanh_2", "test_prelu_broadcast", "test_selu_example", "test_matmul_4d",
    "test_gemm_all_attributes", "test_conv_with_strides_and_asymmetric_padding",
    "test_convtranspose_pads", "test_maxpool_2d_ceil", "test_averagepool_2d_pads",
    "test_globalaveragepool", "test_batchnorm_epsilon", "test_layer_normalization_4d_axis1",
    "test_dropout_default_mask", "test_softmax_axis_0", "test_logsoftmax_axis_1_expanded",
    "test_sce_mean_weight_ii", "test_nllloss_NCd1d2_with_weight_reduction_mean",
    "test_reduce_sum_keepdims_random", "test_reduce_mean_do_not_keepdims_example",
    "test_argmax_negative_axis_keepdims_example_select_last_index",
    "test_reshape_negative_extended_dims",
    "test_flatten_negative_axis1", "test_squeeze_negative_axes", "test_unsqueeze_three_axes",
    "test_split_variable_parts_2d_opset18", "test_slice_neg_steps", "test_gather_2d_indices",
    "test_expand_dim_changed", "test_edge_pad", "test_shape_start_1_end_negative_1",
    "test_constantofshape_int_zeros", "test_cast_FLOAT_to_FLOAT8E5M2", "test_where_example",
    "test_lstm_with_peepholes", "test_gru_seq_length", "test_rnn_seq_length",
    "test_attention_4d_gqa_with_past_and_present", "test_attention_3d_causal",
    "test_resize_upsample_scales_cubic", "test_resize_downsample_scales_linear_antialias",
    "test_resize_tf_crop_and_resize", "test_quantizelinear_axis", "test_dequantizelinear_int4",
    "test_bitshift_right_uint16", "test_rms_normalization_4d_axis_negative_1",
    "test_group_normalization_example", "test_mod_mixed_sign_int64",
    "test_gridsample_reflection_padding", "test_gridsample_volumetric_bilinear_align_corners_1",
    "test_einsum_batch_diagonal", "test_loop11", "test_scatternd_add",
    "test_scatter_elements_with_duplicate_indices", "test_gathernd_example_int32_batch_dim1",
    "test_qlinearconv", "test_reversesequence_batch", "test_compress_1",
]


def assert_passed(outcome: dict, backend: str) -> None:
    """Every test passed, except (TEMPORARY, as conftest's fixture does) native kernels that
    are not written yet: the test then skips, naming them."""
    missing = {name for name, (kind, message) in outcome.items()
               if kind == "failed" and backend == "llvm" and "has no kernel" in message}
    bad = {name: result for name, result in outcome.items()
           if result[0] != "passed" and name not in missing}
    assert not bad
    if missing:
        pytest.skip(f"native kernels missing for {len(missing)} of {len(outcome)} tests")


def test_fixed_subset_of_the_conformance_suite(backend: str) -> None:
    pattern = "^(" + "|".join(NODE_TESTS) + ")_cpu$"
    outcome = run_category(backend, "node", pattern).outcome
    assert set(outcome) == set(NODE_TESTS)
    assert_passed(outcome, backend)


def test_a_real_model_and_pytorch_exports_run_to_tolerance(backend: str, tmp_path,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("ONNX_HOME", str(tmp_path))      # where the runner writes test data
    real = run_category(backend, "real", r"^test_squeezenet_cpu$").outcome
    converted = run_category(backend, "pytorch-converted", r"Conv2d_groups|BatchNorm2d_eval|"
                             r"LSTM|Linear_no_bias|PReLU_2d|Softmax").outcome
    assert set(real) == {"test_squeezenet"} and len(converted) >= 6
    assert_passed({**real, **converted}, backend)


def test_unsupported_models_are_skips_never_passes() -> None:
    m = one_node("NonMaxSuppression", [("x", F, [1, 1, 2, 2])], [("y", F, None)])
    with pytest.raises(unittest.SkipTest):
        GraphcBackend.prepare(m)
    with pytest.raises(Declined, match="NonMaxSuppression"):
        GraphcBackend.prepare(m)
    assert set(CATEGORIES) == {"node", "simple", "pytorch-converted", "pytorch-operator", "real"}
    assert not GraphcBackend.supports_device("CUDA")


def test_outputs_have_the_declared_dtypes_and_shapes() -> None:
    """A uint8 model computes widened but returns uint8; scalar outputs are 0-d arrays."""
    m = one_node("ReduceSum", [("x", TensorProto.UINT8, [3])], [("y", TensorProto.UINT8, [])],
                 keepdims=0)
    (y,) = GraphcBackend.prepare(m).run([np.array([100, 100, 60], np.uint8)])
    assert type(y) is np.ndarray and y.dtype == np.uint8 and y.shape == ()
    assert y == 4      # 260 wraps around in uint8, as ONNX runtimes compute it
    rep = GraphcBackend.prepare(mlp())
    (out,) = rep.run({"x": np.ones((2, 4), np.float32)})
    assert out.dtype == np.float32 and out.shape == (2, 3)


def test_shape_inputs_fed_at_run_time_specialize_the_model() -> None:
    m = one_node("Reshape", [("x", F, [2, 6]), ("shape", TensorProto.INT64, [2])],
                 [("y", F, None)])
    rep = GraphcBackend.prepare(m)
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    for target in ([3, 4], [4, -1], [3, 4]):
        (y,) = rep.run([x, np.array(target)])
        np.testing.assert_array_equal(y, x.reshape(target))
    assert len(rep.specialized) == 2


def test_the_suite_prints_one_line_per_category(capsys, tmp_path, monkeypatch) -> None:
    from frontends.onnx.suite import main
    monkeypatch.setenv("ONNX_HOME", str(tmp_path))
    main(["--backend", "numpy", "--category", "simple", "-k", "expand_shape_model1", "--log",
          str(tmp_path / "log")])
    text = capsys.readouterr().out
    assert re.search(r"^simple: 1 passed, 0 failed, 0 skipped$", text, re.M), text
    assert (tmp_path / "log" / "numpy.txt").exists()
