"""Settings are validated at start-up and name what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from feeder.settings import SweepSettings, load_settings


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


def test_retention_must_outlast_the_trailing_sweep() -> None:
    with pytest.raises(ValidationError, match="FEEDER_SWEEP__SESSION_RETENTION_S"):
        SweepSettings(session_retention_s=100, lookback_s=300)
    assert SweepSettings(session_retention_s=330, lookback_s=300).session_retention_s == 330
