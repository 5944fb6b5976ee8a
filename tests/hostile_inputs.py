"""Hostile and sloppy names and server paths, shared by the tests of the name checker and the path roots."""

from __future__ import annotations

HOSTILE_NAMES: dict[str, str] = {
    "newline": "baurecht\n",
    "nul": "bau\x00recht",
    "slash": "bau/recht",
    "backslash": "bau\\recht",
    "dotdot": "..",
    "dot": ".",
    "dot_only": "....",
    "traversal": "../etc",
    "too_long": "b" * 200,
    "empty": "",
    "cyrillic_a": "b\u0430urecht",
    "fullwidth": "\uff42\uff41\uff55\uff52\uff45\uff43\uff48\uff54",
    "zero_width_space": "bau\u200brecht",
    "rtl_override": "bau\u202erecht",
    "leading_dash": "-baurecht",
    "trailing_dot": "baurecht.",
}
"""Every class of name the checker must refuse (for every kind: adapter, dataset, key, export folder)."""

OUTSIDE_PATHS: dict[str, str] = {
    "etc_passwd": "/etc/passwd",
    "relative_traversal": "../../../../etc/passwd",
    "proc_environ": "/proc/self/environ",
    "file_uri": "file:///etc/passwd",
    "other_scheme": "s3://someone-elses-bucket/data.jsonl",
}
"""Server paths outside every test root (the symlink and other-folder cases are built per test in tmp dirs)."""
