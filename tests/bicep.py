"""Evaluate the expressions of a Bicep template, as pycep-parser parses them, for given parameter values.

The Bicep compiler and Azure cannot run here, so the tests compute what the template itself computes (resource
names, retention days) with this small interpreter of the functions the templates use, and check the results.
It raises on any function or operator it does not know, so a template change cannot pass silently.

pycep gives identifiers and string literals alike as Python strings: a string naming a lambda variable, a
variable or a parameter is that name; any other string is a literal, with `${name}` interpolations expanded.
`uniqueString` is replaced by a hash of the same documented shape (13 lowercase letters and digits).
Templates write `empty(x) ? b : a`, not `!empty(x) ? a : b`: pycep parses the latter as `!(empty(x) ? a : b)`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pycep import BicepParser

RESOURCE_GROUP_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-dicomweb"
_INTERPOLATION = re.compile(r"\$\{(\w+)\}")


def unique_string(*values: str) -> str:
    digest = hashlib.sha256("|".join(values).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:13]


def _functions() -> dict[str, Callable[..., Any]]:
    return {
        "to_lower": str.lower,
        "join": lambda items, delimiter: delimiter.join(items),
        "filter": lambda items, keep: [item for item in items if keep(item)],
        "map": lambda items, change: [change(item) for item in items],
        "range": lambda start, count: list(range(start, start + count)),
        "length": len,
        "substring": lambda text, start, length: text[start : start + length],
        "contains": lambda container, item: item in container,
        "take": lambda value, count: value[:count],
        "empty": lambda value: len(value) == 0,
        "unique_string": unique_string,
        "resource_group": lambda *_: {"id": RESOURCE_GROUP_ID},
        "string": str,
        "union": _union,
    }


def _union(first: Any, *others: Any) -> Any:
    """Bicep's union: objects merged (later wins), arrays concatenated without repeats, in order."""
    if isinstance(first, dict):
        return {key: value for item in (first, *others) for key, value in item.items()}
    return list(dict.fromkeys(value for item in (first, *others) for value in item))


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "divide": lambda a, b: a // b,
    "substract": lambda a, b: a - b,  # sic: pycep's spelling
    "add": lambda a, b: a + b,
    "or": lambda a, b: a or b,
    "and": lambda a, b: a and b,
}


class Template:
    """One parsed .bicep file and the parameter values to evaluate it with (defaults for the others)."""

    def __init__(self, path: Path, **parameters: Any) -> None:
        self.parsed = BicepParser().parse(file_path=path)
        self.parameters = {
            name: parameters.get(name, declared["default"]) for name, declared in self.parsed["parameters"].items()
        }

    def __getitem__(self, key: str) -> Any:
        return self.parsed[key]

    def value(self, node: Any, scope: dict[str, Any] | None = None) -> Any:
        scope = scope or {}
        if node is None or isinstance(node, bool | int):
            return node
        if isinstance(node, str):
            return self._name(node, scope)
        if isinstance(node, list):
            return [self.value(item, scope) for item in node]
        if "function" in node:
            function = node["function"]
            arguments = [self.value(argument, scope) for argument in function["parameters"].values()]
            return _functions()[function["type"]](*arguments)
        if node.get("type") == "lambda_expression":
            detail = node["detail"]
            return lambda item: self.value(detail["expression"], {**scope, detail["var_1"]: item})
        if "operator" in node:
            return self._operator(node["operator"], scope)
        if not node.keys() & {"function", "operator", "type", "detail"}:  # an object literal
            return {key: self.value(item, scope) for key, item in node.items()}
        raise NotImplementedError(f"no evaluation for {node}")

    def _name(self, text: str, scope: dict[str, Any]) -> Any:
        if text in scope:
            return scope[text]
        if text in self.parsed["variables"]:
            return self.value(self.parsed["variables"][text]["value"], scope)
        if text in self.parameters:
            return self.parameters[text]
        return _INTERPOLATION.sub(lambda match: str(self._name(match.group(1), scope)), text)

    def _operator(self, operator: dict, scope: dict[str, Any]) -> Any:
        operands = operator["operands"]
        kind = operator["type"]
        if kind == "conditional":
            chosen = "true_value" if self.value(operands["condition"], scope) else "false_value"
            return self.value(operands[chosen], scope)
        if kind == "not":
            return not self.value(operands["bool_value"], scope)
        if kind == "property_accessor":
            target, key = self.value(operands["operand_1"], scope), operands["operand_2"]
            while isinstance(key, dict):  # `a.b.c` parses as a.(b.c)
                inner = key["operator"]["operands"]
                target, key = target[inner["operand_1"]], inner["operand_2"]
            return target[key]
        if kind in _OPERATORS:
            return _OPERATORS[kind](self.value(operands["operand_1"], scope), self.value(operands["operand_2"], scope))
        raise NotImplementedError(f"no evaluation for operator {kind}")
