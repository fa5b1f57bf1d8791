"""Slack: the Web API client (pacing, retries), Block Kit, messages, forms and the slash-command operations."""
