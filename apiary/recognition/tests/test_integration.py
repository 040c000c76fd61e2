"""Recognition beside the rest: the care sidebar, the worker loop, the demo step."""

from __future__ import annotations

import threading

from django.utils import timezone

from apiary.accounts.models import Role
from apiary.community import services as cs
from apiary.recognition import services
from apiary.recognition.models import JobCursor


def test_care_sidebar_shows_the_members_standing_as_the_agent_may_see_it(
    person, make_space, make_user, run_job
):
    from apiary.care import selectors as care_selectors
    from apiary.care.models import Conversation
    from apiary.customers.models import Customer

    # given: a member with a public post and a secret one, linked to a customer record
    ana = person("Ana")
    cs.post_create(author=ana, space=make_space("garden"), type="discussion", title="Hi")
    secret = make_space("hush", "secret", members=[ana])
    cs.post_create(author=ana, space=secret, type="discussion", title="Secret")
    run_job()
    customer = Customer.objects.create(name="Ana", email="ana@example.com", user=ana)
    now = timezone.now()
    conversation = Conversation.objects.create(
        platform="bluesky",
        thread_key="at://ana/1",
        customer=customer,
        created_at=now,
        updated_at=now,
        last_message_at=now,
    )
    agent = make_user(Role.CARE_AGENT, display_name="Agent")
    # when
    side = care_selectors.customer_sidebar(conversation=conversation, user=agent)
    # then: the public post counts, the secret one does not
    community = side["community"]
    assert community["available"] is True
    assert community["details"]["points"] == 5 and community["details"]["posts"] == 1
    assert "5 points" in community["standing"]
    # a customer without a member account has no standing
    conversation.customer = Customer.objects.create(name="Bo", email="bo@example.com")
    side = care_selectors.customer_sidebar(conversation=conversation, user=agent)
    assert side["community"]["available"] is False


def test_worker_is_registered_and_stops(person, make_space):
    from apiary.core.workers import WORKER_FACTORIES

    # given: the registered loop, stopped before its first pass (a pass from another thread
    # would wait on this test's open transaction on SQLite; the pass itself is tested above)
    run, stop = WORKER_FACTORIES["recognition"]()
    stop()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    # and what it runs is one incremental pass
    cs.post_create(author=person(), space=make_space("garden"), type="discussion", title="Hi")
    assert services.recognition_run(sweep=False)["entries"] == 1
    assert JobCursor.objects.get(name="events").position > 0


def test_a_second_pass_reads_no_events_and_appends_nothing(person, make_space):
    cs.post_create(author=person(), space=make_space("garden"), type="discussion", title="Hi")
    first = services.recognition_run()
    second = services.recognition_run()
    assert first["events"] > 0 and first["entries"] == 1
    assert (second["events"], second["entries"], second["grants"]) == (0, 0, 0)


def test_demo_step_runs_twice_without_granting_twice(person, make_space, run_job):
    from apiary.demo.steps import recognition as step
    from apiary.recognition.models import BadgeGrant

    cs.post_create(author=person(), space=make_space("garden"), type="discussion", title="Hi")
    first = step.run(None)
    grants = BadgeGrant.objects.count()
    second = step.run(None)
    assert "ledger entries" in first and first == second
    assert BadgeGrant.objects.count() == grants == 1
