"""The operation table: safe path building, the TOML override and its validation, settings checks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from settings_factory import make_settings

from lynn_mcp.errors import ConfigError, InvalidArgument
from lynn_mcp.lynn.operations import DEFAULT_OPERATIONS, load_operations

CONTRACT_OPERATIONS = {
    "CreateToken", "GetCampaigns", "GetCampaign", "PostCampaign", "PutCampaign", "DeleteCampaign",
    "StartCampaignExecution", "StopCampaignExecution", "GetContacts", "GetContact", "PostContact",
    "PutContact", "DeleteContact", "GetDnDContact", "SetDnDContactByCampaign",
    "SetDnDContactByCategory", "ManageDnDByCampaign", "GetDndTaskStatus", "UploadCampaignDataByTenant",
    "AddCampaingData", "GetTaskStatus",
}  # fmt: skip


def test_table_has_every_contract_operation() -> None:
    assert {op.name for op in DEFAULT_OPERATIONS} == CONTRACT_OPERATIONS


def test_build_path_encodes_and_checks() -> None:
    table = load_operations()
    uuid = "3c6f10ec-0000-4000-8000-21a88f0c9a01"
    assert table.build_path("GetCampaign", {"tenant": 1000, "campaignId": uuid}) == (
        f"/api/LynnService/GetCampaign/1000/{uuid}"
    )
    assert table.build_path("AddCampaingData", {"tenant": "7"}) == "/api/LynnService/AddCampaingData/7"
    with pytest.raises(InvalidArgument):
        table.build_path("GetCampaign", {"tenant": "1000"})
    with pytest.raises(InvalidArgument):
        table.build_path("GetCampaign", {"tenant": "10/00", "campaignId": uuid})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_every_built_path_stays_under_its_operation_prefix(value: str) -> None:
    table = load_operations()
    for op in DEFAULT_OPERATIONS:
        if "taskId" not in op.parameters and "contactId" not in op.parameters:
            continue
        key = "taskId" if "taskId" in op.parameters else "contactId"
        try:
            path = table.build_path(op.name, {"tenant": "1000", key: value})
        except InvalidArgument:
            continue
        prefix = op.path.split("{")[0]
        assert path.startswith(prefix)
        tail = path[len(prefix) :]
        assert tail.count("/") == 1
        assert unquote(tail.split("/")[1]) == value
        assert not any(part in path for part in ("..", "?", "#"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ops.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_override_replaces_verb_and_path(tmp_path: Path) -> None:
    table = load_operations(
        write(tmp_path, '[GetCampaigns]\nmethod = "post"\npath = "/custom/Campaigns/{tenant}/all"\n')
    )
    assert table["GetCampaigns"].method == "POST"
    assert table.build_path("GetCampaigns", {"tenant": "5"}) == "/custom/Campaigns/5/all"
    assert table["GetCampaign"].path == "/api/LynnService/GetCampaign/{tenant}/{campaignId}"
    assert table.source == str(tmp_path / "ops.toml")


@pytest.mark.parametrize(
    ("toml", "complaint"),
    [
        ('[GetCampaignz]\npath = "/x/{tenant}"\n', "not a Lynn operation"),
        ('[GetCampaigns]\nmethod = "PATCH"\n', "method must be one of"),
        ('[GetCampaigns]\npath = "relative/{tenant}"\n', "absolute path"),
        ('[GetCampaigns]\npath = "/x/{tenant}?a=1"\n', "query"),
        ('[GetCampaigns]\npath = "/x/../{tenant}"\n', "'..'"),
        ('[GetCampaign]\npath = "/x/{tenant}"\n', "placeholders {campaignId}, {tenant}"),
        ('[GetCampaigns]\npath = "/x/{tenant"\n', "unbalanced"),
        ('[GetCampaigns]\nurl = "/x/{tenant}"\n', "only set `method` and `path`"),
        ("[GetCampaigns\n", "not valid TOML"),
    ],
)
def test_bad_override_files_fail_clearly(tmp_path: Path, toml: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match="LYNN_OPERATIONS_FILE") as caught:
        load_operations(write(tmp_path, toml))
    assert complaint in str(caught.value)


def test_override_errors_name_the_line(tmp_path: Path) -> None:
    text = '# moved\n[GetCampaigns]\nmethod = "GET"\n\n[GetCampaign]\nmethod = "FETCH"\n'
    with pytest.raises(ConfigError) as caught:
        load_operations(write(tmp_path, text))
    assert caught.value.message.startswith(
        f"LYNN_OPERATIONS_FILE {tmp_path / 'ops.toml'} line 6 [GetCampaign] method:"
    )


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_operations(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("https://premium-production.lynn.cx", None),
        ("http://127.0.0.1:8040", None),
        ("http://localhost:8040/", None),
        ("http://[::1]:8040", None),
        ("http://premium-production.lynn.cx", "must use https"),
        ("ftp://x", "http(s) URL"),
        ("https://user:pw@lynn.cx", "plain origin"),
        ("https://lynn.cx/?token=x", "plain origin"),
    ],
)
def test_base_url_rules(base_url: str, problem: str | None) -> None:
    found = make_settings(base_url=base_url).base_url_problem()
    assert found is None if problem is None else problem in (found or "")


def test_missing_names_each_variable() -> None:
    assert any("LYNN_TENANT" in p for p in make_settings().missing())
    assert any(
        "LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET" in p for p in make_settings(tenant=1).missing()
    )
    assert any("LYNN_ACCESS_TOKEN_SECRET" in p for p in make_settings(tenant=1, access_token="a").missing())
    assert make_settings(tenant=1, token="t").missing() == []
    assert make_settings(tenant=1, access_token="a", access_token_secret="b").missing() == []


def test_env_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYNN_TENANT", "1234")
    monkeypatch.setenv("LYNN_READ_ONLY", "1")
    monkeypatch.setenv("LYNN_LOG_LEVEL", "debug")
    loaded = make_settings()
    assert (loaded.tenant, loaded.read_only, loaded.log_level) == (1234, True, "DEBUG")
    assert make_settings(tenant=99).tenant == 99  # init arguments (CLI flags) win


def test_masked_hides_secrets() -> None:
    shown = make_settings(tenant=1, access_token="id-value", access_token_secret="s3cr3t-value").masked()
    assert shown["LYNN_ACCESS_TOKEN_SECRET"] == "set"
    assert not any(secret in repr(shown) for secret in ("s3cr3t-value", "id-value"))
