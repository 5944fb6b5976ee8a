"""The `clara` command line: a thin HTTP client of the CLARA API (see main.py for the command tree)."""
