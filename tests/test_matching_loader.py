"""Rule files: the shipped rules, both file formats, errors as file:line:col, hot reload."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.matching import check_rules, check_watch_targets, load_watches, rules_fingerprint
from tests.conftest import RULES
from tests.matching_fixtures import FOOTBALL, RECIPE, art, seed_article


@pytest.fixture
def rules(tmp_path):
    """A rules folder with the shipped entities and variants, and no watches."""
    d = tmp_path / "rules"
    d.mkdir()
    for name in ("entities.yaml", "variants.yaml"):
        shutil.copy(RULES / name, d / name)
    return d


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped

def test_shipped_rules_load_and_hit_only_the_seed_story():
    ws = load_watches(RULES)
    assert [w.id for w in ws.watches] == ["russia-north-korea"]
    assert {e.id for e in ws.entities} == {"north-korea", "russia", "kim-jong-un",
                                           "vladimir-putin"}
    [hit] = ws.match(seed_article())
    assert hit.watch_id == "russia-north-korea" and hit.mode == "immediate"
    assert {"mutual defence", "Pyongyang", "sanctions"} <= set(hit.terms)
    assert ws.match(FOOTBALL) == [] and ws.match(RECIPE) == []


@pytest.mark.parametrize("text", [
    "Sanctions on Russia were extended, the EU said.",             # no North Korea
    "Pyongyang fired a missile into the sea, Seoul said.",          # no Russia
    "Russia and North Korea played a friendly football match.",     # no story term
])
def test_shipped_watch_needs_both_countries_and_a_story_term(text):
    assert load_watches(RULES).match(art(text)) == []


def test_shipped_watch_hits_a_wire_rewrite():
    text = ("Moscow and the DPRK signed a mutual defense treaty; Western sanctions "
            "were not mentioned.")
    [hit] = load_watches(RULES).match(art(text))
    assert hit.entities == ["russia", "north-korea"]
    assert {s.matched for s in hit.spans} >= {"Moscow", "DPRK", "mutual defense"}


# --------------------------------------------------------------------------- formats

def test_single_and_multi_watch_files(rules):
    write(rules, "one.yaml", """
        id: pact
        name: Defence pacts
        query: '"mutual defence" NEAR/5 (pact OR treaty OR pledge)'
        channels: [slack-desk]
        mode: digest
        """)
    write(rules, "many.yaml", """
        watches:
          - id: kim
            name: Kim Jong Un
            any: ["@kim-jong-un"]
            sources: [cbc-world]
            languages: [EN]
          - id: pyongyang-headline
            name: Pyongyang in a headline
            query: title:@north-korea
            min_mentions: 1
            fold_diacritics: true
        """)
    ws = load_watches(rules)
    assert len(ws) == 3
    assert [w.id for w in ws.watches] == ["kim", "pyongyang-headline", "pact"]  # by file
    pact = ws.get("pact")
    assert (pact.name, pact.channels, pact.mode, pact.line) == (
        "Defence pacts", ("slack-desk",), "digest", 1)
    assert ws.get("kim").languages == frozenset({"en"})
    assert ws.get("kim").line == 2
    hits = {h.watch_id: h for h in ws.match(seed_article())}
    assert set(hits) == {"kim", "pyongyang-headline", "pact"}
    assert hits["pact"].channels == ("slack-desk",) and hits["pact"].mode == "digest"


def test_simple_form_any_all_none(rules):
    write(rules, "w.yaml", """
        id: w
        name: W
        any: [mutual defence, sanction*]
        all: [Putin]
        none: [football, recipe]
        """)
    ws = load_watches(rules)
    assert str(ws.get("w").query) == '(("mutual defence" OR sanction*) AND Putin AND ' \
                                     'NOT (football OR recipe))'
    assert ws.match(seed_article())
    assert not ws.match(art("Putin spoke of a mutual defence deal after the football"))


def test_query_and_simple_form_combine_with_and(rules):
    write(rules, "w.yaml", """
        id: w
        query: Putin
        none: [Pyongyang]
        """)
    ws = load_watches(rules)
    assert ws.get("w").name == "w"          # name defaults to the id
    assert not ws.match(seed_article())
    assert ws.match(art("Putin visited Minsk"))


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name, text, line, column, problem", [
    ("bad.yaml", "id: x\nquery: [unclosed\n", 3, 1, "invalid YAML"),
    ("bad.yaml", "id: x\nqeury: Putin\n", 2, 1, "unknown key 'qeury'"),
    ("bad.yaml", "name: No id\nquery: Putin\n", 1, 1, "watch has no 'id'"),
    ("bad.yaml", "id: x\nname: X\n", 1, 1, "needs a 'query', 'any' or 'all'"),
    ("bad.yaml", "id: x\nquery: Putin\nmode: weekly\n", 3, 7, "mode must be one of"),
    ("bad.yaml", "id: x\nquery: Putin\nmin_mentions: 0\n", 3, 15, "at least 1"),
    ("bad.yaml", "id: x\nquery: Putin\nlanguages: [english]\n", 3, 13, "ISO 639-1"),
    ("bad.yaml", "id: x\nquery: Putin\nfold_diacritics: maybe\n", 3, 18, "true or false"),
    ("bad.yaml", "id: x y\nquery: Putin\n", 1, 5, "may only use letters"),
    ("bad.yaml", "id: x\nquery: Putin AND (Kim\n", 2, 18, "unclosed '('"),
    ("bad.yaml", "id: x\nquery: 'Putin AND (Kim'\n", 2, 19, "unclosed '('"),
    ("bad.yaml", "id: x\nquery: \"Putin @nowhere\"\n", 2, 15, "unknown entity '@nowhere'"),
    ("bad.yaml", "id: x\nquery: |\n  Putin\n  AND\n", 4, 3, "AND needs a term on its right"),
    ("bad.yaml", "id: x\nquery: NOT Putin\n", 2, 8, "can never be required to match"),
    ("bad.yaml", "id: x\nany:\n  - Putin\n  - '@mars'\n", 4, 5, "unknown entity '@mars'"),
    ("bad.yaml", "id: x\nany: []\n", 2, 6, "empty list"),
    ("bad.yaml", "id: x\nany: [Putin]\nnone: [Kim]\nchannels: slack\nsources: {a: 1}\n",
     5, 10, "'sources' must be a list"),
    ("bad.yaml", "watches:\n  - id: a\n    query: Putin\n  - id: a\n    query: Kim\n", 4, 9,
     "watch id 'a' is already used in bad.yaml:2"),
    ("bad.yaml", "watches: []\n", 1, 10, "non-empty list"),
    ("bad.yaml", "- id: a\n", 1, 1, "must be a mapping"),
    ("bad.yaml", "", None, None, "file is empty"),
])
def test_errors_name_file_line_column(rules, name, text, line, column, problem):
    path = write(rules, name, text) if text else (rules / name)
    if not text:
        path.write_text("")
    with pytest.raises(RuleError) as info:
        load_watches(rules)
    err = info.value
    assert (err.path, err.line, err.column) == (str(path), line, column), str(err)
    assert problem in err.problem
    where = f"{path}:{line}:{column}" if line else str(path)
    assert str(err) == f"{where}: {err.problem}"


@pytest.mark.parametrize("name, text, line, column, problem", [
    ("entities.yaml", "entities:\n  - id: a\n    aliases: [A]\n  - id: a\n    aliases: [B]\n",
     4, 9, "defined twice"),
    ("entities.yaml", "entities:\n  - id: a\n    type: planet\n    aliases: [A]\n", 3, 11,
     "unknown entity type 'planet'"),
    ("entities.yaml", "entities:\n  - id: a\n    type: place\n", 2, 5, "has no aliases"),
    ("entities.yaml", "entities:\n  - id: a\n    aliases: ['--']\n", 3, 15,
     "no letters or digits"),
    ("variants.yaml", "variants:\n  - [defence]\n", 2, 5, "at least two spellings"),
    ("variants.yaml", "variants:\n  - [defence, defense]\n  - [Defense, defensive]\n",
     3, 6, "already in a group"),
])
def test_entity_and_variant_file_errors(rules, name, text, line, column, problem):
    path = write(rules, name, text)
    write(rules, "w.yaml", "id: w\nquery: Putin\n")
    with pytest.raises(RuleError) as info:
        load_watches(rules)
    assert (info.value.path, info.value.line, info.value.column) == (str(path), line,
                                                                     column)
    assert problem in info.value.problem


def test_check_rules_reports_every_error(rules):
    write(rules, "a.yaml", "id: a\nquery: (Putin\n")
    write(rules, "b.yaml", "watches:\n  - id: b\n    mode: never\n    query: Kim\n"
                           "  - id: c\n    query: Kim AND\n")
    write(rules, "ok.yaml", "id: ok\nquery: Kim\n")
    errors = check_rules(rules)
    assert [(Path(e.path).name, e.line, e.column) for e in errors] == [
        ("a.yaml", 2, 8), ("b.yaml", 3, 11), ("b.yaml", 6, 16)]
    assert check_rules(RULES) == []


def test_bad_entities_file_does_not_cascade(rules):
    write(rules, "entities.yaml", "entities: {oops\n")
    write(rules, "w.yaml", "id: w\nquery: '@north-korea'\n")
    errors = check_rules(rules)
    assert len(errors) == 1 and errors[0].path.endswith("entities.yaml")


def test_missing_folder(tmp_path):
    with pytest.raises(RuleError, match="rules folder not found"):
        load_watches(tmp_path / "nope")


def test_variants_and_entities_files_are_optional(tmp_path):
    write(tmp_path, "w.yaml", "id: w\nquery: defence\n")
    ws = load_watches(tmp_path)
    assert len(ws.entities) == 0 and len(ws.variants) == 0
    assert not ws.match(art("national defense"))


# --------------------------------------------------------------------------- reload

def test_fingerprint_changes_when_a_rule_file_changes(rules):
    path = write(rules, "w.yaml", "id: w\nquery: Putin\n")
    before = rules_fingerprint(rules)
    assert before == rules_fingerprint(rules)
    ws = load_watches(rules)
    assert ws.fingerprint == before

    path.write_text("id: w\nquery: (Putin\n")
    os.utime(path, ns=(before[-1][1] + 10**9, before[-1][1] + 10**9))
    after = rules_fingerprint(rules)
    assert after != before
    with pytest.raises(RuleError):      # the daemon would keep ``ws``
        load_watches(rules)
    assert ws.match(art("Putin")) and ws.get("w") is not None

    (rules / "entities.yaml").unlink()
    assert len(rules_fingerprint(rules)) == len(after) - 1
    assert rules_fingerprint(rules / "missing") == ()


# --------------------------------------------------------------------------- targets

def test_check_watch_targets_names_unknown_channels_and_sources(rules):
    path = write(rules, "desk.yaml", """
        watches:
          - id: ok
            query: Putin
            channels: [console, desk-mail]
            sources: [cbc-world]
          - id: typos
            query: Kim
            channels: [desk-mial, console]
            sources: [cbc-wrold, bbc-world]
        """)
    ws = load_watches(rules)
    errors = check_watch_targets(ws, ["console", "desk-mail"], ["cbc-world", "bbc-world"])
    assert [str(e) for e in errors] == [
        f"{path}:6: channel 'desk-mial' is not in monitor.yaml (known: console, desk-mail)",
        f"{path}:6: source 'cbc-wrold' is not in monitor.yaml (known: bbc-world, cbc-world)",
    ]
    assert all(isinstance(e, RuleError) and e.path == str(path) and e.line == 6
               for e in errors)
    assert check_watch_targets(ws, ["console", "desk-mail", "desk-mial"],
                               ["cbc-world", "cbc-wrold", "bbc-world"]) == []


def test_check_watch_targets_without_targets_or_config(rules):
    write(rules, "all.yaml", "id: all\nquery: Putin\n")
    ws = load_watches(rules)
    assert check_watch_targets(ws, [], []) == []  # no channels: every channel
    write(rules, "one.yaml", "id: one\nquery: Kim\nchannels: [slack]\n")
    [err] = check_watch_targets(load_watches(rules).watches, [], [], config="m.yaml")
    assert err.problem == "channel 'slack' is not in m.yaml (known: none)"


# --------------------------------------------------------------------------- .yml, lists

def test_yml_files_are_rule_files_too(rules):
    write(rules, "a.yaml", "id: a\nquery: Putin\n")
    write(rules, "b.yml", "id: b\nquery: '@north-korea'\n")
    ws = load_watches(rules)
    assert [w.id for w in ws.watches] == ["a", "b"]
    assert any(name == "b.yml" for name, _, _ in rules_fingerprint(rules))


def test_entities_and_variants_may_be_yml(rules):
    (rules / "entities.yaml").rename(rules / "entities.yml")
    (rules / "variants.yaml").rename(rules / "variants.yml")
    write(rules, "w.yml", "id: w\nquery: '@north-korea NEAR/3 \"mutual defense\"'\n")
    ws = load_watches(rules)
    assert [w.id for w in ws.watches] == ["w"] and len(ws.entities) == 4
    assert ws.match(art("North Korea signed a mutual defence pact."))
    shutil.copy(RULES / "entities.yaml", rules / "entities.yaml")
    with pytest.raises(RuleError, match=r"both entities\.yaml and entities\.yml exist"):
        load_watches(rules)


@pytest.mark.parametrize("value", ["sanctions", "'sanctions'", "[sanctions]"])
def test_a_single_term_needs_no_list(rules, value):
    write(rules, "s.yaml", f"id: s\nany: {value}\nnone: football\n")
    [watch] = load_watches(rules).watches
    assert str(watch.query) == "(sanctions AND NOT football)"


@pytest.mark.parametrize("key", ["any", "all", "none", "channels", "sources"])
def test_a_single_value_with_commas_is_an_error(rules, key):
    path = write(rules, "s.yaml", f"id: s\nquery: Putin\n{key}: sanctions, Pyongyang\n")
    [err] = check_rules(rules)
    assert (err.path, err.line, err.column) == (str(path), 3, len(key) + 3)
    assert err.problem.startswith(f"'{key}' is the one item 'sanctions, Pyongyang' here; "
                                  "write a list: [sanctions, Pyongyang]")


def test_a_quoted_single_term_may_have_a_comma(rules):
    write(rules, "s.yaml", "id: s\nany: \"Washington, D.C.\"\n")
    [watch] = load_watches(rules).watches
    assert watch.query.text == "Washington, D.C."


# --------------------------------------------------------------------------- reload

def _touch_later(path: Path, seconds: int = 5) -> None:
    """Give a file a later modification time (a fast test may write twice in one tick)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


