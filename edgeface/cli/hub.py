"""``edgeface hub compile|profile|infer``: Qualcomm AI Hub jobs on real Snapdragon devices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli import exit_codes
from edgeface.cli.choices import ComputeUnit, HubRuntime
from edgeface.cli.common import JsonOption, console, print_json, shown, user_errors
from edgeface.cli.progress import progress_lines

hub_app = typer.Typer(
    name="hub", no_args_is_help=True, add_completion=False,
    help="Qualcomm AI Hub: compile, profile and run models on real Snapdragon phones and boards in "
         "Qualcomm's cloud. Needs the hub extra (pip install 'edgeface\\[hub]') and an API token "
         "(qai-hub configure --api_token TOKEN, $EDGEFACE_HUB_TOKEN or --api-token-file).")

ModelArg = Annotated[Path, typer.Argument(
    help="The model: .onnx or .tflite (also .pt2, or a compiled .bin QNN context binary / .dlc).",
    show_default=False)]
DeviceOpt = Annotated[str, typer.Option(
    "--device", "-d", show_default=False,
    help="AI Hub device name as `qai-hub list-devices` prints it ('Samsung Galaxy S24 (Family)'), a "
         "Qualcomm SoC part number (SM8650: a device with that chipset) or a device profile id.")]
TokenOpt = Annotated[Optional[str], typer.Option(
    "--api-token", show_default=False,
    help="AI Hub API token. Visible to other users of this machine (ps): prefer $EDGEFACE_HUB_TOKEN, "
         "--api-token-file or the qai-hub client's configuration ($QAIHUB_CLIENT_INI or ~/.qai_hub/client.ini), "
         "which are used when this is not given.")]
TokenFileOpt = Annotated[Optional[str], typer.Option(
    "--api-token-file", show_default=False,
    help="Read the AI Hub API token from this file ('-': standard input).")]
TOKEN_IN_PS = ("warning: --api-token is visible to other users of this machine (ps, /proc): set "
               "$EDGEFACE_HUB_TOKEN or use --api-token-file instead")
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", min=1.0, help="Seconds to wait for the AI Hub jobs of this command, all together.")]
OptionsOpt = Annotated[str, typer.Option(
    "--options", help="Extra AI Hub compile options, e.g. \"--quantize_full_type int8\" (not --target_runtime).")]
RuntimeHelp = "Target runtime."


def _runtime_help(default_note: str) -> str:
    return f"{RuntimeHelp} {default_note}"


def _token(api_token: Optional[str], api_token_file: Optional[str]) -> dict:
    """The ``api_token`` and ``token_source`` arguments of the hub jobs, from the options;
    none of them: the jobs look in the environment and the client's configuration."""
    from edgeface.hub import HubError
    from edgeface.hub.config import read_token_file

    if api_token is not None and api_token_file is not None:
        raise HubError("--api-token and --api-token-file: give one of them")
    if api_token_file is not None:
        return {"api_token": read_token_file(api_token_file), "token_source": f"--api-token-file {api_token_file}"}
    if api_token is not None:
        typer.echo(TOKEN_IN_PS, err=True)
    return {"api_token": api_token, "token_source": "--api-token"}


@hub_app.command("compile")
@user_errors
def compile_cmd(model: ModelArg, device: DeviceOpt,
                runtime: Annotated[HubRuntime, typer.Option("--runtime", "-r", help=RuntimeHelp)]
                = HubRuntime.qnn_context_binary,
                out: Annotated[Optional[Path], typer.Option(
                    "--out", "-o", help="Where to save the compiled model (a file, or an existing folder; "
                                        "default ./<name>_<runtime>.<ext>).")] = None,
                options: OptionsOpt = "", api_token: TokenOpt = None, api_token_file: TokenFileOpt = None,
                timeout: TimeoutOpt = 1800.0, json_out: JsonOption = False) -> None:
    """Compile an ONNX model on AI Hub for a runtime and device, and download the result."""
    from edgeface.hub.compile import compile_on_hub

    result = compile_on_hub(model, device, runtime, out=out, options=options, timeout=timeout,
                            progress=progress_lines(json_out), **_token(api_token, api_token_file))
    if json_out:
        return print_json(result.to_dict())
    console().print(shown(f"compiled {model.name} for {result.device} ({result.chipset or 'chipset ?'}), "
                          f"{result.runtime}: {result.target_path} ({result.target_size} bytes) in "
                          f"{result.seconds:.1f} s; job {result.job_id}: {result.job_url}"))


def _fmt(value, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3f}{unit}" if isinstance(value, float) else f"{value}{unit}"


