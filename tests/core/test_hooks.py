"""How a room beneath asks the rooms above: a hook answers as its answer does, or as it
says while nobody has answered; a registry keeps each contribution once, in order."""

import pytest

from core.hooks import Hook, Registry


def test_a_hook_answers_as_nobody_has_until_it_is_answered():
    window = Hook("a window", unanswered=lambda person: None)
    assert window("bob") is None

    window.answer(lambda person: f"{person}'s window")

    assert window("bob") == "bob's window"


def test_a_hook_takes_one_answer():
    names = Hook("names", unanswered=lambda: {})
    answer = dict
    names.answer(answer)
    names.answer(answer)  # the same answer again: an app made ready twice

    with pytest.raises(RuntimeError, match="names is answered already"):
        names.answer(lambda: {"other": "answer"})


def test_a_registry_keeps_each_contribution_once_in_order():
    checks = Registry("checks")
    first, second = (lambda: 1), (lambda: 2)
    for check in (first, second, first):
        checks.add(check)

    assert list(checks) == [first, second]


def test_the_apps_answer_what_the_rooms_beneath_ask():
    from audit import views as audit_views
    from core import health, metrics
    from federation.services import activation

    assert audit_views.role_suggestions.answered and audit_views.account_names.answered
    assert audit_views.managed_tenants.answered
    assert activation.open_window.answered
    assert [check.__name__ for check in health.checks] == ["aws_readiness", "readiness"]
    assert len(list(metrics.collectors)) == 2
    assert len(list(metrics.record_counters)) == 3
