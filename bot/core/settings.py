"""Secrets and endpoints of the running service, from environment variables or files mounted in the pod.

Kept out of crashloop.yaml on purpose: the config file is reviewed and committed, these are not. Each value is
read from its environment variable, or from a file of the same name in `CRASHLOOP_SECRETS_DIR` (default
`/var/run/secrets/crashloop`, where a Kubernetes Secret volume puts them). Tokens are `SecretStr` so they never
show up in a repr, a log line or an error message.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRETS_DIR = "/var/run/secrets/crashloop"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///crashloop.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    """Runtime secrets and endpoints (all optional here; `serve` says which it needs)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    slack_bot_token: SecretStr | None = Field(None, description="xoxb- token the bot posts with")
    slack_signing_secret: SecretStr | None = Field(None, description="verifies requests from Slack")
    slack_app_token: SecretStr | None = Field(None, description="xapp- token, Socket Mode only")
    crashloop_webhook_token: SecretStr | None = Field(None, description="bearer token alert webhooks must send")
    crashloop_database_url: SecretStr = Field(SecretStr(DEFAULT_DATABASE_URL), description="SQLAlchemy async URL")
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, description="Slack Web API base URL (GovSlack, proxy, stand-in)")
    crashloop_audit_key: SecretStr | None = Field(
        None, description="keys the audit log's HMAC chain and checkpoints; never stored in the database"
    )
    crashloop_audit_retired_keys: SecretStr | None = Field(
        None, description="earlier audit keys (comma or newline separated): rows written with them still verify"
    )
    crashloop_audit_checkpoint_file: str | None = Field(
        None, description="also append signed audit checkpoints to this file (a volume the database users lack)"
    )

    crashloop_alertmanager_token: SecretStr | None = Field(
        None, description="bearer token for the environments' Alertmanager API (Silence), if it wants one"
    )
    crashloop_alertmanager_username: str | None = Field(None, description="basic-auth user for Alertmanager")
    crashloop_alertmanager_password: SecretStr | None = Field(None, description="basic-auth password for Alertmanager")

    @property
    def database_url(self) -> str:
        return self.crashloop_database_url.get_secret_value()

    def audit_secrets(self) -> tuple[str | None, list[str]]:
        """The current audit key (None when unset) and the retired ones."""
        current = self.crashloop_audit_key.get_secret_value().strip() if self.crashloop_audit_key else ""
        retired = self.crashloop_audit_retired_keys.get_secret_value() if self.crashloop_audit_retired_keys else ""
        return current or None, [k.strip() for k in retired.replace(",", "\n").splitlines() if k.strip()]

    @property
    def api_url(self) -> str:
        return self.slack_api_url if self.slack_api_url.endswith("/") else self.slack_api_url + "/"


def load_settings(secrets_dir: str | None = None) -> Settings:
    """Settings from the environment, then from files in the secrets directory when it exists."""
    directory = secrets_dir or os.environ.get("CRASHLOOP_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    if os.path.isdir(directory):
        return Settings(_secrets_dir=directory)
    return Settings()


def missing_for_serve(settings: Settings, socket_mode: bool) -> list[str]:
    """The variables `crashloop serve` cannot run without."""
    required = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "CRASHLOOP_WEBHOOK_TOKEN": settings.crashloop_webhook_token,
        "CRASHLOOP_AUDIT_KEY": settings.crashloop_audit_key,
    }
    if socket_mode:
        required["SLACK_APP_TOKEN"] = settings.slack_app_token
    else:
        required["SLACK_SIGNING_SECRET"] = settings.slack_signing_secret
    return [name for name, value in required.items() if value is None or not value.get_secret_value()]
