import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_home_page_in_chinese_with_the_directory(client, tree):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "社区治理综合管理平台" in html
    assert "滨河社区党委" in html and "金泽社区党委" in html
    assert 'name="viewport"' in html
    assert "http://" not in html and "https://" not in html  # every asset is local


def test_home_search(client, tree):
    html = client.get("/", {"q": "金泽"}).content.decode()
    assert "金泽社区党委" in html and "滨河社区党委" not in html
    html = client.get("/", {"q": "桥东"}).content.decode()  # by street
    assert "金泽社区党委" in html
    html = client.get("/", {"q": "不存在的地方"}).content.decode()
    assert "不存在的地方" in html  # "no community matches ..."


def test_home_counts_come_from_the_data(client, db):
    call_command("seed_demo")
    response = client.get("/")
    overview = dict((str(label), value) for label, value in response.context["overview"])
    assert list(overview.values())[:2] == [3, 5]


def test_home_query_count_is_fixed(client, tree, django_assert_num_queries):
    with django_assert_num_queries(2):
        client.get("/")


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_english_is_available(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en">' in response.content.decode()
    assert "Community Governance Portal" in response.content.decode()
