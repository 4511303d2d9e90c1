"""Layout ops: reshape, transpose, broadcast, concatenate, slicing, padding and indexing sugar."""
from __future__ import annotations

import math
from collections import Counter

from graphc.dtypes import promote
from graphc.errors import ShapeError
from graphc.ops import elementwise as ew
from graphc.ops.leaves import as_tensor
from graphc.ops.shapes import broadcast_shapes, normalize_axes, normalize_axis, same_dtype
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import Dim, TensorType, fresh_symbol, root, shape_str, unify

# ---- reshape ----------------------------------------------------------------------------------


def _split_dims(shape) -> tuple[int, Counter]:
    static = math.prod(d for d in shape if isinstance(d, int))
    return static, Counter(root(d) for d in shape if isinstance(d, str))


def infer_reshape(shape: tuple[Dim, ...], target) -> tuple[Dim, ...]:
    """Resolve one -1 in target and check the element counts agree (symbols must match)."""
    target = tuple(int(d) if not isinstance(d, str) else d for d in target)
    have_static, have_syms = _split_dims(shape)
    known = tuple(d for d in target if d != -1)
    want_static, want_syms = _split_dims(known)
    if len(known) < len(target) - 1:
        raise ShapeError(f"can only infer one -1 dim, got {target}")
    bad = ShapeError(f"cannot reshape {shape_str(shape)} to {shape_str(target)}")
    if len(known) == len(target) - 1:
        rest_syms = have_syms - want_syms
        if want_syms - have_syms or want_static == 0 or have_static % want_static:
            raise bad
        ratio = have_static // want_static
        if not rest_syms:
            inferred: Dim = ratio
        elif ratio == 1 and sum(rest_syms.values()) == 1:
            inferred = next(iter(rest_syms))
        else:
            raise ShapeError(f"cannot infer -1 in {shape_str(target)} from symbolic shape "
                             f"{shape_str(shape)}; give the dims explicitly")
        target = tuple(inferred if d == -1 else d for d in target)
    elif have_static != want_static or have_syms != want_syms:
        raise bad
    return target


defop("reshape", Kind.LAYOUT,
      lambda types, attrs: TensorType(types[0].dtype, infer_reshape(types[0].shape,
                                                                   attrs["shape"])))
defgrad("reshape", lambda g, out, x: reshape(g, x.shape))


@located("reshape")
def reshape(x, shape) -> Tensor:
    """Same elements, new shape; one dim may be -1. Symbolic dims may be named in `shape`."""
    x = as_tensor(x)
    if isinstance(shape, (int, str)):
        shape = (shape,)
    shape = infer_reshape(x.shape, tuple(shape))
    return x if shape == x.shape else make("reshape", [x], {"shape": shape})


