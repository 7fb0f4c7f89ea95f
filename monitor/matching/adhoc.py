"""Ad-hoc queries: compile one query string without a rule file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from monitor.matching.engine import WatchSet
from monitor.matching.entities import (
    ENTITIES_FILE,
    VARIANTS_FILE,
    EntityRegistry,
    Variants,
    load_entities,
    load_variants,
    special_file,
)
from monitor.matching.query import Node, parse_query
from monitor.matching.watch import Watch
from monitor.models import Article, Hit


class Query:
    """A compiled ad-hoc query (a one-watch WatchSet underneath).

    Attributes:
        text: the query as given.
        ast: its syntax tree.
        watch: the Watch it was wrapped in.
        watchset: the one-watch WatchSet (usable with :func:`monitor.matching.explain`).
    """

    def __init__(self, text: str, watch: Watch, watchset: WatchSet) -> None:
        self.text = text
        self.watch = watch
        self.watchset = watchset

    @property
    def ast(self) -> Node:
        """The syntax tree."""
        return self.watch.query

    def match(self, article: Article) -> Hit | None:
        """Match one article.

        Args:
            article: the article.

        Returns:
            A Hit (watch id "query" unless another was given) or None.
        """
        return self.watchset.match_one(self.watch.id, article)

    def matches(self, article: Article) -> bool:
        """Whether the query matches an article."""
        return self.match(article) is not None

    def __repr__(self) -> str:
        return f"Query({self.text!r})"


def compile_query(text: str,
                  entities: EntityRegistry | Mapping[str, list[str]] | None = None,
                  variants: Variants | list[list[str]] | None = None, *,
                  rules_dir: str | Path | None = None, fold_diacritics: bool = False,
                  watch_id: str = "query", name: str | None = None) -> Query:
    """Compile a query string for ad-hoc matching.

    Args:
        text: the query, e.g. ``"mutual defence" NEAR/5 pact``.
        entities: a registry, or a mapping of entity id -> aliases; default: none, or
            the ``entities.yaml`` (or ``.yml``) of ``rules_dir``.
        variants: a Variants object or a list of spelling groups; default: none, or the
            ``variants.yaml`` (or ``.yml``) of ``rules_dir``.
        rules_dir: a rules folder to take entities and variants from.
        fold_diacritics: ignore diacritics ("Sao Paulo" = "São Paulo").
        watch_id: id given to hits.
        name: watch name given to hits (default: the query text).

    Returns:
        The compiled Query.

    Raises:
        RuleError: the query is malformed (a QueryError with line and column), refers to
            an unknown entity, matches nothing-present articles (e.g. ``NOT x``), or the
            rules folder's entities/variants file is invalid.
    """
    if rules_dir is not None:
        root = Path(rules_dir)
        if entities is None:
            entities = load_entities(special_file(root, ENTITIES_FILE))
        if variants is None:
            variants = load_variants(special_file(root, VARIANTS_FILE))
    if entities is not None and not isinstance(entities, EntityRegistry):
        entities = EntityRegistry.from_dict(dict(entities))
    if variants is not None and not isinstance(variants, Variants):
        groups = variants
        variants = Variants()
        for group in groups:
            variants.add(list(group))
    registry = entities or EntityRegistry()
    ast = parse_query(text, registry)
    watch = Watch(id=watch_id, name=name or text, query=ast, query_text=text,
                  fold_diacritics=fold_diacritics)
    return Query(text, watch, WatchSet([watch], registry, variants))
