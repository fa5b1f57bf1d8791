"""Triage of one workload: locate it, gather the evidence in three round trips, classify it with runbooks/."""
