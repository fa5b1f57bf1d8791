"""The bot's SQL store (SQLAlchemy 2, async): alerts as received, incidents and their Slack threads, proposals.

Everything that must survive a restart or be shared between replicas lives here; `migrations/` owns the schema.
"""

from bot.store.engine import Store
from bot.store.intake import StoreUnavailable

__all__ = ["Store", "StoreUnavailable"]
