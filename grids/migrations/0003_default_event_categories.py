"""The event categories of issue 4, with step deadlines (hours); staff may change or add more."""

from django.db import migrations

# code, name, hours per step (reported, filed, assigned, in_progress, feedback), property matter
CATEGORIES = [
    ("environment", "环境卫生", (24, 24, 24, 48, 24), False),
    ("safety_hazard", "安全隐患", (4, 4, 4, 24, 24), False),
    ("property_dispute", "物业纠纷", (24, 24, 24, 120, 48), True),
    ("neighbour_dispute", "邻里纠纷", (24, 24, 24, 96, 48), False),
    ("facility_repair", "设施维修", (24, 24, 24, 72, 48), False),
    ("public_order", "治安秩序", (4, 4, 8, 48, 24), False),
    ("other", "其他", (24, 24, 24, 120, 48), False),
]


def add(apps, schema_editor):
    EventCategory = apps.get_model("grids", "EventCategory")
    for order, (code, name, hours, is_property) in enumerate(CATEGORIES):
        EventCategory.objects.get_or_create(
            code=code,
            defaults=dict(
                name=name, sort_order=order, is_property=is_property,
                hours_reported=hours[0], hours_filed=hours[1], hours_assigned=hours[2],
                hours_in_progress=hours[3], hours_feedback=hours[4],
            ),
        )


def remove(apps, schema_editor):
    apps.get_model("grids", "EventCategory").objects.filter(
        code__in=[c[0] for c in CATEGORIES], events__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("grids", "0002_events_patrols_visits")]
    operations = [migrations.RunPython(add, remove)]
