"""``edgeface bench``: measured, estimated and budget-checked latency.

``edgeface bench MODEL_OR_BUNDLE`` is ``edgeface bench run MODEL_OR_BUNDLE``: the group
runs ``run`` when its first argument is not one of its subcommands, so other subcommands
(``validate-estimator``) sit beside it.
"""

from __future__ import annotations

import datetime
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from edgeface.cli import exit_codes
from edgeface.cli.choices import ComputeUnit, HubRuntime
from edgeface.cli.common import JsonOption, console, listed, print_json, shown, user_errors


class DefaultCommandGroup(TyperGroup):
    """A group that runs ``default_command`` when the first argument names no subcommand
    (a model path, or an option such as ``--on``)."""

    default_command = "run"

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    name="bench", cls=DefaultCommandGroup, no_args_is_help=True, add_completion=False,
    help="Latency of a model or bundle: measured on this host, on a phone over adb, on Qualcomm AI Hub, "
         "or estimated for every device profile; checked against each profile's use-case budgets "
         "(exit code 1 when one is broken). 'edgeface bench MODEL ...' is 'edgeface bench run MODEL ...'.")


class On(str, Enum):
    host = "host"
    adb = "adb"
    hub = "hub"
    estimate = "estimate"


class Delegate(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    nnapi = "nnapi"
    qnn = "qnn"


@bench_app.callback()
def bench_group() -> None:
    """Benchmark a model or bundle and check it against device budgets (see: edgeface bench run --help)."""


def parse_threads(text: str) -> list[int]:
    """"1", "1,2,4" or "1-4" -> sorted unique thread counts."""
    from edgeface.bench.target import BenchError

    counts: list[int] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise BenchError(f"--threads {text}: expected counts like 1,2,4 or a range like 1-4")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo < 1 or hi < lo or hi > 256:
            raise BenchError(f"--threads {text}: each count must be 1..256 (a range as low-high)")
        counts.extend(range(lo, hi + 1))
    return sorted(set(counts))


ModelArg = Annotated[Path, typer.Argument(
    metavar="MODEL_OR_BUNDLE", show_default=False,
    help="A .tflite or .onnx file, or a bundle (directory or .zip): a bundle's detector and embedder are "
         "measured and added up per use case.")]


@bench_app.command("run")
@user_errors
def run(
    model: ModelArg,
    on: Annotated[On, typer.Option("--on", help="Where: host (this machine, measured), adb (a phone, "
                                   "benchmark_model), hub (Qualcomm AI Hub), estimate (every profile).")] = On.host,
    profile: Annotated[Optional[list[str]], typer.Option(
        "--profile", "-p", show_default=False,
        help="Device profiles whose budgets apply, repeatable or comma-separated (edgeface profiles list). host: "
             "'host' (default); adb: the phone's profile (no budget check without); hub: required; estimate: "
             "'all' (default).")] = None,
    threads: Annotated[Optional[list[str]], typer.Option(
        "--threads", show_default=False,
        help="CPU thread counts: 1 / 1,2,4 / 1-4, repeatable (default 1).")] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs (benchmark_model's num_runs).")] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Warm-up runs before timing.")] = 5,
    use_case: Annotated[Optional[list[str]], typer.Option(
        "--use-case", "-u", show_default=False,
        help="Check only these use cases, repeatable or comma-separated (face_unlock, ar_camera, "
             "gallery_identify); a lone model file is checked only against the use cases named here.")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", show_default=False, help="Write bench.json, bench.md and bench.png into this folder.")] = None,
    json_out: JsonOption = False,
    benchmark_binary: Annotated[Optional[Path], typer.Option(
        "--benchmark-binary", show_default=False,
        help="adb: TFLite's benchmark_model built for Android arm64.")] = None,
    serial: Annotated[Optional[str], typer.Option("--serial", "-s", show_default=False,
                                                  help="adb: the phone's serial (adb devices).")] = None,
    delegate: Annotated[Delegate, typer.Option("--delegate", help="adb: cpu (XNNPACK), gpu, nnapi, or qnn "
                                               "(Hexagon HTP through the QNN TFLite delegate).")] = Delegate.cpu,
    qnn_libs: Annotated[Optional[Path], typer.Option(
        "--qnn-libs", show_default=False,
        help="adb with --delegate qnn: folder of the QNN Android libraries (libQnnTFLiteDelegate.so, ...).")] = None,
    benchmark_arg: Annotated[Optional[list[str]], typer.Option(
        "--benchmark-arg", show_default=False,
        help="adb: one more benchmark_model flag, e.g. --benchmark-arg=--use_fp16=true (repeatable).")] = None,
    hub_runtime: Annotated[Optional[HubRuntime], typer.Option(
        "--runtime", show_default=False, help="hub: the target runtime (default: the file's own format).")] = None,
    compute_unit: Annotated[Optional[ComputeUnit], typer.Option(
        "--compute-unit", show_default=False, help="hub: the compute unit (AI Hub's default: the fastest).")] = None,
    isolate: Annotated[bool, typer.Option(
        "--isolate/--in-process",
        help="host: measure each model in a fresh process (peak RSS is then its own).")] = True,
    gallery_size: Annotated[int, typer.Option(
        "--gallery-size", min=0, help="Templates in the gallery the 1:N search stage is timed on (0: skip).")] = 10_000,
    sdk_binary: Annotated[Optional[Path], typer.Option(
        "--sdk-binary", show_default=False,
        help="adb: edgeface_bench built for Android arm64 (docs/bench.md): the whole SDK per stage (preprocess, "
             "detect, align, embed, search) and its peak memory, next to benchmark_model's model-only "
             "figures.")] = None,
    litert_lib: Annotated[Optional[Path], typer.Option(
        "--litert-lib", show_default=False,
        help="adb with --sdk-binary: libLiteRt.so for Android arm64 (jni/arm64-v8a of LiteRT's Android "
             "package).")] = None,
    images: Annotated[Optional[list[Path]], typer.Option(
        "--images", show_default=False,
        help="adb with --sdk-binary: photos with faces, or folders of them (repeatable): the frames timed.")] = None,
    gallery: Annotated[Optional[Path], typer.Option(
        "--gallery", show_default=False,
        help="adb with --sdk-binary: a saved gallery to search (default: --gallery-size random identities).")] = None,
) -> None:
    """Benchmark MODEL_OR_BUNDLE and check it against device budgets (exit code 1 when one is broken)."""
    from edgeface.bench.budgets import check_budgets, validate_use_cases
    from edgeface.bench.runner import AdbBench, BenchSettings, HostBench, HubBench, measure_target
    from edgeface.bench.target import open_target

    backend = _backend(on, HostBench(isolate=isolate),
                       AdbBench(binary=benchmark_binary, delegate=delegate.value, serial=serial, qnn_libs=qnn_libs,
                                extra_args=tuple(benchmark_arg or ()), sdk_binary=sdk_binary, litert_lib=litert_lib,
                                images=tuple(images or ()), gallery=gallery),
                       HubBench(runtime=hub_runtime, compute_unit=compute_unit))
    names = listed(profile)
    counts = parse_threads(",".join(listed(threads, ["1"])))
    settings = BenchSettings(threads=tuple(counts), runs=runs, warmup=warmup, gallery_size=gallery_size)
    target = open_target(model)
    profiles = backend.profiles(names)
    use_cases = listed(use_case) or None
    validate_use_cases(use_cases, target.is_bundle, target.roles())
    if not json_out:
        typer.echo(f"benchmarking {model} on {on.value}...", err=True)
    results = measure_target(backend, target, profiles, settings)
    if on is On.adb and sdk_binary is None:
        from edgeface.bench.sdk_adb import sdk_not_run_note

        typer.echo(f"note: {sdk_not_run_note()}", err=True)
    checks = check_budgets(results, {p.id: p for p in profiles}, use_cases, target.is_bundle,
                           target.roles())
    meta = _meta(model, on.value, names, list(settings.threads), runs, warmup, use_cases)
    _show_and_write(results, checks, meta, report, json_out, target, on.value, profiles, use_cases)
    _exit_on_broken_budgets(checks)


# the flags of one backend's options, as (flag, field of its options dataclass), in the order they are reported
ADB_FLAGS = (("--benchmark-binary", "binary"), ("--serial", "serial"), ("--qnn-libs", "qnn_libs"),
             ("--benchmark-arg", "extra_args"), ("--delegate", "delegate"), ("--sdk-binary", "sdk_binary"),
             ("--litert-lib", "litert_lib"), ("--images", "images"), ("--gallery", "gallery"))
HUB_FLAGS = (("--runtime", "runtime"), ("--compute-unit", "compute_unit"))


def _flags_given(options, flags) -> list[str]:
    """The flags whose option is set to something other than its backend's default."""
    default = type(options)()
    return [flag for flag, name in flags if getattr(options, name) and getattr(options, name) != getattr(default, name)]


def _backend(on: On, host, adb, hub):
    """The options of the ``--on`` backend; a flag of another backend is a user error."""
    from edgeface.bench.runner import EstimateBench
    from edgeface.bench.target import BenchError

    for options, flags in ((adb, ADB_FLAGS), (hub, HUB_FLAGS)):
        used = _flags_given(options, flags)
        if used and options.name != on.value:
            raise BenchError(f"{used[0]} is for --on {options.name} only (this run is --on {on.value})")
    return {On.host: host, On.adb: adb, On.hub: hub, On.estimate: EstimateBench()}[on]


def _show_and_write(results, checks, meta, report: Optional[Path], json_out: bool, target, on: str, profiles,
                    use_case) -> None:
    """The tables (or the JSON document) on stdout, and the report files when asked for."""
    warning = None
    written: list[Path] = []
    if report is not None:
        from edgeface.bench.report import write_report

        written, warning = write_report(report, results, checks, meta)
    if json_out:
        from edgeface.bench.report import report_document

        print_json(report_document(results, checks, meta))
    else:
        _print_tables(results, checks, target, on, profiles, use_case)
        for path in written:
            console().print(shown(f"wrote {path}"))
    if warning:
        typer.echo(f"warning: {warning}", err=True)


def _exit_on_broken_budgets(checks) -> None:
    from edgeface.bench.budgets import any_failed

    if any_failed(checks):
        failed = [c for c in checks if c.failed]
        typer.echo(f"budget broken: {len(failed)} of {len(checks)} checks failed "
                   f"({', '.join(sorted({f'{c.profile}/{c.use_case}' for c in failed}))})", err=True)
        raise typer.Exit(exit_codes.GATE_FAILED)


def _meta(model: Path, on: str, profiles: list[str], threads: list[int], runs: int, warmup: int,
          use_cases: Optional[list[str]]) -> dict[str, Any]:
    from edgeface import __version__

    parts = ["edgeface bench", str(model), "--on", on, *sum((["--profile", p] for p in profiles), []),
             "--threads", ",".join(map(str, threads)), "--runs", str(runs), "--warmup", str(warmup),
             *sum((["--use-case", u] for u in use_cases or []), [])]
    return {"command": " ".join(parts), "edgeface": __version__,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


STAGE_SHORT = {"detector": "det", "embedder": "emb", "align": "align", "search": "search", "model": "model"}


def _print_tables(results, checks, target, on: str, profiles, use_cases) -> None:
    from rich.table import Table
    from rich.text import Text

    from edgeface.bench.report import fmt_ms

    out = console()
    devices = list(dict.fromkeys(r.device for r in results))
    one_device = len(devices) == 1
    title = f"{target.label}: latency in ms" + (f" on {devices[0]}" if one_device else "")
    columns = ["model"] + ([] if one_device else ["device"]) + ["where", "runtime", "prec", "init", "median",
                                                                 "p90", "p99", "peak MB"]
    table = Table(*columns, title=shown(title))
    for r in results:
        name = r.extra.get("role", "model") if target.is_bundle else Path(r.model).name
        latency = r.median_ms if r.median_ms is not None else r.inference_avg_ms
        median = fmt_ms(latency)
        if r.estimate_low_ms is not None and r.estimate_high_ms is not None:
            median += f" ({fmt_ms(r.estimate_low_ms)}-{fmt_ms(r.estimate_high_ms)})"
        elif r.median_ms is None and latency is not None:
            median += " avg"
        where = f"{r.backend} {r.compute_unit}" + ("" if r.threads is None else f" x{r.threads}")
        row = [shown(name)] + ([] if one_device else [shown(r.device)]) + [
            where, r.runtime, r.precision, fmt_ms(r.init_ms), median, fmt_ms(r.p90_ms), fmt_ms(r.p99_ms),
            "-" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.1f}"]
        table.add_row(*row)
    out.print(table)
    _print_sdk_overhead(results)
    if checks:
        budgets = Table("profile", "use case", "where", "stages", "total", "budget", "verdict",
                        title="budgets in ms (median latency; docs/bench.md)")
        colour = {"pass": "[green]PASS[/]", "fail": "[red bold]FAIL[/]", "n/a": "[dim]n/a[/]"}
        for c in checks:
            where = f"{c.backend} {c.compute_unit}" + (f" x{c.threads}" if c.threads else "")
            stages = " + ".join(f"{STAGE_SHORT.get(k, k)} {fmt_ms(v)}" for k, v in c.stages.items())
            total = fmt_ms(c.latency_ms)
            if c.low_ms is not None and c.high_ms is not None:
                total += f" ({fmt_ms(c.low_ms)}-{fmt_ms(c.high_ms)})"
            verdict = Text.from_markup(colour[c.status]) + (shown(f" {c.note}", "dim") if c.note else "")
            budgets.add_row(shown(c.profile), c.use_case, where, shown(stages), total, fmt_ms(c.budget_ms),
                            verdict)
        out.print(budgets)
    elif not target.is_bundle and not use_cases:
        out.print("[dim]no budget checked: a lone model has no use case; name one with --use-case "
                  "(face_unlock, ar_camera, gallery_identify)[/]")
    elif not profiles:
        out.print(f"[dim]no budget checked: --on {on} was given no --profile for the device[/]")


def _print_sdk_overhead(results) -> None:
    """The whole SDK's frame next to its models' time, per profile (edgeface/bench/sdk_report.py)."""
    from edgeface.bench.sdk_report import OVERHEAD_HEADERS, OVERHEAD_NOTE, overhead_cells, sdk_overhead

    rows = sdk_overhead(results)
    if not rows:
        return
    from rich.table import Table

    table = Table(*OVERHEAD_HEADERS, title="the whole SDK per frame next to the models (means, ms)",
                  caption=shown(OVERHEAD_NOTE, "dim"))
    for row in rows:
        table.add_row(*(shown(cell) for cell in overhead_cells(row)))
    console().print(table)


@bench_app.command("validate-estimator", short_help="How far the latency estimator is from published "
                                                           "real-device measurements.")
@user_errors
def validate_estimator(
        reference: Annotated[str, typer.Option(
            help="The device whose measurement the transfer predictor starts from (AI Hub name).")] = "Samsung Galaxy S24",
        full: Annotated[bool, typer.Option(help="Also the transfer table per runtime and precision.")] = False,
        json_out: JsonOption = False) -> None:
    """How far the latency estimator is from Qualcomm's published real-device measurements
    (leave-one-model-out), beside a naive baseline computed in the same run."""
    from edgeface.bench.estimate import validate_graph, validate_transfer

    transfer, graph = validate_transfer(reference=reference), validate_graph()
    if json_out:
        return print_json({"transfer": transfer, "graph": graph})
    from rich.markdown import Markdown

    from edgeface.bench.validation import validation_markdown

    console().print(Markdown(validation_markdown(transfer, graph, full=full)))
