"""Each environment's Alertmanager, from `alertmanager_url` in crashloop.yaml and the auth in the bot's secrets."""

from __future__ import annotations

from bot.alertmanager.client import AlertmanagerClient, Auth
from bot.core.config import Config
from bot.core.settings import Settings


def auth_from(settings: Settings) -> Auth:
    """A bearer token (CRASHLOOP_ALERTMANAGER_TOKEN) or basic auth (…_USERNAME and …_PASSWORD), env or file."""
    token = settings.crashloop_alertmanager_token.get_secret_value() if settings.crashloop_alertmanager_token else ""
    password = (
        settings.crashloop_alertmanager_password.get_secret_value() if settings.crashloop_alertmanager_password else ""
    )
    user = settings.crashloop_alertmanager_username or ""
    return Auth(bearer_token=token.strip() or None, basic=(user, password.strip()) if user and password else None)


class Alertmanagers:
    """The Alertmanager client of each environment that has one."""

    def __init__(self, config: Config, auth: Auth | None = None) -> None:
        self.config, self.auth = config, auth or Auth()

    def of(self, environment: str) -> AlertmanagerClient | None:
        """The environment's client; None when it has no `alertmanager_url` (no Silence there)."""
        env = self.config.environments.get(environment)
        if env is None or not env.alertmanager_url:
            return None
        return AlertmanagerClient(env.alertmanager_url, auth=self.auth, timeout=self.config.silences.timeout_seconds)
