"""The limits on what a manifest or gitreg.yaml may be, without importing PyYAML (#12, #26).

Every manifest and every pull request is hostile until checked, so a file is refused, in
bounded time and memory, before anything processes what it would expand to. ``_safe_yaml``
enforces them while it parses; ``patch`` and ``blocks`` check the same bounds on the text
they handle without PyYAML, so they read them here (a CLI write never imports PyYAML).
"""

from __future__ import annotations

MAX_FILE_BYTES = 4 * 1024 * 1024  # about 12,000 versions; gitreg.yaml has the same bound
MAX_DEPTH = 32  # a manifest is 5 levels deep; nesting beyond this is an attack
MAX_NODES = 1_000_000  # values after expanding aliases (a "billion laughs" has 10^9)
MAX_SHARED = 100  # mappings and lists reached through an alias; gitreg never writes one
