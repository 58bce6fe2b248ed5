"""Whether the caller approved a change to the appointment book (pure state machine).

The one rule, and the only place it is decided: a booking, reschedule or cancellation may
be committed only when its details were read back in full and the caller's very next words
were a clear yes. Anything else spends the read-back, and only a fresh one can approve:

    IDLE ──read_back_started──▶ READING ──read back in full──▶ AWAITING ──clear yes──▶ APPROVED
                                   │ cut off, or a "no"            │ anything else, or an
                                   ▼ said over it                  ▼ agent question first
                                 SPENT ◀──────────────────────── SPENT ◀── the caller speaks
                                                                          again (APPROVED)

Other words said over the read-back ("mm-hmm") do not count either way: only the caller's
first turn after the whole read-back answers it.

The session feeds it what was said (`caller_turn`, `agent_turn`, `read_back_finished`); a
tool asks `authorize`. `caller_turn` also returns the change a clear yes approved, so a turn
hook can commit on the yes without waiting for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .changes import ChangeDetails, Reply, classify_reply


class Stage(Enum):
    IDLE = "idle"
    READING = "reading"
    AWAITING = "awaiting"
    APPROVED = "approved"
    SPENT = "spent"


class Refusal(Enum):
    NOT_READ_BACK = "not_read_back"
    DETAILS_CHANGED = "details_changed"
    NO_ANSWER_YET = "no_answer_yet"
    DECLINED = "declined"
    UNCLEAR = "unclear"
    NOT_DIRECT = "not_direct"


_CONFIRM_TOOLS = (
    "the matching confirm_* tool (confirm_booking_details, confirm_reschedule_details or "
    "confirm_cancellation_details)"
)
_GUIDANCE = {
    Refusal.NOT_READ_BACK: (
        f"Not done: the details have not been read back yet. Call {_CONFIRM_TOOLS} first; it "
        "reads them to the caller. Then wait for their answer."
    ),
    Refusal.DETAILS_CHANGED: (
        "Not done: these details differ from what was read back. Read them back again with "
        f"{_CONFIRM_TOOLS} and wait for the caller's answer."
    ),
    Refusal.NO_ANSWER_YET: (
        "Not done: the caller has not answered the read-back yet. Wait for them to say yes."
    ),
    Refusal.DECLINED: (
        "Not done: the caller did not confirm, so that read-back no longer counts. Ask what "
        f"should change, then read the details back again with {_CONFIRM_TOOLS}."
    ),
    Refusal.UNCLEAR: (
        "Not done: the caller's answer to the read-back was not a clear yes, so it no longer "
        "counts. Answer them if they asked something, then read the details back again with "
        f"{_CONFIRM_TOOLS}."
    ),
    Refusal.NOT_DIRECT: (
        "Not done: the caller's yes must be their direct answer to the whole read-back, with "
        "nothing said in between, and the change made right after it. Read the details back "
        f"again with {_CONFIRM_TOOLS} and wait for the caller's answer."
    ),
}


class ConfirmationRequired(Exception):  # noqa: N818 - reads as the condition it signals
    """The change is not approved; `guidance` tells the model what to do instead."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(_GUIDANCE[refusal])
        self.refusal = refusal
        self.guidance = _GUIDANCE[refusal]


@dataclass(frozen=True)
class _State:
    stage: Stage
    details: ChangeDetails | None = None
    spent_because: Refusal = Refusal.NOT_READ_BACK


_IDLE = _State(Stage.IDLE)


class Approval:
    """The one change awaiting, or holding, the caller's approval in one call."""

    def __init__(self) -> None:
        self._state = _IDLE
        self._turns_seen: set[str] = set()

    @property
    def stage(self) -> Stage:
        return self._state.stage

    @property
    def details(self) -> ChangeDetails | None:
        """The change being read back, awaiting an answer, or approved."""
        return self._state.details if self._state.stage is not Stage.IDLE else None

    def read_back_started(self, details: ChangeDetails) -> None:
        """The read-back of `details` was handed to the speech queue (it replaces any other)."""
        self._state = _State(Stage.READING, details)

    def read_back_finished(self, details: ChangeDetails, *, heard_whole: bool) -> None:
        """The read-back's speech ended; `heard_whole` is False if it was cut off."""
        if self._state.stage is not Stage.READING or self._state.details != details:
            return  # a stale read-back, or one the caller already spoke over
        if heard_whole:
            self._to(Stage.AWAITING)
        else:
            self._spend(Refusal.NOT_DIRECT)

    def caller_turn(self, text: str, *, turn_id: str | None = None) -> ChangeDetails | None:
        """The caller finished a turn; returns the change it approved, if it did.

        `turn_id` makes reporting the same turn twice (turn hook and transcript) harmless.
        """
        if turn_id is not None:
            if turn_id in self._turns_seen:
                return None
            self._turns_seen.add(turn_id)
        stage = self._state.stage
        reply = classify_reply(text)
        if stage is Stage.AWAITING:
            if reply is Reply.YES:
                self._to(Stage.APPROVED)
                return self._state.details
            self._spend(Refusal.DECLINED if reply is Reply.NO else Refusal.UNCLEAR)
        elif stage is Stage.APPROVED:
            self._spend(Refusal.DECLINED if reply is Reply.NO else Refusal.NOT_DIRECT)
        elif stage is Stage.READING and reply is Reply.NO:
            self._spend(Refusal.DECLINED)  # "no, wait" over the read-back
        return None

    def agent_turn(self) -> None:
        """The agent said something (other than the read-back itself).

        Before the caller answered, it stands between the read-back and the answer, so the
        answer no longer answers the read-back. Speech while the read-back is still queued
        played before it; speech after the yes answers the yes: neither matters.
        """
        if self._state.stage is Stage.AWAITING:
            self._spend(Refusal.NOT_DIRECT)

    def authorize(self, details: ChangeDetails) -> None:
        """Raises `ConfirmationRequired` unless exactly `details` are approved right now."""
        state = self._state
        if state.stage is Stage.IDLE:
            raise ConfirmationRequired(Refusal.NOT_READ_BACK)
        if state.details != details:
            raise ConfirmationRequired(Refusal.DETAILS_CHANGED)
        if state.stage is Stage.SPENT:
            raise ConfirmationRequired(state.spent_because)
        if state.stage is not Stage.APPROVED:
            raise ConfirmationRequired(Refusal.NO_ANSWER_YET)

    def completed(self) -> None:
        """The change was made (or can no longer be): nothing is pending any more."""
        self._state = _IDLE

    def _to(self, stage: Stage) -> None:
        self._state = _State(stage, self._state.details)

    def _spend(self, because: Refusal) -> None:
        self._state = _State(Stage.SPENT, self._state.details, because)
