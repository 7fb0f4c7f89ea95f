"""Entities as news copy writes them: demonyms and metonyms (``forms:``) count for
``@entity``, in the shipped rules and in a user's own entities.yaml."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.matching.adhoc import compile_query
from monitor.matching.entities import load_entities
from tests.conftest import RULES
from tests.matching_fixtures import art

SHIPPED = RULES

# real sentences of the kind wire copy writes, each naming the country only by a form
SENTENCES = [
    ("North Korean soldiers have been deployed to the Kursk region, Ukraine's military "
     "intelligence said.", "north-korea"),
    ("Russian units pushed towards Pokrovsk overnight, the general staff in Kyiv said.",
     "russia"),
    ("The Kremlin said the talks had been constructive but that no date was set.", "russia"),
    ("Moscow's ambassador was summoned to the foreign ministry on Tuesday.", "russia"),
    ("Seoul said N. Korean troops crossed the demarcation line briefly.", "north-korea"),
    ("Russians queued outside banks as the rouble fell.", "russia"),
    ("South Korean and Japanese officials met in Tokyo.", None),
]


@pytest.mark.parametrize("sentence, entity", SENTENCES)
def test_shipped_entities_know_demonyms_and_metonyms(sentence, entity):
    article = art(sentence)
    for eid in ("north-korea", "russia"):
        hit = compile_query(f"@{eid}", rules_dir=SHIPPED).match(article)
        assert (hit is not None) == (eid == entity), (eid, sentence)


def test_the_shipped_watch_fires_on_copy_that_uses_only_forms():
    text = ("North Korean soldiers are fighting alongside Russian units, and the Kremlin "
            "described the mutual defence pact as purely defensive.")
    query = compile_query('@russia AND @north-korea AND "mutual defence"', rules_dir=SHIPPED)
    hit = query.match(art(text))
    assert hit is not None
    assert {"@russia", "@north-korea"} <= set(hit.terms)
    matched = {s.matched for s in hit.spans}
    assert {"North Korean", "Russian", "Kremlin"} <= matched


def test_forms_are_whole_words():
    query = compile_query("@russia", rules_dir=SHIPPED)
    assert query.match(art("The Russianist seminar met on Friday.")) is None


def _entities(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "entities.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_user_declares_forms_per_entity(tmp_path):
    _entities(tmp_path, """\
        entities:
          - id: france
            type: place
            aliases: [France]
            forms: [French, the Élysée, Paris]
        """)
    reg = load_entities(tmp_path / "entities.yaml")
    assert reg.get("france").forms == ("French", "the Élysée", "Paris")
    query = compile_query("@france", rules_dir=tmp_path)
    assert query.match(art("French farmers blocked roads near Lyon.")) is not None
    assert query.match(art("A statement from the Élysée followed.")) is not None
    assert query.match(art("Spanish farmers blocked roads.")) is None


def test_forms_without_a_name_or_without_letters_are_errors(tmp_path):
    _entities(tmp_path, """\
        entities:
          - id: france
            forms: [French]
        """)
    with pytest.raises(RuleError, match="no aliases"):
        load_entities(tmp_path / "entities.yaml")
    _entities(tmp_path, """\
        entities:
          - id: france
            aliases: [France]
            forms: ["--"]
        """)
    with pytest.raises(RuleError, match="form '--' has no letters"):
        load_entities(tmp_path / "entities.yaml")
