"""Bound query trees: syntax trees whose terms are ids in the term table.

Each node evaluates against ``occ``, a dict of term id -> occurrences, where an
occurrence is (field index, first token, token after the last). Positional nodes (terms,
OR of positional nodes, NEAR) also give their occurrences, for NEAR.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from monitor.matching.query import And, Near, Node, Not, Or, Term

if TYPE_CHECKING:
    from monitor.matching.terms import TermTable

Occ = tuple[int, int, int]          # (field index, first token, token after the last)
#: term id -> its occurrences in an article (what each node evaluates against)
OccMap = Mapping[int, Sequence[Occ]]


class BTerm:
    """A term leaf bound to its id in the term table."""

    __slots__ = ("label", "node", "tid")

    def __init__(self, tid: int, label: str, node: Term) -> None:
        self.tid, self.label, self.node = tid, label, node

    def eval(self, occ: OccMap) -> bool:
        return self.tid in occ

    def positions(self, occ: OccMap) -> Sequence[Occ]:
        return occ.get(self.tid, ())


class BAnd:
    """True when every child is true."""

    __slots__ = ("children", "node")

    def __init__(self, children: list[BNode], node: Node) -> None:
        self.children, self.node = children, node

    def eval(self, occ: OccMap) -> bool:
        return all(child.eval(occ) for child in self.children)


class BOr:
    """True when any child is true; its occurrences are its children's."""

    __slots__ = ("children", "node")

    def __init__(self, children: list[BNode], node: Node) -> None:
        self.children, self.node = children, node

    def eval(self, occ: OccMap) -> bool:
        return any(child.eval(occ) for child in self.children)

    def positions(self, occ: OccMap) -> list[Occ]:
        out: list[Occ] = []
        for child in self.children:
            if isinstance(child, (BAnd, BNot)):  # never: the parser checks NEAR's operands
                raise TypeError(f"no positions in an operand of NEAR: {child.node}")
            out.extend(child.positions(occ))
        return out


class BNot:
    """True when the child is false."""

    __slots__ = ("child", "node")

    def __init__(self, child: BNode, node: Node) -> None:
        self.child, self.node = child, node

    def eval(self, occ: OccMap) -> bool:
        return not self.child.eval(occ)


class BNear:
    """True when the two sides have occurrences close enough (see near_pairs)."""

    __slots__ = ("distance", "left", "node", "right")

    def __init__(self, left: Positional, right: Positional, distance: int,
                 node: Node) -> None:
        self.left, self.right, self.distance, self.node = left, right, distance, node

    # Each side is asked for its positions once (empty = false): asking ``eval`` and
    # then ``positions`` doubled the work at every level of a NEAR chain (2^depth).

    def eval(self, occ: OccMap) -> bool:
        left = self.left.positions(occ)
        if not left:
            return False
        right = self.right.positions(occ)
        return bool(right) and bool(near_pairs(left, right, self.distance, first_only=True))

    def positions(self, occ: OccMap) -> list[Occ]:
        left = self.left.positions(occ)
        if not left:
            return []
        right = self.right.positions(occ)
        if not right:
            return []
        pairs = near_pairs(left, right, self.distance)
        return sorted({(a[0], min(a[1], b[1]), max(a[2], b[2])) for a, b in pairs})


#: A bound node.
BNode = BTerm | BAnd | BOr | BNot | BNear
#: A bound node with word positions: an operand of NEAR (see query.is_positional).
Positional = BTerm | BOr | BNear


def near_pairs(left: Sequence[Occ], right: Sequence[Occ], distance: int,
               first_only: bool = False) -> list[tuple[Occ, Occ]]:
    """Pairs of occurrences in the same field, not overlapping, at most ``distance``
    words apart (words strictly between them), in either order.

    Args:
        left: occurrences of the left operand.
        right: occurrences of the right operand.
        distance: the largest number of words allowed between the two.
        first_only: stop at the first pair found.

    Returns:
        (left occurrence, right occurrence) pairs.
    """
    by_start = sorted(right)
    starts = [(f, s) for f, s, _ in by_start]
    by_end = sorted(right, key=lambda o: (o[0], o[2]))
    ends = [(f, e) for f, _, e in by_end]
    out: list[tuple[Occ, Occ]] = []
    for a in left:
        f, s, e = a
        # right occurrence after a: b.start in [a.end, a.end + distance]
        lo = bisect_left(starts, (f, e))
        hi = bisect_right(starts, (f, e + distance))
        for b in by_start[lo:hi]:
            out.append((a, b))
            if first_only:
                return out
        # right occurrence before a: b.end in [a.start - distance, a.start]
        lo = bisect_left(ends, (f, s - distance))
        hi = bisect_right(ends, (f, s))
        for b in by_end[lo:hi]:
            out.append((a, b))
            if first_only:
                return out
    return out


