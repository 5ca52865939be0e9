"""The pieces of a deployment, one module per job (the orchestrator is providers.deployer).

    targets    per-cloud rules: sizes, instance types, region names, PROVIDER:REGION parsing
    instances  instance primitives over one CloudCompute: find-or-create, find, destroy
    state      where a deployment went, remembered between runs (a RecordStore)

Each module imports only providers.base/errors/artifact/registry and the modules above it
in this list, so the orchestrator (providers.deployer), providers.vm and the local provider
can all import them without importing each other.
"""
