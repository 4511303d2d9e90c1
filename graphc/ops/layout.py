"""Layout ops: reshape, transpose, broadcast, concatenate, slicing, padding and indexing sugar."""
from __future__ import annotations

import numpy as np

from graphc import dims
from graphc.assumptions import same_dim
from graphc.attrs import AXIS, FLOAT, PADS, SHAPE, SLICES, Spec
from graphc.dims import Dim
from graphc.dtypes import promote
from graphc.errors import DTypeError, ShapeError
from graphc.ops import elementwise as ew
from graphc.ops.leaves import as_tensor
from graphc.ops.shapes import normalize_axes, normalize_axis, same_dtype
from graphc.registry import Kind, Trait, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType, shape_str

# ---- reshape ----------------------------------------------------------------------------------


def infer_reshape(shape: tuple[Dim, ...], target) -> tuple[Dim, ...]:
    """Resolve one -1 in target and check the element counts agree (as exact dim products)."""
    target = tuple(d if isinstance(d, (str, dims.DimExpr)) else int(d) for d in target)
    known = tuple(d for d in target if d != -1)
    if len(known) < len(target) - 1:
        raise ShapeError(f"can only infer one -1 dim, got {target}")
    if any(isinstance(d, int) and d < 0 for d in known):
        raise ShapeError(f"cannot reshape to {shape_str(target)}: negative dim")
    total, want = dims.product(shape), dims.product(known)
    if len(known) == len(target) - 1:
        # NOTE: symbolic dims the target keeps cancel first, as divide_exact divides by
        # monomials only: (n+4, 3, 7) -> (n+4, -1) infers 21.
        rest, others = list(shape), []
        for d in known:
            if not isinstance(d, int) and d in rest:
                rest.remove(d)
            else:
                others.append(d)
        inferred = dims.divide_exact(dims.product(rest), dims.product(others)) \
            if want != 0 else None
        if inferred is None or not dims.is_nonneg(inferred):
            raise ShapeError(f"cannot infer -1 in {shape_str(target)} from shape "
                             f"{shape_str(shape)}; give the dims explicitly")
        return tuple(inferred if d == -1 else d for d in target)
    if total != want:
        if isinstance(total, int) and isinstance(want, int):
            raise ShapeError(f"cannot reshape {shape_str(shape)} to {shape_str(target)}")
        same_dim(total, want)     # sizes that differ only through symbols: checked by feeds
    return target


def _reshape_ref(node, dims):
    shape = dims(node.attrs["shape"])
    return lambda x: x.reshape(shape())


defop("reshape", Kind.LAYOUT,
      lambda types, attrs: TensorType(types[0].dtype, infer_reshape(types[0].shape,
                                                                   attrs["shape"])),
      attrs={"shape": SHAPE}, traits=(Trait.VIEW,), reference=_reshape_ref)
defgrad("reshape", lambda g, out, x: reshape(g, x.shape))


@located("reshape")
def reshape(x, shape) -> Tensor:
    """Same elements, new shape; one dim may be -1. Symbolic dims may be named in `shape`."""
    x = as_tensor(x)
    if isinstance(shape, (int, str, dims.DimExpr)):      # one dim
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


defop("transpose", Kind.LAYOUT, _transpose_rule, attrs={"perm": Spec(
    lambda v: tuple(AXIS.normalize(a) for a in v), what="a permutation of the axes")},
      traits=(Trait.VIEW,), reference=lambda node, dims: lambda x: x.transpose(node.attrs["perm"]))
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
    shape = tuple(attrs["shape"])
    lead = len(shape) - x.ndim
    if lead < 0 or any(d != 1 and same_dim(d, want) is None
                       for d, want in zip(x.shape, shape[lead:])):
        raise ShapeError(f"cannot broadcast {shape_str(x.shape)} to {shape_str(shape)}")
    return TensorType(x.dtype, shape)


def _broadcast_ref(node, dims):
    shape = dims(node.attrs["shape"])
    return lambda x: np.broadcast_to(x, shape())


defop("broadcast_to", Kind.LAYOUT, _broadcast_rule, attrs={"shape": SHAPE},
      traits=(Trait.VIEW,), reference=_broadcast_ref)
defgrad("broadcast_to", lambda g, out, x: ew.unbroadcast(g, x.type))


def broadcast_to(x, shape) -> Tensor:
    """x repeated along broadcast axes to `shape` (a view in the interpreter)."""
    x = as_tensor(x)
    shape = tuple(shape)
    return x if shape == x.shape else make("broadcast_to", [x], {"shape": shape})


# ---- concatenate, stack, split ----------------------------------------------------------------

def _concat_rule(types, attrs):
    axis = attrs["axis"]
    same_dtype(types)
    shape = list(types[0].shape)
    if axis >= len(shape):
        raise ShapeError(f"axis {axis} is out of range for rank {len(shape)}")
    for t in types[1:]:
        joined = [same_dim(a, b) if i != axis else a
                  for i, (a, b) in enumerate(zip(shape, t.shape))]
        if t.ndim != len(shape) or None in joined:
            raise ShapeError("shapes " + ", ".join(shape_str(t.shape) for t in types)
                             + f" differ outside axis {axis}")
        shape = [dims.add(shape[axis], t.shape[axis]) if i == axis else d
                 for i, d in enumerate(joined)]
    return TensorType(types[0].dtype, tuple(shape))