def test_reload_recompiles_only_the_changed_rule_file(rules):
    """Two rule files; one changes: the other's watches are the same compiled objects,
    the changed file's watches are new, and matching gives what a full load gives."""
    write(rules, "a.yaml", """
        watches:
          - id: pact
            query: '"mutual defence" NEAR/5 pact'
          - id: kim
            query: '@kim-jong-un AND Putin'
        """)
    b = write(rules, "b.yaml", "id: football\nquery: Arsenal AND Chelsea\n")
    first = load_watches(rules)
    assert first.reused == 0

    b.write_text("id: football\nquery: Arsenal AND (derby OR sourdough)\n", encoding="utf-8")
    _touch_later(b)
    second = load_watches(rules, previous=first)

    assert second.reused == 2
    for wid in ("pact", "kim"):          # file a.yaml: not read or compiled again
        assert second.get(wid) is first.get(wid)
        assert second._programs[second._by_id[wid]] is first._programs[first._by_id[wid]]
    assert second.get("football") is not first.get("football")
    assert second.get("football").query_text == "Arsenal AND (derby OR sourdough)"

    full = load_watches(rules)
    for article in (seed_article(), FOOTBALL, RECIPE, art("Arsenal won the derby")):
        assert second.match(article) == full.match(article)
    assert [h.watch_id for h in second.match(FOOTBALL)] == ["football"]
    assert {h.watch_id for h in second.match(seed_article())} == {"pact", "kim"}
    # the old set is untouched and still matches as before
    assert [h.watch_id for h in first.match(FOOTBALL)] == ["football"]
    assert first.match(art("Arsenal won the derby")) == []


