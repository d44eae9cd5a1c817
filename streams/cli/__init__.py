"""The ``switchboard`` command line.

Exit codes: 0 success, 1 the operation failed (e.g. Kafka unreachable),
2 bad usage or invalid input (nothing was produced), 3 ``kafka status``
found no broker, 130 interrupted.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path

import click

from ._commands import commands_group
from ._common import Context
from ._demo import demo
from ._dlq import dlq_group
from ._kafka import kafka_group
from ._messages import schema_group, send, tail_cmd, topics_group
from ._offsets import offsets_group
from ._sandbox import sandbox
from ._worker import worker

__all__ = ["cli", "main"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Existence is checked where the settings are loaded: one line, exit 2.
CONFIG_PATH = click.Path(dir_okay=False, path_type=Path)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_file",
    type=CONFIG_PATH,
    envvar="SWITCHBOARD_CONFIG",
    help="YAML settings file (env: SWITCHBOARD_CONFIG). Environment variables win over it. "
    "Also accepted after the subcommand.",
)
@click.version_option(version("switchboard"), prog_name="switchboard")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """Switchboard: provider webhooks and polls into Kafka, Kafka commands out to provider APIs.

    Settings come from SWITCHBOARD_* environment variables (`__` separates
    levels, e.g. SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS) or a YAML file.
    """
    ctx.obj = Context(config_file)


for command in (
    kafka_group,
    topics_group,
    send,
    commands_group,
    tail_cmd,
    dlq_group,
    offsets_group,
    schema_group,
    worker,
    sandbox,
    demo,
):
    cli.add_command(command)


def _use_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        obj = ctx.find_object(Context)
        if obj is not None:
            obj.use_config(value)


def _accept_config_everywhere(command: click.Command) -> None:
    """``switchboard worker --config f.yaml`` works as ``switchboard --config
    f.yaml worker`` does: users put it after the subcommand too."""
    command.params.append(
        click.Option(
            ["--config"],
            type=CONFIG_PATH,
            expose_value=False,
            callback=_use_config,
            help="YAML settings file (as `switchboard --config FILE ...`).",
        )
    )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_config_everywhere(sub)


for command in cli.commands.values():
    _accept_config_everywhere(command)


def main() -> None:
    # The CLI reports connection problems itself, in one line; the clients'
    # own warnings would repeat them as noise (the worker configures its own).
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    cli(prog_name="switchboard")