@hub_app.command("profile")
@user_errors
def profile_cmd(model: ModelArg, device: DeviceOpt,
                runtime: Annotated[Optional[HubRuntime], typer.Option(
                    "--runtime", "-r", show_default=False,
                    help=_runtime_help("Default: the file's own format, uploaded as it is; another runtime "
                                       "compiles the ONNX model first."))] = None,
                compute_unit: Annotated[Optional[ComputeUnit], typer.Option(
                    "--compute-unit", show_default=False,
                    help="Default: AI Hub's choice, the fastest it can use.")] = None,
                report: Annotated[Optional[Path], typer.Option(
                    "--report", help="Also save the result as a benchmark results JSON (edgeface bench "
                                     "format).")] = None,
                out: Annotated[Optional[Path], typer.Option(
                    "--out", "-o", help="When compiling: where to save the compiled model.")] = None,
                options: OptionsOpt = "", api_token: TokenOpt = None, api_token_file: TokenFileOpt = None,
                timeout: TimeoutOpt = 1800.0, json_out: JsonOption = False) -> None:
    """Profile a model on a real device: latency over ~100 runs, peak memory, layers per compute unit."""
    from edgeface.hub.profile import profile_on_hub

    result = profile_on_hub(model, device, runtime=runtime, compute_unit=compute_unit, timeout=timeout,
                            options=options, out=out, progress=progress_lines(json_out),
                            **_token(api_token, api_token_file))
    if report is not None:
        from edgeface.bench.result import save_results

        save_results(report, [result])
    if json_out:
        return print_json(result.to_dict())
    from rich.table import Table

    layers = result.layers or {}
    table = Table("device", "runtime", "unit", "median ms", "min ms", "p90 ms", "peak MiB", "layers NPU/GPU/CPU")
    table.add_row(shown(result.device), result.runtime, result.compute_unit, _fmt(result.median_ms), _fmt(result.min_ms),
                  _fmt(result.p90_ms), _fmt(result.peak_memory_mb),
                  f"{layers.get('npu', 0)}/{layers.get('gpu', 0)}/{layers.get('cpu', 0)}")
    out_console = console()
    out_console.print(table)
    out_console.print(shown(f"{result.runs} runs; job {result.extra.get('job_id')}: {result.extra.get('job_url')}"
                            + (f"; saved to {report}" if report else "")))


@hub_app.command("infer")
@user_errors
def infer_cmd(model: ModelArg, device: DeviceOpt,
              runtime: Annotated[Optional[HubRuntime], typer.Option(
                  "--runtime", "-r", show_default=False,
                  help=_runtime_help("Default: the file's own format; another runtime compiles the ONNX "
                                     "model first."))] = None,
              inputs: Annotated[Optional[Path], typer.Option(
                  "--inputs", help="A .npy (N, H, W, 3) float32 batch of normalised inputs (default: real "
                                   "face crops from scikit-image, (x - 127.5) / 127.5).")] = None,
              samples: Annotated[int, typer.Option("--samples", min=1, max=256,
                                                   help="How many inputs to send.")] = 4,
              max_cosine_drop: Annotated[Optional[float], typer.Option(
                  "--max-cosine-drop", min=0.0, max=2.0,
                  help="Gate: fail (exit 1) if any output's worst cosine to the local model's drops by more "
                       "than this.")] = None,
              report: Annotated[Optional[Path], typer.Option(
                  "--report", help="Also save the comparison (fidelity report) as JSON.")] = None,
              out: Annotated[Optional[Path], typer.Option(
                  "--out", "-o", help="When compiling: where to save the compiled model.")] = None,
              options: OptionsOpt = "", api_token: TokenOpt = None, api_token_file: TokenFileOpt = None,
              timeout: TimeoutOpt = 1800.0, json_out: JsonOption = False) -> None:
    """Run a model on a real device and compare its outputs with the same model run here."""
    from edgeface.hub.infer import infer_on_hub

    result = infer_on_hub(model, device, runtime=runtime, inputs=inputs, samples=samples,
                          max_cosine_drop=max_cosine_drop, timeout=timeout, options=options, out=out,
                          progress=progress_lines(json_out), **_token(api_token, api_token_file))
    data = result.to_dict()
    if report is not None:
        from edgeface.fsutil import write_json

        write_json(report, data)
    if json_out:
        print_json(data)
    else:
        from rich.table import Table

        table = Table("output", "shape", "cosine mean", "cosine worst", "max abs err", "finite")
        for o in result.report.outputs:
            table.add_row(shown(o.name), str(tuple(o.shape)), f"{o.cosine_mean:.6f}", f"{o.cosine_worst:.6f}",
                          f"{o.max_abs_err:.4g}", "yes" if o.finite else "[red]no[/]")
        out_console = console()
        out_console.print(shown(f"{result.samples} inputs ({result.inputs}) on {result.device}, {result.runtime}; "
                                f"job {result.job_id}: {result.job_url}"))
        out_console.print(table)
        if report is not None:
            out_console.print(shown(f"saved to {report}"))
    if result.failures:
        typer.echo("fidelity gate failed: " + "; ".join(result.failures), err=True)
        raise typer.Exit(exit_codes.GATE_FAILED)
