"""Reading job files: what the user typed is what zslabel reads.

PyYAML implements YAML 1.1, where unquoted ``yes``, ``no``, ``on``, ``off``, ``y`` and ``n`` are
booleans, ``012`` is octal and ``1:30`` a base-60 integer: an intent dataset whose labels are
``yes`` and ``no`` could not be written without quotes. Job files are read with the YAML 1.2 core
schema instead (YAML 1.2.2, section 10.3.2): only ``true``/``false`` (in three casings) are
booleans, only ``null``, ``~`` and nothing are null, integers are decimal, ``0o`` octal or ``0x``
hexadecimal.

Names are text, whatever they look like. Every mapping key (setting keys, label names, the keys
of ``rules`` and of per-class settings, split names) and everything under ``labels`` (names,
descriptions, examples) is read as the characters typed, so ``1:``, ``true:`` and ``null:``
name the labels ``"1"``, ``"true"`` and ``"null"``. Where a text setting is given a plain scalar
that reads as a number or a boolean (``text_column: 2024``), :func:`retype_as_typed` turns it
back into the characters typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP = (
    f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "null", "timestamp")
)

# The YAML 1.2 core schema's implicit types: (tag, pattern, first characters).
_CORE = (
    (_NULL, r"^(?:~|null|Null|NULL|)$", "~nN"),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
)


class JobLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema's implicit types (no implicit
    timestamps either: ``2024-05-01`` is text unless tagged ``!!timestamp``)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute)
        first: [
            (tag, rx)
            for tag, rx in resolvers
            if tag not in {_BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP}
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node: yaml.Node) -> int:
        text = str(node.value)
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)  # decimal even with leading zeros, unlike YAML 1.1


for _tag, _pattern, _first in _CORE:
    # The empty scalar (``key:`` with nothing after it) is null.
    _starts = [*_first, *([""] if _tag == _NULL else [])]
    JobLoader.add_implicit_resolver(_tag, re.compile(_pattern), _starts)
JobLoader.add_constructor(_INT, JobLoader.construct_yaml_int)


def load_yaml_nodes(text: str) -> yaml.Node | None:
    """The document's node tree, with every name retagged as text (see the module docstring).

    Raises ``yaml.YAMLError`` on a syntax error, as ``yaml.safe_load`` does.
    """
    loader = JobLoader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    if root is not None:
        _names_as_typed(root)
    return root


def construct(root: yaml.Node | None) -> Any:
    """Python values from a node tree of :func:`load_yaml_nodes` (None for an empty file)."""
    if root is None:
        return None
    loader = JobLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _names_as_typed(root: yaml.Node) -> None:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # anchors and aliases share nodes
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    key.tag = STR_TAG
                    _refuse_duplicate(first, key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    # Everything under labels is a name or a text (descriptions, examples), and a rule's
    # keywords and patterns are texts: ``- 2024`` is the text "2024", ``- null`` the word.
    _all_scalars_as_text(node_at(root, ["labels"]))
    sources = node_at(root, ["sources"])
    for source in sources.value if isinstance(sources, yaml.SequenceNode) else ():
        rules = node_at(source, ["rules"])
        for _, rule in rules.value if isinstance(rules, yaml.MappingNode) else ():
            _all_scalars_as_text(node_at(rule, ["keywords"]))
            _all_scalars_as_text(node_at(rule, ["regex"]))


def _refuse_duplicate(first: dict[str, yaml.Node], key: yaml.ScalarNode) -> None:
    """YAML 1.2 requires unique keys; PyYAML keeps the last silently, and with names read as
    typed ``yes:`` and ``"yes":`` are now one key."""
    text = str(key.value)
    if text in first:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"duplicate key {text!r} (first on line {first[text].start_mark.line + 1}); "
            "a key may appear once in a mapping: merge the two",
            key.start_mark,
        )
    first[text] = key


def _all_scalars_as_text(node: yaml.Node | None) -> None:
    if isinstance(node, yaml.ScalarNode):
        if node.value or node.style is not None:  # an empty ``labels:`` stays null
            node.tag = STR_TAG
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _all_scalars_as_text(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _all_scalars_as_text(key)
            _all_scalars_as_text(value)


def node_at(node: yaml.Node | None, path: Sequence[Any]) -> yaml.Node | None:
    """The node that ``path`` (mapping keys and sequence indices) reaches, or None."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            return None
    return node


def line_of(node: yaml.Node | None, path: Sequence[Any]) -> int | None:
    """The 1-based line of the deepest key or item that ``path`` reaches (a key's own line)."""
    line = None
    for part in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                break
            key_node, node = match[0]
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
            if node is not None:
                line = node.start_mark.line + 1
        else:
            break
    return line


def retype_as_typed(root: yaml.Node | None, path: Sequence[Any], value: object) -> bool:
    """Read the plain scalar at ``path`` as its text, if it is what made ``value`` a number or
    a boolean where a string was expected; True when it did (construct again to see it)."""
    if isinstance(value, str) or not isinstance(value, bool | int | float):
        return False
    node = node_at(root, path)
    if not isinstance(node, yaml.ScalarNode) or node.style is not None or node.tag == STR_TAG:
        return False
    node.tag = STR_TAG
    return True
