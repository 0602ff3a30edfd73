"""schemas/asyncapi.yaml: generated from the models, valid by the AsyncAPI tooling, and true to
what the encoder writes."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft7Validator

from feeder.core.diff import EventType
from feeder.core.records import TopicNames, event_records, state_record, tombstone_record
from feeder.core.snapshot import parse_session
from feeder.kafka.topics import wanted_topics
from feeder.schemas.asyncapi import ASYNCAPI_FILE, TOMBSTONE_NAME, stale_asyncapi
from feeder.schemas.generate import (
    EXAMPLE_ENCODING,
    HEARTBEAT_NAME,
    STATE_NAME,
    WATERMARK_NAME,
    example_events,
)
from feeder.schemas.versions import SCHEMA_VERSIONS
from feeder.settings import KafkaSettings
from tests.ops.conftest import ROOT
from tests.ops.test_schemas import SCHEMAS, load

VALIDATOR_DIR = ROOT / "tools" / "asyncapi"
DOCUMENT = SCHEMAS / ASYNCAPI_FILE
SETTINGS = KafkaSettings()
TOPICS = TopicNames(
    SETTINGS.topics.events,
    SETTINGS.topics.fraud,
    SETTINGS.topics.state,
    SETTINGS.topics.dead_letter,
)


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js with the validator's packages; fails (never skips) when they are missing."""
    found = shutil.which("node")
    if found is None or not (VALIDATOR_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(
            "the AsyncAPI validator is not installed: `./dev test` installs it (Node.js 20+, "
            "`npm ci --prefix tools/asyncapi`)"
        )
    return found


def validate(node: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [node, str(VALIDATOR_DIR / "validate.mjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_matches_the_generator() -> None:
    assert stale_asyncapi(SCHEMAS) == [], "run `feeder schemas` and commit the result"


def test_the_generator_notices_a_changed_document(tmp_path: Path) -> None:
    edited = DOCUMENT.read_text(encoding="utf-8").replace("session.entered", "session.entred", 1)
    (tmp_path / ASYNCAPI_FILE).write_text(edited, encoding="utf-8")
    assert stale_asyncapi(tmp_path) == [ASYNCAPI_FILE]
    assert stale_asyncapi(tmp_path / "missing") == [ASYNCAPI_FILE]


def test_the_asyncapi_parser_accepts_the_document(node: str) -> None:
    result = validate(node, DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0: 5 channels, 11 messages, 11 examples checked" in result.stdout


def _broken(document: dict[str, Any], tmp_path: Path, name: str, edit: Any) -> Path:
    changed = copy.deepcopy(document)
    edit(changed)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(changed, sort_keys=False), encoding="utf-8")
    return path


def test_the_validator_rejects_broken_documents(
    node: str, document: dict[str, Any], tmp_path: Path
) -> None:
    """The validator can fail: a dangling reference, a bad binding, examples off their schema."""
    messages = "components", "messages"

    def dangling(doc: dict[str, Any]) -> None:
        doc["channels"]["events"]["messages"]["session.created"]["$ref"] += "-gone"

    def no_partitions(doc: dict[str, Any]) -> None:
        doc["channels"]["state"]["bindings"]["kafka"]["partitions"] = 0

    def wrong_type(doc: dict[str, Any]) -> None:
        doc[messages[0]][messages[1]]["session.entered"]["examples"][0]["payload"]["type"] = "x"

    def bad_header(doc: dict[str, Any]) -> None:
        example = doc[messages[0]][messages[1]]["session.exited"]["examples"][0]
        example["headers"]["content-type"] = "application/json"  # binary mode's, not structured

    def live_tombstone(doc: dict[str, Any]) -> None:
        doc[messages[0]][messages[1]][TOMBSTONE_NAME]["examples"][0]["payload"] = {"id": 1}

    # Two documents (one node run): the parser's findings, then the examples' (which are
    # checked only in a document the parser accepts).
    broken = {
        "structure": (
            (dangling, no_partitions),
            ["does not exist", '"partitions" property must be >= 1'],
        ),
        "examples": (
            (wrong_type, bad_header, live_tombstone),
            [
                "session.entered example 0 payload/type: must be equal to constant",
                "session.exited example 0 headers/content-type: must be equal to constant",
                f"{TOMBSTONE_NAME} example 0 payload: must be null",
            ],
        ),
    }
    paths = {
        name: _broken(document, tmp_path, name, lambda doc, edits=edits: [e(doc) for e in edits])
        for name, (edits, _) in broken.items()
    }
    result = validate(node, *paths.values())
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    for name, (_, expected) in broken.items():
        found = [line for line in lines if line.startswith(f"{paths[name]}: Error")]
        for message in expected:
            assert any(message in line for line in found), (message, found)
        assert f"{paths[name]}: valid" not in result.stdout


def test_every_topic_and_message_is_where_the_encoder_sends_it(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert {name: channel["address"] for name, channel in channels.items()} == {
        "events": TOPICS.events,
        "fraud": TOPICS.fraud,
        "state": TOPICS.state,
        "dead_letter": TOPICS.dead_letter,
        "heartbeat": SETTINGS.topics.heartbeat,
    }
    assert set(channels["events"]["messages"]) == {
        *(event_type.value for event_type in EventType),
        WATERMARK_NAME,
    }
    assert set(channels["heartbeat"]["messages"]) == {HEARTBEAT_NAME}
    assert set(channels["fraud"]["messages"]) == {EventType.SUSPECTED_FRAUD_CHANGED.value}
    assert set(channels["state"]["messages"]) == {STATE_NAME, TOMBSTONE_NAME}
    for operation in document["operations"].values():
        assert operation["action"] == "send"
    for topic in wanted_topics(SETTINGS):
        [binding] = [
            channel["bindings"]["kafka"]
            for channel in channels.values()
            if channel["address"] == topic.name
        ]
        assert binding["partitions"] == SETTINGS.partitions
        assert binding["replicas"] == SETTINGS.replication_factor
        configured = {
            key: str(value) for key, value in binding.get("topicConfiguration", {}).items()
        }
        if "cleanup.policy" in configured:
            configured["cleanup.policy"] = ",".join(binding["topicConfiguration"]["cleanup.policy"])
        assert configured == (topic.topic_configs or {})


def test_payloads_are_the_json_schemas(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    for name in [*(t.value for t in EventType), STATE_NAME]:
        published = load(SCHEMAS / f"{name}.schema.json")
        as_text = (
            orjson.dumps(components[name]).decode().replace("#/components/schemas/", "#/$defs/")
        )
        assert orjson.loads(as_text) == {
            key: value for key, value in published.items() if key not in {"$schema", "$id", "$defs"}
        }
        for definition, schema in published.get("$defs", {}).items():
            assert components[definition] == orjson.loads(
                orjson.dumps(schema).decode().replace("#/$defs/", "#/components/schemas/")
            )
        assert document["components"]["messages"][name]["x-schema-version"] == SCHEMA_VERSIONS[name]


def _valid(document: dict[str, Any], pointer: str, value: object) -> list[str]:
    """Problems of ``value`` against the schema at ``pointer`` (references resolve in the
    document)."""
    schema = {"$ref": pointer, "components": document["components"]}
    return [error.message for error in Draft7Validator(schema).iter_errors(value)]


def test_records_the_encoder_writes_match_their_messages(document: dict[str, Any]) -> None:
    """Key, headers and value of real records, not just the examples."""
    for event_type, event in example_events().items():
        message = f"#/components/messages/{event_type.value}"
        for record in event_records(event, EXAMPLE_ENCODING, TOPICS):
            headers = {name: raw.decode() for name, raw in record.headers}
            assert _valid(document, f"{message}/headers", headers) == []
            assert record.value is not None
            assert _valid(document, f"{message}/payload", orjson.loads(record.value)) == []
            assert record.key is not None
            assert _valid(document, f"{message}/bindings/kafka/key", record.key.decode()) == []
        assert _valid(document, f"{message}/headers", {"ce_type": "session.other"})
    session = parse_session({"id": 4711, "updatedAt": "2026-11-01T12:00:00.000Z"})
    state = state_record(session, TOPICS, orjson.dumps(session.raw))
    assert state.value is not None
    assert (
        _valid(document, f"#/components/messages/{STATE_NAME}/payload", orjson.loads(state.value))
        == []
    )
    tombstone = tombstone_record(session.session_id, TOPICS)
    assert (
        _valid(document, f"#/components/messages/{TOMBSTONE_NAME}/payload", tombstone.value) == []
    )
    assert _valid(document, f"#/components/messages/{TOMBSTONE_NAME}/payload", {"id": "4711"})
