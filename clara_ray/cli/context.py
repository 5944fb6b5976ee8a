"""What every command shares: the API address and token, JSON output, and the one way to fail (message + exit 1)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.text import Text

from clara_ray.cli.client import DEFAULT_URL, ApiClient

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON result (for scripts).")]


@dataclass
class Overrides:
    """Injected by tests as `CliRunner().invoke(app, args, obj=Overrides(...))`."""

    http: httpx.Client | None = None
    """Replaces the network client (e.g. `fastapi.testclient.TestClient(app)`)."""
    poll_seconds: float | None = None
    """Seconds between job polls while `clara train` watches a job (default 1)."""


@dataclass
class State:
    url: str = DEFAULT_URL
    token: str | None = None
    json_output: bool = False
    http: httpx.Client | None = None
    poll_seconds: float = 1.0

    def client(self) -> ApiClient:
        return ApiClient(self.url, self.token, http=self.http)


def state_of(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    return found if found is not None else State()


def wants_json(ctx: typer.Context, flag: bool) -> bool:
    """`--json` given before the command (`clara --json jobs list`) or after it (`clara jobs list --json`)."""
    return flag or state_of(ctx).json_output


def check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        fail(f"--url/CLARA_URL must start with http:// or https:// (got {url!r})")
    return url.rstrip("/")


# markup off: API data such as `items[0]` is printed as is; styles come from rich.text.Text.
out = Console(highlight=False, markup=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: <message>` on stderr and exit non-zero (never a traceback)."""
    err.print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(code)
