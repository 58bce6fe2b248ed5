#!/usr/bin/env python3
"""Renders the settings tables of docs/configuration.md from the services' Settings classes.

One source of truth: each setting's meaning is the docstring under its field in the
service's config.py (pydantic's `use_attribute_docstrings`), its default is the field's
default, or `json_schema_extra={"doc_default": ...}` where the raw value would mislead
(a required secret that defaults to empty, a path inside the installed package). The
variable name is what pydantic-settings reads: the field's aliases, else the prefix plus
the field name, upper-cased.

Each table sits between `<!-- BEGIN settings: NAME -->` and `<!-- END settings: NAME -->`
in docs/configuration.md; the text around the tables is written by hand. `--check` writes
nothing and exits 1 when the file differs from a fresh render (the drift test).
"""

from __future__ import annotations

import argparse
import enum
import importlib
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION_DOC = REPO_ROOT / "docs" / "configuration.md"

# (table name, module holding `Settings`)
SETTINGS_MODULES = (
    ("scheduling-api", "scheduling_api.config"),
    ("scheduling-api dispatch", "scheduling_api.dispatch.config"),
    ("token-service", "token_service.config"),
    ("agent-worker", "receptionist.config"),
    ("provider-sim", "provider_sim.config"),
    ("call-sim", "call_sim.config"),
)


class UndocumentedSettingError(ValueError):
    """A field without a docstring would be a setting nobody can find."""


def env_names(settings: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variables pydantic-settings reads for one field."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices]
    if isinstance(alias, str):
        return [alias.upper()]
    prefix = str(settings.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def _shown_default(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, Path):
        shown = value.relative_to(REPO_ROOT) if value.is_relative_to(REPO_ROOT) else value
        return f"`{shown}`"
    if isinstance(value, list | tuple):
        return f"`{','.join(str(item) for item in value)}`" if value else "empty"
    if value == "":
        return "empty"
    return f"`{value}`"


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "doc_default" in extra:
        return str(extra["doc_default"])
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return _shown_default(field.default_factory())
    return _shown_default(field.default)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_table(settings: type[BaseSettings], where: str) -> str:
    """The Markdown table of one Settings class, one row per field in declaration order."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in settings.model_fields.items():
        if not field.description:
            raise UndocumentedSettingError(
                f"{where}: Settings.{name} has no docstring. Write one under the field: "
                "it becomes the setting's row in docs/configuration.md"
            )
        variables = " or ".join(f"`{env}`" for env in env_names(settings, name, field))
        rows.append(f"| {variables} | {_cell(default_text(field))} | {_cell(field.description)} |")
    return "\n".join(rows)


def _settings_class(module_name: str) -> type[BaseSettings]:
    settings: type[BaseSettings] = importlib.import_module(module_name).Settings
    return settings


def render(document: str, tables: dict[str, str]) -> str:
    """`document` with the text between each table's markers replaced by the table."""
    for name, table in tables.items():
        block = re.compile(
            rf"(<!-- BEGIN settings: {re.escape(name)} [^>]*-->\n)(?:.*?\n)?"
            rf"(<!-- END settings: {re.escape(name)} -->)",
            re.DOTALL,
        )
        if not block.search(document):
            raise ValueError(
                f"docs/configuration.md has no '<!-- BEGIN settings: {name} ... -->' / "
                f"'<!-- END settings: {name} -->' markers for its table"
            )
        document = block.sub(
            lambda match, table=table: f"{match.group(1)}{table}\n{match.group(2)}", document
        )
    return document


def all_tables() -> dict[str, str]:
    return {
        name: render_table(_settings_class(module), f"{name} ({module})")
        for name, module in SETTINGS_MODULES
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="report drift instead of writing (exit 1 on drift)"
    )
    args = parser.parse_args()
    current = CONFIGURATION_DOC.read_text(encoding="utf-8")
    try:
        fresh = render(current, all_tables())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if fresh != current:
            print(
                "docs/configuration.md does not match the Settings classes: run `make docs` "
                "and commit the result",
                file=sys.stderr,
            )
            return 1
        print("docs/configuration.md matches the Settings classes")
        return 0
    if fresh != current:
        CONFIGURATION_DOC.write_text(fresh, encoding="utf-8")
        print("docs/configuration.md: settings tables updated")
    else:
        print("docs/configuration.md: already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
