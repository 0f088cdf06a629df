"""Read a YAML file into plain dicts/lists that remember their source lines.

pydantic reports an error at a location such as ``('prune', 'ratoi')``; to
tell the user *where in the file* that is, every mapping and sequence built
here carries the line of each key / item (``LineDict.key_lines``,
``LineList.item_lines``). Anchors, aliases and ``<<`` merge keys work as in
any YAML loader because construction goes through PyYAML's SafeLoader; only
the mapping/sequence constructors are replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sropt.core.errors import ConfigError


class LineDict(dict):
    """A dict that knows its own line and the line of each of its keys (1-based)."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}


class LineList(list):
    """A list that knows its own line and the line of each item (1-based)."""

    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences are LineDict / LineList."""

    duplicate_keys: list[str]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    # Duplicate keys are legal YAML that silently keeps the last value; a
    # config tool must not let a second `ratio:` hide the first one. Keys that
    # come from a `<<` merge may be overridden on purpose, so check before
    # flattening.
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            loader.duplicate_keys.append(
                f"line {line}: duplicate key '{key_node.value}' (first at line {seen[key_node.value]}); "
                "remove one of them"
            )
        seen[key_node.value] = line
    loader.flatten_mapping(node)
    data = LineDict()
    data.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
    return data


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    data = LineList(loader.construct_object(child, deep=True) for child in node.value)
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    return data


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_yaml_with_lines(path: Path) -> Any:
    """Parse ``path``; raise ConfigError naming the file and line on bad YAML."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: pipeline file not found. Give an existing pipelines.yaml (sropt run FILE).")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the pipelines.yaml file inside it.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the pipeline file ({exc}).") from exc
    return parse_yaml_with_lines(text, str(path))


def parse_yaml_with_lines(text: str, name: str = "<string>") -> Any:
    """Parse YAML ``text`` (``name`` is used in messages)."""
    try:
        loader = _LineLoader(text)  # the reader checks every character here, before parsing starts
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{name}:{line}: not YAML text: character U+{exc.character:04X} is not allowed "
                          "(a binary or corrupted file?). Fix or remove it.") from None
    loader.duplicate_keys = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: YAML syntax error: {what}. Fix the YAML at that line.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: YAML error: {exc}") from None
    finally:
        loader.dispose()
    if loader.duplicate_keys:
        raise ConfigError(f"{name}: duplicate keys", problems=loader.duplicate_keys)
    return data


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest node of ``data`` reachable along ``loc``."""
    line = getattr(data, "line", None) or None
    node = data
    for part in loc:
        if isinstance(node, LineDict):
            if part not in node:
                break
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def merge_defaults(defaults: Any, value: Any) -> Any:
    """Deep-merge ``value`` over ``defaults``: mappings merge, anything else replaces.

    The result keeps the line of whichever side a key came from, so an error in
    a value inherited from ``defaults:`` points at the defaults block.
    """
    if not (isinstance(defaults, dict) and isinstance(value, dict)):
        return value
    out = LineDict()
    out.line = getattr(value, "line", 0) or getattr(defaults, "line", 0)
    for source in (defaults, value):
        lines = getattr(source, "key_lines", {})
        for key, item in source.items():
            out[key] = merge_defaults(out[key], item) if key in out and source is value else item
            if key in lines:
                out.key_lines[key] = lines[key]
    return out
