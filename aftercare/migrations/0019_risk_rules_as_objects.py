"""The risk rules as objects (aftercare/risk/rules/): two of them change, so the database's bounds do.

- `early_missed`: one early miss is medium, `high_at` of them high, and the rule stops holding once
  the patient has attended `reengaged_after` sessions since the last one.
- `post_discharge_gap` follows HEDIS FUI: follow-up within 7 days (was 14) and 2 sessions within 30
  (was 34). A clinic whose stored thresholds were the old defaults gets the new ones; one that chose
  other values keeps them.
"""

import importlib

from django.db import migrations

_PREVIOUS = importlib.import_module("aftercare.migrations.0008_risk_thresholds_in_bounds")

# The thresholds' bounds as they are with this migration: rule -> ({threshold: (default, minimum,
# maximum)}, [(smaller, larger), ...]).
LIMITS = {
    **_PREVIOUS.LIMITS,
    "early_missed": ({"days": (30, 1, 180), "high_at": (2, 1, 20), "reengaged_after": (2, 1, 20)}, []),
    "post_discharge_gap": (
        {
            "initiation_days": (7, 1, 90),
            "engagement_days": (30, 1, 180),
            "engagement_sessions": (2, 1, 20),
            "watch_days": (90, 1, 730),
        },
        [("initiation_days", "engagement_days"), ("engagement_days", "watch_days")],
    ),
}
_OLD_FUI = {"initiation_days": 14, "engagement_days": 34}
_NEW_FUI = {"initiation_days": 7, "engagement_days": 30}


def _follow_hedis_fui(apps, schema_editor):
    RiskRuleSetting = apps.get_model("aftercare", "RiskRuleSetting")
    for setting in RiskRuleSetting.objects.filter(rule="post_discharge_gap"):
        thresholds = dict(setting.thresholds or {})
        changed = False
        for name, old in _OLD_FUI.items():
            if thresholds.get(name) == old:
                thresholds[name] = _NEW_FUI[name]
                changed = True
        if changed and thresholds.get("initiation_days", 7) <= thresholds.get("engagement_days", 30):
            RiskRuleSetting.objects.filter(pk=setting.pk).update(thresholds=thresholds)


def _back_to_iet(apps, schema_editor):
    RiskRuleSetting = apps.get_model("aftercare", "RiskRuleSetting")
    for setting in RiskRuleSetting.objects.filter(rule__in=["post_discharge_gap", "early_missed"]):
        thresholds = dict(setting.thresholds or {})
        if setting.rule == "early_missed":
            thresholds = {k: v for k, v in thresholds.items() if k == "days"}
        else:
            for name, new in _NEW_FUI.items():
                if thresholds.get(name) == new:
                    thresholds[name] = _OLD_FUI[name]
        RiskRuleSetting.objects.filter(pk=setting.pk).update(thresholds=thresholds)


class Migration(migrations.Migration):
    dependencies = [
        ("aftercare", "0018_risk_summary_attended_times"),
    ]

    operations = [
        migrations.RunSQL(_PREVIOUS._function_sql(LIMITS), _PREVIOUS._function_sql()),
        migrations.RunPython(_follow_hedis_fui, _back_to_iet),
    ]
