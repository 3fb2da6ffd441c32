"""The side-by-side runner: never more jobs at once than asked, none before those it waits for, the longest
chain first, nothing new after a failure unless asked to keep going."""

from __future__ import annotations

import pytest

from facekit import side_by_side


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(side_by_side, "POLL", 0)


class Clock:
    """A fake world: each started job ends after its number of polls; records what ran when."""

    def __init__(self, polls: dict[str, int], codes: dict[str, int] | None = None):
        self.polls, self.codes = polls, codes or {}
        self.running: set[str] = set()
        self.started: list[str] = []
        self.alone: list[tuple[str, int]] = []
        self.most = 0
        self.ended_at: dict[str, int] = {}
        self.started_at: dict[str, int] = {}
        self.tick = 0

    def start(self, name: str, alone: bool = False):
        clock = self
        clock.running.add(name)
        clock.started.append(name)
        clock.started_at[name] = clock.tick
        clock.most = max(clock.most, len(clock.running))
        if alone:
            clock.alone.append((name, len(clock.running)))
        left = [self.polls[name]]

        class Job:
            def poll(self):
                clock.tick += 1
                left[0] -= 1
                if left[0] > 0:
                    return None
                clock.running.discard(name)
                clock.ended_at[name] = clock.tick
                return clock.codes.get(name, 0)

        return Job()


def test_at_most_jobs_at_once_and_each_after_what_it_waits_for():
    waits = {"00": set(), "01": set(), "02": set(), "03": set(), "04": {"03"}, "05": {"01", "03"}, "90": {"00", "01",
             "02", "03", "04", "05"}}
    clock = Clock({"00": 1, "01": 3, "02": 3, "03": 8, "04": 2, "05": 4, "90": 1})
    codes = side_by_side.run(list(waits), waits, 2, clock.start)
    assert codes == dict.fromkeys(waits, 0) and clock.most == 2
    for name, before in waits.items():
        assert all(clock.ended_at[b] <= clock.started_at[name] for b in before), name
    assert clock.started[-1] == "90"


def test_the_longest_chain_starts_first():
    waits = {"a": set(), "b": set(), "c": {"b"}}
    clock = Clock({"a": 1, "b": 1, "c": 1})
    side_by_side.run(["a", "b", "c"], waits, 1, clock.start, expected={"a": 50, "b": 30, "c": 30})
    assert clock.started == ["b", "a", "c"]  # b + c (60 s) is longer than a (50 s)
    assert side_by_side.priorities(["a", "b", "c"], waits, {"b": 30}) == {"a": 1.0, "b": 31.0, "c": 1.0}
    clock = Clock({"a": 1, "b": 1, "c": 1})
    side_by_side.run(["a", "b", "c"], waits, 1, clock.start)  # a cold build: the longer chain first
    assert clock.started == ["b", "a", "c"]


def test_a_job_waiting_on_one_not_asked_for_runs():
    clock = Clock({"b": 1})
    assert side_by_side.run(["b"], {"b": {"a"}}, 2, clock.start) == {"b": 0}


def test_after_a_failure_nothing_new_starts_unless_asked_to_keep_going():
    waits = {"a": set(), "b": set(), "c": {"a"}}
    clock = Clock({"a": 1, "b": 3, "c": 1}, codes={"a": 1})
    ended = []
    codes = side_by_side.run(["a", "b", "c"], waits, 2, clock.start,
                             ended=lambda name, code: ended.append((name, code)))
    assert codes == {"a": 1, "b": 0} and ended == [("a", 1), ("b", 0)]  # b was running: it ends; c never starts

    clock = Clock({"a": 1, "b": 3, "c": 1}, codes={"a": 1})
    codes = side_by_side.run(["a", "b", "c"], waits, 2, clock.start, stop_on_failure=False)
    assert codes == {"a": 1, "b": 0, "c": 0}


def test_a_job_that_times_itself_runs_alone():
    waits = {"a": set(), "b": set(), "c": set(), "d": {"b"}}
    clock = Clock({"a": 2, "b": 3, "c": 2, "d": 2})
    side_by_side.run(list(waits), waits, 2, clock.start, alone=["b"])
    assert clock.alone[0] == ("b", 1) and clock.started[0] == "b"  # first, with nothing beside it
    assert all(n == 1 for _, n in clock.alone)  # and the last one, if nothing runs beside it
    assert clock.ended_at["b"] <= min(clock.started_at[n] for n in "acd")
    assert clock.most == 2  # the others still run two at a time
