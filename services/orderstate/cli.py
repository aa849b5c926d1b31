"""The ``orderstate`` command: one entry point for every process and tool."""

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="orderstate",
    help="Event-driven order-state service: Kafka in, one state machine, PostgreSQL, Kafka out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Event-driven order-state service: Kafka in, one state machine, PostgreSQL, Kafka out."""


@app.command("export-schemas")
def export_schemas(
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = Path("schemas"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; fail with a diff if out of date.")
    ] = False,
) -> None:
    """Write JSON Schemas, examples and asyncapi.yaml for every event type."""
    from orderstate.events.contract import export_contract
    from orderstate.schema_files import contract_diff, write_contract

    files = export_contract()
    if check:
        diff = contract_diff(files, out)
        if diff:
            typer.echo(diff, err=True)
            typer.echo(f"{out} is out of date; run `make schemas` and commit.", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: {len(files)} files up to date")
        return
    written = write_contract(files, out)
    typer.echo(f"wrote {len(written)} files under {out}")


def main() -> None:
    app()
