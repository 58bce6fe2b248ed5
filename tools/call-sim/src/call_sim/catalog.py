"""The scenarios shipped with the package (`call_sim/scenarios/*.yaml`), or any file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from call_sim.scenario import CallScenario, CallScenarioError, parse_scenario_text

_PACKAGE_DIR = resources.files("call_sim") / "scenarios"


def names() -> list[str]:
    """Names of the packaged scenarios, in a stable order."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _PACKAGE_DIR.iterdir()
        if entry.name.endswith(".yaml")
    )


def load(name_or_path: str) -> CallScenario:
    """A packaged scenario by name (`booking`), or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise CallScenarioError(f"{path}: cannot read: {error.strerror}") from None
        return parse_scenario_text(text, source=str(path))
    packaged = _PACKAGE_DIR / f"{name_or_path}.yaml"
    if not packaged.is_file():
        known = ", ".join(names())
        raise CallScenarioError(f"no scenario named {name_or_path!r} (packaged: {known})")
    return parse_scenario_text(packaged.read_text(encoding="utf-8"), source=f"{name_or_path}.yaml")
