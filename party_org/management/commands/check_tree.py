from django.core.management.base import BaseCommand, CommandError

from party_org.locking import tree_write
from party_org.models import OrgUnit
from party_org.selectors import tree_problems


class Command(BaseCommand):
    help = "Verify the organisation tree (nesting, lft/rght numbering, kinds); --rebuild repairs it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Recompute lft/rght/level from the parent links, then verify again.",
        )

    def handle(self, *args, rebuild=False, **options):
        problems = tree_problems()
        if problems and rebuild:
            tree_ids = OrgUnit.objects.values_list("tree_id", flat=True).distinct()
            with tree_write(tree_ids, new_tree=True):
                OrgUnit.objects.rebuild()
            self.stdout.write("Rebuilt the tree from the parent links.")
            problems = tree_problems()
        if problems:
            for problem in problems:
                self.stderr.write(f"  {problem}")
            raise CommandError(f"The organisation tree has {len(problems)} problem(s).")
        total = OrgUnit.objects.count()
        trees = OrgUnit.objects.filter(parent__isnull=True).count()
        self.stdout.write(self.style.SUCCESS(f"Tree OK: {total} units in {trees} tree(s)."))
