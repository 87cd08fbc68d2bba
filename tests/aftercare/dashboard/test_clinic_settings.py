"""The clinic's settings page (admins only): the reminder policy and the risk rules' thresholds as
forms, checked in full before anything is written, every change in the history with the admin."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from aftercare.models import RiskRule, RiskRuleSetting
from clinic.models import AccessAction, AccessEvent, Clinic, Role, User
from tests.factories import ClinicFactory, MembershipFactory

StaffClient = Callable[..., tuple[Client, User]]
URL = "/clinic-settings/"


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory.create(display_name="Lakeside Health")


def _policy(**changes: Any) -> dict[str, Any]:
    data = {
        "form": "policy",
        "policy-display_name": "Lakeside Health",
        "policy-reminder_sender_name": "Lakeside front desk",
        "policy-phone": "+1 312-555-0100",
        "policy-reminder_offsets": "48h, 2h",
        "policy-quiet_hours_start": "21:00",
        "policy-quiet_hours_end": "08:00",
        "policy-missed_session_message": "on",
        "policy-missed_session_grace": "2h",
    }
    data.update({f"policy-{key}": value for key, value in changes.items()})
    return {key: value for key, value in data.items() if value is not None}


def _risk(clinic: Clinic, client: Client, **changes: Any) -> dict[str, Any]:
    """The risk form as the page shows it, with `changes` typed in."""
    form = client.get(URL).context["risk"]
    data: dict[str, Any] = {"form": "risk"}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if name.endswith("__enabled"):
            if value:
                data[f"risk-{name}"] = "on"
        else:
            data[f"risk-{name}"] = value
    for name, value in changes.items():
        if value is None:
            data.pop(f"risk-{name}", None)
        else:
            data[f"risk-{name}"] = value
    return data


def _history(model: str, **lookup: Any) -> list[Any]:
    return list(apps.get_model(model).objects.filter(**lookup).select_related("pgh_context").order_by("pgh_id"))


def test_the_admin_sees_both_forms_with_the_clinics_current_values(staff_client: StaffClient, clinic: Clinic) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="48h, 2h"' in page
    assert 'name="policy-quiet_hours_start"' in page
    assert 'value="21:00"' in page
    # One box per threshold, with the rule's summary and clinical basis beside it.
    assert 'name="risk-consecutive_missed__medium_at"' in page
    assert 'min="1"' in page
    assert 'max="20"' in page
    assert "Missed sessions in a row since the last one attended, over all sessions or within one stream" in page
    assert "Ker et al. 2021" in page
    assert page.count('name="csrfmiddlewaretoken"') == 3  # both forms, and signing out
    assert not AccessEvent.objects.exists()  # no patient data on this page


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.CLINICIAN, Role.CASE_MANAGER, Role.FRONT_DESK])
def test_only_an_admin_may_open_or_change_the_settings(staff_client: StaffClient, clinic: Clinic, role: str) -> None:
    member_client, member = staff_client(clinic, role)
    response = member_client.get(URL)
    assert response.status_code == 403
    assert '<form method="post" novalidate>' not in response.content.decode()  # the auditor sees no forms
    posted = member_client.post(URL, _policy(reminder_offsets="1h"))
    assert posted.status_code == 403
    clinic.refresh_from_db()
    assert clinic.reminder_offsets_minutes == [48 * 60, 2 * 60]
    assert AccessEvent.objects.filter(actor=f"user:{member.pk}", action=AccessAction.DENIED).count() == 2


def test_the_admin_changes_the_reminder_policy_and_the_history_names_the_admin(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    admin_client, admin = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(
        URL, _policy(reminder_offsets="24h, 90m,2", quiet_hours_start="22:00", quiet_hours_end="07:30",
                     missed_session_message=None)
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == URL
    clinic.refresh_from_db()
    assert clinic.reminder_offsets_minutes == [24 * 60, 2 * 60, 90]  # a number alone is hours
    assert (clinic.quiet_hours_start, clinic.quiet_hours_end) == (datetime.time(22), datetime.time(7, 30))
    assert clinic.missed_session_message is False
    assert clinic.reminder_sender_name == "Lakeside front desk"
    change = _history("clinic.ClinicHistory", pgh_obj_id=clinic.pk, pgh_label="update")[-1]
    assert change.pgh_context.metadata["actor"] == f"user:{admin.pk}"
    page = admin_client.get(URL).content.decode()
    assert "The reminder policy is saved." in page
    assert f"{admin.first_name} {admin.last_name}" in page  # the recent changes, by name
    assert 'value="24h, 2h, 90m"' in page


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ("", "This field is required."),
        ("0m", "out of bounds"),
        ("721h", "out of bounds"),
        ("soon", "is not a number of hours or minutes"),
        ("1h, 2h, 3h, 4h, 5h, 6h, 7h", "At most 6 offsets."),
        ("2h, 120m", "Each offset may be given once."),
    ],
)
def test_reminder_offsets_out_of_bounds_are_refused_next_to_the_field(
    staff_client: StaffClient, clinic: Clinic, offsets: str, message: str
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(URL, _policy(reminder_offsets=offsets, phone="+1 999"))
    assert response.status_code == 200
    errors = response.context["policy"].errors
    assert list(errors) == ["reminder_offsets"]
    assert message in errors["reminder_offsets"][0]
    assert 'id="id_policy-reminder_offsets_error"' in response.content.decode()
    clinic.refresh_from_db()
    assert clinic.phone == "+1 312-555-0100"  # nothing half-written


@pytest.mark.parametrize(("grace", "minutes"), [("30m", 30), ("0", 0), ("72h", 72 * 60), ("3", 180)])
def test_the_admin_sets_how_long_the_we_missed_you_email_waits(
    staff_client: StaffClient, clinic: Clinic, grace: str, minutes: int
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    assert 'value="2h"' in admin_client.get(URL).content.decode()  # the default, as the admin reads it
    assert admin_client.post(URL, _policy(missed_session_grace=grace)).status_code == 302
    clinic.refresh_from_db()
    assert clinic.missed_session_grace_minutes == minutes


@pytest.mark.parametrize(
    ("grace", "message"),
    [("", "This field is required."), ("73h", "At most 72 hours."), ("later", "is not a number of hours")],
)
def test_a_we_missed_you_wait_out_of_bounds_is_refused_next_to_the_field(
    staff_client: StaffClient, clinic: Clinic, grace: str, message: str
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(URL, _policy(missed_session_grace=grace, phone="+1 999"))
    assert response.status_code == 200
    errors = response.context["policy"].errors
    assert list(errors) == ["missed_session_grace"]
    assert message in errors["missed_session_grace"][0]
    clinic.refresh_from_db()
    assert (clinic.phone, clinic.missed_session_grace_minutes) == ("+1 312-555-0100", 120)


def test_quiet_hours_longer_than_16_hours_are_refused_under_the_end_field(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(URL, _policy(quiet_hours_start="18:00", quiet_hours_end="11:00", phone="+1 999"))
    assert response.status_code == 200
    assert list(response.context["policy"].errors) == ["quiet_hours_end"]
    assert "at most 16 hours" in response.context["policy"].errors["quiet_hours_end"][0]
    clinic.refresh_from_db()
    assert (clinic.quiet_hours_start, clinic.phone) == (datetime.time(21), "+1 312-555-0100")


def test_a_display_name_that_reveals_treatment_is_refused_by_the_models_rule(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(URL, _policy(display_name="Lakeside Addiction Recovery"))
    assert response.status_code == 200
    assert list(response.context["policy"].errors) == ["display_name"]
    clinic.refresh_from_db()
    assert clinic.display_name == "Lakeside Health"


def test_the_admin_changes_risk_thresholds_and_the_history_names_the_admin(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    admin_client, admin = staff_client(clinic, Role.ADMIN)
    data = _risk(
        clinic, admin_client, consecutive_missed__medium_at=3, consecutive_missed__high_at=5,
        group_dropout__enabled=None,
    )  # fmt: skip
    response = admin_client.post(URL, data)
    assert response.status_code == 302
    setting = RiskRuleSetting.objects.get(clinic=clinic, rule=RiskRule.CONSECUTIVE_MISSED)
    assert setting.thresholds == {"medium_at": 3, "high_at": 5}
    assert setting.updated_by == admin
    assert RiskRuleSetting.objects.get(clinic=clinic, rule=RiskRule.GROUP_DROPOUT).enabled is False
    # Only the rules the admin changed are written (and named in the history).
    assert set(RiskRuleSetting.objects.filter(clinic=clinic).values_list("rule", flat=True)) == {
        RiskRule.CONSECUTIVE_MISSED,
        RiskRule.GROUP_DROPOUT,
    }
    change = _history("aftercare.RiskRuleSettingHistory", pgh_obj_id=setting.pk)[-1]
    assert change.pgh_context.metadata["actor"] == f"user:{admin.pk}"
    page = admin_client.get(URL).content.decode()
    assert 'name="risk-consecutive_missed__medium_at" value="3"' in page
    assert "Risk rule: Consecutive missed sessions" in page


def test_a_threshold_out_of_bounds_is_refused_next_to_its_box_and_nothing_is_written(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(
        URL, _risk(clinic, admin_client, missed_in_window__count=51, no_contact__medium_days=40)
    )
    assert response.status_code == 200
    errors = response.context["risk"].errors
    assert list(errors) == ["missed_in_window__count"]
    assert "50" in errors["missed_in_window__count"][0]
    assert not RiskRuleSetting.objects.filter(clinic=clinic).exists()


def test_thresholds_in_the_wrong_order_are_refused_by_the_service_and_nothing_is_half_written(
    staff_client: StaffClient, clinic: Clinic
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(
        URL,
        _risk(clinic, admin_client, no_contact__medium_days=60, no_contact__high_days=45, group_dropout__count=4),
    )
    assert response.status_code == 200
    errors = response.context["risk"].errors
    assert errors == {"no_contact__high_days": ["Must be at least medium_days (60)."]}
    assert 'id="id_risk-no_contact__high_days_error"' in response.content.decode()
    assert not RiskRuleSetting.objects.filter(clinic=clinic).exists()  # group_dropout was not saved either


def test_a_missing_threshold_is_an_error_next_to_its_box(staff_client: StaffClient, clinic: Clinic) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    response = admin_client.post(URL, _risk(clinic, admin_client, early_missed__days=None))
    assert response.status_code == 200
    assert list(response.context["risk"].errors) == ["early_missed__days"]


def test_the_settings_change_only_the_clinic_the_admin_acts_for(staff_client: StaffClient, clinic: Clinic) -> None:
    """An admin here who is a clinician at another clinic: switched there, the page is refused, and
    saving here never touches the other clinic."""
    other = ClinicFactory.create()
    admin_client, admin = staff_client(clinic, Role.ADMIN)
    MembershipFactory.create(clinic=other, user=admin, role=Role.CLINICIAN)
    assert admin_client.post(URL, _policy(reminder_offsets="3h")).status_code == 302
    assert admin_client.post(URL, _risk(clinic, admin_client, early_missed__days=20)).status_code == 302
    other.refresh_from_db()
    assert other.reminder_offsets_minutes == [48 * 60, 2 * 60]
    assert not RiskRuleSetting.objects.filter(clinic=other).exists()
    admin_client.post("/clinic/", {"clinic": str(other.pk)})
    assert admin_client.get(URL).status_code == 403


def test_the_api_changes_a_rule_through_the_same_service(clinic: Clinic, make_staff: Callable[..., Any]) -> None:
    admin = make_staff(clinic, Role.ADMIN)
    bad = admin.api.patch("/api/v1/risk-rules/no_contact/", {"thresholds": {"high_days": 800}}, format="json")
    assert bad.status_code == 400
    assert "high_days" in str(bad.json())
    good = admin.api.patch("/api/v1/risk-rules/no_contact/", {"thresholds": {"high_days": 45}}, format="json")
    assert good.status_code == 200
    setting = RiskRuleSetting.objects.get(clinic=clinic, rule=RiskRule.NO_CONTACT)
    assert setting.thresholds == {"medium_days": 30, "high_days": 45}
    assert _history("aftercare.RiskRuleSettingHistory", pgh_obj_id=setting.pk)[-1].pgh_context.metadata["actor"] == (
        f"user:{admin.user.pk}"
    )


def test_the_settings_page_costs_the_same_queries_however_many_changes_it_has_seen(
    staff_client: StaffClient, clinic: Clinic, django_assert_max_num_queries: Any
) -> None:
    admin_client, _ = staff_client(clinic, Role.ADMIN)
    for hours in range(1, 15):
        admin_client.post(URL, _policy(reminder_offsets=f"{hours}h"))
        admin_client.post(URL, _risk(clinic, admin_client, early_missed__days=hours))
    with django_assert_max_num_queries(10):
        assert admin_client.get(URL).status_code == 200
