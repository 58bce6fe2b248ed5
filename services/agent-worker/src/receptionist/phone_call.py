"""A call that came in on a phone line (LiveKit SIP): who is calling, which clinic number
they dialled, whether a person can take them now, and the keys they press.

The SIP leg itself (carrier → LiveKit SIP → room) is LiveKit's; ours starts at the room,
where the caller is a participant of kind SIP carrying `sip.*` attributes. The last three
functions are the job's adapters: the clinic for a dialled number, the cold transfer (a
SIP REFER through LiveKit's API) and the keypad listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from livekit import rtc
from livekit.agents import AgentSession, JobContext
from livekit.protocol.sip import TransferSIPParticipantRequest

from .profile_cache import ProfileCache
from .resources import ClinicProfile
from .scheduling_client import SchedulingClient, SchedulingError

logger = logging.getLogger(__name__)

CALLER_NUMBER_ATTRIBUTE = "sip.phoneNumber"
DIALLED_NUMBER_ATTRIBUTE = "sip.trunkPhoneNumber"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FRONT_DESK_KEY = "0"
END_OF_ENTRY_KEY = "#"
KEYPAD_PAUSE_SECONDS = 2.5


@dataclass(frozen=True)
class PhoneCaller:
    """The SIP participant: its identity (for the transfer), caller ID and dialled number."""

    identity: str
    number: str | None
    dialled: str | None


def phone_caller(participant: rtc.RemoteParticipant) -> PhoneCaller | None:
    """The participant as a phone caller, or None when it is not on a phone line."""
    if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
        return None
    attributes = participant.attributes
    return PhoneCaller(
        participant.identity,
        attributes.get(CALLER_NUMBER_ATTRIBUTE) or None,
        attributes.get(DIALLED_NUMBER_ATTRIBUTE) or None,
    )


def clinic_for_dialled(dialled: str | None, profiles: list[ClinicProfile]) -> str | None:
    """The clinic whose phone line receives `dialled` (a rule without clinic metadata)."""
    if not dialled:
        return None
    for profile in profiles:
        if profile.phone_line is not None and dialled in profile.phone_line.inbound_numbers:
            return profile.clinic_id
    return None


def transfers_open(profile: ClinicProfile, now: datetime) -> bool:
    """A person can take a transfer: a front-desk number, inside its transfer hours (clinic
    time), not on a clinic holiday."""
    line = profile.phone_line
    if line is None or not line.front_desk_number:
        return False
    local = now.astimezone(profile.tz)
    if any(holiday.date == local.date() for holiday in profile.holidays):
        return False
    clock = local.strftime("%H:%M")
    ranges = line.transfer_hours.get(WEEKDAYS[local.weekday()], [])
    return any(stretch.open <= clock < stretch.close for stretch in ranges)


def keypad_text(entry: str) -> str:
    """What the model is told the caller typed (it reads digits like spoken ones)."""
    if entry == FRONT_DESK_KEY:
        return "(Keypad: the caller pressed 0 for the front desk.)"
    return (
        f"(Keypad: the caller typed the number {entry}. Use these digits as the phone number "
        "or date of birth you asked for.)"
    )


class Keypad:
    """Collects key presses into entries: `#` or a pause of `pause_seconds` ends one."""

    def __init__(
        self, on_entry: Callable[[str], None], *, pause_seconds: float = KEYPAD_PAUSE_SECONDS
    ) -> None:
        self._on_entry = on_entry
        self._pause_seconds = pause_seconds
        self._digits: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def press(self, key: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if key == END_OF_ENTRY_KEY:
            self.flush()
            return
        if key.isdigit() or key == "*":
            self._digits.append(key)
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._pause_seconds, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        entry, self._digits = "".join(self._digits), []
        if entry:
            self._on_entry(entry)


@dataclass(frozen=True)
class PhoneLineControl:
    """A phone call's line: the caller, and a cold transfer of them to a number."""

    caller: PhoneCaller
    transfer: Callable[[str], Awaitable[None]]


async def clinic_for_dialled_number(
    caller: PhoneCaller, scheduling: SchedulingClient, profiles: ProfileCache
) -> str | None:
    """A dispatch without a clinic: the clinic whose phone line received the call."""
    try:
        clinic_ids = await scheduling.list_clinic_ids()
        clinics = [await profiles.get(clinic_id) for clinic_id in clinic_ids]
    except SchedulingError as exc:
        logger.warning("could not map the dialled number", extra={"error": type(exc).__name__})
        return None
    return clinic_for_dialled(caller.dialled, clinics)


def cold_transfer(ctx: JobContext, caller: PhoneCaller) -> Callable[[str], Awaitable[None]]:
    async def transfer(number: str) -> None:
        await ctx.api.sip.transfer_sip_participant(
            TransferSIPParticipantRequest(
                room_name=ctx.room.name,
                participant_identity=caller.identity,
                transfer_to=f"tel:{number}",
            )
        )

    return transfer


def listen_to_keypad(room: rtc.Room, session: AgentSession[None], caller: PhoneCaller) -> None:
    """Key presses (DTMF) reach the model as the caller's words; 0 asks for the front desk."""

    def on_entry(entry: str) -> None:
        session.interrupt()
        session.generate_reply(user_input=keypad_text(entry))

    keypad = Keypad(on_entry)

    def on_dtmf(event: rtc.SipDTMF) -> None:
        if event.participant is None or event.participant.identity == caller.identity:
            keypad.press(event.digit)

    room.on("sip_dtmf_received", on_dtmf)
