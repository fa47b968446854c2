"""The gate wing: judging a change to the registry, as ``gitreg validate`` and the Action do.

Change rules between a base and a head (judged by the base's policy), the review of a
work tree or a pull request, the reports (text, JSON, GitHub annotations and summary), and
the files ``gitreg init`` writes so that the forge runs the gate on every pull request.
"""
