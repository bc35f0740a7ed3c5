"""The install descriptions agree with the package and with each other, checked without any tool.

One version number (lynn_mcp/__init__.py) reaches pyproject.toml (hatch reads it), manifest.json
(the MCP Bundle) and server.json (the MCP Registry). Both descriptions validate against their
schemas (copies under tests/schemas/, each naming its source), and the variables they set are the
server's own settings, secret exactly when the setting is a secret. Building, packing and running
them: tests/test_packaging_tools.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import SecretStr

import lynn_mcp
from lynn_mcp.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
USER_CONFIG_REF = re.compile(r"^\$\{user_config\.([a-z_]+)\}$")


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def manifest() -> dict[str, Any]:
    return dict(load_json(ROOT / "manifest.json"))


def server_json() -> dict[str, Any]:
    return dict(load_json(ROOT / "server.json"))


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def schema_problems(document: Any, schema_file: str) -> list[str]:
    schema = load_json(SCHEMAS / schema_file)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = validator.iter_errors(document)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors]


def is_secret_setting(env_name: str) -> bool:
    field = Settings.model_fields[env_name.removeprefix("LYNN_").lower()]
    return SecretStr in getattr(field.annotation, "__args__", (field.annotation,))


def registry_package() -> dict[str, Any]:
    (package,) = server_json()["packages"]
    return dict(package)


def bundle_env() -> dict[str, str]:
    return dict(manifest()["server"]["mcp_config"]["env"])


# --- one version number -----------------------------------------------------------------------------


def test_one_version_number_everywhere() -> None:
    version = lynn_mcp.__version__
    project = pyproject()
    assert "version" not in project["project"], "pyproject.toml must not repeat the version"
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "lynn_mcp/__init__.py"
    found = {
        "manifest.json version": manifest()["version"],
        "server.json version": server_json()["version"],
        "server.json packages[0].version": registry_package()["version"],
    }
    assert found == dict.fromkeys(found, version), f"set each to lynn_mcp.__version__ ({version})"


def test_version_is_plain_major_minor_patch() -> None:
    # PEP 440 writes a pre-release `0.2.0rc1`, semver (mcpb) `0.2.0-rc.1`: only X.Y.Z is the same
    # string in the wheel, the bundle and the registry.
    assert re.fullmatch(r"\d+\.\d+\.\d+", lynn_mcp.__version__)


# --- MCP Registry: server.json ----------------------------------------------------------------------


def test_registry_schema_copy_names_its_source() -> None:
    schema = load_json(SCHEMAS / "mcp-registry-server.schema.json")
    assert "modelcontextprotocol/registry" in schema["$comment"]
    assert schema["$id"] == server_json()["$schema"]


def test_server_json_validates_against_the_registry_schema() -> None:
    assert schema_problems(server_json(), "mcp-registry-server.schema.json") == []


def test_registry_schema_check_can_fail() -> None:
    broken = server_json() | {"description": "x" * 101, "name": "lynn-mcp"}
    problems = schema_problems(broken, "mcp-registry-server.schema.json")
    assert any(problem.startswith("description:") for problem in problems)
    assert any(problem.startswith("name:") for problem in problems)


def test_server_json_names_the_pypi_package_run_by_uvx_over_stdio() -> None:
    document = server_json()
    assert re.fullmatch(r"io\.github\.[A-Za-z0-9-]+/lynn-mcp", document["name"])
    assert len(document["description"]) <= 100
    package = registry_package()
    assert package["registryType"] == "pypi"
    assert package["identifier"] == pyproject()["project"]["name"]
    assert package["runtimeHint"] == "uvx"
    assert package["transport"] == {"type": "stdio"}


def test_readme_carries_the_registry_name_for_pypi() -> None:
    # The registry checks PyPI ownership by finding `mcp-name: <name>` in the package's README.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"mcp-name: (\S+)", readme) == [server_json()["name"]]


# --- MCP Bundle: manifest.json ----------------------------------------------------------------------


def test_mcpb_schema_copy_names_its_source() -> None:
    assert "@anthropic-ai/mcpb" in load_json(SCHEMAS / "mcpb-manifest-v0.4.schema.json")["$comment"]


def test_manifest_validates_against_the_mcpb_schema() -> None:
    assert schema_problems(manifest(), "mcpb-manifest-v0.4.schema.json") == []


def test_mcpb_schema_check_can_fail() -> None:
    broken = manifest()
    del broken["server"]["mcp_config"]
    broken["manifest_version"] = "0.3"
    problems = schema_problems(broken, "mcpb-manifest-v0.4.schema.json")
    assert any(problem.startswith("server:") for problem in problems)
    assert any(problem.startswith("manifest_version:") for problem in problems)


def test_manifest_runs_the_console_script_with_uv() -> None:
    document = manifest()
    assert document["manifest_version"] == "0.4"
    assert document["name"] == pyproject()["project"]["name"]
    server = document["server"]
    assert server["type"] == "uv"
    assert (ROOT / server["entry_point"]).is_file()
    config = server["mcp_config"]
    assert config["command"] == "uv"
    assert config["args"][-1] in pyproject()["project"]["scripts"]
    assert "${__dirname}" in config["args"]


def test_manifest_user_config_is_wired_to_the_environment() -> None:
    user_config = manifest()["user_config"]
    refs = {env: USER_CONFIG_REF.fullmatch(value) for env, value in bundle_env().items()}
    assert all(refs.values()), f"every variable is one user_config value: {bundle_env()}"
    wired = {env: match.group(1) for env, match in refs.items() if match}
    assert sorted(wired.values()) == sorted(user_config), "every user_config value reaches the server"
    assert set(wired) == {
        "LYNN_TENANT",
        "LYNN_ACCESS_TOKEN",
        "LYNN_ACCESS_TOKEN_SECRET",
        "LYNN_BASE_URL",
        "LYNN_READ_ONLY",
    }
    for env, key in wired.items():
        assert user_config[key].get("sensitive", False) is is_secret_setting(env), env


# --- both descriptions against the server's settings ------------------------------------------------


def described_variables(describe: str) -> dict[str, tuple[bool, Any]]:
    """{variable: (required, default)} as the bundle or the registry describes it."""
    if describe == "registry":
        return {
            variable["name"]: (variable.get("isRequired", False), variable.get("default"))
            for variable in registry_package()["environmentVariables"]
        }
    user_config = manifest()["user_config"]
    described = {}
    for env, ref in bundle_env().items():
        option = user_config[ref.removeprefix("${user_config.").removesuffix("}")]
        described[env] = (option.get("required", False), option.get("default"))
    return described


def as_registry_string(value: Any) -> str:
    """The registry writes every default as a string, booleans as JSON spells them."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("describe", ["bundle", "registry"])
def test_described_variables_are_settings_with_their_defaults(describe: str) -> None:
    described = described_variables(describe)
    assert set(described) == set(bundle_env()), "the bundle and the registry set the same variables"
    defaults = Settings.model_construct()  # the declared defaults, no environment read
    for env, (required, default) in described.items():
        field = env.removeprefix("LYNN_").lower()
        assert field in Settings.model_fields, f"{env} is no setting of lynn_mcp.config.Settings"
        setting_default = getattr(defaults, field)
        if required:
            assert setting_default is None, f"{env} has a default: it need not be required"
            continue
        expected = as_registry_string(setting_default) if describe == "registry" else setting_default
        assert default == expected, f"{env}: the server's default is {setting_default!r}"


def test_registry_marks_exactly_the_secret_settings_secret() -> None:
    for variable in registry_package()["environmentVariables"]:
        assert variable.get("isSecret", False) is is_secret_setting(variable["name"]), variable["name"]
