"""The only door to the Kubernetes API (the only importer of `kubernetes`); returns the project's own data."""
