"""The change flow around every runbook remedy: who may, parameters, preview, approval, apply, verify."""
