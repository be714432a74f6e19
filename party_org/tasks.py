import logging

from celery import shared_task

from .selectors import tree_problems

logger = logging.getLogger(__name__)


@shared_task
def verify_org_tree():
    """Nightly: report any corruption of the organisation tree (the admin can rebuild it)."""
    problems = tree_problems()
    for problem in problems:
        logger.error("organisation tree: %s", problem)
    return len(problems)
