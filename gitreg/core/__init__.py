"""The core wing: gitreg's data and its rules, with no I/O beyond parsing text.

Entities (registered models, versions, stages), errors with MLflow's codes, the one YAML
module, the registry's configuration and policy, schema and invariant checks of a single
file, the pure ``model -> model`` mutations, MLflow's search grammar, ``models:/`` URIs and
the diff of two model states into events. It imports nothing else of gitreg, never git, and
never the network (import-linter contracts in ``pyproject.toml``).
"""
