"""A simulated Kubernetes cluster for crash-loop triage: a stateful kube-apiserver stand-in speaking real JSON.

The unmodified official `kubernetes` client and `kubectl` talk to it over plain HTTP through a kubeconfig. It is
seeded with scenarios (`scenarios/*.yaml`) of workloads stuck in CrashLoopBackOff, runs simplified controllers
and a kubelet so that remedies applied through the API heal pods as they would in a real cluster, and lets tests
inject latency and faults and inspect every request.
"""

from __future__ import annotations

from .faults import Fault
from .requestlog import RecordedRequest
from .scenarios import Scenario, ScenarioError, load_scenario_file, load_scenarios, scenario_names
from .sim import SimCluster

__all__ = [
    "Fault",
    "RecordedRequest",
    "Scenario",
    "ScenarioError",
    "SimCluster",
    "load_scenario_file",
    "load_scenarios",
    "scenario_names",
]
