"""Shell completion (edgeface --install-completion / --show-completion) works offline and
completes subcommands and the words of choice options."""

import os
import subprocess
import sys

MAIN = [sys.executable, "-c", "from edgeface.cli import main; main()"]


def complete(words: str) -> list[str]:
    """What bash completion offers after ``words`` (the word being completed is the last)."""
    parts = words.split(" ")
    env = {**os.environ, "_EDGEFACE_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(parts) - 1)}
    result = subprocess.run(MAIN, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_show_completion_prints_the_script():
    result = subprocess.run([*MAIN, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "complete -o default -F _edgeface_completion edgeface" in result.stdout


def test_completes_commands_and_choices():
    assert complete("edgeface mod") == ["models"]
    assert complete("edgeface bundle s") == ["sign"]
    assert complete("edgeface convert model.onnx --to ") == ["tflite", "onnx"]