def test_reload_without_a_new_term_keeps_the_automaton(rules):
    write(rules, "a.yaml", "id: pact\nquery: pact AND Putin\n")
    b = write(rules, "b.yaml", "id: kim\nquery: Putin\n")
    first = load_watches(rules)
    b.write_text("id: kim\nquery: Putin AND pact\nmode: digest\n", encoding="utf-8")
    _touch_later(b)
    second = load_watches(rules, previous=first)
    assert second._automaton is first._automaton      # the same terms: nothing to build
    assert second.get("kim").mode == "digest"
    assert [h.watch_id for h in second.match(seed_article())] == ["pact", "kim"]
    assert [h.mode for h in second.match(seed_article())] == ["immediate", "digest"]


def test_reload_after_an_entities_change_recompiles_everything(rules):
    write(rules, "a.yaml", "id: kim\nquery: '@kim-jong-un'\n")
    first = load_watches(rules)
    entities = rules / "entities.yaml"
    entities.write_text(entities.read_text(encoding="utf-8")
                        + "  - id: zorblax\n    name: Zorblax\n    aliases: [Zorblax]\n",
                        encoding="utf-8")
    _touch_later(entities)
    write(rules, "b.yaml", "id: z\nquery: '@zorblax'\n")
    second = load_watches(rules, previous=first)
    assert second.reused == 0 and second.get("kim") is not first.get("kim")
    assert [h.watch_id for h in second.match(art("Zorblax met Kim Jong Un"))] == ["kim", "z"]


def test_a_bad_reload_keeps_the_last_good_rules_and_a_duplicate_id_is_named(rules):
    write(rules, "a.yaml", "id: pact\nquery: pact\n")
    b = write(rules, "b.yaml", "id: other\nquery: Putin\n")
    first = load_watches(rules)
    b.write_text("id: pact\nquery: Putin\n", encoding="utf-8")   # a.yaml's id again
    _touch_later(b)
    with pytest.raises(RuleError, match=r"watch id 'pact' is already used in a\.yaml:1"):
        load_watches(rules, previous=first)
    b.write_text("id: other\nquery: (Putin\n", encoding="utf-8")
    _touch_later(b, 10)
    with pytest.raises(RuleError, match=r"b\.yaml"):
        load_watches(rules, previous=first)
    assert [h.watch_id for h in first.match(seed_article())] == ["pact", "other"]
