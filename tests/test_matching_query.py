"""The query language: parsing, precedence, and errors that give their position."""

from __future__ import annotations

import pytest

from monitor.errors import RuleError
from monitor.matching import compile_query, parse_query
from monitor.matching.query import QueryError, Term

ENTITY_IDS = {"north-korea", "russia"}


@pytest.mark.parametrize("query, tree", [
    ("a b", "(a AND b)"),
    ("a AND b", "(a AND b)"),
    ("a OR b c", "(a OR (b AND c))"),                      # AND binds tighter than OR
    ("a OR b AND c OR d", "(a OR (b AND c) OR d)"),
    ("NOT a b", "(NOT a AND b)"),                          # NOT binds tightest
    ("a NEAR/3 b OR c", "((a NEAR/3 b) OR c)"),            # NEAR tighter than AND/OR
    ("a NEAR/3 b c", "((a NEAR/3 b) AND c)"),
    ("a NEAR/1 b NEAR/2 c", "((a NEAR/1 b) NEAR/2 c)"),    # left-associative
    ("(a OR b) NEAR/5 c", "((a OR b) NEAR/5 c)"),
    ("(a OR b) c", "((a OR b) AND c)"),
    ("title:(a OR b) c", "((title:a OR title:b) AND c)"),
    ("title:(a OR text:b)", "(title:a OR text:b)"),        # the inner field wins
    ("comments:troll", "comments:troll"),
    ('title:"North Korea"', 'title:"North Korea"'),
    ("case:US", "case:US"),
    ('case:"New York"', 'case:"New York"'),
    ('"mutual defence"', '"mutual defence"'),
    ("\u201cmutual defence\u201d", '"mutual defence"'),   # curly quotes
    ("Jong-un", '"Jong-un"'),                              # one word, two tokens: a phrase
    ("and or not", "(and AND or AND not)"),                # lower case: plain words
    ("@north-korea Putin", "(@north-korea AND Putin)"),
    ("sanction*", "sanction*"),
    ('"economic sanction*"', '"economic sanction*"'),
    ("NOT NOT a", "NOT NOT a"),
    ("10:30", '"10:30"'),
])
def test_parse(query, tree):
    assert str(parse_query(query, ENTITY_IDS)) == tree


def test_term_attributes():
    assert parse_query("sanction*") == Term("sanction*", "word", wildcard=True)
    assert parse_query("title:case:US") == Term("US", "word", exact=True, field="title",
                                                    offset=6)


@pytest.mark.parametrize("query, line, column, problem", [
    ("(a OR b", 1, 1, "unclosed '('"),
    ("x   (y", 1, 5, "unclosed '('"),
    ("a OR b)", 1, 7, "unmatched ')'"),
    ('""', 1, 1, "empty phrase"),
    ('a "   "', 1, 3, "empty phrase"),
    ('"mutual defence', 1, 1, "unterminated phrase"),
    ("a AND", 1, 3, "AND needs a term on its right"),
    ("OR a", 1, 1, "OR needs a term on its left"),
    ("a OR OR b", 1, 3, "OR needs a term on its right"),
    ("a NEAR/5", 1, 3, "NEAR/5 needs a term on its right"),
    ("NOT", 1, 1, "NOT needs a term after it"),
    ("a NOT", 1, 3, "NOT needs a term after it"),
    ("a NEAR b", 1, 3, "NEAR needs a distance"),
    ("()", 1, 1, "empty parentheses"),
    ("a (", 1, 3, "unclosed '('"),
    ("x*y", 1, 2, "'*' is only allowed at the end"),
    ("ab*", 1, 3, "too short"),
    ("foo:bar", 1, 1, "unknown field 'foo:'"),
    ("title:", 1, 1, "'title:' needs a term"),
    ("case:@russia", 1, 1, "'case:' needs a word"),
    ("(a AND b) NEAR/3 c", 1, 11, "not on AND or NOT"),
    ("a NEAR/3 NOT b", 1, 3, "not on AND or NOT"),
    ("@nowhere", 1, 1, "unknown entity '@nowhere'"),
    ("x @", 1, 3, "'@' must be followed"),
    ("&", 1, 1, "no letters or digits"),
    ("", 1, 1, "empty query"),
    ("a OR\n  b AND", 2, 5, "AND needs a term on its right"),
])
def test_errors_give_position(query, line, column, problem):
    with pytest.raises(QueryError) as info:
        parse_query(query, ENTITY_IDS)
    err = info.value
    assert isinstance(err, RuleError)
    assert (err.line, err.column) == (line, column), err
    assert problem in err.problem
    assert str(err).startswith(f"<query>:{line}:{column}: ")


@pytest.mark.parametrize("query", ["NOT x", "x OR NOT y", "NOT (a AND b)",
                                   "(a OR NOT b) AND NOT c"])
def test_queries_true_with_no_term_present_are_rejected(query):
    with pytest.raises(RuleError, match="can never be required to match"):
        compile_query(query)


@pytest.mark.parametrize("query", ["NOT NOT x", "x NOT y", "x AND (y OR NOT z)",
                                   "a AND NOT a"])
def test_queries_that_need_a_term_are_accepted(query):
    compile_query(query)


def test_unknown_entity_in_compile_query():
    with pytest.raises(RuleError) as info:
        compile_query("sanctions AND @mars", entities={"russia": ["Russia"]})
    assert info.value.column == 15


@pytest.mark.parametrize("query, found", [
    ("russia or korea", ["or"]),
    ("russia and korea not sanctions", ["and", "not"]),
    ("a near/5 b", ["near/5"]),
    ("a Or b", ["Or"]),
    ("title:(a or b) c", ["or"]),
    ("a (b and c) OR d", ["and"]),
    ("or korea", []),                 # not between two terms
    ("korea or", []),
    ('russia "or" korea', []),        # quoted: meant as a word
    ("x case:or y", []),              # exact case: meant as a word
    ("a OR b AND c NOT d", []),
])
def test_lowercase_operators(query, found):
    from monitor.matching.query import lowercase_operators

    assert [t.text for t in lowercase_operators(parse_query(query), query)] == found
