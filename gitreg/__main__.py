"""``python -m gitreg``: the same as the ``gitreg`` command."""

from __future__ import annotations

from gitreg.cli import entry

if __name__ == "__main__":
    entry()
