"""The commands the docs show exist: every ``edgeface ...`` line in a code block of
README.md and docs/*.md names a real command (and subcommand), whose --help works, and
every --option on the line is one of that command's options."""

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edgeface.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*```")
COMMAND = re.compile(r"^\s*(?:\$\s+)?edgeface\s+(.*)$")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
SHELL_END = re.compile(r"\s(?:#|\||&&|;|>)")   # a comment, pipe or next shell command ends the line


def documented_commands() -> list[tuple[str, str]]:
    """(where, the line's text after 'edgeface ') for each command line in a code block."""
    found = []
    for doc in DOCS:
        in_block = False
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if FENCE.match(line):
                in_block = not in_block
            elif in_block and (match := COMMAND.match(line)):
                found.append((f"{doc.relative_to(ROOT)}:{number}", SHELL_END.split(" " + match[1], 1)[0]))
    return found


def resolve(words: list[str]):
    """The command path the words name (``bench MODEL`` is ``bench run MODEL``) and its command."""
    command = typer.main.get_command(app)
    path: list[str] = []
    while getattr(command, "commands", None) is not None:   # a group (typer's own click has no Group)
        name = words[len(path)] if len(path) < len(words) else None
        sub = command.commands.get(name)
        if sub is None:
            default = getattr(command, "default_command", None)
            assert default, f"edgeface {' '.join(path)}: no such subcommand {name!r}"
            sub, name = command.commands[default], default
            words = [*words[:len(path)], default, *words[len(path):]]
        path.append(name)
        command = sub
    return path, command


def option_names(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)} | {"--help"}


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("where, line", COMMANDS, ids=[where for where, _ in COMMANDS])
def test_documented_command_exists_with_its_options(where, line):
    words = [word for word in line.split() if not word.startswith(("-", "["))]
    path, command = resolve(words)
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"{where}: edgeface {' '.join(path)} --help: {result.output}"
    unknown = sorted(set(OPTION.findall(line)) - option_names(command))
    assert not unknown, f"{where}: edgeface {' '.join(path)} has no option {', '.join(unknown)}"
