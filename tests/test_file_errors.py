"""Malformed and hostile files: each raises a gc.GraphcError naming the problem (issue 11, item 8).

The text cases are small files; the archive cases craft .npz members by hand (headers that
lie about sizes, duplicate and unreferenced members) to check that sizes are checked before
anything is allocated and that only the members the text refers to are read.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from tests.file_mutations import crafted_npy, npy_bytes, zip_members

GRAPH = "graph(%x: f32[3]) {{\n{body}\n}}\n"


def parse_error(body: str, **kw) -> gc.ParseError:
    with pytest.raises(gc.ParseError) as info:
        gc.parse(GRAPH.format(body=body), **kw)
    return info.value


@pytest.mark.parametrize("body, fragment", [
    ("  %W = variable() : f32[3]\n  %y = neg(%x, %W) : f32[3]\n  return %y\n  %W <- %y",
     "neg: takes 1 operand, got 2"),
    ("  %y = add(%x) : f32[3]\n  return %y", "add: takes 2 operands, got 1"),
    ("  %y = relu(%x) {bogus=1} : f32[3]\n  return %y", "relu: unknown attribute 'bogus'"),
    ("  %y = sum(%x) : f32[]\n  return %y", "sum: missing attribute 'axes'"),
    ("  %y = sum(%x) {axes=(0,0), keepdims=False} : f32[]\n  return %y",
     "axes (0, 0) must be distinct"),
    ('  %y = cast(%x) {dtype="float16"} : f32[3]\n  return %y', "attribute dtype='float16'"),
], ids=["extra_operand", "missing_operand", "unknown_attr", "missing_attr", "duplicate_axes",
        "unknown_dtype"])
def test_operand_counts_and_attributes_are_checked(body: str, fragment: str) -> None:
    """make() checks every op's arity and attribute schema (graphc/registry.py)."""
    assert fragment in str(parse_error(body))


@pytest.mark.parametrize("body, fragment", [
    ("  %y = sum(%x) {axes=(" + "9" * 5000 + ",), keepdims=False} : f32[]\n  return %y",
     "does not fit in 64 bits"),
    ("  %y = sum(%x) {axes=(" + str(2 ** 63) + ",), keepdims=False} : f32[]\n  return %y",
     "does not fit in 64 bits"),
    ("  %y = leaky_relu(%x) {alpha=1e400} : f32[3]\n  return %y", "out of range"),
    ("  %y = relu(%x) {a=" + "(" * 5000 + ")" * 5000 + "} : f32[3]\n  return %y",
     "nest more than 32 deep"),
    ("  %c = constant() {value=1e39} : f32[]\n  return %c", "does not fit in float32"),
    ("  %c = constant() {value=" + "9" * 400 + "} : i64[]\n  return %c",
     "does not fit in 64 bits"),
    ("  %c = constant() {value=4294967296} : i32[]\n  return %c", "does not fit in int32"),
    ("  %W = variable() : f32[100000,100000]\n  return %W", "over the limit"),
    ("  %W = variable() : f32[" + "9" * 5000 + "]\n  return %W", "does not fit in 64 bits"),
    ('  %"a\\u0000b" = relu(%x) : f32[3]\n  return %"a\\u0000b"', "NUL"),
    ('  %"a\\ud800b" = relu(%x) : f32[3]\n  return %"a\\ud800b"', "lone surrogate"),
    ("  %y = relu(%x) : f32[3]  # @ a\ud800.py:3\n  return %y", "lone surrogate"),
    ("  %y = relu(%x) : f32[3]  # @ a.py:" + "9" * 5000 + "\n  return %y", "out of range"),
], ids=["huge_int", "int64_overflow", "huge_float", "deep_tuple", "f32_overflow",
        "huge_int_value", "i32_overflow", "huge_variable", "huge_dim",
        "nul_name", "surrogate_name", "surrogate_text", "huge_line_number"])
def test_hostile_text_raises_a_parse_error(body: str, fragment: str) -> None:
    assert fragment in str(parse_error(body))


def test_deeply_nested_subgraphs_raise_a_parse_error() -> None:
    depth = 200
    text = "graph(%x: f32[3]) {\n"
    for _ in range(depth):
        text += "  %y = test_group(%x) {body=graph(%x: f32[3]) {\n"
    text += "  return %x\n" + "  }} : f32[3]\n  return %y\n}\n" * depth
    with pytest.raises(gc.ParseError, match="nest more than 32 deep"):
        gc.parse(text)


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc")
def test_declared_sizes_are_lazy_below_the_limit_and_refused_above() -> None:
    body = "  %W = variable() : f32[16384,16385]\n  %y = relu(%x) : f32[3]\n  return %y, %W"
    before = current_rss()
    graph = gc.parse(GRAPH.format(body=body), max_bytes=2 ** 31)    # 1 GiB of zeros, unused
    assert current_rss() - before < 64 * 2 ** 20, "text-only zeros take no memory until used"
    assert graph.variables[0].value.shape == (16384, 16385)
    error = parse_error(body)                                         # the default limit
    assert "1,073,807,360 bytes, over the limit of 1,073,741,824; pass max_bytes=" in str(error)