@located("expand_dims")
def expand_dims(x, axis) -> Tensor:
    """Insert size-1 axes at the positions `axis` of the result."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim + (1 if isinstance(axis, int) else len(axis)))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


@located("squeeze")
def squeeze(x, axis=None) -> Tensor:
    """Remove size-1 axes (all of them when axis is None)."""
    x = as_tensor(x)
    axes = tuple(i for i, d in enumerate(x.shape) if d == 1) if axis is None \
        else normalize_axes(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} of shape {shape_str(x.shape)} is not 1")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


@located("flatten")
def flatten(x, start_axis: int = 1) -> Tensor:
    """Merge the axes from start_axis on into one (keeping the batch axis by default)."""
    x = as_tensor(x)
    return reshape(x, x.shape[:start_axis] + (-1,))


# ---- transpose --------------------------------------------------------------------------------

def _transpose_rule(types, attrs):
    (x,) = types
    perm = attrs["perm"]
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"axes {perm} are not a permutation of the {x.ndim} axes of "
                         f"{shape_str(x.shape)}")
    return TensorType(x.dtype, tuple(x.shape[p] for p in perm))


defop("transpose", Kind.LAYOUT, _transpose_rule)
defgrad("transpose", lambda g, out, x: transpose(
    g, tuple(sorted(range(x.ndim), key=out.attrs["perm"].__getitem__))))


@located("transpose")
def transpose(x, axes=None) -> Tensor:
    """Permute axes (reverse them when axes is None), as numpy.transpose."""
    x = as_tensor(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else \
        tuple(normalize_axis(a, x.ndim) for a in axes)
    return x if perm == tuple(range(x.ndim)) else make("transpose", [x], {"perm": perm})


@located("swapaxes")
def swapaxes(x, a: int, b: int) -> Tensor:
    x = as_tensor(x)
    perm = list(range(x.ndim))
    a, b = normalize_axis(a, x.ndim), normalize_axis(b, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


# ---- broadcast_to -----------------------------------------------------------------------------

def _broadcast_rule(types, attrs):
    (x,) = types
    shape = attrs["shape"]
    if len(shape) < x.ndim or broadcast_shapes(x.shape, shape) != tuple(map(root, shape)):
        raise ShapeError(f"cannot broadcast {shape_str(x.shape)} to {shape_str(shape)}")
    return TensorType(x.dtype, tuple(shape))


defop("broadcast_to", Kind.LAYOUT, _broadcast_rule)
defgrad("broadcast_to", lambda g, out, x: ew.unbroadcast(g, x.type))


def broadcast_to(x, shape) -> Tensor:
    """x repeated along broadcast axes to `shape` (a view in the interpreter)."""
    x = as_tensor(x)
    shape = tuple(shape)
    return x if shape == x.shape else make("broadcast_to", [x], {"shape": shape})


# ---- concatenate, stack, split ----------------------------------------------------------------

def _joined_dim(a: Dim, b: Dim) -> Dim | None:
    """The dim two joined operands share (a symbol is trusted to match), or None if none."""
    a, b = root(a), root(b)
    if isinstance(a, str) and isinstance(b, str):
        return unify(a, b)
    if a == b or isinstance(b, str):
        return a
    return b if isinstance(a, str) else None


def _concat_rule(types, attrs):
    axis = attrs["axis"]
    same_dtype(types)
    shape = list(types[0].shape)
    for t in types[1:]:
        joined = [_joined_dim(a, b) for a, b in zip(shape, t.shape)]
        if t.ndim != len(shape) or any(d is None for i, d in enumerate(joined) if i != axis):
            raise ShapeError("shapes " + ", ".join(shape_str(t.shape) for t in types)
                             + f" differ outside axis {axis}")
        shape = [shape[axis] + t.shape[axis] if i == axis else d for i, d in enumerate(joined)]
    return TensorType(types[0].dtype, tuple(shape))


def _concat_grad(g, out, *xs):
    axis, start, grads = out.attrs["axis"], 0, []
    for x in xs:
        size = x.shape[axis]
        grads.append(slice_axis(g, axis, start, start + size))
        start += size
    return tuple(grads)


defop("concatenate", Kind.LAYOUT, _concat_rule)
defgrad("concatenate", _concat_grad)


@located("concatenate")
def concatenate(xs, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (dtypes promoted as NumPy does)."""
    xs = [as_tensor(x) for x in xs]
    if not xs:
        raise ShapeError("concatenate: needs at least one tensor")
    dtype = promote(*(x.dtype for x in xs))
    xs = [ew.cast(x, dtype) for x in xs]
    if len(xs) == 1:
        return xs[0]
    if len({x.ndim for x in xs}) != 1:
        raise ShapeError("concatenate: ranks differ: " + ", ".join(shape_str(x.shape) for x in xs))
    axis = normalize_axis(axis, xs[0].ndim)
    if any(not isinstance(x.shape[axis], int) for x in xs):
        raise ShapeError("concatenate: the joined axis must be static")
    return make("concatenate", xs, {"axis": axis})


