"""The one place that decides whether a reader sees full personal data, and logs it if so.

Every route (admin lists and forms, Excel exports, the API) shows phones, ID numbers and other
sensitive fields through `phone_for`, `id_number_for` or `reveal`. Without the permission
`party_org.view_personal_data` the reader gets the masked value; with it, the full value, and the
read is noted on the request. `PersonalDataAccessMiddleware` writes the notes as
PersonalDataAccess rows in one INSERT when the response is ready.

Outside a request (shell, Celery) nothing is revealed unless a user is passed explicitly.
"""

from contextvars import ContextVar

from . import pii

PERMISSION = "party_org.view_personal_data"

_current_request = ContextVar("personal_data_request", default=None)


def can_view(user):
    return bool(user and user.is_authenticated and user.has_perm(PERMISSION))


def current_request():
    return _current_request.get()


def _reader(user=None):
    request = current_request()
    if user is None and request is not None:
        user = getattr(request, "user", None)
    return user, request


def note_read(person, fields, context, user=None, request=None):
    """Remember that `user` read `fields` of `person` in full; written at the end of the request."""
    if person is None or person.pk is None:
        return
    request = request or current_request()
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return
    if request is not None:
        reads = request.__dict__.setdefault("_personal_data_reads", {})
        key = (user.pk, person.pk, context)
        reads[key] = reads.get(key, set()) | set(fields)
    else:
        from .models import PersonalDataAccess

        PersonalDataAccess.objects.create(
            user=user, person=person, fields=",".join(sorted(fields)), context=context
        )


def reveal(person, field, full_value, masked_value, context, user=None):
    """The full value for a reader with the permission (logged), else the masked one."""
    user, request = _reader(user)
    if not full_value:
        return full_value
    if can_view(user):
        note_read(person, [field], context, user=user, request=request)
        return full_value
    return masked_value


def phone_for(person, context, user=None):
    return reveal(person, "phone", person.phone, pii.mask_phone(person.phone), context, user)


def id_number_for(person, context, user=None):
    # Decrypt only for readers who may see it; others get a mask built from the same value.
    user_, _request = _reader(user)
    if not person.id_number_encrypted:
        return ""
    if not can_view(user_):
        return pii.mask_id_number(person.id_number)
    return reveal(person, "id_number", person.id_number, "", context, user)


def flush(request):
    """Write the reads noted during `request` as access-log rows (one INSERT)."""
    reads = request.__dict__.pop("_personal_data_reads", None)
    if not reads:
        return 0
    from .models import PersonalDataAccess

    rows = [
        PersonalDataAccess(
            user_id=user_id, person_id=person_id, fields=",".join(sorted(fields)),
            context=context,
        )
        for (user_id, person_id, context), fields in reads.items()
    ]
    PersonalDataAccess.objects.bulk_create(rows)
    return len(rows)


class PersonalDataAccessMiddleware:
    """Makes the request visible to `reveal` and writes its access log after the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
            # Streaming responses are consumed later; their reads were noted while building them.
            flush(request)
            return response
        finally:
            _current_request.reset(token)
