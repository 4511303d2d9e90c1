"""Seeded mutations of saved graphs: malformed text IR and .npz archives, by named category.

Each mutator takes a random.Random and a seed file's text (or its arrays' bytes) and returns
a damaged copy. The categories follow the ways files went wrong in issue 11: extra and missing
operands, huge literals, deep nesting, unknown dtypes, missing, duplicate and unknown
attributes, absurd declared sizes, odd names, crafted .npz headers, duplicate, unreferenced
and truncated members.
"""
from __future__ import annotations

import io
import random
import re
import struct
import warnings
import zipfile

import numpy as np

import graphc as gc
from graphc.printing import stored_arrays

TOKEN = re.compile(r'%"(?:[^"\\]|\\.)*"|"(?:[^"\\]|\\.)*"|%[\w.\-]+|\?\w+|#[^\n]*|'
                   r"-?\d+\.?\d*(?:[eE][-+]?\d+)?|[A-Za-z_]\w*|<-|\s+|.", re.S)

HUGE_INTS = ["9" * 5000, "-" + "9" * 400, str(2 ** 63), str(2 ** 64 + 1), str(10 ** 30),
             "100000", "-1", "0"]
ODD_LITERALS = ["1e39", "1e400", "-1e400", "nan", "inf", "-inf", '"float16"', '"bogus"',
                '"\\ud800"', '"\\u0000"', "None", "True", "()", "(1,1)", "(0,0,0)",
                "(" * 200 + ")" * 200, "f16[3]", "f32[?9,9]", "graph() {", "!\"x\""]
ODD_NAMES = ['%"a\\u0000b"', '%"\\ud800"', '%"\\udfff x"', "%\u00e9t\u00e9", '%""', "%0",
             '%"' + "n" * 3000 + '"']
DTYPES = ["f32", "f64", "i32", "i64", "bool", "f16", "u8", "c64"]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _where(rng: random.Random, toks: list[str], pattern: str) -> int | None:
    spots = [i for i, t in enumerate(toks) if re.fullmatch(pattern, t)]
    return rng.choice(spots) if spots else None


def _values(toks: list[str]) -> list[str]:
    return sorted({t for t in toks if t.startswith("%")}) or ["%x"]


# ---- text mutators ------------------------------------------------------------------------------

def delete_token(rng, toks):
    toks.pop(rng.randrange(len(toks)))


def duplicate_token(rng, toks):
    i = rng.randrange(len(toks))
    toks.insert(i, toks[i])


def swap_tokens(rng, toks):
    i = rng.randrange(len(toks) - 1)
    toks[i], toks[i + 1] = toks[i + 1], toks[i]


def replace_token(rng, toks):
    pool = [t for t in toks if t.strip()] + HUGE_INTS + ODD_LITERALS + DTYPES
    toks[rng.randrange(len(toks))] = rng.choice(pool)


def extra_operand(rng, toks):
    """`neg(%x)` -> `neg(%x, %W)`: an op given one operand too many."""
    i = _where(rng, toks, r"\)")
    if i is not None and toks[i - 1] != "(":
        toks.insert(i, ", " + rng.choice(_values(toks)))
    elif i is not None:
        toks.insert(i, rng.choice(_values(toks)))


def drop_operand(rng, toks):
    i = _where(rng, toks, r"%[\w.\-]+")
    if i is not None and toks[i - 1] in ("(", " ", ","):
        toks.pop(i)
        if i < len(toks) and toks[i] == ",":
            toks.pop(i)
        elif toks[i - 1] == " " and toks[i - 2] == ",":
            del toks[i - 2:i]


def _attr_spans(toks) -> list[tuple[int, int]]:
    """(start, end) token spans of `name=value` inside `{...}` (value up to , or })."""
    spans, depth, inside, start = [], 0, False, None
    for i, t in enumerate(toks):
        if t == "{" and toks[i - 1] == " " and not inside:
            inside, start = True, i + 1
        elif inside and t in "([":
            depth += 1
        elif inside and t in ")]":
            depth -= 1
        elif inside and depth == 0 and t in (",", "}"):
            spans.append((start, i))
            start = i + 1
            if t == "}":
                inside = False
    return [s for s in spans if "=" in toks[s[0]:s[1]]]


def drop_attr(rng, toks):
    spans = _attr_spans(toks)
    if spans:
        a, b = rng.choice(spans)
        del toks[a:b + (toks[b] == ",")]


def duplicate_attr(rng, toks):
    spans = _attr_spans(toks)
    if spans:
        a, b = rng.choice(spans)
        toks[a:a] = toks[a:b] + [","]


