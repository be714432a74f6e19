from . import gridding, territory


def register(router):
    """Add grids' viewsets to the site's /api/v1/ router."""
    for area in (territory, gridding):
        area.register(router)
