"""``python -m gitreg``: the same as the ``gitreg`` command (its fast paths included, #26)."""

from __future__ import annotations

from gitreg._entry import main

if __name__ == "__main__":
    main()
