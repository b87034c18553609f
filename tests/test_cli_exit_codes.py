"""Exit codes mean one thing each (edgeface/cli/exit_codes.py, docs/cli.md): a missing
optional dependency is a user error with its install command, a bug is an internal error
distinct from a failed gate, Ctrl-C is 130."""

import pytest
import typer
from typer.testing import CliRunner

from edgeface.cli import exit_codes
from edgeface.cli.common import user_errors
from edgeface.errors import EdgefaceError


def run_raising(exc: BaseException):
    app = typer.Typer()

    @app.command()
    @user_errors
    def fails() -> None:
        raise exc

    return CliRunner().invoke(app, [])


@pytest.mark.parametrize("module, command", [
    ("skimage", "pip install 'edgeface[toolchain]' && python -m edgeface.cli.toolchain install"),
    ("tensorflow.lite", "pip install 'edgeface[toolchain]' && python -m edgeface.cli.toolchain install"),
    ("av", "pip install 'edgeface[video]'"),
    ("qai_hub", "pip install 'edgeface[hub]'"),
])
def test_a_missing_optional_dependency_is_a_user_error_with_its_install_command(module, command):
    result = run_raising(ModuleNotFoundError(f"No module named '{module}'", name=module))
    assert result.exit_code == exit_codes.USER_ERROR == 2
    assert result.stderr.strip() == (f"error: this needs {module}, an optional dependency that is not installed: "
                                     f"{command}")


def test_a_missing_module_edgeface_does_not_list_is_a_bug():
    result = run_raising(ModuleNotFoundError("No module named 'numpy'", name="numpy"))
    assert result.exit_code == exit_codes.INTERNAL_ERROR == 3
    assert result.stderr.startswith("internal error: ModuleNotFoundError")


def test_codes_are_distinct_for_bugs_user_errors_and_interrupts():
    assert run_raising(ValueError("boom")).exit_code == exit_codes.INTERNAL_ERROR
    assert run_raising(EdgefaceError("bad input")).exit_code == exit_codes.USER_ERROR
    assert run_raising(KeyboardInterrupt()).exit_code == exit_codes.INTERRUPTED
    assert len({exit_codes.OK, exit_codes.GATE_FAILED, exit_codes.USER_ERROR, exit_codes.INTERNAL_ERROR,
                exit_codes.INTERRUPTED}) == 5


def test_every_optional_module_names_an_extra_pyproject_declares():
    import re
    from pathlib import Path

    extras = set(re.findall(r"^(\w+) = \[", (Path(__file__).parent.parent / "pyproject.toml").read_text(), re.M))
    for command in exit_codes.OPTIONAL_MODULES.values():
        named = re.search(r"edgeface\[(\w+)\]", command).group(1)
        assert named in extras, command
