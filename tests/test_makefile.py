"""`make demo` prints the demo's output, not pip's (issue 11, item 16).

A stand-in Python makes the venv and plays pip (printing the noise a real install prints, on
stdout and stderr) and runs the demo with the real interpreter, so the test sees exactly what
make shows a newcomer, without installing anything.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = '''
import os, shutil, sys
args = sys.argv[1:]
if args[:2] == ["-m", "venv"]:
    os.makedirs(os.path.join(args[2], "bin"), exist_ok=True)
    shutil.copy(__file__, os.path.join(args[2], "bin", "python"))
elif args[:2] == ["-m", "pip"]:
    print("Collecting numpy>=1.26 (pip noise)")
    print("  !! setuptools pip noise", file=sys.stderr)
    sys.exit(1 if os.environ.get("FAKE_PIP_FAILS") else 0)
else:
    os.execv(sys.executable, [sys.executable] + args)
'''


def make_demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\n{FAKE_PYTHON}")
    fake.chmod(0o755)
    return subprocess.run(["make", "--no-print-directory", "demo", f"PYTHON={fake}",
                           f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **env})


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_shows_the_demo_and_keeps_pip_in_a_log(tmp_path: Path) -> None:
    result = make_demo(tmp_path)
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "pip noise" not in shown and "pip install" not in shown
    lines = shown.splitlines()
    assert lines[0].startswith("setting up ") and "install.log" in lines[0]
    assert lines[1].startswith("graphc demo: classify 8x8 handwritten digits")
    assert "test accuracy" in shown and result.stderr == ""
    assert (tmp_path / "venv" / "install.log").read_text().count("pip noise") == 4
    again = make_demo(tmp_path)                 # the venv is up to date: only the demo
    assert again.stdout.splitlines()[0].startswith("graphc demo:")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_failed_install_shows_the_log(tmp_path: Path) -> None:
    result = make_demo(tmp_path, FAKE_PIP_FAILS="1")
    assert result.returncode != 0
    assert "pip noise" in result.stdout and "pip failed; the whole log is" in result.stdout
    assert "graphc demo" not in result.stdout
