"""What to do with a room the watchdog tracks: pure decisions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# the room metadata key the web client reads (JSON object), and its values
STATUS_KEY = "lk.dispatch.status"
# no receptionist yet, retries are running: "all our lines are busy, please hold"
STATUS_BUSY = "busy"
# the retries ended: show the clinic's number / callback path
STATUS_UNAVAILABLE = "unavailable"
# a receptionist joined after the caller had been told to hold
STATUS_SERVED = "served"
# the receptionist's worker died and the watchdog is taking it out of the room: its
# leaving (reason PARTICIPANT_REMOVED) is a lost receptionist, not the end of the call
STATUS_RESUMING = "resuming"
# callers who waited longer than this without a receptionist are counted
WAIT_REPORT_SECONDS = 5.0


class Action(StrEnum):
    WAIT = "wait"  # nothing to do before `next_check_at`
    SERVED = "served"  # a receptionist is in the room: stop tracking
    CALLER_LEFT = "caller_left"  # nobody to serve any more: stop tracking
    DISPATCH = "dispatch"  # tell the caller to hold, dispatch again
    HOLD = "hold"  # a dispatch is still in flight: tell the caller to hold, check later
    GIVE_UP = "give_up"  # the retry window is over: tell the caller, stop tracking


@dataclass(frozen=True)
class RetryPolicy:
    grace_seconds: float  # the normal dispatch's time to bring the receptionist in
    window_seconds: float  # retries stop this long after the caller arrived
    backoff_initial_seconds: float
    backoff_max_seconds: float

    def backoff(self, attempts: int) -> float:
        """Seconds before the next look after `attempts` re-dispatches (doubling)."""
        doubled = self.backoff_initial_seconds * 2.0 ** max(attempts - 1, 0)
        return float(min(doubled, self.backoff_max_seconds))


@dataclass(frozen=True)
class RoomView:
    """What ListParticipants and ListDispatch showed about a room just now."""

    callers: int
    agents: int
    dispatch_in_flight: bool  # a job of this room is pending or running


def decide(
    policy: RetryPolicy,
    *,
    age_seconds: float,
    attempts: int,
    view: RoomView | None,
    resumed: bool = False,
) -> Action:
    """`view` is None when the room no longer exists. A `resumed` room lost its
    receptionist mid-call: no dispatch is coming by itself, so there is no grace."""
    grace = 0.0 if resumed else policy.grace_seconds
    if view is None:
        return Action.CALLER_LEFT
    if view.agents > 0:
        return Action.SERVED
    if view.callers == 0:
        # a room starts before its first participant joins: give the caller the grace
        return Action.CALLER_LEFT if age_seconds >= grace else Action.WAIT
    if age_seconds < grace:
        return Action.WAIT
    if age_seconds >= policy.window_seconds:
        return Action.GIVE_UP
    # a lost receptionist's job stays "running" on the server (its worker is gone): only
    # our own re-dispatches are in flight in a resumed room
    if view.dispatch_in_flight and (attempts > 0 or not resumed):
        return Action.HOLD
    return Action.DISPATCH
