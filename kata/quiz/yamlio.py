"""YAML files read with line numbers, and the `file:line: message` problems the bank's
checks report. PyYAML's node tree gives every mapping key and list item its line,
so every message about a question, a choice or a claim can point at it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Problem:
    """One problem in the bank, printed as `file:line: message`."""

    file: Path
    line: int
    message: str

    def format(self, relative_to: Path | None = None) -> str:
        shown = self.file
        if relative_to is not None:
            try:
                shown = self.file.resolve().relative_to(relative_to.resolve())
            except ValueError:
                pass
        return f"{shown}:{self.line}: {self.message}"

    def __str__(self) -> str:
        return self.format()


def read_yaml(path: Path, problems: list[Problem]) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML file into (data, node tree). On a YAML error append a
    `file:line` problem and return (None, None). Duplicate mapping keys, which
    PyYAML silently accepts, are reported too."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        problems.append(Problem(path, 1, f"not UTF-8 text: {err.reason}"))
        return None, None
    except OSError as err:
        problems.append(Problem(path, 1, f"cannot read: {err.strerror}"))
        return None, None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        if err.context_mark is not None and "end of stream" in (err.problem or ""):
            mark = err.context_mark  # an unclosed quote or bracket: point at where it opened
        line = mark.line + 1 if mark is not None else 1
        what = err.problem or err.context or "malformed YAML"
        context = f" ({err.context})" if err.context and err.problem else ""
        problems.append(Problem(path, line, f"malformed YAML: {what}{context}"))
        return None, None
    except yaml.YAMLError as err:
        problems.append(Problem(path, 1, f"malformed YAML: {str(err).splitlines()[0]}"))
        return None, None
    finally:
        loader.dispose()
    if node is not None:
        _report_duplicate_keys(path, node, problems)
    return data, node


def _report_duplicate_keys(path: Path, node: yaml.Node, problems: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    problems.append(Problem(path, key.start_mark.line + 1, f"duplicate key {key.value!r}"))
                seen.add(key.value)
            _report_duplicate_keys(path, value, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _report_duplicate_keys(path, item, problems)


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def key_lines(mapping: yaml.Node) -> dict[str, int]:
    """Line of each key of a mapping node (the last one wins for a duplicate)."""
    lines: dict[str, int] = {}
    if isinstance(mapping, yaml.MappingNode):
        for key, _value in mapping.value:
            if isinstance(key, yaml.ScalarNode):
                lines[key.value] = line_of(key)
    return lines


def value_nodes(mapping: yaml.Node) -> dict[str, yaml.Node]:
    nodes: dict[str, yaml.Node] = {}
    if isinstance(mapping, yaml.MappingNode):
        for key, value in mapping.value:
            if isinstance(key, yaml.ScalarNode):
                nodes[key.value] = value
    return nodes
