"""How each kind of node looks: colours by op kind, shapes for leaves, marks for gradients."""
from __future__ import annotations

from graphc.registry import Kind

FONT = {"fontname": "Helvetica", "fontsize": "10"}

KIND_FILL = {
    Kind.ELEMENTWISE: "#d8f3dc",    # green
    Kind.REDUCTION: "#ffd6a5",      # orange
    Kind.LAYOUT: "#e9ecef",         # grey
    Kind.CONTRACTION: "#ffadad",    # red
    Kind.INDEXING: "#e5d4ff",       # purple
    Kind.RANDOM: "#fdffb6",         # yellow
    Kind.COMPOSITE: "#caf0f8",      # cyan
    Kind.LEAF: "#ffffff",
}

OP = {"shape": "box", "style": "rounded,filled"}
PLACEHOLDER = {"shape": "invhouse", "style": "filled", "fillcolor": "#a0c4ff"}
VARIABLE = {"shape": "cylinder", "style": "filled", "fillcolor": "#ffd166"}
CONSTANT = {"shape": "box", "style": "filled", "fillcolor": "#f1f3f5", "fontsize": "8",
            "height": "0.2", "width": "0.3", "margin": "0.03,0.01"}
OUTPUT = {"shape": "house", "style": "filled", "fillcolor": "#a0c4ff"}
BOX = {"shape": "box3d", "style": "filled", "fillcolor": "#dee2e6"}     # a collapsed scope
GROUP = {"shape": "box3d", "style": "filled", "fillcolor": KIND_FILL[Kind.COMPOSITE]}
ANCHOR = {"shape": "box", "style": "rounded,filled,bold",
          "fillcolor": KIND_FILL[Kind.COMPOSITE]}

GRAD_COLOR = "#b5179e"
GRAD = {"color": GRAD_COLOR, "penwidth": "1.6"}      # added to a gradient node's style
GRAD_MARK = "\u2207 "                                # the nabla before a gradient node's label
HIGHLIGHT = {"color": "#e63946", "penwidth": "3.5"}

SCOPE_CLUSTER = {"style": "rounded,filled", "fillcolor": "#f8f9fa", "color": "#adb5bd",
                 "fontsize": "11"}
GRAD_CLUSTER = {"style": "rounded,filled,dashed", "fillcolor": "#fdf0fa", "color": GRAD_COLOR,
                "fontsize": "11"}
GROUP_CLUSTER = {"style": "rounded,filled", "fillcolor": "#effafd", "color": "#48cae4",
                 "fontsize": "11"}
FUSED_CLUSTER = {"style": "rounded,filled,bold", "fillcolor": "#effafd", "color": "#0096c7",
                 "fontsize": "11", "penwidth": "1.8"}

DIFF = {"removed": {"fillcolor": "#ffccd5", "color": "#c9184a", "penwidth": "2.5"},
        "added": {"fillcolor": "#b7e4c7", "color": "#1b4332", "penwidth": "2.5"}}
DIFF_MARK = {"removed": "\u2212 ", "added": "+ "}
UPDATE_EDGE = {"style": "dashed", "color": "#6c757d", "constraint": "false"}
UPDATE_FROM_GROUP = {"style": "dashed", "color": "#6c757d", "weight": "0", "minlen": "0"}


def with_style(base: dict, extra: str) -> dict:
    """base with `extra` (e.g. "dashed") added to its style list."""
    styles = [s for s in base.get("style", "").split(",") if s]
    return {**base, "style": ",".join(styles + [extra])}
