"""``azpe audit verify``: check an audit log (no az needed)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from azpe.audit_verify import verify_file
from azpe.cli.app import OneValueEach, app, examples, handle_errors
from azpe.errors import ExitCode
from azpe.escape import visible
from azpe.options import Output, Query, path
from azpe.render import apply_query, check_format, compile_query, render

audit_app = typer.Typer(help="Check the audit log of write commands.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command(
    "verify",
    short_help="Check an audit log: whole lines, every outcome decided, every run finished.",
    cls=OneValueEach,
    epilog=examples(
        "azpe audit verify /var/log/azpe/audit.jsonl -o none   # exit 1 on any problem",
        "azpe audit verify audit.jsonl --query 'unfinished[].inFlight[].id' -o tsv | azpe list --id -",
    ),
)
@handle_errors
def audit_verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", parser=path, help="The audit log (JSON lines).")],
    output: Output = "json",
    query: Query = None,
) -> None:
    """Check an audit log: every line whole JSON, every outcome after its decision, and every
    run finished. Runs that never finished (azpe killed) are listed with their in-flight
    targets: decided, outcome unknown. Exit 0 when clean, 1 when anything was found."""
    check_format(output)
    compiled = compile_query(query)
    report = verify_file(file)
    text = render(apply_query(report, compiled), output, queried=compiled is not None)
    if text:
        typer.echo(text, nl=False)
    _tell(report)
    if report["problems"] or report["unfinished"]:
        raise typer.Exit(ExitCode.AZURE_FAILED)


def _tell(report: dict[str, Any]) -> None:
    """What was found, on stderr: a line per problem and per unfinished run, then a summary."""
    name = visible(report["file"])
    for found in report["problems"]:
        typer.echo(f"azpe: {name}:{found['line']}: {visible(found['message'])}", err=True)
    for run in report["unfinished"]:
        who = visible(f"run {run['run']} ({run['command']} by {run['osUser']}@{run['host']})")
        typer.echo(
            f"azpe: {name}:{run['firstLine']}-{run['lastLine']}: {who} never finished: "
            f"{len(run['inFlight'])} target(s) in flight",
            err=True,
        )
        for target in run["inFlight"]:
            flying = f"{target['id'] or target['name']} ({target['decision']})"
            typer.echo(f"azpe:   {visible(flying)}", err=True)
    summary = (
        f"{report['lines']} line(s), {report['runs']} run(s): {len(report['problems'])} problem(s), "
        f"{len(report['unfinished'])} unfinished run(s)"
    )
    if report["unchecked"]:
        summary += f"; {report['unchecked']} line(s) without a run id not checked"
    typer.echo(f"azpe: audit verify: {summary}", err=True)
