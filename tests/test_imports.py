"""The dependency direction frontends -> graphc <- backends, checked on the code itself.

`import graphc` loads no backend or frontend (a fresh interpreter's sys.modules says so), and
no module under graphc/ imports backends.* or frontends.* when it is imported: the few imports
made inside functions, on use, are listed here and each says so in a `# NOTE:` comment.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_CORE = ("backends", "frontends")

# (module file, enclosing function, module imported): the core's imports of its users, on use.
LAZY_IMPORTS = {
    ("graphc/graph.py", "Graph._repr_svg_", "backends.graphviz"),
    ("graphc/graph.py", "Graph._repr_mimebundle_", "backends.graphviz"),
    ("graphc/passes/manager.py", "_Dumper._renderer", "backends.graphviz"),
    ("graphc/passes/verify.py", "_run", "backends.numpy"),
}
# Modules named by string and imported with importlib, on first use: the lazy attribute tables
# of graphc/__init__.py and compile()'s backends.
DYNAMIC_IMPORTS = {"graphc/__init__.py", "graphc/compile.py"}


def loaded_after(code: str) -> list[str]:
    """The backends.*, frontends.* and optional packages a fresh interpreter has after `code`."""
    probe = (f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('backends', 'frontends', 'llvmlite', 'graphviz', 'scipy',"
             " 'onnx'))))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_import_graphc_loads_no_backend_or_frontend() -> None:
    assert loaded_after("import graphc") == []
    assert loaded_after("import graphc as gc\ngc.passes.PASSES\ngc.optimize") == []


def test_a_backend_is_loaded_when_used() -> None:
    """The probe above can see a backend: compiling loads the NumPy one."""
    code = ("import graphc as gc\nx = gc.placeholder((2,), name='x')\n"
            "gc.compile([x], gc.exp(x), backend='numpy')")
    assert "backends.numpy" in loaded_after(code)


class ImportFinder(ast.NodeVisitor):
    """Every import statement of a module, with the function or class it sits in."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str, int]] = []     # (qualified scope, module, line)
        self.scope: list[str] = []
        self.functions = 0

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node)

    def _add(self, module: str, node: ast.stmt) -> None:
        scope = ".".join(self.scope) if self.functions else ""      # "": runs on import
        self.found.append((scope, module, node.lineno))


def core_modules() -> list[Path]:
    return sorted((ROOT / "graphc").rglob("*.py"))


def test_the_core_imports_backends_and_frontends_only_on_use() -> None:
    lazy = set()
    for path in core_modules():
        source = path.read_text(encoding="utf-8")
        finder = ImportFinder()
        finder.visit(ast.parse(source, str(path)))
        lines = source.splitlines()
        name = path.relative_to(ROOT).as_posix()
        for scope, module, line in finder.found:
            if module.split(".")[0] not in OUTSIDE_CORE:
                continue
            assert scope, f"{name}:{line} imports {module} when it is imported"
            comment = lines[line - 1].partition("#")[2]
            assert "NOTE:" in comment and "on use" in comment, (
                f"{name}:{line}: an import on use says so: # NOTE: ... loaded on use")
            lazy.add((name, scope, module))
    assert lazy == LAZY_IMPORTS


def test_modules_named_by_string_only_in_the_lazy_tables() -> None:
    """importlib.import_module(name) escapes the walk above: such names live in two tables."""
    naming = set()
    for path in core_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.split(".")[0] in OUTSIDE_CORE and "." in node.value
                    and " " not in node.value):
                naming.add(path.relative_to(ROOT).as_posix())
    assert naming == DYNAMIC_IMPORTS
