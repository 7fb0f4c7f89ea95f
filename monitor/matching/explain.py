"""Explaining a match: which parts of a query were true or false for one article, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.matching.engine import WatchSet, _HitContext
from monitor.matching.tree import BAnd, BNear, BNode, BNot, BOr, BTerm, Occ, near_pairs
from monitor.models import Article, Hit

if TYPE_CHECKING:
    from monitor.matching.adhoc import Query

_SHOW = 5  # occurrences listed per term


@dataclass
class ExplainNode:
    """One node of an explanation tree.

    Attributes:
        label: the query part, e.g. ``"mutual defence" NEAR/5 pledge``.
        value: whether it was true for the article.
        detail: why, in words (occurrences found, distances, counts).
        children: the explanations of its parts.
    """

    label: str
    value: bool
    detail: str
    children: list[ExplainNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Returns: the node as plain data (for JSON)."""
        return {"label": self.label, "value": self.value, "detail": self.detail,
                "children": [c.to_dict() for c in self.children]}


@dataclass
class Explanation:
    """Why a watch did or did not match an article.

    Attributes:
        watch_id: the watch.
        matched: the final answer (the same as WatchSet.match would give).
        root: the query tree, evaluated.
        checks: the watch's filters as (name, passed, detail): sources, languages,
            min_mentions.
        hit: the Hit when matched, else None.
    """

    watch_id: str
    matched: bool
    root: ExplainNode
    checks: list[tuple[str, bool, str]]
    hit: Hit | None = None

    def render(self) -> str:
        """Render as indented text, one line per node: ``[yes]`` / ``[no]`` then why."""
        lines = [f"watch {self.watch_id}: {'MATCH' if self.matched else 'no match'}"]

        def walk(node: ExplainNode, depth: int) -> None:
            mark = "[yes]" if node.value else "[no] "
            lines.append(f"{'  ' * depth}{mark} {node.label} -- {node.detail}")
            for child in node.children:
                walk(child, depth + 1)

        walk(self.root, 1)
        for name, ok, detail in self.checks:
            lines.append(f"  {'[yes]' if ok else '[no] '} {name}: {detail}")
        if self.hit is not None and self.hit.snippet:
            lines.append(f"  snippet: {self.hit.snippet}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Returns: the explanation as plain data (for JSON)."""
        return {"watch_id": self.watch_id, "matched": self.matched,
                "query": self.root.to_dict(),
                "checks": [{"name": n, "passed": ok, "detail": d}
                           for n, ok, d in self.checks],
                "snippet": self.hit.snippet if self.hit else None}


def explain(source: Query | WatchSet, article: Article, watch_id: str | None = None) -> Explanation:
    """Explain how a watch or query evaluates on one article.

    Args:
        source: a :class:`~monitor.matching.adhoc.Query` or a WatchSet.
        article: the article.
        watch_id: which watch of the WatchSet (not needed for a Query, or for a WatchSet
            holding one watch).

    Returns:
        The explanation tree, the filter checks and the final answer.

    Raises:
        KeyError: no watch has this id.
        ValueError: a WatchSet of several watches and no watch_id.
    """
    if not isinstance(source, WatchSet):
        watch_id = watch_id or source.watch.id
        source = source.watchset
    if watch_id is None:
        if len(source) != 1:
            raise ValueError("explain() needs a watch_id for a WatchSet of several watches")
        watch_id = source.watches[0].id
    i = source._by_id[watch_id]
    watch = source.watches[i]
    texts = source.field_texts(article)
    tokens: dict[int, list[str]] = {}
    occ = source.occurrences(texts, tokens)
    ctx = _HitContext(source, texts, occ, tokens)
    prog = source._programs[i]
    root = _explain(prog, occ, ctx)

    checks = []
    if watch.sources is not None:
        ok = article.source in watch.sources
        checks.append(("sources", ok, f"article source '{article.source}' "
                       f"{'is' if ok else 'is not'} in {sorted(watch.sources)}"))
    if watch.languages is not None:
        lang = article.language
        ok = lang is None or lang.lower() in watch.languages
        why = "unknown language is not filtered out" if lang is None else \
            f"article language '{lang}' {'is' if ok else 'is not'} in {sorted(watch.languages)}"
        checks.append(("languages", ok, why))
    hit = None
    if root.value:
        witnesses = ctx.witnesses(i)
        count = len({o for _, _, o in witnesses})
        if watch.min_mentions > 1:
            checks.append(("min_mentions", count >= watch.min_mentions,
                           f"{count} matched occurrence(s), need {watch.min_mentions}"))
    matched = root.value and all(ok for _, ok, _ in checks)
    if matched:
        hit = ctx.hit(i)
        matched = hit is not None
    return Explanation(watch.id, matched, root, checks, hit)


def _explain(node: BNode, occ: dict[int, list[Occ]], ctx: _HitContext) -> ExplainNode:
    if isinstance(node, BTerm):
        found = occ.get(node.tid, [])
        label = str(node.node)
        if not found:
            return ExplainNode(label, False, "not found")
        shown = []
        for o in found[:_SHOW]:
            sp = ctx.span(o, node.label)
            shown.append(f"{sp.field}[{sp.start}:{sp.end}] {sp.matched!r}")
        more = f" (+{len(found) - _SHOW} more)" if len(found) > _SHOW else ""
        return ExplainNode(label, True, f"found {len(found)}x: " + ", ".join(shown) + more)
    if isinstance(node, (BAnd, BOr)):
        kids = [_explain(c, occ, ctx) for c in node.children]
        true = sum(k.value for k in kids)
        value = node.eval(occ)
        op = "AND" if isinstance(node, BAnd) else "OR"
        need = "all" if op == "AND" else "at least one"
        return ExplainNode(op, value, f"{true} of {len(kids)} parts true, needs {need}",
                           kids)
    if isinstance(node, BNot):
        kid = _explain(node.child, occ, ctx)
        return ExplainNode("NOT", not kid.value,
                           "the part below is " + ("true, so NOT is false" if kid.value
                                                   else "false, so NOT is true"), [kid])
    if isinstance(node, BNear):
        left, right = _explain(node.left, occ, ctx), _explain(node.right, occ, ctx)
        label = f"NEAR/{node.distance}"
        if not (left.value and right.value):
            return ExplainNode(label, False, "needs both sides present", [left, right])
        pairs = near_pairs(node.left.positions(occ), node.right.positions(occ),
                           node.distance)
        if pairs:
            return ExplainNode(label, True, f"{len(pairs)} pair(s) at most {node.distance} "
                               "words apart", [left, right])
        gap = _closest(node.left.positions(occ), node.right.positions(occ))
        why = (f"both present but never within {node.distance} words"
               + (f" (closest: {gap} words apart)" if gap is not None
                  else " (never in the same field)"))
        return ExplainNode(label, False, why, [left, right])
    raise TypeError(node)


def _closest(left: Sequence[Occ], right: Sequence[Occ]) -> int | None:
    best = None
    for f, s, e in left:
        for g, s2, e2 in right:
            if f != g or (s < e2 and s2 < e):
                continue
            gap = s2 - e if s2 >= e else s - e2
            best = gap if best is None else min(best, gap)
    return best


__all__ = ["ExplainNode", "Explanation", "explain"]
