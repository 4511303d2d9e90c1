"""The graph of groups a partition builds by merging: acyclic at every step, checked cheaply.

Nodes start as one group each; `try_merge(x, y)` merges two groups joined by an edge unless
that makes a cycle (a path from one to the other through a third group). Three tools keep
the check cheap (none of them needs the whole graph):
- a topological order of the groups, kept up to date as they merge (floats, so a merge can
  move a few groups between two others): a cycle through x -> ... -> y only passes through
  groups ordered between x and y, so a search from either end stops at that window;
- the two searches (from x forward, from y backward) run with growing budgets, in turn, and
  either one finishing decides: in the usual merge one side is a handful of groups (greater(h,
  0) reads h alone) while the other spans the graph (everything after h), and after the merge
  only the groups that side found move (Pearce and Kelly's reordering, one-sided);
- landmarks (up to 64 nodes spread over the graph, what each node reaches and is reached from
  as bits) prove a cycle at once when x reaches a landmark outside both that reaches y, as
  between a forward layer and its gradient.
A merge whose searches would exceed BUDGET steps is refused, which keeps the cost of a merge
bounded; graphs smaller than that are merged exactly.
"""
from __future__ import annotations

BUDGET = 4096          # adjacency entries a merge's searches may look at before it is refused
LANDMARKS = 64
MIN_GAP = 1e-6         # below this spacing the order is renumbered


class GroupDag:
    """Union-find over nodes 0..n-1 (given by operand lists, in topological order) whose
    quotient graph stays acyclic."""

    def __init__(self, operands: list[list[int]], users: list[list[int]]):
        size = len(operands)
        self.parent = list(range(size))
        self.order = [float(i) for i in range(size)]
        self.spacing = 1.0                     # between neighbours in the order, at first
        self.succ = [set(u) for u in users]
        self.pred = [set(o) for o in operands]
        self.size = [1] * size
        step = max(1, -(-size // LANDMARKS))
        bits = [1 << (i // step) if i % step == 0 else 0 for i in range(size)]
        self.reached_by = [0] * size           # landmarks a path reaches this node from
        for i in range(size):
            for p in operands[i]:
                self.reached_by[i] |= self.reached_by[p] | bits[p]
        self.reaches = [0] * size              # landmarks reached from this node
        for i in reversed(range(size)):
            for c in users[i]:
                self.reaches[i] |= self.reaches[c] | bits[c]
        self.own = bits                        # landmarks inside each group
        self.renumbered = 0

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def try_merge(self, a: int, b: int) -> int | None:
        """Merge groups a and b (roots joined by an edge); the new root, or None when merging
        would make a cycle or cost more than the budget to rule one out."""
        x, y = (a, b) if self.order[a] < self.order[b] else (b, a)
        outside = ~(self.own[x] | self.own[y])
        if self.reaches[x] & self.reached_by[y] & outside:
            return None                        # x -> landmark -> y: a cycle
        limit = min(16, BUDGET)
        while True:
            for forward in (False, True):
                found = self._search(x, y, forward, limit)
                if found is None:
                    return None
                if found is not _OVER:
                    return self._merge(x, y, found, forward)
            if limit >= BUDGET:
                return None
            limit = min(4 * limit, BUDGET)

    def _search(self, x: int, y: int, forward: bool, limit: int):
        """Groups ordered between x and y that x reaches (forward) or that reach y, or None
        for a cycle (one of them also reaches y, or is reached from x), or _OVER."""
        start, target = (x, y) if forward else (y, x)
        adjacent = self.succ if forward else self.pred
        low, high = self.order[x], self.order[y]
        seen, found, stack, steps = {start}, [], [start], 0
        while stack:
            g = stack.pop()
            steps += len(adjacent[g])
            if steps > limit:
                return _OVER
            for h in adjacent[g]:
                h = self.find(h)
                if h == target:
                    if g != start:
                        return None            # start -> g -> target
                    continue
                # NOTE: unrelated groups may share a place; one sharing x's (y's) is taken
                # along, so everything left behind is strictly before x (after y)
                if h not in seen and (low < self.order[h] <= high if forward
                                      else low <= self.order[h] < high):
                    seen.add(h)
                    found.append(h)
                    stack.append(h)
        return found

    def _merge(self, x: int, y: int, moved: list[int], forward: bool) -> int:
        """Merge x and y. The merged group takes x's place and the groups reaching y move just
        before it, or it takes y's place and the groups x reaches move just after it."""
        moved.sort(key=self.order.__getitem__)
        inside = set(moved)
        if forward:                            # after y, before anything they feed
            edge = min((self.order[h] for h in self._neighbours(moved, self.succ)
                        if h not in inside), default=self.order[y] + self.spacing)
            place, low, high = self.order[y], self.order[y], edge
        else:                                  # after anything they read, before x
            edge = max((self.order[h] for h in self._neighbours(moved, self.pred)
                        if h not in inside), default=self.order[x] - self.spacing)
            place, low, high = self.order[x], edge, self.order[x]
        gap = (high - low) / (len(moved) + 1)
        if moved and gap < MIN_GAP:
            self._renumber(spacing=max(1.0, 2 * MIN_GAP * (len(moved) + 1)))
            return self._merge(x, y, moved, forward)
        for k, g in enumerate(moved, 1):
            self.order[g] = low + k * gap
        root, other = (x, y) if self.size[x] >= self.size[y] else (y, x)
        self.order[root] = place
        self.parent[other] = root
        self.size[root] += self.size[other]
        for sets in (self.succ, self.pred):
            if len(sets[root]) < len(sets[other]):
                sets[root], sets[other] = sets[other], sets[root]
            sets[root] |= sets[other]
            sets[root] -= {x, y}
            sets[other] = set()
        self.reaches[root] |= self.reaches[other]
        self.reached_by[root] |= self.reached_by[other]
        self.own[root] |= self.own[other]
        return root

    def _neighbours(self, groups: list[int], adjacent: list[set[int]]):
        return (self.find(h) for g in groups for h in adjacent[g])

    def _renumber(self, spacing: float) -> None:
        """Spread the order out again: the roots, in order, `spacing` apart."""
        roots = sorted((g for g in range(len(self.parent)) if self.parent[g] == g),
                       key=self.order.__getitem__)
        for k, g in enumerate(roots):
            self.order[g] = k * spacing
        self.spacing = spacing
        self.renumbered += 1


_OVER = object()          # a search that ran out of budget
