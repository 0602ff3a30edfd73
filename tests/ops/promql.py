"""Metric names in PromQL expressions (Grafana's $variables allowed), for the tests."""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_NAMES = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def metric_names(expression: str) -> set[str]:
    """The metric names an expression selects (not functions, labels, keywords or numbers)."""
    text = _STRINGS.sub('""', expression)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _VARIABLES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    names = {match.group(1) for match in _NAMES.finditer(text)}
    return {name for name in names if name.lower() not in _KEYWORDS}


def exposed_names(families: dict[str, str]) -> set[str]:
    """Sample names a scrape declares: family names plus the suffixes of their type.

    ``families`` maps each family name (as prometheus_client's parser reports it, without
    ``_total``) to its type.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "info": ("_info",),
    }
    names = set()
    for family, kind in families.items():
        names.add(family)
        names.update(family + suffix for suffix in suffixes.get(kind, ()))
    return names
