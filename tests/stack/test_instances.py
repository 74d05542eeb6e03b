"""Three instances behind nginx under steady load: a SIGTERM'd instance drains, a rolling
restart loses nothing, a SIGKILL'd instance loses at most the requests it was serving and
traffic moves at once, and rate limits and caches hold across instances.

Failures are counted exactly from every request's outcome (`ragops.stack.load`): a failure
is any answer other than 200, or no answer. Each test is bounded (about 20 to 50 s)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from ragops.stack.config import FAIL_TIMEOUT_SECONDS
from ragops.stack.load import SteadyLoad
from tests.stack.conftest import LLM_DELAY_SECONDS, RunningStack, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.stack]

USERS = 4
WARM_SECONDS = 3.0


def start_load(stack3: RunningStack) -> SteadyLoad:
    load = SteadyLoad(stack3.url, stack3.api_key, users=USERS, pause=0.1).start()
    time.sleep(WARM_SECONDS)
    return load


def in_progress(url: str) -> float:
    """The instance's own gauge of requests being served (its /metrics, on loopback)."""
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("ragops_http_requests_in_progress "):
            return float(line.split()[1])
    return 0.0


def dead_at(pid: int, timeout: float = 10.0) -> float:
    """When process `pid` stopped running and its sockets were closed, on the monotonic clock.

    The main thread turns zombie first; the sockets (and the listening one) close only when
    the last of its threads (the embedder's, the vector store's, the executor's) has exited,
    which on a busy machine can be tens of milliseconds later: until then the kernel still
    accepts connections for it. Dead is: gone, or a zombie with no other thread left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return time.monotonic()
        if state in ("Z", "X") and threads == [str(pid)]:
            return time.monotonic()
        time.sleep(0.005)
    raise AssertionError(f"process {pid} still runs {timeout:.0f} s after SIGKILL")


def back_in_rotation(stack3: RunningStack, index: int, old_pid: int | None) -> None:
    """Wait until supervisord restarted instance `index`, it is ready and nginx uses it."""
    wait_until(
        lambda: stack3.stack.pid(index) not in (None, old_pid), 60, "the instance to restart"
    )
    stack3.stack.wait_ready(indexes=[index], timeout=120)
    time.sleep(FAIL_TIMEOUT_SECONDS + 1.0)


def test_rate_limits_and_caches_are_shared_by_the_instances(stack3: RunningStack) -> None:
    from tests.stack.conftest import INGEST_LIMIT

    key = stack3.new_key()
    statuses: list[int] = []
    served: set[str] = set()
    with stack3.client(key=key) as client:
        for n in range(INGEST_LIMIT + 3):
            upload = [
                ("files", (f"note-{n}.md", f"# Note {n}\n\nShared limits.\n", "text/markdown"))
            ]
            response = client.post("/v1/documents", files=upload)
            statuses.append(response.status_code)
            if response.status_code == 200:
                served.add(response.headers["x-upstream"])
    assert statuses.count(200) == INGEST_LIMIT and statuses.count(429) == 3, statuses
    assert len(served) >= 2, f"all accepted uploads went to one instance: {served}"

    question = {"question": "What does the RagopsDatabaseDown runbook tell me to check first?"}
    labels = []
    for index in range(3):
        with stack3.client(stack3.stack.plan.instance_url(index)) as direct:
            response = direct.post("/v1/chat", json=question)
            assert response.status_code == 200, response.text
            labels.append(response.headers["x-cache"])
    assert labels == ["miss", "hit-exact", "hit-exact"], labels


def test_a_retry_on_another_instance_returns_the_first_result(stack3: RunningStack) -> None:
    question = {"question": "How do I roll back a bad release?"}
    headers = {"Idempotency-Key": "stack-retry-1"}
    answers = []
    for index in range(3):
        with stack3.client(stack3.stack.plan.instance_url(index)) as direct:
            body = question if index < 2 else {"question": "Another question?"}
            answers.append(direct.post("/v1/chat", json=body, headers=headers))
    first, replayed, reused = answers
    assert first.status_code == 200, first.text
    assert (replayed.status_code, replayed.content) == (200, first.content)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_an_upload_retried_on_another_instance_returns_the_first_result(
    stack3: RunningStack,
) -> None:
    """The retry is built again by the client, so its multipart body has a new boundary."""
    page = ("files", ("retried.md", b"# Retried\n\nThe retried gauge reads 7.\n", "text/markdown"))
    headers = {"Idempotency-Key": "stack-upload-1"}
    key = stack3.new_key()  # the ingest limit of the other tests' keys is not used up
    answers = []
    for index in range(2):
        with stack3.client(stack3.stack.plan.instance_url(index), key=key) as direct:
            answers.append(direct.post("/v1/documents", files=[page], headers=headers))
    first, replayed = answers
    assert first.status_code == 200, first.text
    assert (replayed.status_code, replayed.content) == (200, first.content), replayed.text
    assert replayed.headers["idempotent-replayed"] == "true"


def test_sigterm_drains_in_flight_requests_without_a_failure(stack3: RunningStack) -> None:
    load = start_load(stack3)
    old_pid = stack3.stack.pid(1)
    assert old_pid is not None
    # a chat known to be on the instance when it is signalled: sent to its own port, so it is
    # in flight there (a new question waits LLM_DELAY_SECONDS on the model) whatever nginx
    # is doing with the load's requests
    direct: dict[str, httpx.Response | Exception] = {}

    def ask() -> None:
        try:
            direct["answer"] = httpx.post(
                stack3.stack.plan.instance_url(1) + "/v1/chat",
                json={"question": f"How do I roll back a bad release? (drain {time.time_ns()})"},
                headers={"Authorization": f"Bearer {stack3.api_key}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            direct["answer"] = exc

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    wait_until(
        lambda: in_progress(stack3.stack.plan.instance_url(1)) >= 1, 30, "a request in flight"
    )
    time.sleep(LLM_DELAY_SECONDS / 3)  # the chat has reached the model's wait by now
    assert asker.is_alive(), f"the chat was answered before the signal: {direct}"
    at = time.monotonic()
    os.kill(old_pid, signal.SIGTERM)
    asker.join(30)
    answered_at = time.monotonic()
    back_in_rotation(stack3, 1, old_pid)
    ready_at = time.monotonic()
    wait_until(
        lambda: any(
            o.started > ready_at and o.upstream == stack3.upstream(1) for o in load.report.outcomes
        ),
        30,
        "nginx to send traffic to the restarted instance",
    )
    report = load.stop()

    # the chat in flight at SIGTERM was finished, not cut; the load through nginx lost nothing
    answer = direct.get("answer")
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 200, answer.text
    assert answer.json()["answer"], answer.text
    assert answered_at > at
    assert report.failed == [], report.summary()


def test_rolling_restart_of_every_instance_fails_no_request(stack3: RunningStack) -> None:
    load = start_load(stack3)
    before = [stack3.stack.pid(i) for i in range(3)]
    stack3.stack.restart()
    report = load.stop()

    after = [stack3.stack.pid(i) for i in range(3)]
    assert all(old != new and new is not None for old, new in zip(before, after, strict=True))
    assert report.failed == [], report.summary()
    assert len(report.outcomes) > 100, report.summary()


def test_sigkill_loses_only_the_requests_in_flight_and_traffic_moves_within_a_second(
    stack3: RunningStack,
) -> None:
    load = start_load(stack3)
    old_pid = stack3.stack.pid(2)
    assert old_pid is not None
    wait_until(
        lambda: in_progress(stack3.stack.plan.instance_url(2)) >= 1, 30, "a request in flight"
    )
    os.kill(old_pid, signal.SIGKILL)
    # On a busy machine the killed process may wait to be scheduled before it exits, and its
    # sockets accept connections until then: it is "dead" when the kernel says so.
    at = dead_at(old_pid)
    time.sleep(4.0)
    report = load.stop()
    # the last test of the module: the fixture stops the stack, supervisord's restart of the
    # instance is not waited for

    lost = report.failed
    said = (
        report.summary()
        + "; lost: "
        + "; ".join(
            f"{o.kind} {o.status} {o.upstream} {o.error} started {o.started - at:+.3f} s, "
            f"ended {o.ended - at:+.3f} s from the death"
            for o in lost
        )
    )
    # only requests the killed instance was serving: started before it died, and either
    # answered 502 by nginx (a reset after an unkeyed POST was sent cannot be retried safely)
    # or, of any kind, cut at the death because nginx had already passed the start of its
    # answer on (a response begun cannot be retried; the client sees the connection close
    # and may send a keyed POST again with its key)
    assert all(o.started < at for o in lost), said
    answered = [o for o in lost if o.status is not None]
    cut = [o for o in lost if o.status is None]
    assert all(o.kind == "chat" and o.status == 502 for o in answered), said
    assert all(o.upstream == stack3.upstream(2) for o in answered), said
    assert all(o.error == "RemoteProtocolError" and o.ended < at + 1.0 for o in cut), said
    assert len(lost) <= USERS
    after = [o for o in report.outcomes if o.started >= at]
    assert after and all(o.ok for o in after), report.summary()
    # traffic moved at once: in the second after the kill, answers from both other
    # instances, and no request started then waited a second more than the answer takes
    first_second = [o for o in after if o.ended <= at + 1.0]
    served_by = {o.upstream.split(", ")[-1] for o in first_second if o.upstream}
    assert {stack3.upstream(0), stack3.upstream(1)} <= served_by, served_by
    assert max(o.ended - o.started for o in after if o.started < at + 1.0) < (
        1.0 + LLM_DELAY_SECONDS + 1.0
    )
