"""The watch query language: lexer, parser and syntax tree.

Grammar (operators are upper case; ``and``, ``or``, ``not`` in lower case are words)::

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*          # a bare space means AND
    near    := unary ("NEAR/" N unary)*      # left-associative
    unary   := "NOT" unary | primary
    primary := "(" or ")" | FIELD ":" primary | "case:" term | term
    term    := word | word* | "quoted phrase" | "phrase with last word*" | @entity-id

Precedence, tightest first: NOT, NEAR, AND, OR. ``FIELD`` is ``title``, ``text`` or
``comments``; without one a term looks in title and text. See docs/rules.md.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass, replace
from typing import Any

from monitor.errors import RuleError
from monitor.matching.normalise import raw_tokens

FIELDS = ("title", "text", "comments")
DEFAULT_FIELDS = ("title", "text")
MIN_WILDCARD_PREFIX = 3
#: The deepest a query may nest: parentheses, NOT, field scopes and NEAR chained in a
#: row each add a level. Deeper queries are refused with a QueryError (the parser and
#: the matcher walk the tree recursively; 50 levels is far beyond any real watch).
MAX_DEPTH = 50


class QueryError(RuleError):
    """A query is malformed; ``offset`` is the 0-based character position in the query."""

    def __init__(self, problem: str, query: str, offset: int) -> None:
        self.offset = offset
        self.query = query
        before = query[:offset]
        line = before.count("\n") + 1
        column = offset - (before.rfind("\n") + 1) + 1
        super().__init__(problem, path=None, line=line, column=column)


# --------------------------------------------------------------------------- AST

@dataclass(frozen=True, slots=True)
class Term:
    """A leaf: a word, phrase or entity reference.

    Attributes:
        text: the term as written, without quotes, ``case:`` or field prefix
            (``@id`` for entities; a wildcard keeps its ``*``).
        kind: "word", "phrase" or "entity".
        exact: True for ``case:`` terms (case and diacritics must match exactly).
        wildcard: True when the last word ends with ``*`` (prefix match).
        field: "title", "text" or "comments", or None for the default (title + text).
        offset: 0-based position in the query, for error messages.
    """

    text: str
    kind: str = "word"
    exact: bool = False
    wildcard: bool = False
    field: str | None = None
    offset: int = 0

    def __str__(self) -> str:
        body = f'"{self.text}"' if self.kind == "phrase" else self.text
        if self.exact:
            body = "case:" + body
        return f"{self.field}:{body}" if self.field else body


@dataclass(frozen=True, slots=True)
class And:
    """True when every child is true."""

    children: tuple[Node, ...]
    offset: int = 0

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    """True when any child is true."""

    children: tuple[Node, ...]
    offset: int = 0

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    """True when the child is false."""

    child: Node
    offset: int = 0

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True, slots=True)
class Near:
    """True when an occurrence of ``left`` and one of ``right`` lie in the same field,
    do not overlap, and have at most ``distance`` words between them (either order)."""

    left: Node
    right: Node
    distance: int
    offset: int = 0

    def __str__(self) -> str:
        return f"({self.left} NEAR/{self.distance} {self.right})"


Node = Term | And | Or | Not | Near


def is_positional(node: Node) -> bool:
    """Whether a node has word positions (so it may be an operand of NEAR).

    Args:
        node: a syntax tree node.

    Returns:
        True for terms, NEAR nodes, and OR groups made only of those.
    """
    if isinstance(node, (Term, Near)):
        return True
    if isinstance(node, Or):
        return all(is_positional(c) for c in node.children)
    return False


def iter_terms(node: Node) -> Iterator[Term]:
    """Yield every Term leaf of a tree, left to right.

    Args:
        node: a syntax tree node.

    Yields:
        Term leaves.
    """
    if isinstance(node, Term):
        yield node
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from iter_terms(child)
    elif isinstance(node, Not):
        yield from iter_terms(node.child)
    elif isinstance(node, Near):
        yield from iter_terms(node.left)
        yield from iter_terms(node.right)


_LOWER_OPERATOR_RE = re.compile(r"(?:and|or|not|near(?:/\d+)?)", re.IGNORECASE)


def lowercase_operators(node: Node, text: str | None = None) -> list[Term]:
    """Find operators written in lower case between two terms: ``russia or korea``.

    Such words are ordinary search words (``russia AND or AND korea``), which is almost
    never what was meant, so the CLI warns about them.

    Args:
        node: a parsed query.
        text: the query text it was parsed from, if known; terms that were quoted there
            (``russia "or" korea``) are not reported.

    Returns:
        The terms ``and``, ``or``, ``not``, ``near`` or ``near/N`` (in any case but upper
        case) that stand between two other operands of an AND, left to right.
    """
    found: list[Term] = []

    def walk(n: Node) -> None:
        if isinstance(n, And):
            for child in n.children[1:-1]:
                if isinstance(child, Term) and not child.exact \
                        and child.kind in ("word", "phrase") \
                        and _LOWER_OPERATOR_RE.fullmatch(child.text) \
                        and child.text != child.text.upper() \
                        and not (text and text[child.offset:child.offset + 1] == '"'):
                    found.append(child)
        if isinstance(n, (And, Or)):
            for child in n.children:
                walk(child)
        elif isinstance(n, Not):
            walk(n.child)
        elif isinstance(n, Near):
            walk(n.left)
            walk(n.right)

    walk(node)
    return found


# --------------------------------------------------------------------------- lexer

@dataclass(frozen=True)
class _Tok:
    kind: str          # LP RP AND OR NOT NEAR FIELD CASE TERM END
    offset: int
    # by kind: NEAR the distance (int), FIELD the field name (str), TERM a Term
    value: Any = None


_NEAR_RE = re.compile(r"NEAR(?:/(\d+))?$")
_PREFIX_RE = re.compile(r"([A-Za-z]+):")
_ENTITY_RE = re.compile(r"@([A-Za-z0-9][A-Za-z0-9_.-]*)")
_BARE_STOP = set(" \t\r\n()\"")


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c == "(":
            toks.append(_Tok("LP", i))
            i += 1
        elif c == ")":
            toks.append(_Tok("RP", i))
            i += 1
        elif c in "\"\u201c\u201d":
            close = _find_close_quote(q, i + 1)
            if close < 0:
                raise QueryError("unterminated phrase (missing closing \")", q, i)
            body = q[i + 1:close]
            toks.append(_Tok("TERM", i, _phrase(q, body, i)))
            i = close + 1
        elif c == "@":
            m = _ENTITY_RE.match(q, i)
            if not m:
                raise QueryError("'@' must be followed by an entity id, e.g. @north-korea", q, i)
            toks.append(_Tok("TERM", i, Term(m.group(0), "entity", offset=i)))
            i = m.end()
        else:
            j = i
            while j < n and q[j] not in _BARE_STOP and not q[j].isspace():
                j += 1
            word = q[i:j]
            m = _PREFIX_RE.match(word)
            if word in ("AND", "OR", "NOT"):
                toks.append(_Tok(word, i))
            elif word.startswith("NEAR"):
                near = _NEAR_RE.match(word)
                if not near or near.group(1) is None:
                    raise QueryError("NEAR needs a distance in words, e.g. NEAR/5", q, i)
                toks.append(_Tok("NEAR", i, int(near.group(1))))
            elif m and m.group(1) in (*FIELDS, "case"):
                toks.append(_Tok("CASE" if m.group(1) == "case" else "FIELD", i, m.group(1)))
                j = i + m.end()
            elif m and m.group(1).isalpha() and len(word) > m.end() \
                    and not word[m.end():].startswith("/"):
                raise QueryError(f"unknown field '{m.group(1)}:' (fields: title:, text:, "
                                 "comments:; case: for exact case)", q, i)
            else:
                toks.append(_Tok("TERM", i, _word(q, word, i)))
            i = j
    toks.append(_Tok("END", n))
    return toks


def _find_close_quote(q: str, start: int) -> int:
    for k in range(start, len(q)):
        if q[k] in "\"\u201c\u201d":
            return k
    return -1


def _check_wildcard(q: str, text: str, offset: int) -> bool:
    star = text.find("*")
    if star < 0:
        return False
    if star != len(text) - 1:
        raise QueryError("'*' is only allowed at the end of a word or phrase", q, offset + star)
    last = raw_tokens(text[:-1])
    if not last or not text[:-1] or text[-2].isspace():
        raise QueryError("'*' must follow a word prefix, e.g. sanction*", q, offset + star)
    if len(last[-1]) < MIN_WILDCARD_PREFIX:
        raise QueryError(f"wildcard prefix '{last[-1]}*' is too short "
                         f"(at least {MIN_WILDCARD_PREFIX} letters)", q, offset + star)
    return True


def _phrase(q: str, body: str, offset: int) -> Term:
    if not body.strip():
        raise QueryError("empty phrase \"\"", q, offset)
    wildcard = _check_wildcard(q, body.strip(), offset + 1 + body.find(body.strip()))
    if not raw_tokens(body):
        raise QueryError(f"phrase \"{body}\" has no letters or digits", q, offset)
    return Term(body.strip(), "phrase", wildcard=wildcard, offset=offset)


def _word(q: str, word: str, offset: int) -> Term:
    wildcard = _check_wildcard(q, word, offset)
    tokens = raw_tokens(word)
    if not tokens:
        raise QueryError(f"'{word}' has no letters or digits", q, offset)
    return Term(word, "phrase" if len(tokens) > 1 else "word", wildcard=wildcard, offset=offset)


# --------------------------------------------------------------------------- parser

_PRIMARY_START = {"LP", "NOT", "FIELD", "CASE", "TERM"}


class _Parser:
    def __init__(self, q: str, entities: Container[str] | None) -> None:
        self.q = q
        self.toks = _lex(q)
        self.i = 0
        self.entities = entities
        self.depth = 0

    def deeper(self, tok: _Tok, levels: int = 1) -> None:
        """Go ``levels`` levels deeper at ``tok``.

        Raises:
            QueryError: past ``MAX_DEPTH`` levels.
        """
        self.depth += levels
        if self.depth > MAX_DEPTH:
            raise self.error(f"query nested too deeply (more than {MAX_DEPTH} levels of "
                             "parentheses, NOT, field scopes and NEAR in a row)",
                             tok.offset)

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, problem: str, offset: int) -> QueryError:
        return QueryError(problem, self.q, offset)

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise self.error("empty query", 0)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == "RP":
            raise self.error("unmatched ')'", tok.offset)
        if tok.kind != "END":  # pragma: no cover - every other token is consumed above
            raise self.error(f"unexpected {tok.kind}", tok.offset)
        return node

    def operand(self, op: _Tok, side: str) -> None:
        tok = self.peek()
        if tok.kind not in _PRIMARY_START:
            name = self.op_name(op)
            raise self.error(f"{name} needs a term on its {side}", op.offset)

    @staticmethod
    def op_name(op: _Tok) -> str:
        return f"NEAR/{op.value}" if op.kind == "NEAR" else op.kind

    def parse_or(self) -> Node:
        start = self.peek()
        self.lead_check()
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            op = self.take()
            self.operand(op, "right")
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children), start.offset)

    def lead_check(self) -> None:
        tok = self.peek()
        if tok.kind in ("AND", "OR", "NEAR"):
            raise self.error(f"{self.op_name(tok)} needs a term on its left", tok.offset)

    def parse_and(self) -> Node:
        start = self.peek()
        self.lead_check()
        children = [self.parse_near()]
        while True:
            tok = self.peek()
            if tok.kind == "AND":
                self.take()
                self.operand(tok, "right")
            elif tok.kind not in _PRIMARY_START:
                break
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children), start.offset)

    def parse_near(self) -> Node:
        left = self.parse_unary()
        chained = 0
        while self.peek().kind == "NEAR":
            op = self.take()
            self.operand(op, "right")
            chained += 1
            self.deeper(op)  # each NEAR nests the chain so far one level down
            right = self.parse_unary()
            for side in (left, right):
                if not is_positional(side):
                    raise self.error(f"NEAR/{op.value} works on terms, phrases, entities and "
                                     "OR-groups of them, not on AND or NOT", op.offset)
            left = Near(left, right, op.value, op.offset)
        self.depth -= chained
        return left

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            if self.peek().kind not in _PRIMARY_START:
                raise self.error("NOT needs a term after it", tok.offset)
            self.deeper(tok)
            node = Not(self.parse_unary(), tok.offset)
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "LP":
            if self.peek().kind == "RP":
                raise self.error("empty parentheses", tok.offset)
            if self.peek().kind == "END":
                raise self.error("unclosed '('", tok.offset)
            self.deeper(tok)
            node = self.parse_or()
            if self.peek().kind != "RP":
                raise self.error("unclosed '('", tok.offset)
            self.take()
            self.depth -= 1
            return node
        if tok.kind == "FIELD":
            if self.peek().kind not in _PRIMARY_START - {"NOT"}:
                raise self.error(f"'{tok.value}:' needs a term or group after it", tok.offset)
            self.deeper(tok)
            node = _scope(self.parse_primary(), tok.value)
            self.depth -= 1
            return node
        if tok.kind == "CASE":
            nxt = self.peek()
            if nxt.kind != "TERM" or nxt.value.kind == "entity":
                raise self.error("'case:' needs a word or \"phrase\" right after it",
                                 tok.offset)
            self.take()
            return replace(nxt.value, exact=True, offset=tok.offset)
        if tok.kind == "TERM":
            term: Term = tok.value
            if term.kind == "entity" and self.entities is not None \
                    and term.text[1:] not in self.entities:
                raise self.error(f"unknown entity '{term.text}' (not in entities.yaml)",
                                 tok.offset)
            return term
        if tok.kind == "RP":
            raise self.error("unmatched ')'", tok.offset)
        if tok.kind == "END":  # pragma: no cover - operand() guards this
            raise self.error("query ends too early", tok.offset)
        raise self.error(f"{self.op_name(tok)} needs a term on its left", tok.offset)


def _scope(node: Node, field: str) -> Node:
    """Apply a field scope to every term below ``node`` that has none of its own."""
    if isinstance(node, Term):
        return node if node.field else replace(node, field=field)
    if isinstance(node, And):
        return And(tuple(_scope(c, field) for c in node.children), node.offset)
    if isinstance(node, Or):
        return Or(tuple(_scope(c, field) for c in node.children), node.offset)
    if isinstance(node, Not):
        return Not(_scope(node.child, field), node.offset)
    return Near(_scope(node.left, field), _scope(node.right, field), node.distance,
                node.offset)


def parse_query(text: str, entities: Container[str] | None = None) -> Node:
    """Parse a query into a syntax tree.

    Args:
        text: the query, e.g. ``"mutual defence" NEAR/5 pact AND NOT title:football``.
        entities: known entity ids (without ``@``) to check references against, or None
            to accept any ``@id``.

    Returns:
        The root node (Term, And, Or, Not or Near).

    Raises:
        QueryError: (a RuleError) naming the line, column and problem: unbalanced
            parenthesis, empty or unterminated phrase, unknown entity or field, an
            operator with nothing on one side, a bad wildcard, NEAR over AND/NOT, or
            nesting deeper than ``MAX_DEPTH`` levels.
    """
    return _Parser(text, entities).parse()


def literal_term(text: str) -> Term:
    """Build a term from one item of a watch's ``any``/``all``/``none`` list.

    The item is taken literally as one word or phrase (no operators), except that
    ``@id`` names an entity and a trailing ``*`` makes the last word a prefix.

    Args:
        text: the list item, e.g. ``mutual defence``, ``sanction*`` or ``@north-korea``.

    Returns:
        The term.

    Raises:
        QueryError: the item has no letters or digits, or a misplaced ``*``; ``offset``
            is relative to ``text``.
    """
    stripped = text.strip()
    lead = text.find(stripped) if stripped else 0
    if stripped.startswith("@"):
        m = _ENTITY_RE.fullmatch(stripped)
        if not m:
            raise QueryError("'@' must be followed by an entity id, e.g. @north-korea",
                             text, lead)
        return Term(stripped, "entity", offset=lead)
    wildcard = _check_wildcard(text, stripped, lead)
    tokens = raw_tokens(stripped)
    if not tokens:
        raise QueryError(f"'{text}' has no letters or digits", text, lead)
    return Term(stripped, "phrase" if len(tokens) > 1 else "word", wildcard=wildcard,
                offset=lead)
