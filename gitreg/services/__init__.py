"""The services wing: what ``Registry`` delegates to, below the faces and above the gate.

The writes of every operation (``operations``), promotion requests and the direct-write rules
(``promotion``, ``transition_request``), governance (history, events, requests, rollback,
audit), delivery and MLflow's webhook API (``notifications``), and ``RemoteRegistry``, which
reads a remote's tip without a clone. The top of ``gitreg/`` holds only the public faces
(``Registry``, the errors) and the entry points (issue 27).
"""
