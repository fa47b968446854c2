"""The integrations wing: adapters that carry gitreg's changes to other systems.

``forges`` (GitHub, GitLab) open and list the pull requests that carry promotions. Each
adapter speaks to its system over HTTP with the standard library, reads credentials from
the environment at call time, and is tested against a local server standing in for it.
"""
