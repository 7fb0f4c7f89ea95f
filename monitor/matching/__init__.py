"""The watch-rule engine: load watches, match articles, explain matches.

Typical use::

    from monitor.matching import load_watches
    watches = load_watches("rules")
    for hit in watches.match(article):
        ...

Everything here is plain Python (no Scrapy). The rule format is documented in
docs/rules.md.
"""

from monitor.matching.adhoc import Query, compile_query
from monitor.matching.engine import WatchSet, validate_watch
from monitor.matching.entities import Entity, EntityRegistry, Variants
from monitor.matching.explain import ExplainNode, Explanation, explain
from monitor.matching.loader import check_rules, load_watches, read_watches, rules_fingerprint
from monitor.matching.query import QueryError, parse_query
from monitor.matching.targets import check_watch_targets
from monitor.matching.watch import Watch

__all__ = [
    "Entity", "EntityRegistry", "ExplainNode", "Explanation", "Query", "QueryError",
    "Variants", "Watch", "WatchSet", "check_rules", "check_watch_targets", "compile_query",
    "explain", "load_watches", "parse_query", "read_watches", "rules_fingerprint",
    "validate_watch",
]
