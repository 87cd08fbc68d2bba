# Consents: a recipient kind that was not given is stored as null (it was '', outside its enum).

import pgtrigger
from django.db import migrations, models


def blank_kind_to_null(apps, schema_editor):
    """A kind never given was stored as ''; it reads back as null now. The terms of a signed consent
    are otherwise protected from change: this rewrites how "not given" is stored, not what was
    signed (the change history keeps the row as it was)."""
    Consent = apps.get_model("clinic", "Consent")
    with pgtrigger.ignore("clinic.Consent:consent_terms_unchanged"):
        Consent.objects.filter(recipient_kind="").update(recipient_kind=None)


def null_kind_to_blank(apps, schema_editor):
    Consent = apps.get_model("clinic", "Consent")
    with pgtrigger.ignore("clinic.Consent:consent_terms_unchanged"):
        Consent.objects.filter(recipient_kind__isnull=True).update(recipient_kind="")
    # The history is append-only; undoing this migration rewrites its "not given" back too.
    with pgtrigger.ignore("clinic.ConsentHistory:append_only"):
        apps.get_model("clinic", "ConsentHistory").objects.filter(recipient_kind__isnull=True).update(recipient_kind="")


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0014_clinic_history_checkin_window'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='consent',
            name='consent_recipient_kind_valid',
        ),
        migrations.AlterField(
            model_name='consent',
            name='recipient_kind',
            field=models.CharField(blank=True, choices=[('individual', 'An individual (family member, friend, attorney)'), ('treating_provider', 'A treating provider or care team'), ('payer', 'A health plan or other payer'), ('criminal_justice', 'A court, probation or parole office'), ('employer', 'An employer'), ('government', 'Another government agency'), ('other', 'Other')], max_length=20, null=True),
        ),
        migrations.AlterField(
            model_name='consenthistory',
            name='recipient_kind',
            field=models.CharField(blank=True, choices=[('individual', 'An individual (family member, friend, attorney)'), ('treating_provider', 'A treating provider or care team'), ('payer', 'A health plan or other payer'), ('criminal_justice', 'A court, probation or parole office'), ('employer', 'An employer'), ('government', 'Another government agency'), ('other', 'Other')], max_length=20, null=True),
        ),
        migrations.RunPython(blank_kind_to_null, null_kind_to_blank, elidable=False),
        migrations.AddConstraint(
            model_name='consent',
            constraint=models.CheckConstraint(condition=models.Q(('recipient_kind__isnull', True), ('recipient_kind__in', ['individual', 'treating_provider', 'payer', 'criminal_justice', 'employer', 'government', 'other']), _connector='OR'), name='consent_recipient_kind_valid'),
        ),
    ]
