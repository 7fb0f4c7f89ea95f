"""Reading YAML rule files as node trees, so every error can name file:line:column.

PyYAML's ``yaml.compose`` keeps each node's ``start_mark`` (0-based line and column);
these helpers turn nodes into plain values and raise :class:`RuleError` (1-based line and
column) when a value has the wrong shape.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.errors import RuleError

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
# libyaml's loader when PyYAML was built with it (several times faster); same marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_file(path: Path) -> Node | None:
    """Parse a YAML file into a node tree.

    Args:
        path: the file to read (UTF-8).

    Returns:
        The root node, or None for an empty file.

    Raises:
        RuleError: the file cannot be read or is not valid YAML (with the line and column
            PyYAML reports).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read file: {exc}", path=str(path)) from exc
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = f"invalid YAML: {exc.problem or exc.context}"
        if mark is None:
            raise RuleError(problem, path=str(path)) from exc
        raise RuleError(problem, path=str(path), line=mark.line + 1,
                        column=mark.column + 1) from exc
    except yaml.YAMLError as exc:
        raise RuleError(f"invalid YAML: {exc}", path=str(path)) from exc


def error_at(node: Node, path: Path | str, problem: str) -> RuleError:
    """Build a RuleError located at a node.

    Args:
        node: the offending node.
        path: the file it came from.
        problem: what is wrong.

    Returns:
        The error (not raised).
    """
    return RuleError(problem, path=str(path), line=node.start_mark.line + 1,
                     column=node.start_mark.column + 1)


def mapping(node: Node, path: Path, what: str) -> dict[str, tuple[Node, Node]]:
    """Read a mapping node.

    Args:
        node: the node.
        path: its file.
        what: what the mapping is, for the message ("a watch").

    Returns:
        key text -> (key node, value node), in file order.

    Raises:
        RuleError: not a mapping, a key that is not text, or a key given twice.
    """
    if not isinstance(node, MappingNode):
        raise error_at(node, path, f"{what} must be a mapping of 'key: value' lines")
    out: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            raise error_at(key, path, "keys must be plain words")
        if key.value in out:
            raise error_at(key, path, f"key '{key.value}' is given twice")
        out[key.value] = (key, value)
    return out


def check_keys(fields: dict[str, tuple[Node, Node]], allowed: set[str], path: Path,
               what: str) -> None:
    """Reject unknown keys (typos such as ``chanels:``).

    Raises:
        RuleError: at the first unknown key, listing the allowed ones.
    """
    for name, (key, _) in fields.items():
        if name not in allowed:
            raise error_at(key, path, f"unknown key '{name}' in {what} "
                                      f"(allowed: {', '.join(sorted(allowed))})")


def text(node: Node, path: Path, what: str) -> str:
    """Read a non-empty text scalar (numbers are accepted as their text).

    Raises:
        RuleError: not a scalar, null, a boolean, or empty.
    """
    if not isinstance(node, ScalarNode) or node.tag in (NULL, BOOL):
        raise error_at(node, path, f"{what} must be text")
    if not node.value.strip():
        raise error_at(node, path, f"{what} must not be empty")
    return node.value


def text_list(node: Node, path: Path, what: str) -> list[tuple[str, Node]]:
    """Read a list of text scalars (a single scalar counts as a one-item list).

    Returns:
        (text, node) pairs, so later checks can point at the item.

    Raises:
        RuleError: not a list, or an item that is not text.
    """
    if isinstance(node, ScalarNode) and node.tag != NULL:
        return [(text(node, path, what), node)]
    if not isinstance(node, SequenceNode):
        raise error_at(node, path, f"{what} must be a list")
    return [(text(item, path, f"each item of {what}"), item) for item in node.value]


def integer(node: Node, path: Path, what: str, minimum: int = 0) -> int:
    """Read an integer scalar no smaller than ``minimum``.

    Raises:
        RuleError: not an integer, or too small.
    """
    if not isinstance(node, ScalarNode) or node.tag != INT:
        raise error_at(node, path, f"{what} must be a whole number")
    value = int(node.value.replace("_", ""), 0)
    if value < minimum:
        raise error_at(node, path, f"{what} must be at least {minimum}")
    return value


def boolean(node: Node, path: Path, what: str) -> bool:
    """Read a boolean scalar (true/false).

    Raises:
        RuleError: not a boolean.
    """
    if not isinstance(node, ScalarNode) or node.tag != BOOL:
        raise error_at(node, path, f"{what} must be true or false")
    return node.value.lower() in ("true", "yes", "on", "y")


def scalar_offset_position(node: Node, source: str, offset: int) -> tuple[int, int]:
    """Map a character offset inside a scalar's value to a 1-based (line, column).

    Exact for plain and quoted single-line scalars (the usual ``query: ...``) and for
    literal block scalars (``query: |``); approximate for folded scalars and escapes.

    Args:
        node: the scalar node (another node gives its own start).
        source: the whole file text.
        offset: 0-based offset in ``node.value``.

    Returns:
        (line, column) in the file, 1-based.
    """
    mark = node.start_mark
    if not isinstance(node, ScalarNode):
        return mark.line + 1, mark.column + 1
    value = node.value
    if node.style in ("|", ">"):
        before = value[:offset]
        line_in_value = before.count("\n")
        col_in_line = offset - (before.rfind("\n") + 1)
        lines = source.splitlines()
        # content starts on the line after the indicator; skip leading blank lines
        first = mark.line + 1
        while first < len(lines) and not lines[first].strip():
            first += 1
        line_no = first + line_in_value
        indent = 0
        if first < len(lines):  # the block's indentation is set by its first line
            indent = len(lines[first]) - len(lines[first].lstrip(" "))
        return line_no + 1, indent + col_in_line + 1
    quote = 1 if node.style in ("'", '"') else 0
    return mark.line + 1, mark.column + 1 + quote + offset


def top_level_list(path: Path, key: str, problem: str) -> SequenceNode | None:
    """Read a file whose only top-level key ``key`` holds a list (entities.yaml,
    variants.yaml).

    Args:
        path: the file; a missing or empty file, or one without ``key``, gives None.
        key: the one key allowed at the top level.
        problem: the message when ``key`` does not hold a list.

    Returns:
        The list's node, or None.

    Raises:
        RuleError: with file:line:column for malformed YAML, another top-level key, or
            a value that is not a list.
    """
    if not path.exists():
        return None
    root = compose_file(path)
    if root is None:
        return None
    top = mapping(root, path, path.name)
    check_keys(top, {key}, path, path.name)
    if key not in top:
        return None
    node = top[key][1]
    if not isinstance(node, SequenceNode):
        raise error_at(node, path, problem)
    return node
