"""The service images, checked statically (no Docker engine runs here).

One Dockerfile (services/Dockerfile) builds every service: its SERVICE argument names
the folder, its target the service's final stage. Each image, read as the stages its
target needs, must be multi-stage on a slim Python 3.11 base, install its dependencies
in a layer before the source is copied, ship no compiler in the final stage, run as a
numeric non-root user matching the chart's securityContext, start the service's own
console script on the port the chart expects, and copy only files the build context
(.dockerignore) really sends.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "services" / "Dockerfile"
CHART_VALUES = REPO_ROOT / "deploy" / "helm" / "bright-smile" / "values.yaml"
SERVICES = sorted(path.parent.name for path in REPO_ROOT.glob("services/*/pyproject.toml"))
PORTS = {
    "scheduling-api": {8000},
    "token-service": {8001},
    "agent-worker": {8081, 9100},
    "provider-sim": {8090},
}
COMPILERS = re.compile(
    r"\b(gcc|g\+\+|clang|cc|build-essential|cmake|make|rustc|cargo|python3?-dev)\b"
)


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)


def parse_dockerfile(text: str) -> Dockerfile:
    """Instructions with continuation lines joined and comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    assert not buffer, "dangling line continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arguments.strip(), re.IGNORECASE)
            assert match, f"unreadable FROM: {line}"
            stages.append(Stage(name=match.group(2) or str(len(stages)), base=match.group(1)))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = arguments.partition("=")
            args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return Dockerfile(args=args, stages=stages)


def _flattened(shared: Dockerfile, name: str, service: str) -> Stage:
    """A stage with the instructions of the stages it is built FROM prepended, and the
    SERVICE build argument filled in, as the builder sees it for this service."""
    stage = shared.stage(name)
    instructions = [
        Instruction(i.keyword, i.arguments.replace("${SERVICE}", service))
        for i in stage.instructions
    ]
    if stage.base in {s.name for s in shared.stages}:
        parent = _flattened(shared, stage.base, service)
        return Stage(name, parent.base, parent.instructions + instructions)
    return Stage(name, stage.base, instructions)


def dockerfile(service: str) -> Dockerfile:
    """The image of one service: the stages its target needs, its target last."""
    assert DOCKERFILE.exists(), f"{DOCKERFILE.relative_to(REPO_ROOT)} is missing"
    shared = parse_dockerfile(DOCKERFILE.read_text())
    assert service in {s.name for s in shared.stages}, f"no final stage named {service}"
    needed: list[str] = []
    pending = [service]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.append(name)
        stage = shared.stage(name)
        pending += [stage.base] if stage.base in {s.name for s in shared.stages} else []
        pending += [m for i in stage.of("COPY") for m in re.findall(r"--from=(\S+)", i.arguments)]
    stages = [_flattened(shared, s.name, service) for s in shared.stages if s.name in needed]
    stages.sort(key=lambda stage: stage.name == service)
    return Dockerfile(args=shared.args, stages=stages)


def resolved_base(image: Dockerfile, stage: Stage) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: image.args[m.group(1)], stage.base)


def exec_form(arguments: str) -> list[str]:
    value = yaml.safe_load(arguments)
    assert isinstance(value, list), f"use the exec (JSON) form: {arguments}"
    return [str(item) for item in value]


# --- .dockerignore (Docker's rules: last matching pattern wins; a match on a parent
# directory, excluding or re-including, covers everything below it) -------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    path = REPO_ROOT / ".dockerignore"
    assert path.exists(), ".dockerignore is missing at the repository root"
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern_regex(line.lstrip("!").strip("/"))))
    return rules


