"""The field policy: what it drops and pseudonymises, what it refuses, and what it leaves alone."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeder.core.field_policy import (
    KEEP_EVERYTHING,
    REQUIRED_FIELDS,
    FieldAction,
    FieldPolicy,
    FieldPolicyError,
)

KEY = b"a-key-of-at-least-32-characters!"
GDPR = FieldPolicy.of(
    drop=["customer.firstName", "customer.lastName", "metadata.*"],
    pseudonymise=["customer.email", "customer.phone"],
    key=KEY,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
customers = st.fixed_dictionaries(
    {"email": st.emails(), "phone": st.text(min_size=1)},
    optional={"firstName": st.text(), "lastName": st.text(), "id": st.text(), "x": json_values},
)
records = st.fixed_dictionaries(
    {"id": st.text(min_size=1), "updatedAt": st.text()},
    optional={
        "customer": customers | json_values,
        "metadata": json_values,
        "other": json_values,
        "suspectedFraud": st.booleans(),
    },
)


@given(record=records)
def test_the_gdpr_example_drops_and_pseudonymises_exactly_its_fields(
    record: dict[str, Any],
) -> None:
    before = copy.deepcopy(record)
    result = GDPR.apply(record)
    assert record == before, "the policy must not edit the record it is given"
    expected = copy.deepcopy(record)
    customer = expected.get("customer")
    if isinstance(customer, dict):
        customer.pop("firstName", None)
        customer.pop("lastName", None)
        for name in ("email", "phone"):
            if name in customer:
                customer[name] = GDPR.pseudonym(customer[name])
    metadata = expected.get("metadata")
    if isinstance(metadata, dict | list):
        expected["metadata"] = type(metadata)()  # metadata.*: every member or element
    assert result == expected


def test_a_pseudonym_is_the_documented_hmac_and_depends_on_the_key() -> None:
    email = "jane.doe.42@example.com"
    assert GDPR.pseudonym(email) == hmac.new(KEY, email.encode(), hashlib.sha256).hexdigest()
    rebuilt = FieldPolicy.of(pseudonymise=["customer.email"], key=KEY)
    assert rebuilt.pseudonym(email) == GDPR.pseudonym(email)  # a restart gives the same
    other = FieldPolicy.of(pseudonymise=["customer.email"], key=b"another-key-of-32-characters-!!")
    assert other.pseudonym(email) != GDPR.pseudonym(email)
    assert GDPR.pseudonym(None) is None
    assert GDPR.pseudonym(15550001) == GDPR.pseudonym("15550001")  # other values: their JSON
    assert GDPR.pseudonym({"b": 1, "a": 2}) == GDPR.pseudonym({"a": 2, "b": 1})


def test_a_wildcard_reaches_every_member_and_every_element() -> None:
    policy = FieldPolicy.of(
        drop=["visits.*.card"], pseudonymise=["tags.*", "visits.*.who"], key=KEY
    )
    record = {
        "id": "1",
        "tags": ["a", None],
        "visits": [{"card": "4111", "who": "jane", "at": 3}, {"at": 4}, "odd"],
    }
    assert policy.apply(record) == {
        "id": "1",
        "tags": [policy.pseudonym("a"), None],
        "visits": [{"who": policy.pseudonym("jane"), "at": 3}, {"at": 4}, "odd"],
    }


def test_the_empty_policy_hands_the_record_back_untouched() -> None:
    record = {"id": "1", "customer": {"email": "jane@example.com"}}
    assert KEEP_EVERYTHING.keeps_everything
    assert KEEP_EVERYTHING.apply(record) is record
    assert KEEP_EVERYTHING.apply_to_raw(["anything"]) == ["anything"]


def test_a_record_that_is_not_an_object_is_withheld_by_a_policy() -> None:
    assert GDPR.apply_to_raw(["jane@example.com"]) is None
    assert GDPR.apply_to_raw({"customer": {"email": "x"}}) == {
        "customer": {"email": GDPR.pseudonym("x")}
    }


@pytest.mark.parametrize("action", list(FieldAction))
@pytest.mark.parametrize("path", [*REQUIRED_FIELDS, "*", "updatedAt.x"])
def test_a_policy_naming_a_field_the_feed_needs_is_refused(path: str, action: FieldAction) -> None:
    with pytest.raises(FieldPolicyError, match="the feed needs") as raised:
        FieldPolicy.of(**{action.value: [path]}, key=KEY)  # type: ignore[arg-type]
    assert raised.value.action is action
    assert "suspectedFraud" in str(raised.value)  # the message lists what must stay


@pytest.mark.parametrize(
    ("drop", "pseudonymise", "message"),
    [
        (["customer"], ["customer.email"], "overlap"),
        (["metadata.*"], ["metadata.events"], "overlap"),
        (["customer.email", "customer.email"], [], "overlap"),
        (["customer..email"], [], "not a field path"),
        ([""], [], "not a field path"),
        ([" customer"], [], "not a field path"),
    ],
)
def test_malformed_and_overlapping_paths_are_refused(
    drop: list[str], pseudonymise: list[str], message: str
) -> None:
    with pytest.raises(FieldPolicyError, match=message):
        FieldPolicy.of(drop=drop, pseudonymise=pseudonymise, key=KEY)


def test_pseudonymising_needs_a_key_and_the_key_is_never_shown() -> None:
    with pytest.raises(FieldPolicyError, match="needs a key"):
        FieldPolicy.of(pseudonymise=["customer.email"])
    assert KEY.decode() not in repr(GDPR)
