"""`clara keys create|list|revoke`: API keys through /api/keys (the secret is shown once, at creation)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.panel import Panel
from rich.text import Text

from clara_ray.cli.context import JsonFlag, err, out, print_json, state_of, wants_json
from clara_ray.cli.render import table, timestamp

app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for (shown in lists and the audit log).")],
    roles: Annotated[list[str], typer.Option("--role", "-r", help="Role the key carries (repeatable): admin, "
                                                                  "trainer, analyst, user, auditor.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Days until it expires (default: never).")]
    = None,
    json_out: JsonFlag = False,
) -> None:
    """Create an API key; its secret is printed once and cannot be shown again."""
    body = {"name": name, "roles": roles, "expires_in_days": expires_in_days}
    with state_of(ctx).client() as api:
        key = api.post("/api/keys", body)
    if wants_json(ctx, json_out):
        print_json(key)
        return
    out.print(f"created key {key['id']} ({key['name']}; roles {', '.join(key.get('roles') or [])}; "
              f"expires {timestamp(key.get('expires_at')) if key.get('expires_at') else 'never'})")
    out.print(Panel(Text(key["key"], style="bold"), title="API key", title_align="left", expand=False))
    err.print(Text("Store it now: it will not be shown again. Use it as CLARA_API_KEY or "
                   "`Authorization: Bearer <key>`.", style="yellow"))


@app.command("list")
def list_keys(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """List API keys (prefixes only; secrets are never shown again)."""
    with state_of(ctx).client() as api:
        listing = api.get("/api/keys")
    if wants_json(ctx, json_out):
        print_json(listing)
        return
    items = listing.get("items", [])
    if not items:
        out.print("no API keys")
        return
    table(["id", "name", "prefix", "roles", "created", "expires", "last used", "state"],
          [(k["id"], k.get("name"), k.get("prefix"), ", ".join(k.get("roles") or []),
            f"{timestamp(k.get('created_at'))} by {k.get('created_by') or '-'}",
            timestamp(k.get("expires_at")) if k.get("expires_at") else "never", timestamp(k.get("last_used_at")),
            Text(f"revoked {timestamp(k['revoked_at'])}", style="red") if k.get("revoked_at")
            else Text("active", style="green")) for k in items])


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id (from `clara keys list`).")],
    json_out: JsonFlag = False,
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    with state_of(ctx).client() as api:
        key = api.delete(f"/api/keys/{key_id}")
    if wants_json(ctx, json_out):
        print_json(key)
    else:
        out.print(f"revoked key {key['id']} ({key.get('name')}) at {timestamp(key.get('revoked_at'))}")
