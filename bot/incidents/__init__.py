"""The incident queue: stored alerts become one incident, one root message and one thread per workload."""