def sent_to_docker(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return not excluded


# --- tests ---------------------------------------------------------------------------


def test_every_service_has_an_image_and_every_image_a_service() -> None:
    assert set(SERVICES) == set(PORTS), "a service without an image (or a stale port table)"
    for service in SERVICES:
        dockerfile(service)
    shared = parse_dockerfile(DOCKERFILE.read_text())
    used = {s.base for s in shared.stages} | {
        m
        for s in shared.stages
        for c in s.of("COPY")
        for m in re.findall(r"--from=(\S+)", c.arguments)
    }
    final_stages = {s.name for s in shared.stages if s.name not in used}
    assert final_stages == set(SERVICES), "a final stage for no service (or a service without)"


def test_stages_using_service_declare_it() -> None:
    """A build argument reaches only the stages that declare it (`ARG SERVICE`): without
    it, `services/${SERVICE}/src` is `services//src` and the build fails."""
    for stage in parse_dockerfile(DOCKERFILE.read_text()).stages:
        uses = [i for i in stage.instructions if "SERVICE" in i.arguments and i.keyword != "ARG"]
        if uses:
            assert "SERVICE" in [i.arguments for i in stage.of("ARG")], stage.name


def test_build_script_builds_each_service_from_its_own_stage() -> None:
    script = (REPO_ROOT / "scripts" / "build-images.sh").read_text()
    assert "dockerfile=services/Dockerfile" in script
    assert '--build-arg "SERVICE=$image" --target "$image"' in script


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_multi_stage_on_slim_python_311(service: str) -> None:
    image = dockerfile(service)
    assert len(image.stages) >= 2
    assert image.final.name == service
    python_stages = [s for s in image.stages if resolved_base(image, s).startswith("python:")]
    assert image.final in python_stages
    for stage in python_stages:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", resolved_base(image, stage))
    assert "build" in {stage.name for stage in image.stages}


@pytest.mark.parametrize("service", SERVICES)
def test_dependencies_are_installed_before_the_source_is_copied(service: str) -> None:
    build = dockerfile(service).stage("build")
    steps = [(i.keyword, i.arguments) for i in build.instructions]

    def index_of(keyword: str, pattern: str) -> int:
        for index, (kind, arguments) in enumerate(steps):
            if kind == keyword and re.search(pattern, arguments):
                return index
        pytest.fail(f"{service}: no {keyword} matching {pattern!r} in the build stage")

    manifest = index_of("COPY", rf"services/{service}/pyproject\.toml")
    dependencies = index_of("RUN", r"pip install .*-r requirements\.txt")
    source = index_of("COPY", rf"services/{service}/src")
    own_install = index_of("RUN", r"pip install --no-deps \.")
    assert manifest < dependencies < source < own_install
    # Nothing but the manifest may reach the image before the dependency layer.
    assert [s for s in steps[:dependencies] if s[0] in {"COPY", "ADD"}] == [steps[manifest]]


@pytest.mark.parametrize("service", SERVICES)
def test_dependency_list_command_reads_the_pyproject(service: str, tmp_path: Path) -> None:
    """Run the build stage's dependency-extraction command on the real pyproject."""
    build = dockerfile(service).stage("build")
    run = next(i.arguments for i in build.of("RUN") if "requirements.txt" in i.arguments)
    command = [word for word in shlex.split(run.split(">", 1)[0]) if not word.startswith("--")]
    assert command[:2] == ["python", "-c"]
    (tmp_path / "pyproject.toml").write_bytes(
        (REPO_ROOT / "services" / service / "pyproject.toml").read_bytes()
    )
    printed = subprocess.run(
        [sys.executable, "-c", command[2]], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    assert [line for line in printed if line] == project["dependencies"]


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_has_no_compilers_and_installs_nothing(service: str) -> None:
    image = dockerfile(service)
    for instruction in image.final.of("RUN"):
        assert not COMPILERS.search(instruction.arguments), instruction.arguments
        assert "pip install" not in instruction.arguments
        assert "apt-get install" not in instruction.arguments
    # The compilers the build stage may install never leave it: only the venv (and
    # build outputs) are copied over, never system directories.
    for copy in image.final.of("COPY"):
        if "--from=" in copy.arguments:
            sources = copy.arguments.split()[1:-1]
            assert all(src.startswith(("/opt/", "/web/dist")) for src in sources), copy.arguments


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_the_charts_numeric_non_root_user(service: str) -> None:
    values = yaml.safe_load(CHART_VALUES.read_text())
    uid = values["containerSecurityContext"]["runAsUser"]
    gid = values["containerSecurityContext"]["runAsGroup"]
    users = dockerfile(service).final.of("USER")
    assert users, "the runtime stage sets no USER"
    assert users[-1].arguments == f"{uid}:{gid}"
    assert uid != 0
    last_user = max(
        i for i, ins in enumerate(dockerfile(service).final.instructions) if ins.keyword == "USER"
    )
    later = dockerfile(service).final.instructions[last_user + 1 :]
    assert not [ins for ins in later if ins.keyword == "RUN"], (
        "RUN after USER runs as that user only by accident"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_starts_the_console_script_on_the_charts_ports(service: str) -> None:
    image = dockerfile(service)
    project = tomllib.loads((REPO_ROOT / "services" / service / "pyproject.toml").read_text())
    (entrypoint,) = image.final.of("ENTRYPOINT")
    assert exec_form(entrypoint.arguments) == [service]
    assert service in project["project"]["scripts"]
    exposed = {int(port) for ins in image.final.of("EXPOSE") for port in ins.arguments.split()}
    assert exposed == PORTS[service]


def test_agent_image_prefetches_models_and_starts_the_worker() -> None:
    image = dockerfile("agent-worker")
    models = image.stage("models")
    assert any("livekit.agents download-files" in run.arguments for run in models.of("RUN"))
    # From the dependencies alone: a change to the source does not fetch them again.
    assert not [c for c in models.of("COPY") if "/src" in c.arguments]
    assert any("--from=models /opt/models" in copy.arguments for copy in image.final.of("COPY"))
    env = " ".join(ins.arguments for ins in image.final.of("ENV"))
    assert "HF_HUB_OFFLINE=1" in env
    assert "HF_HOME=/opt/models/huggingface" in env
    (cmd,) = image.final.of("CMD")
    assert exec_form(cmd.arguments) == ["start"]


def test_token_image_ships_the_built_web_client() -> None:
    image = dockerfile("token-service")
    web = image.stage("web")
    assert any("npm ci" in run.arguments for run in web.of("RUN"))
    copy = next(c for c in image.final.of("COPY") if "--from=web" in c.arguments)
    destination = copy.arguments.split()[-1]
    env = " ".join(ins.arguments for ins in image.final.of("ENV"))
    assert f"WEB_CLIENT_DIR={destination}" in env


@pytest.mark.parametrize("service", SERVICES)
def test_copied_files_are_in_the_build_context(service: str) -> None:
    rules = dockerignore_rules()
    image = dockerfile(service)
    for stage in image.stages:
        for copy in stage.of("COPY"):
            if "--from=" in copy.arguments:
                continue
            for source in copy.arguments.split()[:-1]:
                path = REPO_ROOT / source
                assert path.exists(), f"{service}: COPY source {source} does not exist"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                wanted = [
                    f.relative_to(REPO_ROOT).as_posix()
                    for f in files
                    if "__pycache__" not in f.parts
                    and not any(p.endswith(".egg-info") for p in f.parts)
                ]
                assert wanted, f"{service}: COPY {source} copies nothing"
                missing = [f for f in wanted if not sent_to_docker(f, rules)]
                assert not missing, f"{service}: .dockerignore drops {missing[:5]}"


def test_dockerignore_reincludes_folders_by_name_for_buildah() -> None:
    """buildah and podman re-include nothing under `dir` for `!dir/**` alone: the build
    fails with "no items matching glob". `!dir` re-includes it for every builder."""
    negated = [
        line.strip()[1:]
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip().startswith("!")
    ]
    for pattern in negated:
        if pattern.endswith("/**"):
            assert pattern[: -len("/**")] in negated, f"!{pattern} without !{pattern[:-3]}"


@pytest.mark.parametrize("service", SERVICES)
def test_builds_need_no_frontend_image(service: str) -> None:
    """A `# syntax=` line makes BuildKit fetch a frontend image from Docker Hub, which
    fails in air-gapped builds; the built-in frontend understands this Dockerfile."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)


@pytest.mark.parametrize("service", SERVICES)
def test_base_images_are_build_arguments_with_official_defaults(service: str) -> None:
    """Every FROM is a build argument (so a local stand-in can replace it), defaulting to
    the official image; pip trusts an extra CA only through the build secret."""
    image = dockerfile(service)
    for stage in image.stages:
        if stage.base.startswith("${"):
            continue
        assert stage.base in {s.name for s in image.stages}, f"FROM {stage.base} is hard-coded"
    assert image.args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    for run in (i for stage in image.stages for i in stage.of("RUN")):
        if re.search(r"\b(pip|npm) (install|ci)\b", run.arguments):
            assert run.arguments.startswith("--mount=type=secret,id=pip-ca "), run.arguments
    for instruction in image.final.instructions:
        assert "pip-ca" not in instruction.arguments, "the CA must not reach the runtime image"


def test_dockerignore_keeps_local_clutter_out_of_the_context() -> None:
    rules = dockerignore_rules()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        ".tools/bin/helm",
        "web/node_modules/esbuild/package.json",
        "services/scheduling-api/src/scheduling_api/__pycache__/app.cpython-311.pyc",
        "services/scheduling-api/src/scheduling_api.egg-info/PKG-INFO",
        "services/scheduling-api/tests/test_sched_api.py",
        "deploy/k8s/kustomization.yaml",
    ):
        assert not sent_to_docker(path, rules), f"{path} would be sent to the Docker daemon"


def test_readme_install_steps_push_the_images_they_install() -> None:
    """The install points the cluster at IMAGE_REGISTRY: a step before it must push there
    (building alone leaves every pod in ImagePullBackOff)."""
    for readme in (REPO_ROOT / "deploy" / "README.md", REPO_ROOT / "README.md"):
        steps = ""
        for block in re.split(r"^```.*$", readme.read_text(), flags=re.M)[1::2]:
            if "helm install" not in block:
                steps += block
                continue
            steps += block.split("helm install", 1)[0]
            assert re.search(r"make (push-images|images .*IMAGE_PUSH=1)", steps), steps
            return
    pytest.fail("no `helm install` command in README.md or deploy/README.md")
