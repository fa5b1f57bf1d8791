"""Config, settings, errors, logs, metrics and redaction: what every other package may use."""
