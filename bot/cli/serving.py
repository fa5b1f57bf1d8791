"""`crashloop serve`: checks the secrets it cannot run without, then runs the aiohttp application.

Apart from bot/cli/main.py so that the server's imports (aiohttp, Bolt, SQLAlchemy) load only for `serve`.
"""

from __future__ import annotations

import logging
import sys

import click

from bot.core.config import Config

EXIT_MISCONFIGURED = 2
log = logging.getLogger("crashloop.serve")


def run_server(config: Config, *, host: str, port: int, socket_mode: bool, migrate: bool) -> None:
    from aiohttp import web

    from bot.app import AppOptions, build_app
    from bot.core.logs import setup_logging
    from bot.core.settings import load_settings, missing_for_serve

    settings = load_settings()
    missing = missing_for_serve(settings, socket_mode)
    if missing:
        click.echo(f"crashloop: set {', '.join(missing)} (env vars, or files in $CRASHLOOP_SECRETS_DIR)", err=True)
        sys.exit(EXIT_MISCONFIGURED)
    setup_logging()
    app = build_app(config, settings, AppOptions(migrate=migrate, socket_mode=socket_mode))
    url = f"http://{host}:{port}"
    mode = "Socket Mode" if socket_mode else "HTTP mode (/slack/events)"

    def listening(_: str) -> None:  # aiohttp calls this once the port is bound (start-up done)
        log.info(
            "listening on %s; Slack %s; %d environment(s)", url, mode, len(config.environments), extra={"url": url}
        )

    web.run_app(app, host=host, port=port, shutdown_timeout=25, print=listening)
