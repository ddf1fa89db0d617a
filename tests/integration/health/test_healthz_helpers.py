"""/healthz answers 503 when every scheduler (which also works through LINE events) has gone silent."""

from __future__ import annotations

from bot.supervision import Heartbeat
from crm_core import heartbeats


def _report(uow_factory, helper: str, *, host: str = "host-a", pid: int = 100) -> None:
    with uow_factory() as uow:
        heartbeats.beat(uow=uow, helper=helper, host=host, pid=pid, started_at=uow.now())
        uow.commit()


def test_no_helper_at_all_is_unhealthy(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["reason"].startswith("no scheduler is running")


def test_a_scheduler_that_stopped_reporting_is_named_with_its_silence(client, uow_factory, clock):
    _report(uow_factory, heartbeats.SCHEDULER)
    assert client.get("/healthz").status_code == 200
    clock.advance(seconds=45)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["reason"] == "the scheduler has not reported for 45 s"


def test_a_live_scheduler_on_another_host_keeps_every_web_process_healthy(client, uow_factory, clock):
    # `kizuna serve --no-scheduler --event-workers 0` here, `kizuna scheduler` on host-b
    _report(uow_factory, heartbeats.SCHEDULER, host="host-a", pid=1)
    clock.advance(minutes=10)  # host-a's old scheduler died long ago
    _report(uow_factory, heartbeats.SCHEDULER, host="host-b", pid=7)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["helpers"] == [{"helper": "scheduler", "host": "host-b", "pid": 7, "seconds_since_report": 0}]


def test_event_workers_without_a_scheduler_are_unhealthy_and_listed_beside_it(client, uow_factory, clock):
    _report(uow_factory, heartbeats.EVENT_WORKER, pid=1)
    assert client.get("/healthz").json["reason"].startswith("no scheduler is running")
    clock.advance(seconds=40)
    _report(uow_factory, heartbeats.EVENT_WORKER, pid=1)
    _report(uow_factory, heartbeats.SCHEDULER, pid=2)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert [helper["helper"] for helper in response.json["helpers"]] == ["event worker", "scheduler"]


def test_a_helper_reports_at_start_and_takes_its_report_back_when_it_stops(client, uow_factory):
    heartbeat = Heartbeat(uow_factory=uow_factory, helper=heartbeats.SCHEDULER)
    heartbeat.start()
    try:
        healthy = client.get("/healthz")
    finally:
        heartbeat.stop()
    assert healthy.status_code == 200
    assert healthy.json["helpers"][0]["helper"] == "scheduler"
    assert client.get("/healthz").json["reason"].startswith("no scheduler is running")
