"""The sessions API group: where it is, the credential, and how hard we may call it."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from feeder.settings.base import SettingsGroup


class ApiSettings(SettingsGroup):
    """The Oasis Admin API and how hard we may call it."""

    base_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8080"),
        description="Oasis API root; /api/admin/v2/sessions is appended",
    )
    token: SecretStr | None = Field(None, description="static bearer token")
    token_file: Path | None = Field(
        None, description="file holding the bearer token; re-read when it changes"
    )
    oauth_token_url: AnyHttpUrl | None = Field(
        None, description="OAuth2 token endpoint for the client-credentials grant (OASIS 6.3+)"
    )
    oauth_client_id: str | None = Field(None, description="OAuth2 client id")
    oauth_client_secret: SecretStr | None = Field(None, description="OAuth2 client secret")
    oauth_scope: str | None = Field(None, description="OAuth2 scope, if the provider wants one")
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP/TLS connect deadline")
    request_timeout_s: float = Field(
        30.0, gt=0, description="deadline for each read, write and pool wait of one request"
    )
    max_attempts: int = Field(
        8, ge=1, description="attempts per request before the sweep backs off as a whole"
    )
    backoff_initial_s: float = Field(0.2, gt=0, description="first retry delay (then doubled)")
    backoff_max_s: float = Field(30.0, gt=0, description="cap on one retry delay")
    retry_after_max_s: float = Field(60.0, gt=0, description="cap on an honoured Retry-After")
    requests_per_s: float = Field(
        10.0,
        gt=0,
        description="client-side rate limit shared by every pass, live first (the API "
        "throttles at about 20/s)",
    )
    page_size: int = Field(200, ge=1, le=200, description="records per page (API maximum 200)")

    @model_validator(mode="after")
    def _one_credential(self) -> ApiSettings:
        sources = [
            self.token is not None,
            self.token_file is not None,
            self.oauth_token_url is not None,
        ]
        if sum(sources) != 1:
            raise ValueError(
                "set exactly one of FEEDER_API__TOKEN, FEEDER_API__TOKEN_FILE or "
                "FEEDER_API__OAUTH_TOKEN_URL (with _CLIENT_ID and _CLIENT_SECRET)"
            )
        if self.oauth_token_url is not None and (
            self.oauth_client_id is None or self.oauth_client_secret is None
        ):
            raise ValueError(
                "FEEDER_API__OAUTH_TOKEN_URL needs FEEDER_API__OAUTH_CLIENT_ID and "
                "FEEDER_API__OAUTH_CLIENT_SECRET"
            )
        return self
