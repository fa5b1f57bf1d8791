"""Alembic environment and versions for the bot's SQL store; the schema is only ever changed here."""