@located("stack")
def stack(xs, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    xs = [as_tensor(x) for x in xs]
    if any(x.ndim != xs[0].ndim or None in map(_joined_dim, x.shape, xs[0].shape) for x in xs):
        raise ShapeError("needs equal shapes, got " + ", ".join(shape_str(x.shape) for x in xs))
    axis = normalize_axis(axis, xs[0].ndim + 1)
    return concatenate([expand_dims(x, axis) for x in xs], axis)


@located("split")
def split(x, sections, axis: int = 0) -> list[Tensor]:
    """Split into equal sections (an int) or at the given indices, as numpy.split."""
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim)
    size = x.shape[axis]
    if not isinstance(size, int):
        raise ShapeError(f"split: axis {axis} of {shape_str(x.shape)} must be static")
    if isinstance(sections, int):
        if size % sections:
            raise ShapeError(f"split: {size} does not divide into {sections} equal sections")
        bounds = list(range(0, size + 1, size // sections))
    else:
        bounds = [0, *sections, size]
    return [slice_axis(x, axis, lo, hi) for lo, hi in zip(bounds, bounds[1:])]


# ---- slicing ----------------------------------------------------------------------------------

def _sliced_dim(d: Dim, s: tuple) -> Dim:
    if isinstance(d, int):
        return len(range(*slice(*s).indices(d)))
    start, stop, step = s
    if start is None and stop is None and step in (None, 1, -1):
        return d
    if step is None and isinstance(start, int) and (
            (start == -1 and stop is None) or (stop == start + 1 and (start >= 0 or stop < 0))):
        return 1    # one element, as an integer index takes (assumed in bounds, like static dims)
    return fresh_symbol()


def _slice_rule(types, attrs):
    (x,) = types
    return TensorType(x.dtype, tuple(_sliced_dim(d, s) for d, s in zip(x.shape, attrs["slices"])))


def _unslice_rule(types, attrs):
    return TensorType(types[0].dtype, attrs["shape"])


defop("slice", Kind.LAYOUT, _slice_rule)
defop("unslice", Kind.LAYOUT, _unslice_rule)
defgrad("slice", lambda g, out, x: make("unslice", [g], {"shape": x.shape,
                                                          "slices": out.attrs["slices"]}))
defgrad("unslice", lambda g, out, x: make("slice", [g], {"slices": out.attrs["slices"]}))


def slice_axis(x: Tensor, axis: int, start, stop, step=None) -> Tensor:
    slices = [(None, None, None)] * x.ndim
    slices[axis] = (start, stop, step)
    return make("slice", [x], {"slices": tuple(slices)})


@located("index")
def _getitem(x: Tensor, key) -> Tensor:
    """Basic indexing: ints, slices with steps, None and Ellipsis; an int array gathers."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(isinstance(k, (Tensor, list)) or hasattr(k, "__array__") for k in key):
        from graphc.ops import indexing
        if len(key) != 1:
            raise ShapeError("indexing with an array supports a single index (gather along axis 0)")
        return indexing.take(x, key[0], axis=0)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > x.ndim:
        raise ShapeError(f"too many indices ({n_real}) for shape {shape_str(x.shape)}")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - n_real) + key[i + 1:]
    else:
        key = key + (slice(None),) * (x.ndim - n_real)
    slices, kept, axis = [], [], 0    # kept: the sliced axes that stay, None for a new axis
    for k in key:
        if k is None:
            kept.append(None)
            continue
        d = x.shape[axis]
        if isinstance(k, slice):
            slices.append((k.start, k.stop, k.step))
            kept.append(axis)
        else:
            k = int(k)
            if isinstance(d, int) and not -d <= k < d:
                raise ShapeError(f"index {k} is out of bounds for axis {axis} with size {d}")
            slices.append((k, k + 1 if k != -1 else None, None))
        axis += 1
    full = all(s == (None, None, None) for s in slices)
    y = x if full else make("slice", [x], {"slices": tuple(slices)})
    return reshape(y, tuple(1 if a is None else y.shape[a] for a in kept))


# ---- pad --------------------------------------------------------------------------------------

def _pad_rule(types, attrs):
    (x,) = types
    return TensorType(x.dtype, tuple(
        d + lo + hi if isinstance(d, int) else (d if lo == hi == 0 else fresh_symbol())
        for d, (lo, hi) in zip(x.shape, attrs["pads"])))


defop("pad", Kind.LAYOUT, _pad_rule)
defgrad("pad", lambda g, out, x: make("slice", [g], {"slices": tuple(
    (lo, -hi if hi else None, None) for lo, hi in out.attrs["pads"])}))


@located("pad")
def pad(x, pad_width, constant_value: float = 0.0) -> Tensor:
    """Pad with a constant: pad_width is an int, a (lo, hi) pair, or one pair per axis."""
    x = as_tensor(x)
    if isinstance(pad_width, int):
        pads = ((pad_width, pad_width),) * x.ndim
    elif len(pad_width) == 2 and all(isinstance(p, int) for p in pad_width):
        pads = (tuple(pad_width),) * x.ndim
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if x.ndim == 0 or len(pads) != x.ndim or any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ShapeError(f"pad: widths {pad_width} do not fit shape {shape_str(x.shape)}")
    return make("pad", [x], {"pads": pads, "value": float(constant_value)})


Tensor.__getitem__ = _getitem
Tensor.reshape = lambda self, *shape: reshape(self, shape[0] if len(shape) == 1 else shape)
Tensor.transpose = lambda self, *axes: transpose(self, axes or None)
Tensor.T = property(lambda self: transpose(self))
Tensor.flatten = flatten
