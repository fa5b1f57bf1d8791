"""Start-up objects are exempt from garbage collection while the app runs, and collectable again once it stops.

A full collection walks every tracked object; a started bot holds a few hundred thousand, so each full pass
stopped the event loop for 45–190 ms, and every webhook in flight waited (bench/webhook_ack.py). `bot.app`
freezes them once everything has started (bot/core/heap.py).
"""

from __future__ import annotations

import gc

from tests.service.conftest import BotFactory


async def test_the_started_apps_objects_are_frozen_and_thawed_when_it_stops(bot_factory: BotFactory) -> None:
    bot = await bot_factory()
    services = bot.services

    assert gc.get_freeze_count() > 10_000
    assert not any(o is services for o in gc.get_objects()), "the app's services are still scanned by every pass"

    await bot.client.close()

    assert gc.get_freeze_count() == 0
    assert any(o is services for o in gc.get_objects())
