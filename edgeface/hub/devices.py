"""``--device``: an AI Hub device name, a SoC, or a device profile id -> ``qai_hub.Device``.

- a device profile id or name (``device_profiles/``, :func:`edgeface.bench.profiles.load_profile`):
  the profile's ``hub_device``, else a device with the profile's SoC (``chipset:...``);
- a Qualcomm SoC part number, chipset id or alias known to :mod:`edgeface.socs` (SM8650,
  qualcomm-snapdragon-8gen3): ``Device(attributes="chipset:<chipset id>")``, and AI Hub picks a
  device with that chipset;
- ``chipset:...`` or another ``key:value`` AI Hub attribute, passed as is;
- anything else: an AI Hub device name, exactly as ``qai-hub list-devices`` prints it
  ("Samsung Galaxy S24 (Family)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgeface.hub import HubError, require_client


@dataclass(frozen=True)
class DeviceChoice:
    name: str = ""                    # AI Hub device name, or "" for an attribute selection
    attributes: tuple[str, ...] = ()  # ("chipset:qualcomm-snapdragon-8gen3",)
    profile: Optional[str] = None     # the device profile id it came from
    soc: Optional[str] = None         # the SoC part number it came from
    given: str = ""                   # what the user typed

    def to_device(self):
        hub = require_client()
        return hub.Device(name=self.name, attributes=list(self.attributes))

    def describe(self) -> str:
        return self.name or ", ".join(self.attributes)


def _from_profile(text: str) -> Optional[DeviceChoice]:
    try:
        from edgeface.bench.profiles import load_profile  # device profiles (device_profiles/*.yaml)
    except ImportError:
        return None
    try:
        profile = load_profile(text)
    except Exception:  # not a profile id or name (its own error type): try the other readings
        return None
    soc = getattr(profile, "soc", None)
    if getattr(profile, "hub_device", None):
        return DeviceChoice(name=str(profile.hub_device), profile=profile.id,
                            soc=getattr(soc, "part", None), given=text)
    if soc is not None:  # no such device on AI Hub: one with the same chipset
        return DeviceChoice(attributes=(f"chipset:{soc.chipset}",), profile=profile.id, soc=soc.part, given=text)
    raise HubError(f"--device {text}: device profile {profile.id!r} has no Qualcomm SoC and no AI Hub device "
                   f"(AI Hub runs Snapdragon devices): give an AI Hub device name or a SoC part number")


def resolve_device(text: str, allow_profile: bool = True) -> DeviceChoice:
    """Read ``--device``; see the module docstring for the order."""
    text = (text or "").strip()
    if not text:
        raise HubError("no device given: pass --device with an AI Hub device name (\"Samsung Galaxy S24 "
                       "(Family)\", see `qai-hub list-devices`), a SoC part number (SM8650) or a device "
                       "profile id")
    if allow_profile:
        choice = _from_profile(text)
        if choice is not None:
            return choice
    if ":" in text and " " not in text.split(":", 1)[0]:
        return DeviceChoice(attributes=(text,), given=text)
    from edgeface.socs import UnknownSocError, find_soc

    try:
        soc = find_soc(text)
    except UnknownSocError:
        return DeviceChoice(name=text, given=text)
    return DeviceChoice(attributes=(f"chipset:{soc.chipset}",), soc=soc.part, given=text)
