"""Named entities (``rules/entities.yaml``) and spelling variants (``rules/variants.yaml``).

entities.yaml::

    entities:
      - id: north-korea            # referenced in queries as @north-korea
        type: place                # person | organisation | place | event | product | other
        name: North Korea          # optional display name (defaults to the id)
        aliases: [North Korea, DPRK, Pyongyang]   # matched ignoring case
        forms: [North Korean, North Koreans]      # optional: demonyms, metonyms
        exact_aliases: [NK]        # optional; matched with exact case

variants.yaml::

    variants:
      - [defence, defense]         # one group of interchangeable spellings
      - [co-operation, cooperation]   # a spelling may have several words
      - [organisation, organization]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import RuleError
from monitor.matching import yamlnodes as yn
from monitor.matching.normalise import TokenForms, term_tokens

ENTITIES_FILE = "entities.yaml"
VARIANTS_FILE = "variants.yaml"
#: Rule files may be named ``*.yaml`` or ``*.yml``.
RULE_SUFFIXES = (".yaml", ".yml")
ENTITY_TYPES = ("person", "organisation", "place", "event", "product", "other")
_ENTITY_KEYS = {"id", "type", "name", "aliases", "forms", "exact_aliases", "description"}


@dataclass(frozen=True)
class Entity:
    """One named entity.

    Attributes:
        id: the id used in queries after ``@`` (e.g. ``north-korea``).
        type: one of :data:`ENTITY_TYPES`.
        name: display name.
        aliases: names matched ignoring case (whole words, variants applied).
        exact_aliases: names matched with exact case (e.g. an acronym that is also a word).
        forms: the other words news copy uses for the entity, matched like aliases:
            demonyms and adjectives ("North Korean", "Russians") and metonyms ("the
            Kremlin" for the Russian government). Kept apart from the names so a reader of
            the file sees which is which; ``@id`` matches both.
        path: the file it was read from, if any.
        line: 1-based line of its entry, if known.
    """

    id: str
    type: str
    name: str
    aliases: tuple[str, ...]
    exact_aliases: tuple[str, ...] = ()
    path: str | None = None
    line: int | None = None
    forms: tuple[str, ...] = ()


@dataclass
class Variants:
    """Groups of interchangeable spellings, matched on case-folded words.

    A spelling may be one word or several ("co-operation" is the two words "co
    operation", so ``[co-operation, cooperation]`` declares a two-word and a one-word
    spelling of the same thing).

    Attributes:
        groups: every declared group, as written.
    """

    groups: list[tuple[str, ...]] = field(default_factory=list)
    _by_fold: dict[tuple[str, ...], tuple[tuple[TokenForms, ...], ...]] = field(
        default_factory=dict, repr=False)
    _longest: int = 0

    def add(self, spellings: list[str]) -> None:
        """Declare one group of interchangeable spellings.

        Args:
            spellings: two or more spellings, e.g. ``["defence", "defense"]``.

        Raises:
            ValueError: a spelling has no letters or digits, or is already in a group.
        """
        forms: list[tuple[TokenForms, ...]] = []
        for spelling in spellings:
            toks = tuple(term_tokens(spelling))
            if not toks:
                raise ValueError(f"variant '{spelling}' has no letters or digits")
            key = tuple(t.fold for t in toks)
            if key in self._by_fold or key in [tuple(t.fold for t in f) for f in forms]:
                raise ValueError(f"variant '{spelling}' is already in a group")
            forms.append(toks)
        group = tuple(forms)
        for f in group:
            self._by_fold[tuple(t.fold for t in f)] = group
            self._longest = max(self._longest, len(f))
        self.groups.append(tuple(spellings))

    @staticmethod
    def key(spelling: str) -> tuple[str, ...]:
        """The lookup key of a spelling: its case-folded words."""
        return tuple(t.fold for t in term_tokens(spelling))

    def __contains__(self, key: object) -> bool:
        return key in self._by_fold

    def expand(self, tokens: list[TokenForms]) -> list[list[TokenForms]]:
        """Every spelling of a token sequence obtained by swapping declared variants.

        Args:
            tokens: a term's tokens.

        Returns:
            The token sequences (the original first), without duplicates.
        """
        if not self._by_fold:
            return [list(tokens)]
        out: list[list[TokenForms]] = []
        seen: set[tuple[str, ...]] = set()

        def walk(i: int, acc: list[TokenForms]) -> None:
            if len(out) > 4096:
                raise ValueError("too many spelling variants")
            if i == len(tokens):
                key = tuple(t.fold for t in acc)
                if key not in seen:
                    seen.add(key)
                    out.append(list(acc))
                return
            walk(i + 1, [*acc, tokens[i]])
            for n in range(1, min(self._longest, len(tokens) - i) + 1):
                group = self._by_fold.get(tuple(t.fold for t in tokens[i:i + n]))
                for alt in group or ():
                    walk(i + n, acc + list(alt))

        walk(0, [])
        return out

    def __len__(self) -> int:
        return len(self.groups)


@dataclass
class EntityRegistry:
    """All entities, by id.

    Attributes:
        entities: id -> Entity, in file order.
    """

    entities: dict[str, Entity] = field(default_factory=dict)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self.entities

    def __len__(self) -> int:
        return len(self.entities)

    def __iter__(self) -> Iterator[Entity]:
        return iter(self.entities.values())

    def get(self, entity_id: str) -> Entity | None:
        """Return the entity with this id, or None."""
        return self.entities.get(entity_id)

    @classmethod
    def from_dict(cls, data: dict[str, list[str]], types: dict[str, str] | None = None
                  ) -> EntityRegistry:
        """Build a registry in code (for tests and ad-hoc queries).

        Args:
            data: entity id -> aliases.
            types: entity id -> type (default "other").

        Returns:
            The registry.
        """
        reg = cls()
        for eid, aliases in data.items():
            reg.entities[eid] = Entity(eid, (types or {}).get(eid, "other"), eid,
                                       tuple(aliases))
        return reg


def load_entities(path: Path) -> EntityRegistry:
    """Read entities.yaml.

    Args:
        path: the file; a missing file gives an empty registry.

    Returns:
        The registry.

    Raises:
        RuleError: with file:line:column for malformed YAML, a missing or duplicate id,
            an unknown type, an entity without aliases (forms alone are not enough: they
            are words for the entity, not its name), or an alias or form without letters.
    """
    reg = EntityRegistry()
    items = yn.top_level_list(path, "entities", "'entities' must be a list of entities")
    if items is None:
        return reg
    for item in items.value:
        fields = yn.mapping(item, path, "an entity")
        yn.check_keys(fields, _ENTITY_KEYS, path, "an entity")
        if "id" not in fields:
            raise yn.error_at(item, path, "entity has no 'id'")
        id_node = fields["id"][1]
        eid = yn.text(id_node, path, "'id'")
        if not valid_id(eid):
            raise yn.error_at(id_node, path, f"entity id '{eid}' may only use letters, "
                                             "digits, '-', '_' and '.'")
        if eid in reg.entities:
            raise yn.error_at(id_node, path, f"entity id '{eid}' is defined twice")
        etype = "other"
        if "type" in fields:
            etype = yn.text(fields["type"][1], path, "'type'")
            if etype not in ENTITY_TYPES:
                raise yn.error_at(fields["type"][1], path, f"unknown entity type '{etype}' "
                                  f"(one of: {', '.join(ENTITY_TYPES)})")
        name = yn.text(fields["name"][1], path, "'name'") if "name" in fields else eid
        aliases: list[str] = []
        exact: list[str] = []
        forms: list[str] = []
        for key, out in (("aliases", aliases), ("exact_aliases", exact), ("forms", forms)):
            if key in fields:
                for alias, node in yn.text_list(fields[key][1], path, f"'{key}'"):
                    if not term_tokens(alias):
                        what = "form" if key == "forms" else "alias"
                        raise yn.error_at(node, path, f"{what} '{alias}' has no letters or "
                                                      "digits")
                    out.append(alias)
        if not aliases and not exact:
            raise yn.error_at(item, path, f"entity '{eid}' has no aliases")
        reg.entities[eid] = Entity(eid, etype, name, tuple(aliases), tuple(exact),
                                   str(path), item.start_mark.line + 1, tuple(forms))
    return reg


def special_file(rules_dir: str | Path, name: str) -> Path:
    """Where a rules folder keeps entities or variants: ``<name>`` (``entities.yaml``), or
    the same name ending in ``.yml`` when only that one exists.

    Args:
        rules_dir: the rules folder.
        name: :data:`ENTITIES_FILE` or :data:`VARIANTS_FILE`.

    Returns:
        The file to read (it may not exist: then there are no entities or variants).

    Raises:
        RuleError: both the ``.yaml`` and the ``.yml`` file exist.
    """
    yaml_path = Path(rules_dir) / name
    yml_path = yaml_path.with_suffix(".yml")
    if yml_path.is_file():
        if yaml_path.is_file():
            raise RuleError(f"both {yaml_path.name} and {yml_path.name} exist; keep one",
                            path=str(yml_path))
        return yml_path
    return yaml_path


def valid_id(ident: str) -> bool:
    """Whether an id uses only letters, digits, '-', '_' and '.' (and starts alphanumeric)."""
    return bool(ident) and ident[0].isalnum() and all(c.isalnum() or c in "-_." for c in ident)


def load_variants(path: Path) -> Variants:
    """Read variants.yaml.

    Args:
        path: the file; a missing file gives no variants.

    Returns:
        The declared variant groups.

    Raises:
        RuleError: with file:line:column for malformed YAML, a group with fewer than two
            spellings, a spelling without letters, or a spelling in two groups.
    """
    variants = Variants()
    groups = yn.top_level_list(path, "variants", "'variants' must be a list of groups "
                                                 "like [defence, defense]")
    if groups is None:
        return variants
    for group in groups.value:
        words = yn.text_list(group, path, "a variant group")
        if len(words) < 2:
            raise yn.error_at(group, path, "a variant group needs at least two spellings")
        group_keys: set[tuple[str, ...]] = set()
        for word, node in words:  # check each spelling here, to point at the right one
            key = variants.key(word)
            if not key:
                raise yn.error_at(node, path, f"variant '{word}' has no letters or digits")
            if key in variants or key in group_keys:
                raise yn.error_at(node, path, f"variant '{word}' is already in a group")
            group_keys.add(key)
        variants.add([w for w, _ in words])
    return variants


__all__ = [
    "ENTITIES_FILE",
    "ENTITY_TYPES",
    "RULE_SUFFIXES",
    "VARIANTS_FILE",
    "Entity",
    "EntityRegistry",
    "Variants",
    "load_entities",
    "load_variants",
    "special_file",
]
