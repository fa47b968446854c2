"""The store wing: the registry's state in git, and writes as transactions.

Reads a registry at its work tree or at any commit, caches parses by git blob id, writes by
running a mutation it is handed inside a transaction (lock, compare-and-swap, journal,
push with retry), proposes changes on request branches, and reads a model's history from
``git log``. The only wing that runs git; it knows nothing of the gate's reports or of forges.
"""
