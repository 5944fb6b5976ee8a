"""`clara adapters list|activate|rollback|import|export`: adapter versions through /api/serving."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.text import Text

from clara_ray.cli.context import JsonFlag, fail, out, print_json, state_of, wants_json
from clara_ray.cli.render import number, short_time, status, table

app = typer.Typer(help="Adapter versions: list, activate, roll back, import, export.", no_args_is_help=True)


def _alias_line(result: dict) -> Text:
    return Text(f"{result['alias']} -> {result['version']} (revision {result.get('revision')})")


@app.command("list")
def list_adapters(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Only versions of this adapter name.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List adapter versions; `*` marks the version each alias serves."""
    with state_of(ctx).client() as api:
        listing = api.get("/api/serving/adapters/list")
    versions = [v for v in listing.get("versions", []) if not name or v.get("name") == name]
    if wants_json(ctx, json_out):
        print_json({**listing, "versions": versions})
        return
    active = set((listing.get("aliases") or {}).values())
    out.print(f"base model: {listing.get('base_model')}")
    if not versions:
        out.print("no adapters" + (f" named {name}" if name else ""))
        return
    table(["", "version", "status", "type", "rank", "domain", "ppl (dev)", "created"],
          [("*" if v["ref"] in active else "", v["ref"], status(v.get("status")), v.get("trainer_type") or "-",
            v.get("rank") or "-", v.get("domain") or "-", number((v.get("metrics") or {}).get("ppl_dev")),
            short_time(v.get("created_at"))) for v in versions])


@app.command("activate")
def activate(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="The exact version to serve for its alias, e.g. baurecht@v3.")],
    json_out: JsonFlag = False,
) -> None:
    """Point an alias at a version; replicas serve it for new requests."""
    with state_of(ctx).client() as api:
        result = api.post("/api/serving/activate_adapter", {"adapter": version})
    if wants_json(ctx, json_out):
        print_json(result)
    else:
        out.print(_alias_line(result))


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Alias to roll back, e.g. baurecht.")],
    to_version: Annotated[int | None, typer.Option("--to-version", "--to", min=1,
                                                   help="Version number to serve again (default: the previous "
                                                        "active one).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Serve an earlier version of an alias again."""
    with state_of(ctx).client() as api:
        result = api.post("/api/serving/rollback", {"name": name, "to_version": to_version})
    if wants_json(ctx, json_out):
        print_json(result)
    else:
        out.print(_alias_line(result))


@app.command("import")
def import_adapter(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Adapter name (alias) to register the version under.")],
    path: Annotated[str, typer.Argument(help="PEFT adapter folder ON THE SERVER (adapter_config.json + weights); "
                                             "a relative path is made absolute against this directory.")],
    domain: Annotated[str | None, typer.Option(help="Domain label (used by the router).")] = None,
    description: Annotated[str | None, typer.Option(help="Free text stored with the version.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Register a PEFT folder that the server can read as a new (candidate) version; activate it afterwards.

    The API has no upload route: the folder must be on the server's file system (unpack an exported
    .tar.gz there first).
    """
    if path.endswith((".tar.gz", ".tgz")):
        fail(f"{path}: the server imports a PEFT folder, not an archive; unpack it where the server can read it")
    server_path = path if Path(path).is_absolute() else str(Path(path).resolve())
    body = {"name": name, "path": server_path, "domain": domain, "description": description}
    with state_of(ctx).client() as api:
        version = api.post("/api/serving/load_adapter", body)
    if wants_json(ctx, json_out):
        print_json(version)
        return
    out.print(Text.assemble(f"imported {version['ref']} (", status(version.get("status")),
                            f"); serve it with: clara adapters activate {version['ref']}"))


@app.command("export")
def export(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Version or alias to download, e.g. baurecht@v3 or baurecht.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write, or an existing folder (keeps the "
                                                               "server's <name>-v<N>.tar.gz).")] = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Download a version's PEFT folder as a .tar.gz."""
    if not output.is_dir() and not output.parent.is_dir():
        fail(f"cannot write {output}: folder {output.parent} does not exist")
    with state_of(ctx).client() as api:
        path, size = api.download(f"/api/serving/adapters/{quote(version, safe='@')}/archive", output)
    if wants_json(ctx, json_out):
        print_json({"adapter": version, "path": str(path), "bytes": size})
    else:
        out.print(f"wrote {path} ({size} bytes)")
