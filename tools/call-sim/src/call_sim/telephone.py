"""A phone caller: what LiveKit SIP would put in the room, without LiveKit SIP.

The SIP leg (carrier → LiveKit SIP → room) is LiveKit's and cannot run here (its Go module
is not on the registries these machines reach). What reaches the room is simulated
instead: a participant of kind SIP with the `sip.*` attributes LiveKit SIP sets, dispatched
to the receptionist exactly as the clinic's dispatch rule would, whose voice went through a
telephone channel (band-limited to 300-3400 Hz, 8 kHz, G.711 μ-law both ways) and who
presses keys with DTMF.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit import api

from call_sim.voice import SAMPLE_RATE, Pcm, resample_linear

PHONE_RATE = 8_000
PASSBAND_HZ = (300.0, 3400.0)
_BIAS = 0x84
_CLIP_14 = 8159
_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def ulaw_encode(samples: Pcm) -> npt.NDArray[np.uint8]:
    """16-bit linear PCM to G.711 μ-law bytes, bit-exact with the reference implementation
    (Sun's g711.c, which CPython's audioop also used): 14-bit magnitude, segment, mantissa."""
    value = samples.astype(np.int32) >> 2
    negative = value < 0
    magnitude = np.minimum(np.where(negative, -value, value), _CLIP_14) + (_BIAS >> 2)
    segment = np.zeros_like(magnitude)
    for upper in _SEGMENT_ENDS:
        segment += magnitude > upper
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    encoded: npt.NDArray[np.uint8] = (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)
    return encoded


def ulaw_decode(encoded: npt.NDArray[np.uint8]) -> Pcm:
    """G.711 μ-law bytes back to 16-bit linear PCM."""
    code = ~encoded.astype(np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _BIAS) << exponent
    linear = np.where(code & 0x80, _BIAS - magnitude, magnitude - _BIAS)
    decoded: Pcm = linear.astype(np.int16)
    return decoded


def band_limit(samples: npt.NDArray[Any], rate: int) -> npt.NDArray[np.float64]:
    """Only the telephone band survives (an FFT mask: the whole utterance is at hand)."""
    spectrum = np.fft.rfft(samples.astype(np.float64))
    frequencies = np.fft.rfftfreq(samples.size, d=1.0 / rate)
    spectrum[(frequencies < PASSBAND_HZ[0]) | (frequencies > PASSBAND_HZ[1])] = 0
    limited: npt.NDArray[np.float64] = np.fft.irfft(spectrum, n=samples.size)
    return limited


def telephone_channel(audio: Pcm) -> Pcm:
    """48 kHz speech as a phone line delivers it, back at 48 kHz for the room."""
    if audio.size == 0:
        return audio
    narrow = band_limit(audio, SAMPLE_RATE)[:: SAMPLE_RATE // PHONE_RATE]
    at_8k: Pcm = np.clip(np.rint(narrow), -32768, 32767).astype(np.int16)
    return resample_linear(ulaw_decode(ulaw_encode(at_8k)), PHONE_RATE, SAMPLE_RATE)


@dataclass(frozen=True)
class PhoneCall:
    """The numbers of a simulated call: who dials, and the clinic number dialled."""

    caller_number: str
    trunk_number: str
    call_id: str = ""

    def attributes(self) -> dict[str, str]:
        """The participant attributes LiveKit SIP sets on an inbound caller."""
        call_id = self.call_id or f"SCL_{secrets.token_hex(6)}"
        return {
            "sip.callID": call_id,
            "sip.callStatus": "active",
            "sip.phoneNumber": self.caller_number,
            "sip.trunkPhoneNumber": self.trunk_number,
            "sip.trunkID": "ST_simulated",
            "sip.ruleID": "SDR_simulated",
        }


def phone_caller_token(
    api_key: str,
    api_secret: str,
    *,
    room_name: str,
    call: PhoneCall,
    agent_name: str,
    clinic_id: str | None,
) -> str:
    """A token for the caller as LiveKit SIP joins it: kind SIP, `sip.*` attributes, and
    the dispatch the clinic's rule carries (`clinic_id=None`: a rule without metadata, so
    the receptionist must find the clinic from the dialled number)."""
    metadata = json.dumps({"clinic_id": clinic_id}, separators=(",", ":")) if clinic_id else ""
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(f"sip_{call.caller_number}")
        .with_name("Phone caller")
        .with_kind("sip")
        .with_attributes(call.attributes())
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=room_name,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
            )
        )
        .with_room_config(
            api.RoomConfiguration(
                agents=[api.RoomAgentDispatch(agent_name=agent_name, metadata=metadata)]
            )
        )
        .with_ttl(timedelta(minutes=30))
        .to_jwt()
    )
