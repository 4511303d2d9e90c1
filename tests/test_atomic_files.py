"""Saving never destroys the previous good file (issue 11, item 9).

gc.save and gc.train.save_params write a temporary beside the target and rename it: a save
that fails, or a process killed mid-write, leaves the old file; the temporaries a killed
process leaves are ignored by loads and removed by the next save. Parameter files are read
with the same checks as graph archives, whatever the variables are called.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc as gc

ROOT = Path(__file__).resolve().parents[1]


def small_graph(scale: float) -> gc.Graph:
    x = gc.placeholder((None, 3), name="x")
    W = gc.variable(np.full((3, 2), scale, np.float32), name="W")
    return gc.Graph([x], [x @ W])


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# A child process saving a big graph that stops (as if killed) in the middle of the write.
KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import graphc as gc
    target, what = sys.argv[1], sys.argv[2]
    original = np.lib.format.write_array
    def slow_write(f, array, **kw):
        f.write(b"half an array")
        f.flush()
        print("writing", flush=True)
        time.sleep(60)
    np.lib.format.write_array = slow_write
    W = gc.variable(np.ones((3, 2), np.float32), name="W")
    x = gc.placeholder((None, 3), name="x")
    if what == "graph":
        gc.save(gc.Graph([x], [x @ W]), target)
    else:
        gc.train.save_params(target, [W])
""")


@pytest.mark.parametrize("what", ["graph", "params"])
def test_a_save_killed_mid_write_keeps_the_old_file(tmp_path: Path, what: str) -> None:
    if what == "graph":
        target = gc.save(small_graph(2.0), tmp_path / "m.gcir")
        kept = [target, Path(str(target) + ".npz")]
    else:
        target = gc.train.save_params(tmp_path / "p.npz", [small_graph(2.0).variables[0]])
        kept = [target]
    before = [p.read_bytes() for p in kept]
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(target), what],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    assert [p.read_bytes() for p in kept] == before
    leftovers = [n for n in files_in(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1, "the killed process left its temporary behind"
    if what == "graph":
        assert gc.load(target).variables[0].value[0, 0] == 2.0, "loading ignores it"
        gc.save(small_graph(3.0), target)
    else:
        gc.train.save_params(target, [small_graph(3.0).variables[0]])
    assert not [n for n in files_in(tmp_path) if n.endswith(".tmp")], "the next save cleans up"


def test_a_save_that_fails_keeps_the_old_file_and_leaves_nothing(tmp_path: Path,
                                                                 monkeypatch) -> None:
    target = gc.save(small_graph(2.0), tmp_path / "m.gcir")
    before = files_in(tmp_path), target.read_bytes(), Path(str(target) + ".npz").read_bytes()

    def broken(f, array, **kw):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        gc.save(small_graph(3.0), target)
    assert (files_in(tmp_path), target.read_bytes(),
            Path(str(target) + ".npz").read_bytes()) == before


def test_temporaries_of_a_live_process_are_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "p.npz"
    live = tmp_path / f".p.npz.{os.getppid()}.0123abcd.tmp"
    dead = tmp_path / ".p.npz.999999999.0123abcd.tmp"
    other = tmp_path / ".q.npz.999999999.0123abcd.tmp"
    for p in (live, dead, other):
        p.write_bytes(b"partial")
    gc.train.save_params(target, [small_graph(1.0).variables[0]])
    assert files_in(tmp_path) == sorted([live.name, other.name, "p.npz"])


def test_saved_files_get_the_usual_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = gc.train.save_params(tmp_path / "p.npz", [small_graph(1.0).variables[0]])
        graph = gc.save(small_graph(1.0), tmp_path / "m.gcir")
    finally:
        os.umask(umask)
    for p in (path, graph, Path(str(graph) + ".npz")):
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_params_files_get_the_npz_suffix(tmp_path: Path) -> None:
    W = small_graph(1.5).variables[0]
    path = gc.train.save_params(tmp_path / "params", [W])
    assert path == tmp_path / "params.npz" and files_in(tmp_path) == ["params.npz"]
    W.value = np.zeros((3, 2), np.float32)
    gc.train.load_params(tmp_path / "params", [W])      # found as numpy would have saved it
    assert np.all(W.value == 1.5)


@pytest.mark.parametrize("names", [["file", "allow_pickle"], ["args", "kwds"], ["a/b", "é"]])
def test_any_variable_names_round_trip(tmp_path: Path, names: list[str]) -> None:
    variables = [gc.variable(np.full(2, i + 1.0, np.float32), name=n)
                 for i, n in enumerate(names)]
    path = gc.train.save_params(tmp_path / "p.npz", variables)
    for v in variables:
        v.value = np.zeros(2, np.float32)
    gc.train.load_params(path, variables)
    assert [float(v.value[0]) for v in variables] == [1.0, 2.0]


@pytest.mark.parametrize("cut", [0, 10, 100, -40, -1])
def test_truncated_parameter_files_raise_parameter_file_errors(tmp_path: Path,
                                                               cut: int) -> None:
    W = gc.variable(np.arange(64, dtype=np.float32), name="W")
    path = gc.train.save_params(tmp_path / "p.npz", [W])
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    with pytest.raises(gc.train.ParameterFileError, match="cannot read parameters"):
        gc.train.load_params(path, [W])
    assert np.array_equal(W.value, np.arange(64, dtype=np.float32))


def test_a_parameter_file_is_read_with_its_declared_sizes_checked_first(tmp_path: Path) -> None:
    from tests.file_mutations import crafted_npy, zip_members
    W = gc.variable(np.zeros((3, 2), np.float32), name="W")
    lying = crafted_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }")
    path = tmp_path / "p.npz"
    path.write_bytes(zip_members([("W.npy", lying)]))
    with pytest.raises(gc.train.ParameterFileError, match=r"'W' is float32\[100000, 100000\]"):
        gc.train.load_params(path, [W])
