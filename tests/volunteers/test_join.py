"""The public volunteer registration (/volunteers/join/): good input registers an unverified
volunteer in the compound's unit, every bad input is a form error with the input kept and
nothing saved, a second registration is refused, the per-address rate limit, and the new
volunteer signing in on the me pages with their phone."""

import pytest
from django.test import Client
from django.urls import reverse

from party_org.models import Person
from volunteers import portal_login
from volunteers.models import MicroWish, Volunteer
from volunteers.portal import SESSION_KEY

pytestmark = pytest.mark.django_db
JOIN = "/volunteers/join/"


@pytest.fixture
def post_join(client, places):
    def poster(c=None, **fields):
        data = {"compound": places["wjy"].pk, "name": "孙丽华", "phone": "13712340001",
                "skills": "理发、水电维修, 陪伴老人", "note": "周末有空"}
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        return (c or client).post(JOIN, data)

    return poster


def errors(response):
    assert response.status_code == 200, response.status_code
    return response.context["form"].errors


def test_route_name():
    assert reverse("volunteers_public:join") == JOIN


def test_form_page_is_public_and_searches_compounds(client, places):
    response = client.get(JOIN)
    assert response.status_code == 200 and b'name="viewport"' in response.content
    assert b"csrfmiddlewaretoken" in response.content
    page = client.get(JOIN, {"q": "文锦"}).content.decode()
    assert f'value="{places["wjy"].pk}"' in page and "滨河社区党委" in page
    assert f'value="{places["hgd"].pk}"' not in page
    assert client.get(JOIN, {"q": "\x00" * 80}).status_code == 200


def test_search_runs_a_fixed_number_of_queries(client, places, django_assert_num_queries):
    with django_assert_num_queries(2):  # the compounds and their communities
        assert client.get(JOIN, {"q": "文锦"}).status_code == 200


def test_good_input_registers_an_unverified_volunteer(client, post_join, places, tree):
    response = post_join()
    assert response.status_code == 302
    assert response["Location"] == reverse("volunteers_public:join_done")
    volunteer = Volunteer.objects.select_related("person").get()
    assert not volunteer.verified and volunteer.verified_at is None
    assert volunteer.verified_by is None and volunteer.registered_by is None
    assert volunteer.org_unit == places["wjy"].org_unit == tree["a2"]
    assert volunteer.person.org_unit == tree["a2"]
    assert (volunteer.person.name, volunteer.person.phone) == ("孙丽华", "13712340001")
    assert volunteer.skills == ["理发", "水电维修", "陪伴老人"]
    assert volunteer.note == "周末有空"
    done = client.get(response["Location"])
    assert done.status_code == 200
    assert 'href="/me/"' in done.content.decode()


def test_no_skills_and_no_note_is_fine(post_join):
    assert post_join(skills="", note="").status_code == 302
    assert Volunteer.objects.get().skills == []


def test_an_existing_person_is_registered_as_themself(post_join, member):
    """A party member of the compound's branch giving their own name and phone becomes a
    volunteer as the same person, not a second one."""
    before = Person.objects.count()
    assert post_join(name=member.name, phone=member.phone).status_code == 302
    assert Volunteer.objects.get().person == member and Person.objects.count() == before


@pytest.mark.parametrize("field, value", [
    ("compound", ""), ("compound", "abc"), ("compound", "99999999"), ("compound", str(2**70)),
    ("compound", "-1"), ("name", ""), ("name", "   "), ("name", "名" * 61),
    ("name", "<script>alert(1)</script>"), ("phone", ""), ("phone", "abc-def"),
    ("phone", "12345"), ("phone", "电话" * 20), ("phone", "1" * 21), ("skills", "技" * 31),
    ("skills", "、".join(f"技能{n}" for n in range(11))), ("skills", "<script>x</script>"),
    ("skills", "x" * 400), ("note", "长" * 301),
])
def test_bad_input_is_a_form_error(post_join, field, value):
    before = Person.objects.count()
    response = post_join(**{field: value})
    assert field in errors(response)
    assert not Volunteer.objects.exists() and Person.objects.count() == before
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page and "<script>x</script>" not in page
    # What the resident typed stays in the form.
    if field != "name":
        assert 'value="孙丽华"' in page
    if field != "note":
        assert "周末有空" in page


