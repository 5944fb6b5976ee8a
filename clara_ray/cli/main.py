"""The `clara` command tree (Typer): global options, the command groups, and API errors as one-line messages."""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from clara_ray.cli import adapters, chat, demo, feedback, jobs, keys, train
from clara_ray.cli.client import DEFAULT_URL, ApiError
from clara_ray.cli.context import Overrides, State, check_url, fail


class ClaraGroup(TyperGroup):
    """Every command runs inside this group: an ApiError anywhere below becomes `error: <message>`, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as e:
            fail(str(e))


app = typer.Typer(
    name="clara", cls=ClaraGroup, no_args_is_help=True, pretty_exceptions_show_locals=False,
    help="CLARA on Ray from the command line: train and follow jobs, manage and chat with adapters, send "
         "feedback, manage API keys. Talks to the API at --url (CLARA_URL) with --token (CLARA_API_KEY).",
)


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="CLARA_URL", help="Base URL of the CLARA API.")] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option(envvar=["CLARA_API_KEY", "CLARA_TOKEN"], show_default=False,
                                              help="API key or bearer token (env CLARA_API_KEY, else CLARA_TOKEN).")]
    = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print raw JSON results (for scripts).")] = False,
) -> None:
    injected = ctx.obj if isinstance(ctx.obj, Overrides) else Overrides()
    ctx.obj = State(url=check_url(url), token=token or None, json_output=json_output, http=injected.http,
                    poll_seconds=1.0 if injected.poll_seconds is None else injected.poll_seconds)


app.command("train")(train.train)
app.command("chat")(chat.chat)
app.command("demo")(demo.demo)
app.add_typer(jobs.app, name="jobs")
app.add_typer(adapters.app, name="adapters")
app.add_typer(feedback.app, name="feedback")
app.add_typer(keys.app, name="keys")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
