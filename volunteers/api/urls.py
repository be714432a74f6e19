from . import records, wishes


def register(router):
    """Add volunteers' viewsets to the site's /api/v1/ router."""
    for area in (wishes, records):
        area.register(router)
