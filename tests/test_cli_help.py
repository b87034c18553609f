"""Every help text reads as whole sentences: the line a group lists for each command is one
line (a docstring's source line breaks would break it mid-sentence at any width), no text
ends mid-sentence, and none has doubled spaces (from joining strings)."""

import inspect
import re

import typer

from edgeface.cli.app import app

SENTENCE_END = re.compile(r"[.)!?]$")


def walk(command, path=("edgeface",)):
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(typer.main.get_command(app)))


def helps():
    """(where, text) for every command's and parameter's help."""
    for path, command in COMMANDS:
        yield " ".join(path), inspect.cleandoc(command.help or "")
        for param in command.params:
            yield f"{' '.join(path)} {param.name}", getattr(param, "help", None) or ""


def test_commands_are_listed_on_one_line():
    broken = [" ".join(path) for path, command in COMMANDS
              if "\n" in (command.short_help or inspect.cleandoc(command.help or "").split("\n\n")[0])]
    assert not broken, f"give these a one-line short_help or first paragraph: {broken}"


def test_help_texts_end_a_sentence_and_have_no_doubled_spaces():
    bad = [(where, text[-60:]) for where, text in helps()
           if text and (not SENTENCE_END.search(text) or any("  " in line.strip() for line in text.splitlines()))]
    assert not bad