def unknown_attr(rng, toks):
    spans = _attr_spans(toks)
    extra = ["bogus=1", "axes=(1,1)", "dtype=\"float16\"", "keepdims=3", "seed=" + HUGE_INTS[3]]
    if spans:
        toks.insert(rng.choice(spans)[0], rng.choice(extra) + ", ")
    else:
        i = _where(rng, toks, r"\)")
        if i is not None:
            toks.insert(i + 1, " {" + rng.choice(extra) + "}")


def attr_value(rng, toks):
    spans = _attr_spans(toks)
    if spans:
        a, b = rng.choice(spans)
        eq = toks.index("=", a)
        toks[eq + 1:b] = [rng.choice(HUGE_INTS + ODD_LITERALS + ["(" + rng.choice(HUGE_INTS)
                                                                  + ",)"])]


def huge_number(rng, toks):
    i = _where(rng, toks, r"-?\d+\.?\d*(?:[eE][-+]?\d+)?")
    if i is not None:
        toks[i] = rng.choice(HUGE_INTS + ["1e39", "1e400", "1" * 400 + ".5"])


def deep_nesting(rng, toks):
    depth = rng.choice([40, 300, 1000])
    i = _where(rng, toks, r"\(")
    if i is not None:
        toks.insert(i + 1, "(" * depth + ")" * depth + ", ")


def huge_dims(rng, toks):
    """A declared size no machine can allocate: f32[100000,100000], f64[2**62], ..."""
    i = _where(rng, toks, r"\[")
    if i is not None:
        dims = rng.choice(["100000,100000", str(2 ** 62), "4611686018427387904,4",
                           "30000,30000", "3," + "9" * 25])
        j = toks.index("]", i)
        toks[i + 1:j] = [dims]


def change_dtype(rng, toks):
    i = _where(rng, toks, r"f32|f64|i32|i64|bool|\"float32\"|\"float64\"|\"int64\"")
    if i is not None:
        toks[i] = rng.choice(DTYPES + ['"float16"', '"complex64"', '"object"', "7"])


def odd_name(rng, toks):
    i = _where(rng, toks, r"%[\w.\-]+|%\"(?:[^\"\\]|\\.)*\"")
    if i is not None:
        new = rng.choice(ODD_NAMES)
        old = toks[i]
        for k, t in enumerate(toks):
            if t == old and rng.random() < 0.8:
                toks[k] = new


def mangle_lines(rng, toks):
    lines = "".join(toks).split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    how = rng.choice(["drop", "dup", "swap"])
    if how == "drop":
        lines.pop(i)
    elif how == "dup":
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    toks[:] = ["\n".join(lines)]


def mangle_chars(rng, toks):
    text = list("".join(toks))
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(text))
        how = rng.random()
        if how < 0.4:
            text[i] = chr(rng.choice([0, 9, 10, 13, 34, 35, 37, 40, 41, 44, 61, 63, 92, 123,
                                      125, 0xD800, 0xFEFF, rng.randrange(32, 127)]))
        elif how < 0.7:
            del text[i]
        else:
            text.insert(i, rng.choice("(){}[],=:%?#\"\\-.0123456789eE\n"))
    toks[:] = ["".join(text)]


def truncate(rng, toks):
    text = "".join(toks)
    toks[:] = [text[:rng.randrange(len(text))]]


TEXT_MUTATORS = {f.__name__: f for f in [
    delete_token, duplicate_token, swap_tokens, replace_token, extra_operand, drop_operand,
    drop_attr, duplicate_attr, unknown_attr, attr_value, huge_number, deep_nesting, huge_dims,
    change_dtype, odd_name, mangle_lines, mangle_chars, truncate]}


def mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    """A damaged copy of `text` and the name of what was done (one or two mutations)."""
    toks = tokens(text)
    names = []
    for _ in range(1 if rng.random() < 0.8 else 2):
        if len(toks) < 2:
            break
        toks = tokens("".join(toks))
        name = rng.choice(list(TEXT_MUTATORS))
        TEXT_MUTATORS[name](rng, toks)
        names.append(name)
    return "".join(toks), "+".join(names)


# ---- archive mutators ---------------------------------------------------------------------------

