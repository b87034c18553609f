"""The Qualcomm SoC table: part number -> Hexagon (HTP) arch and the QNN ``soc_model`` id.

A QNN context binary is built for one SoC; the compiler needs that SoC's ``soc_model``
number and HTP arch. Both come from ``device_profiles/socs.yaml``, generated from the
``devices_and_chipsets.yaml`` that Qualcomm publishes in the ``qai-hub-models`` wheel
(``scripts/import_qai_hub_models.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from edgeface.errors import EdgefaceError, show


class UnknownSocError(EdgefaceError):
    """A SoC name that is not in the table."""


@dataclass(frozen=True, slots=True)
class Soc:
    part: str             # SM8650
    chipset: str          # qualcomm-snapdragon-8gen3 (AI Hub's chipset id)
    marketing_name: str   # Snapdragon 8 Gen 3 Mobile
    htp_arch: int         # 75 (Hexagon v75)
    soc_model: int        # 57 (QNN's SoC id)
    supports_fp16: bool
    aliases: tuple[str, ...]

    @property
    def hexagon(self) -> str:
        return f"v{self.htp_arch}"


@functools.cache
def load_socs() -> dict[str, Soc]:
    from importlib import resources

    from edgeface.safe_yaml import parse_yaml

    text = resources.files("edgeface.device_profiles").joinpath("socs.yaml").read_text()
    table = parse_yaml(text, EdgefaceError, "device_profiles/socs.yaml")["socs"]
    return {part: Soc(part=part, chipset=row["chipset"], marketing_name=row["marketing_name"],
                      htp_arch=int(row["htp_arch"]), soc_model=int(row["soc_model"]),
                      supports_fp16=bool(row.get("supports_fp16", False)),
                      aliases=tuple(row.get("aliases", ())))
            for part, row in table.items()}


def _key(name: str) -> str:
    return name.strip().lower().removeprefix("qualcomm-")


def find_soc(name: str) -> Soc:
    """Look a SoC up by part number (SM8650, sm8650), chipset id or alias
    (qualcomm-snapdragon-8gen3, snapdragon-8gen3, sm8750-ac)."""
    wanted = _key(name)
    for soc in load_socs().values():
        names = {soc.part, soc.chipset, *soc.aliases}
        if wanted in {_key(n) for n in names}:
            return soc
    known = ", ".join(load_socs())
    raise UnknownSocError(f"unknown SoC {show(name)}: use a part number from device_profiles/socs.yaml ({known})")
