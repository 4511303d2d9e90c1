"""The render diff marks only what changed (issue 11, item 15): nodes match by structure, so a
node whose input was rewritten, or whose upstream changed, is still the same node."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from backends.graphviz.diff import diff_marks
from tests.ir_models import mlp_graphs


def marked_ops(before: gc.Graph, after: gc.Graph) -> tuple[list[str], list[str]]:
    removed, added = diff_marks(before, after)
    return (sorted(n.op for n in before.nodes if id(n) in removed),
            sorted(n.op for n in after.nodes if id(n) in added))


def test_the_optimizer_dropping_one_broadcast_is_one_removed_node() -> None:
    graphs = mlp_graphs()
    before, after = graphs["training"], graphs["optimized"]
    assert len(before.nodes) - len(after.nodes) == 1
    assert marked_ops(before, after) == (["broadcast_to"], [])


def inputs():
    x = gc.placeholder((None, 3), "float64", name="x")
    w = gc.variable(np.ones((3, 3)), name="w")
    return x, w


@pytest.mark.parametrize("build_before, build_after, removed, added", [
    # a node between two others removed: everything downstream is unchanged
    (lambda x, w: gc.sum(gc.exp(gc.relu(x @ w)) * 2.0),
     lambda x, w: gc.sum(gc.exp(x @ w) * 2.0), ["relu"], []),
    # an op replaced upstream: the nodes after it are the same nodes
    (lambda x, w: gc.sum(gc.tanh(x + 1.0) @ w),
     lambda x, w: gc.sum(gc.tanh(x - 1.0) @ w), ["add"], ["subtract"]),
    # a node inserted
    (lambda x, w: gc.mean(x @ w),
     lambda x, w: gc.mean(gc.sigmoid(x @ w)), [], ["sigmoid"]),
    # an attribute changed, and a constant
    (lambda x, w: gc.exp(gc.sum(w, axis=0)) * 0.5, lambda x, w: gc.exp(gc.sum(w, axis=1)) * 0.5,
     ["sum"], ["sum"]),
    (lambda x, w: gc.exp(gc.leaky_relu(x @ w, 0.1)),
     lambda x, w: gc.exp(gc.leaky_relu(x @ w, 0.2)), ["constant"], ["constant"]),
    # identical graphs built twice
    (lambda x, w: gc.sum(gc.exp(x @ w)), lambda x, w: gc.sum(gc.exp(x @ w)), [], []),
], ids=["removed", "replaced", "inserted", "attribute", "constant", "same"])
def test_only_what_changed_is_marked(build_before, build_after, removed, added) -> None:
    x, w = inputs()
    before = gc.Graph([x], [build_before(x, w)])
    after = gc.Graph([x], [build_after(x, w)])
    assert marked_ops(before, after) == (removed, added)


def test_a_node_whose_inputs_all_changed_is_found_through_its_users() -> None:
    x, w = inputs()
    before = gc.Graph([x], [gc.sum(gc.exp(gc.relu(x)) @ w)])
    after = gc.Graph([x], [gc.sum(gc.exp(gc.sigmoid(x)) @ w)])
    assert marked_ops(before, after) == (["relu"], ["sigmoid"])     # exp is the same node


def test_a_saved_and_loaded_graph_matches_itself(tmp_path) -> None:
    graph = mlp_graphs()["training"]
    loaded = gc.load(gc.save(graph, tmp_path / "t.gcir"))
    assert marked_ops(graph, loaded) == ([], [])
