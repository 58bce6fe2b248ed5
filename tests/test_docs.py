"""The documentation: every link resolves, and docs/configuration.md holds every setting.

Links are checked in every Markdown file a reader reaches from the README: the README,
CHANGELOG.md, docs/ and each folder's README. A relative link must name a file or folder
that exists; a `#fragment` must name a heading of the target (GitHub's anchors). Links to
other sites cannot be fetched offline and are left alone.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
RENDERER = REPO_ROOT / "scripts" / "render-settings-docs.py"
SKIPPED_FOLDERS = {".git", ".venv", ".tools", "node_modules", ".artifacts", "dist"}

_FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)=["']([^"']+)["']""")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, tel:


def markdown_files() -> list[Path]:
    docs = sorted((REPO_ROOT / "docs").rglob("*.md"))
    readmes = sorted(
        path
        for path in REPO_ROOT.rglob("README.md")
        if not SKIPPED_FOLDERS & set(path.relative_to(REPO_ROOT).parts)
    )
    return [REPO_ROOT / "CHANGELOG.md", *docs, *readmes]


def _prose(text: str) -> str:
    """The text without code, where link-like strings are not links."""
    return _INLINE_CODE.sub("", _FENCED_CODE.sub("", text))


def links(text: str) -> list[str]:
    prose = _prose(text)
    found = _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)
    return found + _HTML_LINK.findall(prose)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats
    numbered."""
    seen: dict[str, int] = {}
    result = set()
    for heading in _HEADING.findall(_FENCED_CODE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        if file_part.startswith("/"):
            resolved = REPO_ROOT / file_part.lstrip("/")
        else:
            resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif (
            fragment
            and resolved.suffix == ".md"
            and fragment not in anchors(resolved.read_text(encoding="utf-8"))
        ):
            problems.append(f"{target}: no heading #{fragment} in {resolved.name}")
    return problems


def test_the_documents_a_reader_is_sent_to_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for name in (
        "configuration",
        "metrics",
        "benchmarks",
        "latency",
        "integrating",
        "receptionist",
        "web-client",
        "deploying",
    ):
        assert f"(docs/{name}.md)" in readme, f"the README does not link docs/{name}.md"
    assert "(CHANGELOG.md)" in readme


def test_the_readme_stays_a_front_door() -> None:
    """What it is, what you need and what you type, on the first screen; the rest in docs/."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    first_screen = "\n".join(readme.splitlines()[:45])
    for must in ("Python 3.11", "Node.js", "Go 1.26", "make demo", "make dev", "make test"):
        assert must in first_screen, f"{must!r} is not on the README's first screen"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_sees_broken_links_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The token service — web callers\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Run `make demo`\n\n"
        "[ok](other.md#the-token-service--web-callers) [ok](#run-make-demo) "
        "[gone](missing.md) [bad](other.md#nope) [site](https://example.com/x)\n"
        '<img src="gone.png"> `[not a link](code.md)`\n\n```\n[nor this](x.md)\n```\n'
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nope: no heading #nope in other.md",
        "gone.png: no such file",
    ]


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_settings_docs", RENDERER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_matches_every_settings_class() -> None:
    """The tables are generated (`make docs`): a new or changed setting fails here until
    docs/configuration.md is regenerated."""
    result = subprocess.run(
        [sys.executable, str(RENDERER), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_of_every_service_is_in_configuration_doc() -> None:
    renderer = _renderer()
    document = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    checked = 0
    for _name, module in renderer.SETTINGS_MODULES:
        settings = importlib.import_module(module).Settings
        for field_name, field in settings.model_fields.items():
            for env in renderer.env_names(settings, field_name, field):
                assert f"| `{env}`" in document or f" or `{env}`" in document, (
                    f"{env} ({module}.Settings.{field_name}) is not in docs/configuration.md"
                )
                checked += 1
    assert checked >= 100


def test_an_undocumented_setting_cannot_be_rendered() -> None:
    renderer = _renderer()

    class Documented(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="DEMO_", use_attribute_docstrings=True)

        port: int = 8000
        """The port."""
        token: str = Field(default="", json_schema_extra={"doc_default": "**required**"})
        """A token."""
        hosts: list[str] = Field(default_factory=lambda: ["a", "b"])
        """Hosts."""

    assert renderer.render_table(Documented, "demo").splitlines()[2:] == [
        "| `DEMO_PORT` | `8000` | The port. |",
        "| `DEMO_TOKEN` | **required** | A token. |",
        "| `DEMO_HOSTS` | `a,b` | Hosts. |",
    ]

    class Undocumented(BaseSettings):
        model_config = SettingsConfigDict(use_attribute_docstrings=True)

        secret_knob: int = 1

    with pytest.raises(renderer.UndocumentedSettingError, match="secret_knob has no docstring"):
        renderer.render_table(Undocumented, "demo")
