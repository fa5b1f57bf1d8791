"""The door to Alertmanager's v2 API: silences for one workload's alerts, and the alerts they match."""
