"""Settings are validated at start-up and name what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from feeder.settings import EventSettings, SweepSettings, load_settings


def test_the_environment_overrides_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text('[api]\ntoken = "from-file"\n[kafka]\npartitions = 3\n')
    monkeypatch.setenv("FEEDER_KAFKA__PARTITIONS", "4")
    settings = load_settings(config)
    assert settings.kafka.partitions == 4
    assert settings.api.token is not None
    assert settings.api.token.get_secret_value() == "from-file"
    assert "from-file" not in repr(settings)


def test_exactly_one_credential_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDER_API__TOKEN", raising=False)
    with pytest.raises(ValidationError, match="set exactly one of FEEDER_API__TOKEN"):
        load_settings()


def test_retention_must_outlast_the_lookback_pass() -> None:
    with pytest.raises(ValidationError, match="FEEDER_SWEEP__SESSION_RETENTION_S"):
        SweepSettings(session_retention_s=100, lookback_s=300)
    assert SweepSettings(session_retention_s=330, lookback_s=300).session_retention_s == 330


def test_re_read_delays_are_increasing_and_shorter_than_the_lookback() -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        SweepSettings(reread_delays_s=(4, 1))
    with pytest.raises(ValidationError, match="shorter than FEEDER_SWEEP__LOOKBACK_S"):
        SweepSettings(reread_delays_s=(1, 40), lookback_s=30)
    assert SweepSettings(lookback_s=30).all_reread_delays_s == (
        1,
        4,
        8,
        12,
        16,
        20,
        24,
        28,
        30,
    )  # the defaults beyond a shorter lookback are dropped
    assert SweepSettings(lookback_s=0).all_reread_delays_s == ()


def test_removed_sweep_settings_say_what_replaced_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDER_API__TOKEN", "t")
    monkeypatch.setenv("FEEDER_SWEEP__SETTLE_DELAY_S", "2")
    with pytest.raises(ValidationError, match="SETTLE_DELAY_S was removed: the live pass now"):
        load_settings()


def test_re_read_delays_come_from_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDER_API__TOKEN", "t")
    monkeypatch.setenv("FEEDER_SWEEP__REREAD_DELAYS_S", "[2, 5.5]")
    assert load_settings().sweep.all_reread_delays_s == (2.0, 5.5, 300.0)


KEY = "k" * 32


@pytest.mark.parametrize("setting", ["drop_fields", "pseudonymise_fields"])
@pytest.mark.parametrize("field", ["updatedAt", "suspectedFraud", "storeId", "id", "*"])
def test_a_field_policy_naming_a_field_the_feed_needs_is_refused(setting: str, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        EventSettings.model_validate({setting: [field], "pseudonym_key": KEY})
    message = str(raised.value)
    assert f"FEEDER_EVENTS__{setting.upper()}" in message
    assert f"{field!r}" in message
    assert "codeLastSuccesfullyScannedAt" in message  # the message lists every field that stays


def test_pseudonymising_needs_a_long_enough_key_that_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="needs FEEDER_EVENTS__PSEUDONYM_KEY"):
        EventSettings(pseudonymise_fields=("customer.email",))
    with pytest.raises(ValidationError, match="at least 32 characters"):
        EventSettings(pseudonymise_fields=("customer.email",), pseudonym_key="short")
    monkeypatch.setenv("FEEDER_API__TOKEN", "x")
    monkeypatch.setenv("FEEDER_EVENTS__PSEUDONYMISE_FIELDS", '["customer.email"]')
    monkeypatch.setenv("FEEDER_EVENTS__DROP_FIELDS", '["customer.firstName", "metadata.*"]')
    monkeypatch.setenv("FEEDER_EVENTS__PSEUDONYM_KEY", KEY)
    settings = load_settings()
    policy = settings.events.field_policy()
    assert policy.apply(
        {"customer": {"email": "a@b.c", "firstName": "A"}, "metadata": {"x": 1}}
    ) == {
        "customer": {"email": policy.pseudonym("a@b.c")},
        "metadata": {},
    }
    assert KEY not in repr(settings)
    assert KEY not in repr(policy)


def test_the_content_mode_and_key_strategy_are_checked() -> None:
    assert EventSettings().content_mode == "structured"
    assert EventSettings().key_strategy == "session"
    assert EventSettings().field_policy().keeps_everything  # the default drops nothing
    with pytest.raises(ValidationError, match="content_mode"):
        EventSettings.model_validate({"content_mode": "mixed"})
    with pytest.raises(ValidationError, match="key_strategy"):
        EventSettings.model_validate({"key_strategy": "customer"})