def test_missing_everything(client):
    form_errors = errors(client.post(JOIN, {}))
    assert {"compound", "name", "phone"} <= set(form_errors)
    assert "skills" not in form_errors and "note" not in form_errors
    assert not Person.objects.exists()


def test_inactive_compound_is_refused(post_join, places):
    places["hgd"].is_active = False
    places["hgd"].save()
    assert "compound" in errors(post_join(compound=places["hgd"].pk))
    assert not Volunteer.objects.exists()


def test_a_second_registration_is_refused(post_join, places):
    assert post_join().status_code == 302
    again = post_join(skills="唱歌")
    assert errors(again)["__all__"]
    assert 'class="errors"' in again.content.decode()
    # The same number written differently, from another compound: the same person.
    elsewhere = post_join(compound=places["jzhf"].pk, phone="137-1234-0001")
    assert errors(elsewhere)["__all__"]
    assert Volunteer.objects.count() == 1 and Person.objects.count() == 1
    assert Volunteer.objects.get().skills == ["理发", "水电维修", "陪伴老人"]


def test_a_known_phone_alone_is_not_revealed(post_join, volunteer):
    """Someone else's number under another name registers like any other: the page never says
    whose the number is or that it is known."""
    response = post_join(name="钱多多", phone=volunteer.phone)
    assert response.status_code == 302
    assert Volunteer.objects.filter(person__name="钱多多").exists()


def test_the_page_shows_no_one_elses_data(client, post_join, volunteer):
    for response in (client.get(JOIN, {"q": "文锦"}), post_join(name=""),
                     post_join(phone=volunteer.phone, name="")):
        page = response.content.decode()
        assert volunteer.name not in page
        assert volunteer.phone not in page.replace(f'value="{volunteer.phone}"', "")


def test_csrf_is_checked(places):
    c = Client(enforce_csrf_checks=True)
    response = c.post(JOIN, {"compound": places["wjy"].pk, "name": "孙丽华",
                             "phone": "13712340001"})
    assert response.status_code == 403 and not Volunteer.objects.exists()


def test_other_methods_are_refused(client):
    assert client.put(JOIN).status_code == 405
    assert client.post(reverse("volunteers_public:join_done")).status_code == 405


def test_rate_limit(post_join, settings, client, places):
    settings.VOLUNTEER_WISH_RATE_LIMIT = "2/600"
    assert post_join().status_code == 302
    assert post_join(name="").status_code == 200  # a refused form counts too
    response = post_join(name="周大福", phone="13712340002")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert Volunteer.objects.count() == 1
    # A counter of its own: the wish form from the same address still works.
    wish = client.post("/wishes/new/", {
        "compound": places["wjy"].pk, "category": "other", "wish": "想请人帮忙换灯泡",
        "contact_phone": "13712345678"})
    assert wish.status_code == 302 and MicroWish.objects.count() == 1


def test_the_new_volunteer_can_sign_in(client, post_join, settings):
    settings.VOLUNTEER_SMS_BACKEND = "volunteers.portal_login.memory_sender"
    portal_login.outbox.clear()
    assert post_join(phone="137 1234 0001").status_code == 302
    person = Volunteer.objects.get().person
    assert portal_login.person_for_phone("13712340001") == person
    response = client.post("/me/login/", {"step": "request", "phone": "13712340001"})
    assert response.status_code == 200
    (phone, code, _ttl), = portal_login.outbox
    assert phone == "13712340001"
    response = client.post("/me/login/", {"step": "code", "phone": "13712340001", "code": code})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == person.pk
    assert client.get("/me/").status_code == 200


def test_links_to_the_form(client):
    assert f'href="{JOIN}"' in client.get("/me/login/").content.decode()
    assert f'href="{JOIN}"' in client.get("/wishes/").content.decode()
