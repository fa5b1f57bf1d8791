"""The runbook remedies: their parameters, the exact patches they send, and the kubectl they correspond to."""
