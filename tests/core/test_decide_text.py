"""decide_text: what a text read by the near-miss reader does, given the number's state."""

from __future__ import annotations

from consent_core.decide import Answer, TextPlan, decide_text, withdrawals_answer
from consent_core.model import CONSENTS, Eligibility, Outcome, Status
from consent_core.understand import Intent, Reading, Rule

NONE = {k: Status.NONE for k in CONSENTS}
ALLOWED = {k: Eligibility.ALLOWED for k in CONSENTS}
NEAR = (Rule.FORM,)


def with_given(*keywords: str) -> dict[str, Status]:
    return {k: Status.GIVEN if k in keywords else Status.WITHDRAWN for k in CONSENTS}


def test_a_near_miss_withdrawal_is_applied() -> None:
    plan = decide_text(Reading(Intent.WITHDRAW, "VIETA", NEAR), with_given("VIETA"), ALLOWED,
                       None)
    assert plan == TextPlan(apply=(("withdraw", "VIETA"),))


def test_a_near_miss_give_asks_unless_it_would_change_nothing() -> None:
    give = Reading(Intent.GIVE, "AUTO", NEAR)
    assert decide_text(give, NONE, ALLOWED, None) == TextPlan(outcome=Outcome.CONFIRM_ASKED,
                                                              consent="AUTO")
    assert decide_text(give, with_given("AUTO"), ALLOWED, None).outcome is Outcome.ALREADY_GIVEN
    minor = {k: Eligibility.NOT_INDEPENDENT for k in CONSENTS}
    assert decide_text(give, NONE, minor, None).outcome is Outcome.REFUSED_NOT_INDEPENDENT
    assert decide_text(Reading(Intent.GIVE, "AUTO", (Rule.EXACT,)), NONE, ALLOWED, None) \
        == TextPlan(apply=(("give", "AUTO"),))


def test_yes_and_no_answer_only_a_pending_give() -> None:
    yes, no = Reading(Intent.YES, rules=(Rule.EXACT,)), Reading(Intent.NO, rules=(Rule.EXACT,))
    assert decide_text(yes, NONE, ALLOWED, "VIETA") == TextPlan(apply=(("give", "VIETA"),))
    assert decide_text(no, NONE, ALLOWED, "VIETA") == TextPlan(
        outcome=Outcome.CONFIRM_DECLINED, consent="VIETA")
    for answer in (yes, no):
        assert decide_text(answer, NONE, ALLOWED, None).outcome is Outcome.NOTHING_TO_CONFIRM


def test_bare_stop_and_viss_stop() -> None:
    info, everything = Reading(Intent.STOP_INFO), Reading(Intent.STOP_ALL)
    state = with_given("SADARBIBA", "JAUNUMI")
    assert decide_text(info, state, ALLOWED, None) == TextPlan(
        outcome=Outcome.STOP_INFO, listed=("JAUNUMI", "SADARBIBA"))
    assert decide_text(everything, state, ALLOWED, None) == TextPlan(
        apply=(("withdraw", "JAUNUMI"), ("withdraw", "SADARBIBA")),
        reply=Outcome.ALL_WITHDRAWN, listed=("JAUNUMI", "SADARBIBA"))
    for reading in (info, everything):
        assert decide_text(reading, NONE, ALLOWED, None).outcome is Outcome.NONE_IN_FORCE


def test_help_and_unknown_change_nothing() -> None:
    assert decide_text(Reading(Intent.HELP), NONE, ALLOWED, "VIETA").outcome is Outcome.HELP
    assert decide_text(Reading(Intent.UNKNOWN, why="x"), NONE, ALLOWED, None).outcome \
        is Outcome.UNKNOWN_COMMAND


def test_several_withdrawals_are_applied_in_the_order_written() -> None:
    reading = Reading(Intent.WITHDRAW, "VIETA", (Rule.SEVERAL,), more=("AUTO", "JAUNUMI"))
    plan = decide_text(reading, with_given("AUTO"), ALLOWED, "VIETA")
    assert plan.apply == (("withdraw", "VIETA"), ("withdraw", "AUTO"), ("withdraw", "JAUNUMI"))
    assert plan.reply is Outcome.ALL_WITHDRAWN


def test_a_question_is_explained_never_given() -> None:
    plan = decide_text(Reading(Intent.EXPLAIN, "VIETA", (Rule.QUESTION,)), NONE, ALLOWED,
                       "VIETA")
    assert plan == TextPlan(outcome=Outcome.EXPLAINED, consent="VIETA")


def test_the_one_reply_to_several_withdrawals_says_what_happened_to_each() -> None:
    w, a = Outcome.WITHDRAWN, Outcome.ALREADY_WITHDRAWN
    assert withdrawals_answer((("VIETA", w), ("AUTO", w)), everything=False) == Answer(
        Outcome.ALL_WITHDRAWN, ("VIETA", "AUTO"))
    assert withdrawals_answer((("VIETA", a), ("AUTO", w)), everything=False) == Answer(
        Outcome.PARTLY_WITHDRAWN, ("AUTO",), ("VIETA",))
    assert withdrawals_answer((("VIETA", a), ("AUTO", a)), everything=False) == Answer(
        Outcome.NONE_WITHDRAWN, ("VIETA", "AUTO"))
    assert withdrawals_answer((), everything=True) == Answer(Outcome.NONE_IN_FORCE)
