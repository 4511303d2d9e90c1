"""A whole graph as one native entry function: the buffer plan, then the module.

    i32 entry(ptr inputs, ptr variables, ptr outputs, ptr arena, ptr dims, ptr context)

`Plan(graph)` (pure Python, cheap; a cache hit by the graph as built skips it) decides where
every value lives (an input, a variable, an output, a slot of the arena or a constant global;
views only re-index their operand's buffer) and which kernels run in what order. `emit(plan)`
then generates the module: one kernel function per computing node and an entry calling them
in order, returning the first nonzero status as kernel * 256 + code.

Native code never writes a variable: a graph's updates reach the plan as extra outputs
(`updates_as_outputs`), fresh arrays the call path assigns to the variables after the whole
call succeeded, as the interpreter does.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

from llvmlite import ir

from backends.llvm.access import Access, Buffer, is_contiguous, unit_axes_only, view, whole
from backends.llvm.irutil import I8, I32, PTR, SIZES, DimValues, const, i64, ir_type
from backends.llvm.kernels import (
    CONTIGUOUS,
    EXPANDERS,
    KERNELS,
    MESSAGES,
    SCRATCH,
    Failure,
    Where,
)
from backends.llvm.kernels.elementwise import copy
from graphc import dims as D
from graphc.dims import Dim
from graphc.errors import CompileError, GraphcError
from graphc.graph import Graph
from graphc.registry import OPS, Kind, Trait
from graphc.tensor import Tensor

ALIGN = 64          # bytes: every arena slot starts on a cache line
VIEWS = frozenset(name for name, op in OPS.items() if op.has(Trait.VIEW))
RESULTS = frozenset({"scan_result", "fused_result"})


@dataclass
class Step:
    """One kernel call of the entry function: what it computes and into which access."""

    name: str
    node: Tensor | None          # None for a copy
    out: Access | dict           # a composite's: result index -> Access
    ins: list[Access]
    emit: object                 # (lowering, node, out, ins) -> Kernel
    what: Where | str = ""       # for error messages: the node and its line
    scratch: dict = field(default_factory=dict)


@dataclass
class Plan:
    graph: Graph
    env: object = field(init=False)
    access: dict = field(init=False, default_factory=dict)      # id(node) -> Access
    steps: list[Step] = field(init=False, default_factory=list)
    arena: list[tuple[Buffer, Dim]] = field(init=False, default_factory=list)  # slot, offset
    arena_size: Dim = field(init=False, default=0)
    _slots: list[Buffer] = field(init=False, default_factory=list)
    constants: list[Tensor] = field(init=False, default_factory=list)
    outputs: list[Buffer] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        graph = self.graph
        if graph.updates:
            raise CompileError("internal error: a native plan computes updates as outputs "
                               "(updates_as_outputs)")
        self.env = graph.dims
        for node in graph.nodes:
            for d in node.shape:
                if self.env.unbound(d):
                    raise CompileError(f"{node.op}: symbolic dim {sorted(self.env.unbound(d))[0]}"
                                       " is not bound by any input's shape"
                                       + (f" (built at {node.loc})" if node.loc else ""))
        out_index = {}
        for k, t in enumerate(graph.outputs):
            out_index.setdefault(id(t), k)
        self.outputs = [Buffer("output", k, t.dtype, D.product(t.shape))
                        for k, t in enumerate(graph.outputs)]
        inputs = {id(t): k for k, t in enumerate(graph.inputs)}
        variables = {id(t): k for k, t in enumerate(graph.variables)}
        self.users: dict[int, list[Tensor]] = {}
        for node in graph.nodes:
            for i in dict.fromkeys(map(id, node.inputs)):
                self.users.setdefault(i, []).append(node)
        self._placed: dict[int, Access] = {}
        self._into = _concatenated_in_place(graph, out_index, self.env)
        for node in graph.nodes:
            self.access[id(node)] = self._place(node, inputs, variables, out_index)
        for k, t in enumerate(graph.outputs):
            target = whole(self.outputs[k], t.shape)
            if self.access[id(t)].buffer is not self.outputs[k]:
                self.steps.append(Step(f"output{k}", None, target, [self.access[id(t)]],
                                       _copy_step))
        self._assign_offsets()

    def _place(self, node: Tensor, inputs: dict, variables: dict, out_index: dict) -> Access:
        if node.op == "placeholder":
            return whole(Buffer("input", inputs[id(node)], node.dtype, D.product(node.shape)),
                         node.shape)
        if node.op == "variable":
            return whole(Buffer("variable", variables[id(node)], node.dtype,
                                D.product(node.shape)), node.shape)
        if node.op == "constant":
            self.constants.append(node)
            return whole(Buffer("constant", len(self.constants) - 1, node.dtype,
                                D.product(node.shape)), node.shape)
        if node.op in RESULTS:
            return self.access[id(node)]      # placed by its composite
        ins = self.operands(node, [self.access[id(i)] for i in node.inputs])
        if node.op in VIEWS:
            seen = view(node, ins[0], self.env)
            if seen is not None:
                return seen
        if node.op not in KERNELS and node.op not in EXPANDERS and \
                OPS[node.op].kind is not Kind.ELEMENTWISE:
            raise CompileError(f"the llvm backend has no kernel for op {node.op}"
                               + (f" (built at {node.loc})" if node.loc else ""))
        if OPS[node.op].kind is Kind.COMPOSITE:
            out = {}
            for user in self.users.get(id(node), []):
                if user.op in RESULTS and user.inputs[0] is node:
                    self.access[id(user)] = self._result_access(user, out_index)
                    out[user.attrs["index"]] = self.access[id(user)]
        else:
            out = self._result_access(node, out_index)
        where = Where.of(node)
        if node.op == "concatenate" and any(a == self._window(node, i)
                                            for i, a in enumerate(ins)):
            self._concatenate(node, ins, where)
            return out
        if node.op in EXPANDERS:
            EXPANDERS[node.op](self, node, ins, out, where)
            return whole(Buffer("token", 0, "bool", 1), ())
        emit = KERNELS.get(node.op) or KERNELS["<elementwise>"]
        step = Step(f"k{len(self.steps)}_{node.op}", node, out, ins, emit, where)
        if node.op in SCRATCH:
            step.scratch = SCRATCH[node.op](self, node, ins, out)
        self.steps.append(step)
        return out if isinstance(out, Access) else whole(Buffer("token", 0, "bool", 1), ())

    def _result_access(self, node: Tensor, out_index: dict) -> Access:
        """An output buffer, the node's window of a concatenation taking it in place (see
        _concatenated_in_place), or an arena slot of its own; the same access on every call
        (a concatenation's is made when its first piece is placed)."""
        if id(node) not in self._placed:
            k = out_index.get(id(node))
            if k is not None:
                self._placed[id(node)] = whole(self.outputs[k], node.shape)
            elif id(node) in self._into:
                concat, position = self._into[id(node)]
                self._result_access(concat, out_index)
                window = self._window(concat, position)
                if window.shape != node.shape:        # written through a unit-axis reshape
                    window = Access(window.buffer, node.shape,
                                    unit_axes_only(window, node.shape, self.env), window.offset)
                self._placed[id(node)] = window
            else:
                self._placed[id(node)] = self._arena_access(node)
        return self._placed[id(node)]

    def _window(self, concat: Tensor, position: int) -> Access:
        """The part of a placed concatenation that its piece `position` fills."""
        whole_ = self._placed[id(concat)]
        axis = concat.attrs["axis"]
        start = functools.reduce(D.add, [p.shape[axis] for p in concat.inputs[:position]], 0)
        return Access(whole_.buffer, concat.inputs[position].shape, whole_.strides,
                      D.add(whole_.offset, D.mul(start, whole_.strides[axis])))

    def _concatenate(self, node: Tensor, ins: list[Access], where: Where) -> None:
        """A concatenation some of whose pieces were computed in place: copy in the rest."""
        for position, a in enumerate(ins):
            window = self._window(node, position)
            if a != window:
                self.steps.append(Step(f"k{len(self.steps)}_concatenate", node, window, [a],
                                       _copy_step, where))

    def scratch(self, dtype: str, shape: tuple) -> Access:
        """A contiguous arena slot for a kernel's own use."""
        return self._arena_slot(dtype, shape)

    def add_step(self, name: str, node: Tensor | None, out, ins: list[Access], emit,
                 where: Where, scratch: dict | None = None) -> None:
        """A kernel call an expander adds (one part of a fused group, say), with the
        `scratch` its emitter finds in lowering.step.scratch."""
        step = Step(f"k{len(self.steps)}_{name}", node, out, ins, emit, where, scratch or {})
        if node is not None and node.op in SCRATCH and emit is KERNELS.get(node.op):
            step.scratch = SCRATCH[node.op](self, node, ins, out)     # a group's anchor
        self.steps.append(step)

    def operands(self, node: Tensor, ins: list[Access]) -> list[Access]:
        """The operand accesses node's kernel reads: contiguous copies where it needs them."""
        if node.op not in CONTIGUOUS:
            return ins
        needs = CONTIGUOUS[node.op]
        wanted = range(len(ins)) if needs is None else needs(node)
        return [a if k not in wanted or is_contiguous(a, self.env)
                else self.contiguous(a, f"{node.op}.in{k}") for k, a in enumerate(ins)]

    def contiguous(self, a: Access, name: str) -> Access:
        """A contiguous copy of a (strided) access, in the arena."""
        copied = self._arena_slot(a.dtype, a.shape)
        self.steps.append(Step(f"k{len(self.steps)}_{name}", None, copied, [a], _copy_step))
        return copied

    def _arena_access(self, node: Tensor) -> Access:
        return self._arena_slot(node.dtype, node.shape)

    def _arena_slot(self, dtype: str, shape: tuple) -> Access:
        buffer = Buffer("arena", len(self._slots), dtype, D.product(shape))
        self._slots.append(buffer)
        return whole(buffer, shape)

    def _assign_offsets(self) -> None:
        """Give every arena buffer an offset; a buffer dead before another is born lends it
        its bytes when they suffice (static sizes) or when the sizes are the same expression.

        A buffer lives from the first step touching it to the last; sharing only between
        lifetimes that do not meet keeps every kernel's buffers distinct (they are marked
        noalias).
        """
        steps = self.steps
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for position, step in enumerate(steps):
            for a in _accesses([step.out, step.ins, step.scratch]):
                first.setdefault(id(a.buffer), position)
                last[id(a.buffer)] = position
        blocks: list[list] = []          # [offset, nbytes, free after step]
        for buffer in sorted(self._slots, key=lambda b: first.get(id(b), 0)):
            nbytes = self.env.resolve(D.mul(buffer.size, SIZES[buffer.dtype]))
            born, dies = first.get(id(buffer), 0), last.get(id(buffer), 0)
            block = next((blk for blk in blocks if blk[2] < born and _fits(nbytes, blk[1])),
                         None)
            if block is None:
                block = [self.arena_size, nbytes, dies]
                blocks.append(block)
                self.arena_size = D.mul(D.floordiv(D.add(D.add(self.arena_size, nbytes),
                                                         ALIGN - 1), ALIGN), ALIGN)
            block[2] = dies
            self.arena.append((buffer, block[0]))

    def error(self, status: int) -> tuple[Step, Failure]:
        """The step and failure a nonzero status from the entry function stands for."""
        step = self.steps[status // 256 - 1]
        op = step.node.op if step.node is not None else "copy"
        unknown = Failure(GraphcError, f"error code {status % 256}")
        return step, MESSAGES.get(op, {}).get(status % 256, unknown)


def updates_as_outputs(graph: Graph) -> Graph:
    """graph with its updates' new values as outputs after its own, and no updates."""
    return Graph(graph.inputs, [*graph.outputs, *(value for _, value in graph.updates)])


def _concatenated_in_place(graph: Graph, out_index: dict, env) -> dict[int, tuple[Tensor, int]]:
    """Values a kernel writes straight into their window of a concatenation (node id ->
    (concatenate, position)), so the concatenation copies nothing: each value at most once,
    none a graph output, computed by a loop nest (which writes any strided window) or itself
    such a concatenation: the piece itself or the value a reshape only adds or drops axes of
    size 1 to (a step's gradient stacked as (n, 1, k)). The gate gradients of an LSTM
    step and the steps' gradients stacked for the weight gradient are written where the
    concatenations want them.
    """
    into: dict[int, tuple[Tensor, int]] = {}
    rows_results = {id(n) for n in graph.nodes
                    if n.op == "fused_result" and n.inputs[0].attrs["kind"] == "rows"}
    for node in graph.nodes:
        if node.op != "concatenate":
            continue
        counts = Counter(map(id, node.inputs))
        for position, piece in enumerate(node.inputs):
            value = _unit_reshaped(piece, env)
            if counts[id(piece)] == 1 and id(value) not in into and \
                    id(piece) not in out_index and id(value) not in out_index and \
                    (value is piece or id(value) not in rows_results) and \
                    _written_into(value, node):
                into[id(value)] = (node, position)
    for key, (concat, _) in list(into.items()):   # (a window of a window is strided)
        if id(concat) in into and key in rows_results:
            del into[key]
    return into


def _unit_reshaped(piece: Tensor, env) -> Tensor:
    """The value piece only adds or drops axes of size 1 to (its other readers read it
    from the window too); else piece."""
    if piece.op != "reshape":
        return piece
    value = piece.inputs[0]

    def sizes(t: Tensor) -> list:
        return [d for d in map(env.resolve, t.shape) if d != 1]
    return value if sizes(value) == sizes(piece) else piece


def _written_into(node: Tensor, concat: Tensor) -> bool:
    """Whether node's kernel can store it in its window of concat: a loop nest storing it by
    its access's strides does; a row group, which stores rows contiguously, does when the
    window is a run of whole rows (concat along axis 0, itself in no other's window)."""
    if node.op == "fused_result" and node.inputs[0].attrs["kind"] == "rows":
        return concat.attrs["axis"] == 0
    return _loop_written(node)


def _loop_written(node: Tensor) -> bool:
    """Whether node's kernel is a loop nest storing it by its access's strides."""
    if node.op == "concatenate":
        return True
    if node.op == "fused_result":
        group = node.inputs[0]
        if group.attrs["kind"] not in ("elementwise", "epilogue"):
            return False
        body = group.attrs["body"]
        value = body.outputs[node.attrs["index"]]
        return OPS[value.op].kind is Kind.ELEMENTWISE
    return OPS[node.op].kind is Kind.ELEMENTWISE and node.op not in KERNELS


def _accesses(value):
    """The Accesses in a nest of lists, tuples and dict values."""
    if isinstance(value, Access):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _accesses(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _accesses(v)


def _fits(need: Dim, have: Dim) -> bool:
    if isinstance(need, int) and isinstance(have, int):
        return need <= have
    return need == have


def _copy_step(low, node, out: Access, ins: list[Access]):
    return copy(low, low.name(node), out, ins[0])


class Lowering:
    """Emits a Plan as LLVM functions: its kernels, then an entry function calling them.

    A nested plan (a scan's body) is lowered into the same module under a name prefix.
    """

    def __init__(self, plan: Plan, module: ir.Module | None = None, prefix: str = ""):
        self.plan, self.env = plan, plan.env
        self.module = module or ir.Module(name="graphc")
        self.prefix = prefix
        self.current = ""

    def name(self, node: Tensor | None) -> str:
        return self.prefix + self.current

    def emit(self) -> ir.Module:
        self.entry("entry")
        return self.module

    def entry(self, name: str) -> ir.Function:
        """The plan's entry function (its kernels emitted first)."""
        plan = self.plan
        kernels = []
        for step in plan.steps:
            self.current, self.step = step.name, step
            kernel = step.emit(self, step.node, step.out, step.ins)
            kernel.finish()
            kernels.append(kernel)
        entry = ir.Function(self.module, ir.FunctionType(I32, [PTR] * 6), name=name)
        if name != "entry":
            entry.linkage = "internal"
        inputs, variables, outputs, arena, dims, context = entry.args
        b = ir.IRBuilder(entry.append_basic_block("start"))
        dim_values = DimValues(entry.basic_blocks[0], dims, self.env)
        body = entry.append_basic_block("body")
        b.position_at_end(body)
        tables = {"input": inputs, "variable": variables, "output": outputs}
        offsets = {id(buf): off for buf, off in plan.arena}
        bases: dict[int, ir.Value] = {}

        def base(buffer: Buffer) -> ir.Value:
            if id(buffer) not in bases:
                if buffer.kind in tables:
                    slot = b.gep(tables[buffer.kind], [i64(buffer.index)], source_etype=PTR)
                    bases[id(buffer)] = b.load(slot, typ=PTR)
                elif buffer.kind == "arena":
                    bases[id(buffer)] = b.gep(arena, [dim_values(offsets[id(buffer)])],
                                              source_etype=I8)
                else:
                    bases[id(buffer)] = self._constant(plan.constants[buffer.index])
            return bases[id(buffer)]

        failed = entry.append_basic_block("failed")
        status_phi_incoming = []
        for position, (step, kernel) in enumerate(zip(plan.steps, kernels), 1):
            args = [base(buf) for buf in kernel.buffers] + [dims, context]
            status = b.call(kernel.function, args)
            tagged = b.add(status, ir.Constant(I32, 256 * position))
            status_phi_incoming.append((tagged, b.block))
            next_block = entry.append_basic_block(f"after{position}")
            b.cbranch(b.icmp_unsigned("!=", status, ir.Constant(I32, 0)), failed, next_block)
            b.position_at_end(next_block)
        b.ret(ir.Constant(I32, 0))
        b.position_at_end(failed)
        if status_phi_incoming:
            phi = b.phi(I32)
            for value, block in status_phi_incoming:
                phi.add_incoming(value, block)
            b.ret(phi)
        else:
            b.unreachable()
        dim_values.finish(body)
        return entry

    def _constant(self, node: Tensor) -> ir.Value:
        array = node.value.reshape(-1)
        ty = ir_type(node.dtype)
        values = [const(node.dtype, v) for v in array.tolist()]
        glob = ir.GlobalVariable(self.module, ir.ArrayType(ty, max(len(values), 1)),
                                 name=f"const{len(self.module.globals)}")
        glob.global_constant = True
        glob.linkage = "internal"
        glob.align = ALIGN
        glob.initializer = ir.Constant(ir.ArrayType(ty, max(len(values), 1)),
                                       values or [const(node.dtype, 0)])
        return glob


def emit(plan: Plan) -> ir.Module:
    return Lowering(plan).emit()