def collect(node: BNode, occ: OccMap, out: list[tuple[str, int, Occ]],
            within: list[Occ] | None = None, positive: bool = True) -> None:
    """Collect the occurrences that decide a node's value (its witnesses).

    Args:
        node: a bound node; true when ``positive``, false otherwise.
        occ: term id -> occurrences.
        out: receives (label, term id, occurrence).
        within: when set, only occurrences inside one of these spans (for NEAR operands).
        positive: True to explain why the node is true, False why it is false (under a
            NOT: ``NOT NOT x`` is true because of the occurrences of x).
    """
    if isinstance(node, BNot):
        collect(node.child, occ, out, within, not positive)
    elif not positive:
        # a false AND is false because of its false parts; a false OR because of all
        if isinstance(node, (BAnd, BOr)):
            for child in node.children:
                if not child.eval(occ):
                    collect(child, occ, out, within, False)
        # a false term or NEAR has no occurrences to show
    elif isinstance(node, BTerm):
        inside = _span_test(within)
        for o in occ.get(node.tid, ()):
            if inside is None or inside(o[0], o[1], o[2]):
                out.append((node.label, node.tid, o))
    elif isinstance(node, BAnd):
        for child in node.children:
            collect(child, occ, out, within)
    elif isinstance(node, BOr):
        for child in node.children:
            if child.eval(occ):
                collect(child, occ, out, within)
    elif isinstance(node, BNear):
        pairs = near_pairs(node.left.positions(occ), node.right.positions(occ),
                           node.distance)
        inside = _span_test(within)
        if inside is not None:
            pairs = [(a, b) for a, b in pairs
                     if inside(a[0], min(a[1], b[1]), max(a[2], b[2]))]
        if pairs:
            collect(node.left, occ, out, sorted({a for a, _ in pairs}))
            collect(node.right, occ, out, sorted({b for _, b in pairs}))


def _span_test(within: list[Occ] | None) -> Callable[[int, int, int], bool] | None:
    """A test ``inside(field, start, end)``: is that span inside one of ``within``?
    (None when ``within`` is None: everything counts.) O(log n) a question, so that
    the witnesses of a long NEAR chain are found in time proportional to its pairs."""
    if within is None:
        return None
    by_field: dict[int, tuple[list[int], list[int]]] = {}
    for f, s, e in sorted(within):
        starts, max_ends = by_field.setdefault(f, ([], []))
        starts.append(s)
        max_ends.append(max(e, max_ends[-1]) if max_ends else e)

    def inside(f: int, s: int, e: int) -> bool:
        got = by_field.get(f)
        if got is None:
            return False
        i = bisect_right(got[0], s)  # spans starting at or before s
        return i > 0 and got[1][i - 1] >= e

    return inside


def bind(node: Node, table: TermTable, fold: bool) -> BNode:
    """Bind a syntax tree to term ids, registering its terms in a term table.

    Args:
        node: the query's syntax tree.
        table: a :class:`~monitor.matching.terms.TermTable`.
        fold: the watch's ``fold_diacritics``.

    Returns:
        The bound tree (BTerm, BAnd, BOr, BNot, BNear nodes).

    Raises:
        QueryError: an unknown entity or too many spelling variants.
    """
    if isinstance(node, Term):
        return BTerm(table.add(node, fold), node.text, node)
    if isinstance(node, And):
        return BAnd([bind(c, table, fold) for c in node.children], node)
    if isinstance(node, Or):
        return BOr([bind(c, table, fold) for c in node.children], node)
    if isinstance(node, Not):
        return BNot(bind(node.child, table, fold), node)
    if isinstance(node, Near):
        return BNear(_positional(bind(node.left, table, fold)),
                     _positional(bind(node.right, table, fold)), node.distance, node)
    raise TypeError(f"not a query node: {node!r}")


def _positional(node: BNode) -> Positional:
    """The node, typed as an operand of NEAR.

    Raises:
        TypeError: an AND or NOT (never: the parser checks NEAR's operands).
    """
    if isinstance(node, (BAnd, BNot)):
        raise TypeError(f"no positions in an operand of NEAR: {node.node}")
    return node


def trigger_set(prog: BNode, weights: Sequence[float]) -> set[int]:
    """Term ids to index a watch under: every article it matches contains one of them.

    AND and NEAR need all their parts, so the part with the rarest terms is enough; OR
    needs the union of its parts; NOT guarantees nothing. When no such set exists (e.g.
    ``NOT NOT x``) every term of the watch is used, which is correct for any watch that
    is false on an article without its terms (checked at compile time).

    Args:
        prog: the watch's bound tree.
        weights: term id -> how common the term is estimated to be (higher: commoner).

    Returns:
        The term ids.
    """
    found = _best(prog, weights)
    if found is not None:
        return set(found[1])
    return {t.tid for t in leaves(prog)}


def _best(node: BNode, weights: Sequence[float]) -> tuple[float, frozenset[int]] | None:
    """The (summed weight, term ids) that trigger_set indexes a node under, or None.
    (A module function, not a closure: a closure that calls itself is a reference
    cycle, left for the garbage collector once per watch compiled.)"""
    if isinstance(node, BTerm):
        return weights[node.tid], frozenset((node.tid,))
    if isinstance(node, BOr):
        parts = [_best(c, weights) for c in node.children]
        known = [p for p in parts if p is not None]
        if len(known) < len(parts):
            return None
        return sum(p[0] for p in known), frozenset().union(*(p[1] for p in known))
    if isinstance(node, (BAnd, BNear)):
        kids = node.children if isinstance(node, BAnd) else (node.left, node.right)
        found = [p for p in (_best(c, weights) for c in kids) if p is not None]
        return min(found, key=lambda p: p[0]) if found else None
    return None  # NOT guarantees nothing


def leaves(node: BNode) -> list[BTerm]:
    """Every term leaf of a bound tree."""
    if isinstance(node, BTerm):
        return [node]
    if isinstance(node, (BAnd, BOr)):
        return [t for c in node.children for t in leaves(c)]
    if isinstance(node, BNot):
        return leaves(node.child)
    return leaves(node.left) + leaves(node.right)
