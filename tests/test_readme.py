"""README.md stays true: its Python blocks run as written, a ```text block right after one is
what it prints, and its pictures are the ones docs/images/make_images.py draws."""
from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_render import needs_dot

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# A python block, and the text block right after it (what it prints) if there is one.
BLOCK = re.compile(r"```python\n(.*?)```(?:\s*```text\n(.*?)```)?", re.DOTALL)


def section(position: int) -> str:
    """The title of the README section at `position`."""
    return re.findall(r"^## (.*)$", README[:position], re.MULTILINE)[-1]


BLOCKS = [pytest.param(m[1], m[2] or "", id=section(m.start())) for m in BLOCK.finditer(README)]
TIMING = re.compile(r"\d+\.\d+")


def normalize(output: str) -> list[str]:
    """Lines with times (the report's ms) masked and runs of spaces (their widths) squeezed."""
    return [" ".join(TIMING.sub("#", line).split()) for line in output.strip().splitlines()]


def test_readme_has_python_blocks_and_their_output() -> None:
    assert len(BLOCKS) >= 5
    assert sum(bool(block.values[1]) for block in BLOCKS) >= 3


@pytest.mark.parametrize("source, printed", BLOCKS)
def test_readme_block_runs_and_prints_what_readme_shows(source: str, printed: str,
                                                        tmp_path: Path) -> None:
    if "gc.onnx" in source and importlib.util.find_spec("onnx") is None:
        pytest.skip("the onnx package is not installed (pip install 'graphc[onnx]')")
    script = tmp_path / "example.py"
    script.write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_BACKEND"}  # as documented
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    if printed:
        got = done.stdout.replace(f"{tmp_path}{os.sep}", "")    # "built at example.py:7"
        assert normalize(got) == normalize(printed)


def test_normalize_masks_times_only() -> None:
    assert normalize("fold  1 -> 2   3.6  fold (2)\n") == ["fold 1 -> 2 # fold (2)"]
    assert normalize("a 10 -> 9") != normalize("a 10 -> 8")


@needs_dot
def test_readme_pictures_are_drawn_by_make_images(tmp_path: Path) -> None:
    drawn = runpy.run_path(str(ROOT / "docs" / "images" / "make_images.py"))["main"](tmp_path)
    assert drawn
    for path in drawn:
        committed = ROOT / "docs" / "images" / path.name
        assert committed.exists(), f"run `make docs-images` and commit {committed.name}"
        assert f"docs/images/{path.name}" in README
        svg = path.read_text(encoding="utf-8")
        assert svg.count("fused epilogue") >= 2 and svg.count("fused prologue") >= 2
        assert str(ROOT) not in svg and str(tmp_path) not in svg
