"""``edgeface profiles list|show|socs``: the device profiles the benchmark harness checks against,
and the Snapdragon SoCs that --soc takes."""

from __future__ import annotations

from typing import Annotated

import typer

from edgeface.cli.common import JsonOption, console, keep_whole, print_json, shown, user_errors

profiles_app = typer.Typer(
    no_args_is_help=True,
    help="Device profiles: real phones, boards and laptops (SoC, Hexagon arch, CPU clusters, RAM) "
         "with a latency budget per use case, plus this host.")


@profiles_app.command("list")
@user_errors
def list_command(json_out: JsonOption = False) -> None:
    """Every device profile: id, device, SoC, Hexagon arch, compute units, budgets."""
    from edgeface.bench.profiles import USE_CASES, list_profiles

    profiles = list_profiles()
    if json_out:
        return print_json([p.to_dict() for p in profiles])
    from rich.table import Table

    table = Table("id", "device", "chipset", "SoC", "Hexagon", "CPU", "RAM", "units",
                  *(f"{u} ms" for u in USE_CASES), title="device profiles")
    keep_whole(table.columns[0], (p.id for p in profiles))
    for p in profiles:
        cpu = " + ".join(f"{c.count}x{c.ghz:g}" for c in p.cpu_clusters)
        table.add_row(shown(p.id), shown(p.name), shown(p.chipset), p.soc.part if p.soc else "-",
                      f"{p.hexagon} (soc {p.soc_model})" if p.soc else "-", f"{cpu} GHz",
                      f"{p.ram_gb:g} GB" if p.ram_gb else "-", ",".join(p.compute_units),
                      *(f"{p.budgets[u]:g}" for u in USE_CASES))
    console().print(table)


@profiles_app.command("socs")
@user_errors
def socs_command(json_out: JsonOption = False) -> None:
    """The Snapdragon SoCs edgeface knows (device_profiles/socs.yaml): the part numbers --soc takes."""
    from dataclasses import asdict

    from edgeface.socs import load_socs

    socs = load_socs().values()
    if json_out:
        return print_json([{**asdict(soc), "hexagon": soc.hexagon} for soc in socs])
    from rich.table import Table

    table = Table("part", "name", "chipset", "Hexagon", "soc_model", "fp16 on HTP", title="Snapdragon SoCs")
    keep_whole(table.columns[0], (soc.part for soc in socs))
    for soc in socs:
        table.add_row(soc.part, soc.marketing_name, soc.chipset, soc.hexagon, str(soc.soc_model),
                      "yes" if soc.supports_fp16 else "no")
    console().print(table)


@profiles_app.command("show")
@user_errors
def show_command(name: Annotated[str, typer.Argument(
        help="Profile id (galaxy-s24), device name, AI Hub device name, 'host', or a profile .yaml file.",
        show_default=False)],
        json_out: JsonOption = False) -> None:
    """One profile in full, with the source of every figure."""
    from edgeface.bench.profiles import USE_CASES, load_profile

    p = load_profile(name)
    if json_out:
        return print_json(p.to_dict())
    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text.assemble(shown(p.name, "bold"), shown(f" ({p.id}, {p.kind})"),
                            shown(f"  {p.path}", "dim") if p.path else ""))
    table = Table("field", "value", "source", show_lines=False)

    def row(field: str, value: str, source_key: str | None = None) -> None:
        table.add_row(field, shown(value), shown(p.sources.get(source_key or field, "")))

    row("chipset", p.chipset)
    if p.soc:
        row("soc", f"{p.soc.part} ({p.soc.chipset}); Hexagon {p.hexagon}, soc_model {p.soc_model}, "
                   f"fp16 on HTP: {'yes' if p.soc.supports_fp16 else 'no'}")
    row("hub_device", p.hub_device or "- (not on AI Hub)")
    row("hub_attributes", ", ".join(p.hub_attributes) or "-", "hub_device")
    row("calibration_device", p.calibration_device or "-")
    row("compute_units", ", ".join(p.compute_units))
    row("cpu_clusters", "; ".join(f"{c.count}x {c.core} @ {c.ghz:g} GHz" for c in p.cpu_clusters))
    row("cpu_features", ", ".join(p.cpu_features) or "-")
    row("gpu", p.gpu or "-")
    row("ram_gb", f"{p.ram_gb:g}" if p.ram_gb else "- (not published)")
    for use_case, ms in p.budgets.items():
        row(f"budget {use_case}", f"{ms:g} ms ({USE_CASES[use_case].description})", "budgets_ms")
    out.print(table)
    if p.notes:
        out.print(shown(p.notes, "dim"))