# ---- archives -------------------------------------------------------------------------------

TEXT = ("graph(%x: f32[?1,3]) {\n  %W = variable() : f32[3,2]\n"
        "  %y = matmul(%x, %W) : f32[?1,2]\n  return %y\n}\n")
W = np.arange(6, dtype=np.float32).reshape(3, 2)


def saved(tmp_path: Path, members: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / "m.gcir"
    path.write_text(TEXT)
    (tmp_path / "m.gcir.npz").write_bytes(zip_members(members))
    return path


def test_unreferenced_members_are_never_read(tmp_path: Path) -> None:
    lying = crafted_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648,), }")
    path = saved(tmp_path, [("W.npy", npy_bytes(W)), ("huge.npy", lying),
                            ("junk.npy", b"\x00not an npy member")])
    start = time.perf_counter()
    graph = gc.load(path)
    assert time.perf_counter() - start < 5
    np.testing.assert_array_equal(graph.variables[0].value, W)


@pytest.mark.parametrize("header, fragment", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }",
     r"stored value of variable %W is float32 \(100000, 100000\)"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
     r"is float32 \(4611686018427387904, 4\)"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, -2), }", "negative dim"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (3, 2), }", "never unpickles"),
    ("{'descr': '<f2', 'fortran_order': False, 'shape': (3, 2), }", "dtype float16"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", "the archive holds 4"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",), }",
     "cannot read the arrays"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 300 + ")" * 300 + ", }",
     "cannot read the arrays"),
], ids=["huge", "overflowing", "negative", "object", "float16", "short", "huge_literal", "deep"])
def test_crafted_headers_are_refused_before_reading(tmp_path: Path, header: str,
                                                    fragment: str) -> None:
    path = saved(tmp_path, [("W.npy", crafted_npy(header, b"\0" * 4))])
    with pytest.raises(gc.GraphcError, match=fragment):
        gc.load(path)


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    path = saved(tmp_path, [("W.npy", npy_bytes(W)), ("W.npy", npy_bytes(W * 0))])
    with pytest.raises(gc.GraphError, match="two members named 'W.npy'"):
        gc.load(path)


def test_max_bytes_limits_what_a_load_reads(tmp_path: Path) -> None:
    path = saved(tmp_path, [("W.npy", npy_bytes(W))])
    with pytest.raises(gc.ParseError, match="24 bytes, over the limit of 16"):
        gc.load(path, max_bytes=16)
    assert gc.load(path, max_bytes=24).variables[0].value.sum() == W.sum()


def test_big_endian_and_fortran_members_load_as_native(tmp_path: Path) -> None:
    path = saved(tmp_path, [("W.npy", npy_bytes(np.asfortranarray(W.astype(">f4"))))])
    value = gc.load(path).variables[0].value
    assert value.dtype == np.float32 and value.dtype.isnative and value.flags.writeable
    np.testing.assert_array_equal(value, W)


@pytest.mark.parametrize("name", ["a\0b", "a\ud800b"], ids=["nul", "surrogate"])
def test_names_no_file_can_hold_are_refused_before_writing(tmp_path: Path, name: str) -> None:
    x = gc.placeholder((3,), name="x")
    good = gc.save(gc.Graph([x], [gc.relu(x)]), tmp_path / "g.gcir")
    before = good.read_bytes(), (tmp_path / "g.gcir.npz").read_bytes()
    v = gc.variable(np.ones(3, np.float32), name=name)
    with pytest.raises(gc.GraphError, match="cannot save"):
        gc.save(gc.Graph([x], [x * v]), good)
    assert (good.read_bytes(), (tmp_path / "g.gcir.npz").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.gcir", "g.gcir.npz"]


def test_recursion_limit_is_not_what_stops_nesting() -> None:
    """The depth limit holds however deep the caller's own stack already is."""
    def nested(levels: int):
        if levels:
            return nested(levels - 1)
        return parse_error("  %y = relu(%x) {a=" + "(" * 100 + ")" * 100 + "} : f32[3]\n"
                           "  return %y")
    assert "nest more than" in str(nested(sys.getrecursionlimit() - 400))
