from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("party_org", "0002_people_members_resources"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="inserviceregistration",
            name="registration_one_active_per_branch",
        ),
        migrations.AddConstraint(
            model_name="inserviceregistration",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")),
                fields=("member", "branch"),
                name="registration_one_active_per_branch",
                violation_error_message=(
                    "This member already has an active registration with this branch."
                ),
            ),
        ),
        migrations.AddField(
            model_name="inserviceregistration",
            name="ended_on",
            field=models.DateField(blank=True, null=True, verbose_name="ended on"),
        ),
        migrations.AddConstraint(
            model_name="inserviceregistration",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("ended_on__isnull", True),
                    ("ended_on__gte", models.F("registered_on")),
                    _connector="OR",
                ),
                name="registration_dates_in_order",
            ),
        ),
    ]
