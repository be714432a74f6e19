"""The zh_Hans catalogue is complete and compiled, and Chinese is what staff see by default."""

import re
from pathlib import Path

import pytest
from django.utils import translation

PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def entries():
    text = PO.read_text(encoding="utf-8")
    for block in text.split("\n\n")[1:]:
        if block.startswith("#~"):
            continue
        msgid = "".join(re.findall(r'^msgid "(.*)"$|^"(.*)"$', block, re.M)[0])
        yield block, msgid


def test_every_string_is_translated_and_not_fuzzy():
    problems = []
    for block, _msgid in entries():
        if "#, fuzzy" in block:
            problems.append(block)
        match = re.search(r'msgstr(?:\[0\])? "(.*)"((?:\n".*")*)', block)
        if not match or not (match.group(1) or match.group(2).strip('\n"')):
            problems.append(block)
    assert problems == []


def test_compiled_catalogue_is_in_use():
    assert PO.with_suffix(".mo").exists()
    with translation.override("zh-hans"):
        assert translation.gettext("Community Governance Portal") == "社区治理综合管理平台"
        assert translation.gettext("Compound (grid) party branch") == "小区（网格）党支部"


@pytest.mark.django_db
def test_admin_login_page_is_chinese(client):
    html = client.get("/admin/login/").content.decode()
    assert "社区治理综合管理平台" in html and "登录" in html
