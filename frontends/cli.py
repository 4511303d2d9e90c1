"""The `graphc` command: render, show, run, describe and optimize a saved graph.

    graphc render mlp.gcir -o mlp.svg --collapse 1
    graphc show mlp.gcir
    graphc run mlp.gcir --input x=x.npy --input y=y.npy -o outputs.npz
    graphc info mlp.gcir --batch 32
    graphc optimize mlp.gcir --dump passes/ --verify -o mlp.opt.gcir
    graphc optimize --list

FILE is a graph written by gc.save (its text IR, with the parameters in FILE.npz beside it)
or an ONNX model (.onnx, read by gc.onnx.load; needs the onnx package).
Exit status: 0 on success, 1 when the file or the inputs are wrong (the error is printed on
stderr, without a traceback), 2 for a wrong command line.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from graphc.errors import GraphcError
from graphc.graph import Graph

EPILOG = ("FILE is a graph saved by gc.save(graph, FILE) (its text IR, parameters in FILE.npz) "
          "or an ONNX model (.onnx).")


class UserError(Exception):
    """A mistake in the command's arguments or files: reported on stderr, exit status 1."""


def read_graph(path: str, values: bool) -> Graph:
    """The graph saved at `path` (or an ONNX model); without `values`, a .gcir file's text only
    is read (zero parameters)."""
    from frontends import textir
    file = Path(path)
    if file.suffix.lower() == ".onnx":
        if importlib.util.find_spec("onnx") is None:
            raise UserError(f"{path}: reading ONNX models needs the onnx package "
                            "(pip install 'graphc[onnx]')")
        from frontends.onnx import load
        return load(file)
    if values:
        return textir.load(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text-IR file (not UTF-8 text)") from None
    return textir.parse(text, source=path)


def cmd_show(args) -> None:
    print(read_graph(args.file, values=False))


def cmd_render(args) -> None:
    from backends.graphviz import render
    graph = read_graph(args.file, values=False)
    out = Path(args.output) if args.output else Path(args.file).with_suffix(".svg")
    render(graph, out, collapse=parse_collapse(args.collapse), highlight=args.highlight,
           grads_beside=args.grads_beside, expand_groups=not args.no_expand)
    print(f"wrote {out}")


def parse_collapse(items: list[str] | None):
    """`--collapse 2` is a depth; anything else names scopes (repeat it, or separate by ,)."""
    if not items:
        return None
    names = [name for item in items for name in item.split(",") if name]
    if len(names) == 1 and names[0].isdigit():
        return int(names[0])
    return names


def cmd_info(args) -> None:
    from frontends.graphinfo import report
    if args.batch < 1:
        raise UserError(f"--batch must be 1 or more, got {args.batch}")
    print(report(read_graph(args.file, values=False), args.file, args.batch))


def cmd_run(args) -> None:
    import graphc as gc
    from graphc.printing import value_names
    graph = read_graph(args.file, values=True)
    names = value_names(graph)
    feeds = read_inputs(graph, names, args.input or [])
    fn = gc.compile(graph, backend=args.backend, optimize=not args.no_optimize)
    outputs = fn(*[feeds[id(t)] for t in graph.inputs])
    named = {}
    for t, value in zip(graph.outputs, outputs):
        key = names[id(t)]
        while key in named:
            key += "_"
        named[key] = np.asarray(value)
    if args.output:
        write_outputs(Path(args.output), named)
        print(f"wrote {len(named)} outputs to {args.output}")
    else:
        with np.printoptions(threshold=60, edgeitems=3):
            for key, value in named.items():
                print(f"%{key}: {value.dtype} {value.shape}\n{value}")
    if graph.updates:
        print(f"({len(graph.updates)} variable updates computed, not saved)", file=sys.stderr)


def cmd_compile(args) -> None:
    import graphc as gc
    graph = read_graph(args.file, values=False)
    fn = gc.compile(graph, backend=args.backend)
    if args.emit == "asm":
        print(fn.asm())
    else:
        print(fn.llvm_ir(optimized=args.emit == "ir-optimized"))


def cmd_optimize(args) -> None:
    import graphc as gc
    from graphc.passes import DEFAULT, PASSES
    if args.list:
        width = max(map(len, PASSES))
        for name in [*DEFAULT, *sorted(set(PASSES) - set(DEFAULT))]:
            print(f"{name:<{width}}  {PASSES[name].doc}")
        print(f"\nthe default pipeline: {', '.join(DEFAULT)} (repeated while rules fire)")
        return
    graph = read_graph(args.file, values=True)
    passes = [n for n in args.passes.split(",") if n] if args.passes is not None else None
    verify = None
    if args.input:
        from graphc.printing import value_names
        feeds = read_inputs(graph, value_names(graph), args.input)
        verify = [feeds[id(t)] for t in graph.inputs]
    elif args.verify:
        verify = True
    optimized, report = gc.optimize(graph, passes, dump=args.dump, verify=verify)
    print(report.table(full=args.all))
    if verify is not None:
        print(f"verified: every pass kept the results on {'the given' if args.input else 'random'}"
              " inputs")
    if args.dump:
        print(f"dumped the graph after each pass to {args.dump}")
    if args.output:
        gc.save(optimized, args.output)
        print(f"wrote {args.output}")


def read_inputs(graph: Graph, names, items: Sequence[str]) -> dict[int, np.ndarray]:
    """The arrays given as `--input NAME=FILE.npy`, by input, checked against the graph."""
    wanted = {names[id(t)]: t for t in graph.inputs}
    described = ", ".join(f"{n}: {names.dims.type(t.type)}" for n, t in wanted.items())
    feeds = {}
    for item in items:
        name, sep, file = item.partition("=")
        name = name.lstrip("%")
        if not sep or not name or not file:
            raise UserError(f"--input takes NAME=FILE.npy, got {item!r}")
        if name not in wanted:
            raise UserError(f"the graph has no input {name!r}; its inputs are {described}")
        try:
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise UserError(f"cannot read input {name!r} from {file}: {exc}") from None
        if not isinstance(array, np.ndarray):
            raise UserError(f"input {name!r}: {file} is an archive; give one array as .npy")
        feeds[id(wanted[name])] = array
    missing = [n for n, t in wanted.items() if id(t) not in feeds]
    if missing:
        raise UserError(f"missing --input for {', '.join(missing)} (the inputs are {described})")
    return feeds


def write_outputs(path: Path, named: dict[str, np.ndarray]) -> None:
    if path.suffix == ".npy":
        if len(named) != 1:
            raise UserError(f"the graph has {len(named)} outputs: write them to an .npz file")
        np.save(path, next(iter(named.values())), allow_pickle=False)
    else:
        from frontends.textir import write_npz
        write_npz(path, named)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="graphc", description="Look at, run and render graphs "
                                 "saved by graphc (gc.save).", epilog=EPILOG)
    import graphc
    ap.add_argument("--version", action="version", version=f"graphc {graphc.__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, fn, file_needed: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EPILOG)
        p.add_argument("file", metavar="FILE", help="a saved graph (.gcir) or an ONNX model",
                       nargs=None if file_needed else "?")
        p.set_defaults(fn=fn)
        return p

    p = command("render", "draw the graph with Graphviz (.svg, .png, .pdf or .dot)", cmd_render)
    p.add_argument("-o", "--output", metavar="OUT", help="where to write (default: FILE "
                   "with the suffix .svg); its suffix picks the format")
    p.add_argument("--collapse", action="append", metavar="SCOPE|DEPTH",
                   help="draw a name scope (e.g. dense1 or grad/dense1) as one box; repeat it "
                        "or separate by commas; a number N folds every scope N deep")
    p.add_argument("--highlight", action="append", default=[], metavar="NAME",
                   help="mark the value %%NAME (repeatable)")
    p.add_argument("--grads-beside", action="store_true",
                   help="lay each gradient node beside the forward node it came from")
    p.add_argument("--no-expand", action="store_true",
                   help="draw nodes that hold a subgraph (scan, fused groups) as one box")
    command("show", "print the graph's text IR", cmd_show)
    p = command("run", "run the graph on inputs saved with numpy.save", cmd_run)
    p.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="the value of input %%NAME (one per input)")
    p.add_argument("--backend", help="the backend to compile with: numpy or llvm (default: "
                                     "$GRAPHC_BACKEND, else numpy)")
    p.add_argument("--no-optimize", action="store_true", help="skip the optimizer passes")
    p.add_argument("-o", "--output", metavar="OUT", help="save the outputs (.npz, or .npy for "
                                                         "one output) instead of printing them")
    p = command("compile", "compile the graph to native code and print it", cmd_compile)
    p.add_argument("--backend", default="llvm", choices=["llvm"],
                   help="the code generator (default: llvm)")
    p.add_argument("--emit", default="ir", choices=["ir", "ir-optimized", "asm"],
                   help="LLVM IR as generated (default), as LLVM optimized it, or assembly")
    p = command("info", "count ops and parameters; estimate FLOPs and memory", cmd_info)
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="the value of every symbolic dim, e.g. the batch size (default: 1)")
    p = command("optimize", "run the optimizer passes and print what each did", cmd_optimize,
                file_needed=False)
    p.add_argument("--passes", metavar="A,B,...", help="run these passes once, in this order "
                   "(default: the default pipeline, repeated while rules fire)")
    p.add_argument("--dump", metavar="DIR", help="write the graph after every pass to DIR: "
                   "text IR (NN-pass.gcir) and, with Graphviz, drawings (.svg, .diff.svg)")
    p.add_argument("--verify", action="store_true", help="run the graph after every pass on "
                   "random inputs and stop at the first pass that changes a result")
    p.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="verify on these inputs (one per input) instead of random ones")
    p.add_argument("-o", "--output", metavar="OUT", help="save the optimized graph (OUT "
                   "and OUT.npz, as gc.save does)")
    p.add_argument("--all", action="store_true", help="list the passes of later rounds that "
                   "changed nothing too")
    p.add_argument("--list", action="store_true", help="list the passes and what each does")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `graphc` command line; returns the exit status."""
    ap = parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help(sys.stderr)
        return 2
    if args.file is None and not getattr(args, "list", False):
        ap.error(f"{args.command} needs a FILE (or --list)")
    try:
        args.fn(args)
    except BrokenPipeError:          # `graphc show FILE | head` closed stdout: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (GraphcError, UserError) as exc:
        print(f"graphc: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"graphc: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