def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def crafted_npy(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """An .npy member with the header text given verbatim (unpadded), then `data`."""
    body = header.encode("latin1")
    size = struct.pack("<H" if version[0] == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes(version) + size + body + data


def zip_members(members: list[tuple[str, bytes]], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # duplicate names are what we want here
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


HEADERS = [
    "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3.5,), }",
    "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
    "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
    "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
    "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
    "{'descr': ('<f4', (2**40,)), 'fortran_order': False, 'shape': (2,), }",
    "{'descr': '<f4', 'fortran_order': 1, 'shape': (2,), }",
    "{'descr': '<f4', 'shape': (2,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 300 + ")" * 300 + ", }",
    "[1, 2, 3]",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': __import__('os')}",
    "{'descr': '>f4', 'fortran_order': True, 'shape': (3, 2), }",
    "x" * 60000,
]


def archive_mutation(rng: random.Random, arrays: dict[str, np.ndarray]) -> tuple[bytes, str]:
    """Damaged bytes of the .npz gc.save would write for `arrays`, and what was done."""
    members = [(k + ".npy", npy_bytes(np.asarray(v))) for k, v in arrays.items()]
    how = rng.choice(["truncate", "flip", "header", "duplicate", "unreferenced", "wrong_type",
                      "drop", "deflate_flip", "garbage_member", "version", "short_data"])
    i = rng.randrange(len(members))
    name, data = members[i]
    if how == "header":
        members[i] = (name, crafted_npy(rng.choice(HEADERS), data[128:],
                                        rng.choice([(1, 0), (2, 0)])))
    elif how == "duplicate":
        members.insert(rng.randrange(len(members) + 1),
                       (name, npy_bytes(np.zeros(rng.randint(0, 5), np.float32))))
    elif how == "unreferenced":
        members.append((rng.choice(["huge", "zz/9", "x.npy"]) + ".npy",
                        crafted_npy(rng.choice(HEADERS), b"\0" * rng.randint(0, 64))))
    elif how == "wrong_type":
        value = np.asarray(arrays[name[:-4]])
        other = rng.choice([value.astype(np.float64), value.reshape(-1)[:1], value.T.copy(),
                            np.zeros((2,) + value.shape, value.dtype)])
        members[i] = (name, npy_bytes(other))
    elif how == "drop":
        members.pop(i)
    elif how == "garbage_member":
        members[i] = (name, bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
    elif how == "version":
        members[i] = (name, data[:6] + bytes([rng.choice([0, 3, 9, 255]), 0]) + data[8:])
    elif how == "short_data":
        members[i] = (name, data[:max(len(data) - rng.randint(1, 16), 10)])
    blob = zip_members(members, compress=how == "deflate_flip")
    if how == "truncate":
        blob = blob[:rng.randrange(len(blob))]
    elif how in ("flip", "deflate_flip"):
        blob = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        blob = bytes(blob)
    return blob, how


# ---- seed graphs --------------------------------------------------------------------------------

def seed_graphs() -> dict[str, gc.Graph]:
    """Small graphs covering the syntax: attributes of every kind, scalars, a subgraph."""
    rng = np.random.default_rng(0)
    x = gc.placeholder((None, 4), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    W = gc.variable(rng.standard_normal((4, 3)).astype(np.float32), name="W")
    b = gc.variable(np.zeros(3, np.float32), name="b")
    logits = gc.relu(x @ W + b)
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    gW, = gc.grad(loss, [W])
    seeds = {"dense": gc.Graph([x, y], [loss], [(W, W - 0.1 * gW)])}
    img = gc.placeholder((None, 1, 6, 6), name="img")
    k = gc.variable(np.ones((2, 1, 3, 3), np.float32), name="k")
    h = gc.max_pool(gc.conv2d(img, k, padding="same"), 2)
    seeds["conv"] = gc.Graph([img], [gc.sum(h, axis=(1, 2)) * 0.5])
    xs = gc.placeholder((5, None, 3), "float32", name="xs")
    h0 = gc.placeholder((None, 3), "float32", name="h0")
    U = gc.variable(np.eye(3, dtype=np.float32), name="U")
    last, _ = gc.scan(lambda h, xt: (gc.tanh(xt + h @ U), None), h0, xs)
    seeds["scan"] = gc.Graph([xs, h0], [last])
    v = gc.placeholder((3,), "float64", name="v")
    seeds["scalars"] = gc.Graph([v], [gc.cast(gc.where(v > 1.5, v, -v) ** 2, "float32"),
                                      gc.constant(np.arange(3, dtype=np.int32)) + 7,
                                      gc.reshape(v, (3, 1))])
    return seeds


def seed_files() -> dict[str, tuple[str, dict[str, np.ndarray]]]:
    """Each seed graph's text and the arrays gc.save stores beside it."""
    return {name: (str(g) + "\n", stored_arrays(g)) for name, g in seed_graphs().items()}
