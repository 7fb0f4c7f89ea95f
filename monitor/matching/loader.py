"""Loading watches from a rules folder, checking them, and detecting changes.

Every ``*.yaml`` or ``*.yml`` file in the folder holds watches, except ``entities.yaml``
and ``variants.yaml`` (or ``.yml``; see :mod:`monitor.matching.entities`). A file holds
either one watch (a mapping with an ``id``) or several (a mapping with a ``watches:``
list). The full format is in docs/rules.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from monitor.errors import RuleError
from monitor.matching import yamlnodes as yn
from monitor.matching.engine import Fingerprint, WatchSet, paused_gc, validate_watch
from monitor.matching.entities import (
    ENTITIES_FILE,
    RULE_SUFFIXES,
    VARIANTS_FILE,
    EntityRegistry,
    Variants,
    load_entities,
    load_variants,
    special_file,
    valid_id,
)
from monitor.matching.query import And, Not, Or, QueryError, literal_term, parse_query
from monitor.matching.watch import MODES, PRIORITIES, SpikeSettings, Watch

WATCH_KEYS = {"id", "name", "description", "query", "any", "all", "none", "channels",
              "mode", "sources", "languages", "min_mentions", "fold_diacritics", "spike",
              "priority"}
SPIKE_KEYS = {"window", "min_count", "baseline", "p"}
SPECIAL_STEMS = tuple(Path(name).stem for name in (ENTITIES_FILE, VARIANTS_FILE))
_LANG_RE = re.compile(r"[A-Za-z]{2}")


def _spike(node: Node, path: Path) -> SpikeSettings | None:
    """Read a watch's ``spike:`` mapping (``{window: 1h, min_count: 5, baseline: 7d,
    p: 0.001}``, every key optional; ``spike: true`` takes the defaults, ``spike: false``
    turns spikes off, as leaving the key out does).

    Raises:
        RuleError: at the offending key or value (unknown key, a duration that cannot
            be read, a baseline not longer than the window, p outside (0, 0.5]).
    """
    from monitor.config import parse_duration

    if isinstance(node, ScalarNode) and node.tag.endswith(":bool"):
        return SpikeSettings() if yn.boolean(node, path, "'spike'") else None
    fields = yn.mapping(node, path, "'spike'")
    yn.check_keys(fields, SPIKE_KEYS, path, "'spike'")
    values: dict[str, Any] = {}
    for key in ("window", "baseline"):
        if key in fields:
            vnode = fields[key][1]
            try:
                values[key] = parse_duration(yn.text(vnode, path, f"'spike.{key}'"))
            except ValueError as exc:
                raise yn.error_at(vnode, path, f"'spike.{key}': {exc}") from None
    if "min_count" in fields:
        values["min_count"] = yn.integer(fields["min_count"][1], path, "'spike.min_count'", 1)
    if "p" in fields:
        pnode = fields["p"][1]
        try:
            values["p"] = float(yn.text(pnode, path, "'spike.p'"))
        except ValueError:
            values["p"] = -1.0
        if not 0 < values["p"] <= 0.5:
            raise yn.error_at(pnode, path, "'spike.p': must be a probability above 0 and "
                                           "at most 0.5, such as 0.001")
    settings = SpikeSettings(**values)
    if settings.baseline <= settings.window:
        where = fields["baseline"][1] if "baseline" in fields else fields["window"][1]
        raise yn.error_at(where, path, "'spike.baseline': must be longer than 'spike.window'")
    return settings


def _yaml_files(root: Path) -> list[Path]:
    """Every ``*.yaml`` and ``*.yml`` file in a folder, sorted by name."""
    return sorted((p for suffix in RULE_SUFFIXES for p in root.glob(f"*{suffix}")),
                  key=lambda p: p.name)


def rule_files(rules_dir: str | Path) -> list[Path]:
    """The watch files of a rules folder, sorted by name.

    Args:
        rules_dir: the folder.

    Returns:
        Every ``*.yaml`` and ``*.yml`` file except entities and variants files.
    """
    root = Path(rules_dir)
    if not root.is_dir():
        return []
    return [p for p in _yaml_files(root) if p.stem not in SPECIAL_STEMS and p.is_file()]


def rules_fingerprint(rules_dir: str | Path) -> Fingerprint:
    """A cheap fingerprint of a rules folder, for hot reload.

    The daemon compares it between polls and calls :func:`load_watches` only when it
    changes (keeping the old WatchSet if loading raises RuleError).

    Args:
        rules_dir: the folder.

    Returns:
        A tuple of (file name, modification time in ns, size in bytes) for every
        ``*.yaml`` and ``*.yml`` file, entities and variants included; empty if the
        folder does not exist.
    """
    root = Path(rules_dir)
    if not root.is_dir():
        return ()
    out = []
    for path in _yaml_files(root):
        try:
            st = path.stat()
        except OSError:  # removed between glob and stat
            continue
        out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass(frozen=True)
class WatchTargets:
    """Where a watch that did not load points (its ``channels:`` and ``sources:``), so
    a misspelt channel is reported together with the watch's other errors.

    Attributes:
        id: the watch's id, or "" when it has none.
        path: the rule file.
        line: 1-based line of the watch in it.
        channels: the channel names it lists (empty: all channels).
        sources: the source names it lists, or None for any source.
    """

    id: str
    path: str
    line: int
    channels: tuple[str, ...] = ()
    sources: frozenset[str] | None = None


@dataclass
class _Result:
    watches: list[Watch] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    broken: list[WatchTargets] = field(default_factory=list)
    entities: EntityRegistry = field(default_factory=EntityRegistry)
    variants: Variants = field(default_factory=Variants)


def _unchanged(previous: WatchSet | None, root: Path, fingerprint: Fingerprint) -> set[str]:
    """Names of the files that a reload can take from ``previous`` as they are: the
    files whose name, modification time and size are the same as when ``previous``
    was read from the same folder, or none when an entities or variants file changed
    (every watch may use them)."""
    if previous is None or previous.rules_dir is None or not fingerprint \
            or Path(previous.rules_dir).resolve() != root.resolve():
        return set()
    before = set(previous.fingerprint)
    now = set(fingerprint)
    special = {p.name for p in _yaml_files(root) if p.stem in SPECIAL_STEMS}
    special |= {name for name, _, _ in previous.fingerprint
                if Path(name).stem in SPECIAL_STEMS}
    if any((entry in before) != (entry in now) for entry in before ^ now
           if entry[0] in special):
        return set()
    return {name for name, _, _ in now & before}


def _read(rules_dir: str | Path, stop_at_first: bool, previous: WatchSet | None = None,
          fingerprint: Fingerprint = ()) -> _Result:
    root = Path(rules_dir)
    res = _Result()
    if not root.is_dir():
        res.errors.append(RuleError("rules folder not found", path=str(root)))
        return res
    unchanged = _unchanged(previous, root, fingerprint)
    entities_ok = True
    if unchanged and previous is not None:
        res.entities, res.variants = previous.entities, previous.variants
    else:
        try:
            res.entities = load_entities(special_file(root, ENTITIES_FILE))
        except RuleError as exc:
            res.errors.append(exc)
            entities_ok = False
        try:
            res.variants = load_variants(special_file(root, VARIANTS_FILE))
        except RuleError as exc:
            res.errors.append(exc)
    if res.errors and stop_at_first:
        return res
    known = res.entities if entities_ok else None
    seen_ids: dict[str, str] = {}
    kept: dict[str, list[Watch]] = {}
    if unchanged and previous is not None:
        for watch in previous.watches:
            if watch.path is not None and Path(watch.path).name in unchanged:
                kept.setdefault(Path(watch.path).name, []).append(watch)
    for path in rule_files(root):
        if path.name in kept:
            # read before and not changed since: the same Watch objects, so the WatchSet
            # keeps their compiled queries (see WatchSet's ``reuse``)
            for watch in kept[path.name]:
                if watch.id in seen_ids:
                    res.errors.append(RuleError(
                        f"watch id '{watch.id}' is already used in {seen_ids[watch.id]}",
                        str(path), watch.line))
                    if stop_at_first:
                        return res
                    continue
                seen_ids[watch.id] = f"{path.name}:{watch.line}"
                res.watches.append(watch)
            continue
        for item in _read_file(path, known, res, seen_ids):
            if isinstance(item, RuleError):
                res.errors.append(item)
                if stop_at_first:
                    return res
            else:
                res.watches.append(item)
    return res


def _read_file(path: Path, known: EntityRegistry | None, res: _Result,
               seen_ids: dict[str, str]) -> Iterator[Watch | RuleError]:
    """Yield a Watch or a RuleError for each watch in a file."""
    try:
        root = yn.compose_file(path)
    except RuleError as exc:
        yield exc
        return
    if root is None:
        yield RuleError("file is empty (expected a watch or a 'watches:' list)",
                        path=str(path))
        return
    source = path.read_text(encoding="utf-8")
    try:
        top = yn.mapping(root, path, "a rule file")
    except RuleError as exc:
        yield exc
        return
    if "watches" in top:
        extra = [k for k in top if k != "watches"]
        if extra:
            yield yn.error_at(top[extra[0]][0], path, f"unexpected key '{extra[0]}' beside "
                              "'watches:' (put it inside a watch)")
            return
        items = top["watches"][1]
        if not isinstance(items, SequenceNode) or not items.value:
            yield yn.error_at(items, path, "'watches' must be a non-empty list of watches")
            return
        nodes = items.value
    else:
        nodes = [root]
    for node in nodes:
        try:
            watch = _watch(node, path, source, known, res)
            if watch.id in seen_ids:
                raise yn.error_at(yn.mapping(node, path, "a watch")["id"][1], path,
                                  f"watch id '{watch.id}' is already used in "
                                  f"{seen_ids[watch.id]}")
            seen_ids[watch.id] = f"{path.name}:{watch.line}"
            yield watch
        except RuleError as exc:
            targets = _targets(node, path)
            if targets is not None:
                res.broken.append(targets)
            yield exc


def _targets(node: Node, path: Path) -> WatchTargets | None:
    """The channels and sources of a watch that did not load, as far as they can be
    read (None when the watch is not even a mapping)."""
    try:
        fields = yn.mapping(node, path, "a watch")
    except RuleError:
        return None
    found: dict[str, tuple[str, ...]] = {}
    for key in ("channels", "sources"):
        if key in fields:
            try:
                found[key] = tuple(t for t, _ in yn.text_list(fields[key][1], path, key))
            except RuleError:
                pass
    wid = fields["id"][1].value if "id" in fields and isinstance(fields["id"][1],
                                                                   ScalarNode) else ""
    return WatchTargets(str(wid), str(path), node.start_mark.line + 1,
                        found.get("channels", ()),
                        frozenset(found["sources"]) if "sources" in found else None)


def _text_list(node: Node, path: Path, key: str) -> list[tuple[str, Node]]:
    """A watch's list field; a single value is a one-item list (``any: sanctions``).

    Raises:
        RuleError: not a list or text; or a single value with a comma (``any: a, b``),
            which YAML reads as one term but was almost surely meant as a list.
    """
    if isinstance(node, ScalarNode) and node.tag == yn.STR and not node.style \
            and "," in node.value:
        items = ", ".join(part.strip() for part in node.value.split(","))
        raise yn.error_at(node, path, f"'{key}' is the one item '{node.value}' here; "
                                      f"write a list: [{items}] (or quote a single item "
                                      f"that has a comma: [\"{node.value}\"])")
    return yn.text_list(node, path, f"'{key}'")


def _watch(node: Node, path: Path, source: str, known: EntityRegistry | None,
           res: _Result) -> Watch:
    fields = yn.mapping(node, path, "a watch")
    yn.check_keys(fields, WATCH_KEYS, path, "a watch")
    if "id" not in fields:
        raise yn.error_at(node, path, "watch has no 'id'")
    wid = yn.text(fields["id"][1], path, "'id'")
    if not valid_id(wid):
        raise yn.error_at(fields["id"][1], path, f"watch id '{wid}' may only use letters, "
                                                 "digits, '-', '_' and '.'")
    name = yn.text(fields["name"][1], path, "'name'") if "name" in fields else wid

    parts = []
    query_text = None
    if "query" in fields:
        qnode = fields["query"][1]
        query_text = yn.text(qnode, path, "'query'")
        try:
            parts.append(parse_query(query_text, known))
        except QueryError as exc:
            line, col = yn.scalar_offset_position(qnode, source, exc.offset)
            raise RuleError(exc.problem, str(path), line, col) from None
    for key in ("any", "all", "none"):
        if key not in fields:
            continue
        terms = []
        for item, inode in _text_list(fields[key][1], path, key):
            try:
                term = literal_term(item)
            except QueryError as exc:
                line, col = yn.scalar_offset_position(inode, source, exc.offset)
                raise RuleError(exc.problem, str(path), line, col) from None
            if term.kind == "entity" and known is not None and term.text[1:] not in known:
                raise yn.error_at(inode, path, f"unknown entity '{term.text}' "
                                               "(not in entities.yaml)")
            terms.append(term)
        if not terms:
            raise yn.error_at(fields[key][1], path, f"'{key}' is an empty list")
        if key == "any":
            parts.append(terms[0] if len(terms) == 1 else Or(tuple(terms)))
        elif key == "all":
            parts.extend(terms)
        else:
            parts.append(Not(terms[0] if len(terms) == 1 else Or(tuple(terms))))
    if not any(k in fields for k in ("query", "any", "all")):
        raise yn.error_at(node, path, f"watch '{wid}' needs a 'query', 'any' or 'all'")
    tree = parts[0] if len(parts) == 1 else And(tuple(parts))
    if query_text is None or len(parts) > 1:
        query_text = str(tree)

    mode = "immediate"
    if "mode" in fields:
        mode = yn.text(fields["mode"][1], path, "'mode'")
        if mode not in MODES:
            raise yn.error_at(fields["mode"][1], path,
                              f"mode must be one of {', '.join(MODES)}, not '{mode}'")
    priority = "normal"
    if "priority" in fields:
        priority = yn.text(fields["priority"][1], path, "'priority'")
        if priority not in PRIORITIES:
            raise yn.error_at(fields["priority"][1], path,
                              f"priority must be one of {', '.join(PRIORITIES)}, "
                              f"not '{priority}'")
    channels: tuple[str, ...] = ()
    if "channels" in fields:
        channels = tuple(t for t, _ in _text_list(fields["channels"][1], path, "channels"))
    sources = None
    if "sources" in fields:
        sources = frozenset(t for t, _ in _text_list(fields["sources"][1], path, "sources"))
    languages = None
    if "languages" in fields:
        langs = []
        for lang, lnode in _text_list(fields["languages"][1], path, "languages"):
            if not _LANG_RE.fullmatch(lang):
                raise yn.error_at(lnode, path, f"language '{lang}' is not an ISO 639-1 "
                                               "code like 'en'")
            langs.append(lang.lower())
        languages = frozenset(langs)
    min_mentions = 1
    if "min_mentions" in fields:
        min_mentions = yn.integer(fields["min_mentions"][1], path, "'min_mentions'", 1)
    fold = False
    if "fold_diacritics" in fields:
        fold = yn.boolean(fields["fold_diacritics"][1], path, "'fold_diacritics'")
    spike = _spike(fields["spike"][1], path) if "spike" in fields else None

    watch = Watch(id=wid, name=name, query=tree, query_text=query_text, channels=channels,
                  mode=mode, priority=priority, sources=sources, languages=languages,
                  min_mentions=min_mentions, fold_diacritics=fold, spike=spike,
                  path=str(path),
                  line=node.start_mark.line + 1)
    if known is not None:
        try:
            validate_watch(watch, res.entities, res.variants)
        except QueryError as exc:
            where = fields["query"][1] if "query" in fields and len(parts) == 1 else node
            raise yn.error_at(where, path, exc.problem) from None
    return watch


def load_watches(rules_dir: str | Path, previous: WatchSet | None = None) -> WatchSet:
    """Read and compile every watch in a rules folder.

    For a reload, pass the WatchSet in force as ``previous``: only what changed is read
    and compiled again. A rule file whose name, modification time and size are the same
    as when ``previous`` was loaded is not read again: its watches (the same objects)
    keep their compiled queries, new terms are added to the term table, and the
    automaton is built again only when a term was added. When an entities or variants
    file changed, everything is read and compiled again. ``previous`` is never changed,
    so it can go on matching meanwhile (in another thread) and stays in force when this
    raises; put the result in its place in one assignment.

    Args:
        rules_dir: the folder holding ``*.yaml`` / ``*.yml`` watch files, and
            optionally ``entities.yaml`` and ``variants.yaml`` (or ``.yml``).
        previous: the WatchSet loaded from this folder before, or None.

    Returns:
        The compiled WatchSet. Its ``fingerprint`` attribute holds
        :func:`rules_fingerprint` as taken just before reading; its ``reused``
        attribute, how many watches kept their compiled query from ``previous``.

    Raises:
        RuleError: the first problem found, with path, line, column and problem.
    """
    fingerprint = rules_fingerprint(rules_dir)
    with paused_gc():
        res = _read(rules_dir, stop_at_first=True, previous=previous,
                    fingerprint=fingerprint)
    if res.errors:
        raise res.errors[0]
    ws = WatchSet(res.watches, res.entities, res.variants, reuse=previous)
    ws.rules_dir = Path(rules_dir)
    ws.fingerprint = fingerprint
    return ws


def check_rules(rules_dir: str | Path) -> list[RuleError]:
    """Check every rule file and report all problems, not just the first.

    Args:
        rules_dir: the rules folder.

    Returns:
        Every error found (empty when the rules are fine), in file order.
    """
    return _read(rules_dir, stop_at_first=False).errors


def read_watches(rules_dir: str | Path) -> tuple[list[Watch], list[RuleError]]:
    """Read every rule file, keeping the good watches and every problem.

    For checking (``monitor rules check``): the watches that loaded can be checked
    further (e.g. with :func:`monitor.matching.check_watch_targets`) even when other
    watches have errors.

    Args:
        rules_dir: the rules folder.

    Returns:
        (the watches without errors, every error in file order).
    """
    res = _read(rules_dir, stop_at_first=False)
    return res.watches, res.errors


def read_rule_files(rules_dir: str | Path
                    ) -> tuple[list[Watch], list[RuleError], list[WatchTargets]]:
    """Read every rule file, keeping the good watches, every problem, and where the
    watches with problems point (for ``monitor rules check`` and ``monitor status``,
    which report a misspelt channel together with every other problem).

    Args:
        rules_dir: the rules folder.

    Returns:
        (the watches without errors, every error in file order, the channels and
        sources of each watch that has an error, as far as they can be read).
    """
    res = _read(rules_dir, stop_at_first=False)
    return res.watches, res.errors, res.broken


def summarise(rules_dir: str | Path) -> tuple[int, int, int]:
    """Count what a valid rules folder holds.

    Returns:
        (watches, entities, variant groups).

    Raises:
        RuleError: the first problem, as :func:`load_watches`.
    """
    ws = load_watches(rules_dir)
    return len(ws), len(ws.entities), len(ws.variants)


__all__ = [
    "WatchTargets",
    "check_rules",
    "load_watches",
    "read_rule_files",
    "read_watches",
    "rule_files",
    "rules_fingerprint",
    "summarise",
]