def _concat_grad(g, out, *xs):
    axis, start, grads = out.attrs["axis"], 0, []
    for x in xs:
        size = x.shape[axis]
        grads.append(slice_axis(g, axis, start, start + size))
        start += size
    return tuple(grads)


defop("concatenate", Kind.LAYOUT, _concat_rule, arity=(1, None), attrs={"axis": AXIS},
      reference=lambda node, dims: lambda *xs: np.concatenate(xs, axis=node.attrs["axis"]))
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
    if any(x.ndim != xs[0].ndim or None in map(same_dim, x.shape, xs[0].shape) for x in xs):
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
    """The length of d[start:stop:step] (an expression of d when d is symbolic)."""
    start, stop, step = s
    step = 1 if step is None else step
    if step == 0:
        raise ShapeError("slice step cannot be zero")
    if isinstance(d, int):
        return len(range(*slice(start, stop, step).indices(d)))
    if step > 0 and start is not None and stop == start + 1 and (start >= 0 or stop < 0):
        return 1    # one element, as an integer index takes (assumed in bounds, like static dims)
    if step in (1, -1) and start is None and stop is None:
        return d
    if step == 1 and (start is None or start >= 0) and (stop is None or stop < 0):
        return dims.maximum(dims.sub(d, (start or 0) - (stop or 0)), 0)   # x[a:], x[:-b]
    if step == 1 and start is None and stop >= 0:
        return dims.minimum(d, stop)                                      # x[:b]
    if step == 1 and start < 0 and stop is None:
        return dims.minimum(d, -start)                                    # x[-a:]
    if step > 0:
        lo, hi = _bound(d, start, 0, 0, d), _bound(d, stop, d, 0, d)
        return dims.floordiv(dims.maximum(dims.sub(hi, lo), 0) if step == 1 else
                             dims.maximum(dims.add(dims.sub(hi, lo), step - 1), 0), step)
    lo, hi = _bound(d, stop, -1, -1, dims.sub(d, 1)), _bound(d, start, dims.sub(d, 1), -1,
                                                              dims.sub(d, 1))
    return dims.floordiv(dims.maximum(dims.add(dims.sub(hi, lo), -step - 1), 0), -step)


def slice_start(d: Dim, s: tuple) -> Dim:
    """The index of the first element d[start:stop:step] takes (meaningful when it takes any)."""
    start, _, step = s
    if (step or 1) > 0:
        return _bound(d, start, 0, 0, d)
    return _bound(d, start, dims.sub(d, 1), -1, dims.sub(d, 1))


def _bound(d: Dim, value, default: Dim, low: int, high: Dim) -> Dim:
    """A slice bound made absolute and clipped to [low, high], as Python slicing does."""
    if value is None:
        return default
    absolute = value if value >= 0 else dims.add(d, value)
    return dims.minimum(dims.maximum(absolute, low), high)


def _slice_rule(types, attrs):
    (x,) = types
    if len(attrs["slices"]) != x.ndim:
        raise ShapeError(f"{len(attrs['slices'])} slices for a tensor of rank {x.ndim}")
    return TensorType(x.dtype, tuple(_sliced_dim(d, s) for d, s in zip(x.shape, attrs["slices"])))


def _unslice_rule(types, attrs):
    (g,) = types
    shape, slices = tuple(attrs["shape"]), attrs["slices"]
    if len(slices) != len(shape) or g.ndim != len(shape):
        raise ShapeError(f"unslice of {shape_str(g.shape)} into {shape_str(shape)} needs one "
                         "slice per axis")
    for d, want in zip(g.shape, (_sliced_dim(d, s) for d, s in zip(shape, slices))):
        if same_dim(d, want) is None:
            raise ShapeError(f"a {shape_str(g.shape)} piece does not fill the slices {slices} "
                             f"of {shape_str(shape)}")
    return TensorType(g.dtype, shape)


def _slices(node) -> tuple[slice, ...]:
    return tuple(slice(*s) for s in node.attrs["slices"])


def _slice_ref(node, dims):
    index = _slices(node)
    return lambda x: x[index]


def _unslice_ref(node, dims):
    index, shape, dtype = _slices(node), dims(node.attrs["shape"]), np.dtype(node.dtype)

    def unslice(g):
        out = np.zeros(shape(), dtype)
        out[index] = g
        return out
    return unslice


defop("slice", Kind.LAYOUT, _slice_rule, attrs={"slices": SLICES}, traits=(Trait.VIEW,),
      reference=_slice_ref)
defop("unslice", Kind.LAYOUT, _unslice_rule, attrs={"shape": SHAPE, "slices": SLICES},
      reference=_unslice_ref)
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
    if len(attrs["pads"]) != x.ndim:
        raise ShapeError(f"{len(attrs['pads'])} pad pairs for a tensor of rank {x.ndim}")
    if x.dtype in ("int32", "int64"):
        value, limits = attrs["value"], np.iinfo(x.dtype)
        if not limits.min <= value <= limits.max:           # NaN fails too
            raise DTypeError(f"pad value {value} does not fit the {x.dtype} elements it pads")
    return TensorType(x.dtype, tuple(dims.add(d, lo + hi)
                                     for d, (lo, hi) in zip(x.shape, attrs["pads"])))


def _pad_ref(node, dims):
    pads, value = node.attrs["pads"], node.attrs["value"]
    return lambda x: np.pad(x, pads, constant_values=value)


defop("pad", Kind.LAYOUT, _pad_rule, attrs={"pads": PADS, "value": FLOAT}, reference=_pad_ref)
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
