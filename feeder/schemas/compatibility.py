"""Backward compatibility of the published schemas against a committed baseline.

The topics keep history, so a consumer updated to the current schemas must still read every
record the baseline allowed (Confluent's BACKWARD rule), and no field it reads may go away.
Incompatible, then:

- a field is **removed** (a rename is a removal plus an addition), or is **no longer required**
  (it may be missing now): a consumer reading it fails;
- a type is **narrowed** (fewer types, fewer constants, a new or different ``pattern`` or
  ``format``, a tighter bound, an object closed to extra fields): records in the topic that the
  baseline allowed no longer validate;
- a field becomes **required** (new, or optional before): older records lack it.

Adding an optional field and widening a type (a new type or value) are compatible. A break is
allowed only when the document's version (:mod:`feeder.schemas.versions`) is above the
baseline's and ``CHANGELOG.md`` has a line naming the document and its new version
(`` `session.entered` v2``). The comparison is structural, over the JSON Schemas pydantic writes
(``$defs``/``$ref``, ``anyOf``, ``type``, ``const``/``enum``, ``properties``/``required``/
``additionalProperties``, ``items``, string and number bounds); constraints on a field the
baseline did not name at all (it was open) are not judged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feeder.schemas.generate import schema_documents
from feeder.schemas.versions import SCHEMA_VERSIONS

BASELINE_FILE = Path("compatibility") / "baseline.json"
CHANGELOG_FILE = Path("CHANGELOG.md")
_DEFS_REF = "#/$defs/"
_ANY = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf")


@dataclass(frozen=True, slots=True)
class PublishedSchema:
    """A document as last published: its version and its JSON Schema."""

    version: int
    schema: dict[str, Any]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class _Document:
    """One JSON Schema document, for resolving its local references."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` with its ``$ref`` replaced by the definition (sibling keys kept)."""
        seen: set[str] = set()
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith(_DEFS_REF) or ref in seen:
                raise ValueError(f"cannot resolve {ref!r}: only acyclic #/$defs/ references")
            seen.add(ref)
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**self.root["$defs"][ref.removeprefix(_DEFS_REF)], **siblings}
        return schema

    def alternatives(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The branches a value may match: ``anyOf``/``oneOf`` flattened, a list of types
        split into one branch per type."""
        schema = self.resolve(schema)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return [alt for branch in schema[keyword] for alt in self.alternatives(branch)]
        types = schema.get("type")
        if isinstance(types, list):
            return [{**schema, "type": one} for one in types]
        return [schema]


def _types(schema: dict[str, Any]) -> frozenset[str]:
    """The JSON types a branch accepts."""
    if "const" in schema:
        return frozenset({_json_type(schema["const"])})
    if "enum" in schema:
        return frozenset(_json_type(value) for value in schema["enum"])
    if "type" in schema:
        return frozenset({schema["type"]}) | (
            {"integer"} if schema["type"] == "number" else frozenset()
        )
    return _ANY


def _values(schema: dict[str, Any]) -> list[object] | None:
    if "const" in schema:
        return [schema["const"]]
    return list(schema["enum"]) if "enum" in schema else None


def _is_open(schema: dict[str, Any]) -> bool:
    return schema.get("additionalProperties", True) is not False


class _Comparison:
    """What a consumer of ``old`` can no longer rely on in ``new``."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = _Document(old)
        self.new = _Document(new)

    def schemas(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
        breaks: list[str] = []
        new_branches = self.new.alternatives(new)
        for old_branch in self.old.alternatives(old):
            candidates = [
                self._branch(old_branch, new_branch, path)
                for new_branch in new_branches
                if _types(old_branch) & _types(new_branch)
            ]
            if not candidates:
                lost = ", ".join(sorted(_types(old_branch)))
                breaks.append(f"{path}: type narrowed ({lost} no longer accepted)")
            elif all(candidates):  # no branch stands for it: report the closest one
                fewest: list[str] = min(candidates, key=len)
                breaks.extend(fewest)
        return breaks

    def _branch(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
        """Breaks if ``new`` stands for ``old`` (their types overlap)."""
        breaks: list[str] = []
        old_types, new_types = _types(old), _types(new)
        if not old_types <= new_types:
            lost = ", ".join(sorted(old_types - new_types))
            breaks.append(f"{path}: type narrowed ({lost} no longer accepted)")
        new_values, old_values = _values(new), _values(old)
        if new_values is not None and (
            old_values is None or any(value not in new_values for value in old_values)
        ):
            breaks.append(f"{path}: narrowed to the values {new_values}")
        breaks.extend(
            f"{path}: {keyword} {new[keyword]!r} is new"
            for keyword in _EXACT
            if keyword in new and new[keyword] != old.get(keyword)
        )
        breaks.extend(
            f"{path}: {keyword} raised to {new[keyword]}"
            for keyword in _LOWER_BOUNDS
            if keyword in new and (keyword not in old or new[keyword] > old[keyword])
        )
        breaks.extend(
            f"{path}: {keyword} lowered to {new[keyword]}"
            for keyword in _UPPER_BOUNDS
            if keyword in new and (keyword not in old or new[keyword] < old[keyword])
        )
        if "object" in old_types & new_types:
            breaks.extend(self._object(old, new, path))
        if "array" in old_types & new_types and "items" in new:
            breaks.extend(self.schemas(old.get("items", {}), new["items"], f"{path}[]"))
        return breaks

    def _object(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
        breaks: list[str] = []
        prefix = "" if path == "(root)" else f"{path}."
        old_properties = old.get("properties", {})
        new_properties = new.get("properties", {})
        for name, old_property in old_properties.items():
            if name not in new_properties:
                breaks.append(f"{prefix}{name}: removed")
            else:
                breaks.extend(self.schemas(old_property, new_properties[name], f"{prefix}{name}"))
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        breaks.extend(
            f"{prefix}{name}: newly required"
            for name in new.get("required", [])
            if name not in old_required
        )
        breaks.extend(
            f"{prefix}{name}: no longer required"
            for name in old.get("required", [])
            if name not in new_required and name in new_properties
        )
        if _is_open(old) and not _is_open(new):
            breaks.append(f"{path}: closed to fields it did not name")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            breaks.extend(self.schemas(old_extra, new_extra, f"{prefix}*"))
        return breaks


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every backward-incompatible difference from ``old`` to ``new`` (JSON Schema documents),
    one line each with the path of the field."""
    return _Comparison(old, new).schemas(old, new, "(root)")


def _noted(changelog: str, name: str, version: int) -> bool:
    return re.search(rf"`{re.escape(name)}`\s+v{version}\b", changelog) is not None


def compatibility_problems(
    baseline: Mapping[str, PublishedSchema],
    current: Mapping[str, dict[str, Any]],
    versions: Mapping[str, int],
    changelog: str,
) -> list[str]:
    """What stops the current schemas from being published over ``baseline``; empty when
    nothing does. ``versions`` are the current versions, ``changelog`` the CHANGELOG text."""
    problems: list[str] = []
    for name, published in baseline.items():
        if name not in current:
            problems.append(
                f"{name}: published as v{published.version} and gone now; consumers may rely on "
                "it (to retire it, say so in CHANGELOG.md and drop it from the baseline)"
            )
            continue
        version = versions[name]
        breaks = breaking_changes(published.schema, current[name])
        listed = "".join(f"\n    {line}" for line in breaks)
        if version < published.version:
            problems.append(f"{name}: v{version} is older than the published v{published.version}")
        elif version == published.version and breaks:
            problems.append(
                f"{name}: backward-incompatible since v{version}; bump it in "
                f"feeder/schemas/versions.py and add a CHANGELOG.md line naming `{name}` "
                f"v{version + 1}:{listed}"
            )
        elif version > published.version and not _noted(changelog, name, version):
            problems.append(
                f"{name}: v{version} needs a CHANGELOG.md line naming `{name}` v{version}{listed}"
            )
    return problems


def load_baseline(path: Path) -> dict[str, PublishedSchema]:
    """The baseline file: ``{"<name>": {"version": N, "schema": {...}}, ...}``."""
    documents = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: PublishedSchema(int(entry["version"]), entry["schema"])
        for name, entry in documents.items()
    }


def baseline_text(schemas: Mapping[str, dict[str, Any]], versions: Mapping[str, int]) -> str:
    """The baseline file for publishing ``schemas`` at ``versions``."""
    documents = {
        name: {"version": versions[name], "schema": schema} for name, schema in schemas.items()
    }
    return json.dumps(documents, indent=2, ensure_ascii=False) + "\n"


def problems_publishing(baseline: Path, changelog: Path) -> list[str]:
    """``compatibility_problems`` of the code's schemas and versions over the baseline file."""
    if not baseline.is_file():
        return [f"no baseline at {baseline}: run `feeder schemas --update-baseline`"]
    notes = changelog.read_text(encoding="utf-8") if changelog.is_file() else ""
    return compatibility_problems(
        load_baseline(baseline), schema_documents(), SCHEMA_VERSIONS, notes
    )


def write_baseline(baseline: Path) -> None:
    """Record the code's schemas and versions as the published ones."""
    baseline.parent.mkdir(parents=True, exist_ok=True)
    baseline.write_text(baseline_text(schema_documents(), SCHEMA_VERSIONS), encoding="utf-8")
