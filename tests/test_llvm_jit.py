"""The native backend's compiler and loader: hand-written IR optimized, compiled, run vs NumPy."""
from __future__ import annotations

import threading

import pytest

from backends.llvm import jit
from backends.llvm.target import host_fingerprint, host_target_machine
from tests.llvm_modules import add_module, run_add


def test_compiled_entry_matches_numpy_and_counts_one_compilation() -> None:
    before = jit.compile_count()
    code = jit.compile_object(add_module())
    assert jit.compile_count() == before + 1
    library = jit.load_object(code, ["entry"])
    assert jit.compile_count() == before + 1  # loading object code runs no LLVM pass
    run_add(library["entry"], library)


def test_module_text_compiles_like_the_module() -> None:
    module = add_module()
    library = jit.load_object(jit.compile_object(str(module)), ["entry"])
    run_add(library["entry"], library, seed=1)


def test_large_function_pipeline_computes_the_same_and_still_vectorizes() -> None:
    pipeline = jit.Pipeline(large_functions=True)
    library = jit.load_object(jit.compile_object(add_module(), pipeline), ["entry"])
    run_add(library["entry"], library, seed=2)
    assert " x float>" in jit.optimized_ir(add_module(), pipeline)


def test_inspection_text() -> None:
    optimized = jit.optimized_ir(add_module())
    assert "define" in optimized and "@entry" in optimized
    assert " x float>" in optimized, "the loops were not vectorized"
    assembly = jit.assembly(add_module())
    assert "entry:" in assembly and "ret" in assembly


def test_unknown_entry_point_raises() -> None:
    code = jit.compile_object(add_module())
    with pytest.raises(RuntimeError, match="no_such_entry"):
        jit.load_object(code, ["no_such_entry"])


def test_unresolved_external_symbol_raises_instead_of_crashing() -> None:
    text = ("declare float @graphc_no_such_function(float)\n"
            "define float @entry(float %x) {\n"
            "  %y = call float @graphc_no_such_function(float %x)\n  ret float %y\n}\n")
    with pytest.raises(RuntimeError):
        jit.load_object(jit.compile_object(text), ["entry"])


def test_concurrent_compilations_from_threads() -> None:
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            library = jit.load_object(jit.compile_object(add_module()), ["entry"])
            run_add(library["entry"], library, seed)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_host_target_and_fingerprint() -> None:
    machine = host_target_machine()
    assert machine is host_target_machine()
    fingerprint = host_fingerprint()
    assert str(machine.triple) in fingerprint
    for part in ("cpu=", "features=", "llvmlite=", "llvm="):
        assert part in fingerprint
