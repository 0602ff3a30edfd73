"""The published schemas stay backward-compatible with the committed baseline, and the
checker really catches incompatible changes (crafted on the real schemas)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from feeder.schemas.compatibility import (
    BASELINE_FILE,
    CHANGELOG_FILE,
    PublishedSchema,
    breaking_changes,
    compatibility_problems,
    load_baseline,
    problems_publishing,
)
from feeder.schemas.generate import STATE_NAME, schema_documents, schema_names
from feeder.schemas.versions import SCHEMA_VERSIONS
from tests.ops.conftest import ROOT

ENTERED = "session.entered"
Edit = Callable[[dict[str, Any]], None]


def test_the_current_schemas_are_compatible_with_the_published_baseline() -> None:
    assert problems_publishing(ROOT / BASELINE_FILE, ROOT / CHANGELOG_FILE) == []


def test_every_document_has_a_version_and_the_baseline_knows_them_all() -> None:
    assert set(SCHEMA_VERSIONS) == set(schema_names())
    assert set(load_baseline(ROOT / BASELINE_FILE)) == set(schema_names())


def entered() -> dict[str, Any]:
    return copy.deepcopy(schema_documents()[ENTERED])


def edited(edit: Edit, name: str = ENTERED) -> dict[str, Any]:
    schema = copy.deepcopy(schema_documents()[name])
    edit(schema)
    return schema


def remove_subject(schema: dict[str, Any]) -> None:
    del schema["properties"]["subject"]
    schema["required"].remove("subject")


def rename_storeid(schema: dict[str, Any]) -> None:
    schema["properties"]["storeId"] = schema["properties"].pop("storeid")


def session_id_only_integers(schema: dict[str, Any]) -> None:
    schema["$defs"]["Session"]["properties"]["id"] = {"type": "integer"}


def status_never_null(schema: dict[str, Any]) -> None:
    schema["$defs"]["Session"]["properties"]["status"] = {"type": "string"}


def new_required_dataschema(schema: dict[str, Any]) -> None:
    schema["properties"]["dataschema"] = {"type": "string", "format": "uri"}
    schema["required"].append("dataschema")


def storeid_required(schema: dict[str, Any]) -> None:
    schema["required"].append("storeid")


def other_spec_version(schema: dict[str, Any]) -> None:
    schema["properties"]["specversion"]["const"] = "1.1"


def session_closed(schema: dict[str, Any]) -> None:
    schema["$defs"]["Session"]["additionalProperties"] = False


def source_pattern(schema: dict[str, Any]) -> None:
    schema["properties"]["source"]["pattern"] = "^urn:"


def longer_source(schema: dict[str, Any]) -> None:
    schema["properties"]["source"]["minLength"] = 5


def data_optional(schema: dict[str, Any]) -> None:
    schema["required"].remove("data")


def changed_field_removed_deep(schema: dict[str, Any]) -> None:
    del schema["$defs"]["MomentChange"]["properties"]["old"]
    schema["$defs"]["MomentChange"]["required"].remove("old")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (remove_subject, ["subject: removed"]),
        (rename_storeid, ["storeid: removed"]),
        (session_id_only_integers, ["data.session.id: type narrowed (string no longer accepted)"]),
        (status_never_null, ["data.session.status: type narrowed (null no longer accepted)"]),
        (new_required_dataschema, ["dataschema: newly required"]),
        (storeid_required, ["storeid: newly required"]),
        (other_spec_version, ["specversion: narrowed to the values ['1.1']"]),
        (session_closed, ["data.session: closed to fields it did not name"]),
        (source_pattern, ["source: pattern '^urn:' is new"]),
        (longer_source, ["source: minLength raised to 5"]),
        (changed_field_removed_deep, ["data.changed.customerLastEnteredAt.old: removed"]),
        (data_optional, ["data: no longer required"]),
    ],
)
def test_incompatible_changes_are_caught_with_the_field_named(
    edit: Edit, expected: list[str]
) -> None:
    assert breaking_changes(entered(), edited(edit)) == expected


def optional_origin(schema: dict[str, Any]) -> None:
    schema["properties"]["origin"] = {"enum": ["live", "backfill"]}


def nullable_subject(schema: dict[str, Any]) -> None:
    schema["properties"]["subject"] = {"anyOf": [schema["properties"]["subject"], {"type": "null"}]}


def reworded(schema: dict[str, Any]) -> None:
    schema["description"] = "someone entered"
    schema["properties"]["time"]["description"] = "when"


def more_spec_versions(schema: dict[str, Any]) -> None:
    schema["properties"]["specversion"] = {"enum": ["1.0", "1.1"]}


def session_gets_a_field(schema: dict[str, Any]) -> None:
    schema["$defs"]["Session"]["properties"]["visitors"] = {"type": "integer"}


@pytest.mark.parametrize(
    "edit",
    [
        optional_origin,
        nullable_subject,
        reworded,
        more_spec_versions,
        session_gets_a_field,
    ],
)
def test_compatible_changes_pass(edit: Edit) -> None:
    assert breaking_changes(entered(), edited(edit)) == []


def test_every_published_schema_is_compatible_with_itself() -> None:
    for schema in schema_documents().values():
        assert breaking_changes(schema, copy.deepcopy(schema)) == []


def published(version: int = 1) -> dict[str, PublishedSchema]:
    return {ENTERED: PublishedSchema(version, entered())}


def test_a_break_needs_a_version_bump_and_a_changelog_line() -> None:
    broken = {ENTERED: edited(remove_subject)}
    [same_version] = compatibility_problems(published(), broken, {ENTERED: 1}, "")
    assert "bump it in feeder/schemas/versions.py" in same_version
    assert "`session.entered` v2" in same_version
    assert "subject: removed" in same_version
    [unexplained] = compatibility_problems(published(), broken, {ENTERED: 2}, "- v2 of something")
    assert "needs a CHANGELOG.md line naming `session.entered` v2" in unexplained
    noted = "- `session.entered` v2: `subject` removed; read `data.sessionId`"
    assert compatibility_problems(published(), broken, {ENTERED: 2}, noted) == []
    wrong_version = "- `session.entered` v3: something else"
    assert compatibility_problems(published(), broken, {ENTERED: 2}, wrong_version)


def test_versions_never_go_back_and_published_documents_never_vanish() -> None:
    [older] = compatibility_problems(published(2), {ENTERED: entered()}, {ENTERED: 1}, "")
    assert "older than the published v2" in older
    [gone] = compatibility_problems(published(), {}, {}, "")
    assert "gone now" in gone
    [bumped_silently] = compatibility_problems(published(), {ENTERED: entered()}, {ENTERED: 2}, "")
    assert "CHANGELOG.md line" in bumped_silently


def test_feeder_schemas_check_fails_on_an_incompatible_baseline(tmp_path: Path) -> None:
    """The command line, against a baseline in which the state record still had a field the
    code has dropped: the check fails and names it, and the baseline is not overwritten."""
    baseline = load_baseline(ROOT / BASELINE_FILE)
    state = baseline[STATE_NAME].schema
    state["properties"]["loyaltyTier"] = {"type": "string"}
    documents = {
        name: {"version": entry.version, "schema": entry.schema} for name, entry in baseline.items()
    }
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(documents), encoding="utf-8")
    before = path.read_text(encoding="utf-8")

    def feeder_schemas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [sys.executable, "-m", "feeder", "schemas", "--baseline", str(path), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )

    checked = feeder_schemas("--check")
    assert checked.returncode == 1
    assert "incompatible: session-state: backward-incompatible since v1" in checked.stderr
    assert "loyaltyTier: removed" in checked.stderr
    refused = feeder_schemas("--update-baseline")
    assert refused.returncode == 1
    assert path.read_text(encoding="utf-8") == before
