"""Run onnx's backend conformance suite (onnx.backend.test.BackendTest) against graphc.

    python -m frontends.onnx.suite [--backend numpy] [--category node] [-k REGEX] [--log DIR]

prints `category: N passed, N failed, N skipped` for node, simple, pytorch-converted,
pytorch-operator and real, per graphc backend, then the node tests whose ops are all in the
subset the importer targets, and the ops that block the most tests. `make onnx-suite` runs it.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import unittest
import warnings
from pathlib import Path

CATEGORIES = {"node": "OnnxBackendNodeModelTest", "simple": "OnnxBackendSimpleModelTest",
              "pytorch-converted": "OnnxBackendPyTorchConvertedModelTest",
              "pytorch-operator": "OnnxBackendPyTorchOperatorModelTest",
              "real": "OnnxBackendRealModelTest"}

# The ops the issue names as the core subset (elementwise math and activations, contractions,
# convolution, pooling, normalization, softmax and losses, reductions, shape ops, RNNs,
# attention); a node test counts toward the subset when every op of its model is here.
SUBSET = frozenset("""
Abs Neg Sign Exp Log Sqrt Reciprocal Floor Ceil Sin Cos Tan Tanh Sigmoid Erf Relu Softplus
Softsign Gelu HardSigmoid HardSwish Selu PRelu LeakyRelu Elu Celu ThresholdedRelu Mish Clip
Add Sub Mul Div Pow Max Min Sum Mean Equal Less Greater LessOrEqual GreaterOrEqual And Or Xor
Not
MatMul Gemm Conv ConvTranspose MaxPool AveragePool GlobalAveragePool GlobalMaxPool
BatchNormalization LayerNormalization Dropout Softmax LogSoftmax SoftmaxCrossEntropyLoss
NegativeLogLikelihoodLoss
ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ReduceSumSquare ReduceL1 ReduceL2
ReduceLogSum ReduceLogSumExp ArgMax ArgMin
Reshape Flatten Transpose Squeeze Unsqueeze Concat Split Slice Gather Expand Pad Shape
Constant ConstantOfShape Cast CastLike Where Identity
RNN LSTM GRU Attention
""".split())


def model_ops(category: str) -> dict[str, frozenset[str]]:
    """Test name -> the op types its model uses."""
    import onnx
    from onnx.backend.test.loader import load_model_tests
    found = {}
    for case in load_model_tests(kind=category):
        model = case.model
        if model is None:
            path = Path(case.model_dir or "", "model.onnx")
            if case.url and case.url.startswith("onnx/backend/test/data/light/"):
                path = Path(onnx.__file__).parent.parent / case.url
            try:
                model = onnx.load(str(path), load_external_data=False)
            except Exception:   # noqa: BLE001  (a model the runner will report anyway)
                continue
        found[case.name] = frozenset(n.op_type for n in model.graph.node)
    return found


class Outcomes(unittest.TestResult):
    """Each test's outcome and first line of its error, by test name (without _cpu)."""

    def __init__(self):
        super().__init__()
        self.outcome: dict[str, tuple[str, str]] = {}

    @staticmethod
    def _name(test) -> str:
        return test._testMethodName.removesuffix("_cpu")

    def addSuccess(self, test):
        self.outcome[self._name(test)] = ("passed", "")

    def addFailure(self, test, err):
        self.outcome[self._name(test)] = ("failed", _first_line(err[1]))

    def addError(self, test, err):
        self.outcome[self._name(test)] = ("failed", f"{err[0].__name__}: {_first_line(err[1])}")

    def addSkip(self, test, reason):
        self.outcome[self._name(test)] = ("skipped", reason)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return " | ".join(text.splitlines()[:3])[:400]


def run_category(backend: str, category: str, pattern: str | None) -> Outcomes:
    import onnx.backend.test

    from frontends.onnx.backend import GraphcBackend
    tests = onnx.backend.test.BackendTest(GraphcBackend.using(backend), __name__)
    suite = unittest.TestSuite()
    case = tests.test_cases.get(CATEGORIES[category])
    names = unittest.defaultTestLoader.getTestCaseNames(case) if case is not None else []
    # NOTE: BackendTest.include() marks the others skipped; these are left out instead.
    suite.addTests(case(name) for name in names if name.endswith("_cpu")
                   and (not pattern or re.search(pattern, name)))
    result = Outcomes()
    suite.run(result)
    return result


def counts(outcomes: dict[str, tuple[str, str]], names=None) -> str:
    tally = collections.Counter(kind for name, (kind, _) in outcomes.items()
                                if names is None or name in names)
    return f"{tally['passed']} passed, {tally['failed']} failed, {tally['skipped']} skipped"


def blocking_ops(outcomes, ops: dict[str, frozenset[str]], top: int = 12) -> list[str]:
    """Unsupported ops by the tests they decline, and ops appearing in the most failures."""
    declined, failing, kernels = (collections.Counter() for _ in range(3))
    for name, (kind, message) in outcomes.items():
        if kind == "skipped":
            for op in set(re.findall(r"^\s*(\w+) \(", message, re.M)) | \
                    set(re.findall(r"\b([A-Z]\w+) node '", message)):
                declined[op] += 1
        elif kind == "failed":
            missing = re.search(r"has no kernel for op (\w+)", message)
            if missing:
                kernels[missing.group(1)] += 1
            for op in ops.get(name, ()):
                failing[op] += 1
    lines = ["  declining the most tests: " + ", ".join(f"{op} {n}" for op, n in
                                                      declined.most_common(top))]
    lines.append("  in the most failing tests: " + ", ".join(f"{op} {n}" for op, n in
                                                           failing.most_common(top)))
    if kernels:
        lines.append("  graphc ops whose missing kernel fails the most tests: " + ", ".join(
            f"{op} {n}" for op, n in kernels.most_common(top)))
    return lines


def main(argv=None) -> int:
    from graphc.compile import BACKENDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", action="append", choices=sorted(BACKENDS),
                    help="graphc backend(s) to run (default: all)")
    ap.add_argument("--category", action="append", choices=list(CATEGORIES))
    ap.add_argument("-k", dest="pattern", help="only tests whose name matches this regex")
    ap.add_argument("--log", default="build/onnx-suite", help="where each failure is listed")
    args = ap.parse_args(argv)
    os.environ.setdefault("ONNX_HOME", tempfile.mkdtemp(prefix="graphc-onnx-home-"))
    warnings.simplefilter("ignore")
    log_dir = Path(args.log)
    log_dir.mkdir(parents=True, exist_ok=True)
    for backend in args.backend or sorted(BACKENDS):
        print(f"== graphc backend: {backend}")
        all_outcomes, all_ops = {}, {}
        log = []
        for category in args.category or CATEGORIES:
            ops = model_ops(category)
            result = run_category(backend, category, args.pattern)
            print(f"{category}: {counts(result.outcome)}", flush=True)
            if category == "node":
                subset = {name for name, used in ops.items() if used <= SUBSET}
                print(f"node-subset: {counts(result.outcome, subset)}  "
                      f"({len(subset)} node tests whose ops are all in the subset)")
            all_outcomes.update(result.outcome)
            all_ops.update(ops)
            log += [f"{category} {kind} {name}: {message}"
                    for name, (kind, message) in sorted(result.outcome.items())
                    if kind != "passed"]
        print("ops blocking the most tests:")
        print("\n".join(blocking_ops(all_outcomes, all_ops)))
        (log_dir / f"{backend}.txt").write_text("\n".join(log) + "\n")
        print(f"(each failure and skip: {log_dir / (backend + '.txt')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
