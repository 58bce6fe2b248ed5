/**
 * One browser call to the receptionist over LiveKit: token → connect → microphone → agent.
 *
 * No DOM here apart from the hidden <audio> elements the agent's voice plays through; the
 * widget renders whatever `CallSnapshot` this emits.
 */
import {
  ConnectionState,
  DisconnectReason,
  LocalAudioTrack,
  MediaDeviceFailure,
  ParticipantKind,
  RemoteParticipant,
  RemoteTrack,
  Room,
  RoomEvent,
  Track,
  createLocalAudioTrack,
  type Participant,
  type TextStreamReader,
} from 'livekit-client';

import type { CallConfig } from './config';
import { TokenError, fetchRoomToken } from './token';
import {
  ATTR_SEGMENT_ID,
  ATTR_TRANSCRIBED_TRACK_ID,
  ATTR_TRANSCRIPTION_FINAL,
  TRANSCRIPTION_TOPIC,
  Transcript,
  type Segment,
  type Speaker,
} from './transcript';

/** Participant attribute LiveKit Agents 1.x keeps up to date with the agent's state. */
export const ATTR_AGENT_STATE = 'lk.agent.state';

/**
 * Key in the room's metadata (JSON) where the token service's dispatch watchdog says how
 * the wait for a receptionist goes: `busy` (all lines busy, retrying: hold), `served`,
 * `unavailable` (the retries ended), or `resuming` (the receptionist's worker died; the
 * watchdog removes it and brings another).
 */
export const DISPATCH_STATUS_KEY = 'lk.dispatch.status';
/** While the watchdog retries, the page waits this long at most before giving up itself. */
const ON_HOLD_TIMEOUT_SECONDS = 180;

/**
 * A receptionist leaving for one of these reasons ended the call (or the room went away).
 * Any other reason means it was lost (its worker killed, its node gone): the token
 * service's watchdog sees the same event and dispatches a resumed receptionist, so the
 * page stays in the room. The watchdog's `_AGENT_ENDED_CALL` is the same set.
 */
const RECEPTIONIST_ENDED_CALL: ReadonlySet<DisconnectReason> = new Set([
  DisconnectReason.CLIENT_INITIATED,
  DisconnectReason.ROOM_DELETED,
  DisconnectReason.ROOM_CLOSED,
  DisconnectReason.PARTICIPANT_REMOVED,
]);

export function receptionistEndedCall(reason: DisconnectReason | undefined): boolean {
  return reason !== undefined && RECEPTIONIST_ENDED_CALL.has(reason);
}

export function dispatchStatus(metadata: string | undefined): string | undefined {
  if (!metadata) return undefined;
  try {
    const parsed: unknown = JSON.parse(metadata);
    if (parsed && typeof parsed === 'object' && DISPATCH_STATUS_KEY in parsed) {
      const value = (parsed as Record<string, unknown>)[DISPATCH_STATUS_KEY];
      return typeof value === 'string' ? value : undefined;
    }
  } catch {
    // metadata that is not ours
  }
  return undefined;
}

export type AgentState = 'initializing' | 'idle' | 'listening' | 'thinking' | 'speaking';

export type CallPhase =
  | 'idle' // nothing has happened yet
  | 'starting' // microphone, token, connecting
  | 'waiting' // in the room, the receptionist has not joined yet
  | 'active' // the receptionist is in the room
  | 'reconnecting' // the connection dropped; LiveKit is trying to restore it
  | 'resuming' // the receptionist was lost mid-call (its worker died); another is coming
  | 'ended' // hung up, or the receptionist ended the call
  | 'failed'; // see `error`

export type CallErrorKind =
  | 'mic-denied'
  | 'mic-missing'
  | 'mic-busy'
  | 'rate-limited'
  | 'unavailable'
  | 'unknown-clinic'
  | 'unauthorized'
  | 'network'
  | 'rejected'
  | 'connect-failed'
  | 'agent-busy'
  | 'dropped'
  | 'unsupported';

export interface CallError {
  kind: CallErrorKind;
  retryAfterSeconds?: number;
}

export type EndReason = 'caller' | 'receptionist';

export interface CallSnapshot {
  phase: CallPhase;
  agentState?: AgentState;
  muted: boolean;
  /** Waiting with every line busy: the watchdog is retrying the dispatch. */
  onHold?: boolean;
  /** False when the browser blocked audio playback until the next click. */
  audioBlocked: boolean;
  error?: CallError;
  endedBy?: EndReason;
}

export interface CallListener {
  onChange(snapshot: CallSnapshot): void;
  onSegment(segment: Segment): void;
  onTranscriptCleared(): void;
}

const AGENT_STATES: ReadonlySet<string> = new Set([
  'initializing',
  'idle',
  'listening',
  'thinking',
  'speaking',
]);

function isAgent(participant: Participant): boolean {
  return participant.kind === ParticipantKind.AGENT || ATTR_AGENT_STATE in participant.attributes;
}

function micErrorKind(error: unknown): CallErrorKind {
  switch (MediaDeviceFailure.getFailure(error)) {
    case MediaDeviceFailure.PermissionDenied:
      return 'mic-denied';
    case MediaDeviceFailure.NotFound:
      return 'mic-missing';
    case MediaDeviceFailure.DeviceInUse:
      return 'mic-busy';
    default:
      return 'mic-denied';
  }
}

export class CallSession {
  private room?: Room;
  private micTrack?: LocalAudioTrack;
  private agent?: RemoteParticipant;
  private agentTimer?: ReturnType<typeof setTimeout>;
  private abort?: AbortController;
  private readonly transcript = new Transcript();
  private readonly audioElements = new Map<string, HTMLMediaElement>();
  private snapshot: CallSnapshot = { phase: 'idle', muted: false, audioBlocked: false };

  constructor(
    private readonly config: CallConfig,
    private readonly listener: CallListener,
    private readonly audioContainer: HTMLElement,
  ) {}

  get state(): CallSnapshot {
    return this.snapshot;
  }

  get inCall(): boolean {
    return ['starting', 'waiting', 'active', 'reconnecting', 'resuming'].includes(
      this.snapshot.phase,
    );
  }

  /** Must run inside the click handler: the browser only allows audio after a user gesture. */
  async start(): Promise<void> {
    if (this.inCall) return;
    await this.teardown();
    this.transcript.clear();
    this.listener.onTranscriptCleared();
    this.update({
      phase: 'starting',
      agentState: undefined,
      onHold: false,
      muted: false,
      error: undefined,
      endedBy: undefined,
    });

    if (!navigator.mediaDevices?.getUserMedia || typeof RTCPeerConnection === 'undefined') {
      this.fail({ kind: 'unsupported' });
      return;
    }

    const room = new Room({ adaptiveStream: false, dynacast: false });
    this.room = room;
    this.wire(room);
    // Unlock audio playback while the click's user activation is still fresh.
    void room.startAudio().catch(() => undefined);
    const abort = new AbortController();
    this.abort = abort;

    // The microphone comes first: a caller who refuses it should not cost a room and an agent.
    let mic: LocalAudioTrack;
    try {
      mic = await createLocalAudioTrack({
        echoCancellation: true,
        noiseSuppression: true,
        autoGainControl: true,
      });
    } catch (error) {
      if (this.room === room) this.fail({ kind: micErrorKind(error) });
      return;
    }
    if (this.room !== room) {
      mic.stop(); // hung up while the browser was asking for the microphone
      return;
    }
    this.micTrack = mic;

    try {
      const { tokenEndpoint, clinicId } = this.config;
      const token = await fetchRoomToken(tokenEndpoint, clinicId, abort.signal);
      if (this.room !== room) return;
      await room.connect(token.serverUrl, token.participantToken, { autoSubscribe: true });
      if (this.room !== room) return;
      await room.localParticipant.publishTrack(mic, { source: Track.Source.Microphone });
    } catch (error) {
      if (this.room !== room) return;
      this.fail(
        error instanceof TokenError
          ? { kind: error.kind, retryAfterSeconds: error.retryAfterSeconds }
          : { kind: 'connect-failed' },
      );
      return;
    }

    this.update({ audioBlocked: !room.canPlaybackAudio });
    if (this.agent) return;
    const present = [...room.remoteParticipants.values()].find(isAgent);
    if (present) this.adoptAgent(present);
    else {
      this.awaitAgent(room, 'agent-busy');
      this.onDispatchStatus(room, room.metadata);
    }
  }

  /** The watchdog's word on the wait (room metadata): hold on, or give up with the number. */
  private onDispatchStatus(room: Room, metadata: string | undefined): void {
    if (this.room !== room || this.agent) return;
    const status = dispatchStatus(metadata);
    const waiting = this.snapshot.phase === 'waiting' && !this.snapshot.onHold;
    if (status === 'busy' && (waiting || this.snapshot.phase === 'resuming')) {
      // a resumed call keeps saying "reconnecting you" rather than "all lines are busy"
      if (waiting) this.update({ onHold: true });
      // the watchdog owns the wait now; keep only a backstop in case it goes silent
      clearTimeout(this.agentTimer);
      this.agentTimer = setTimeout(() => {
        if (this.room === room && !this.agent) this.fail({ kind: 'agent-busy' });
      }, ON_HOLD_TIMEOUT_SECONDS * 1000);
    } else if (status === 'unavailable') {
      this.fail({ kind: 'agent-busy' });
    }
  }

  /** Gives the receptionist `agentJoinTimeoutSeconds` to (re)join, then fails with `failure`. */
  private awaitAgent(room: Room, failure: CallErrorKind, phase: CallPhase = 'waiting'): void {
    this.update({ phase, agentState: undefined });
    clearTimeout(this.agentTimer);
    this.agentTimer = setTimeout(() => {
      if (this.room === room && !this.agent) this.fail({ kind: failure });
    }, this.config.agentJoinTimeoutSeconds * 1000);
  }

  async hangUp(): Promise<void> {
    const wasInCall = this.inCall;
    await this.teardown();
    if (wasInCall) this.update({ phase: 'ended', endedBy: 'caller', agentState: undefined });
  }

  async setMuted(muted: boolean): Promise<void> {
    if (!this.micTrack) return;
    if (muted) await this.micTrack.mute();
    else await this.micTrack.unmute();
    this.update({ muted });
  }

  /** Retries audio playback after the browser blocked it; call from a click handler. */
  async enableAudio(): Promise<void> {
    await this.room?.startAudio().catch(() => undefined);
    this.update({ audioBlocked: !(this.room?.canPlaybackAudio ?? true) });
  }

  private wire(room: Room): void {
    room
      .on(RoomEvent.ParticipantConnected, (participant) => {
        if (!this.agent && isAgent(participant)) this.adoptAgent(participant);
      })
      .on(RoomEvent.RoomMetadataChanged, (metadata) => this.onDispatchStatus(room, metadata))
      .on(RoomEvent.ParticipantAttributesChanged, (_changed, participant) => {
        if (participant instanceof RemoteParticipant && !this.agent && isAgent(participant)) {
          this.adoptAgent(participant);
        } else if (participant === this.agent) {
          this.readAgentState();
        }
      })
      .on(RoomEvent.ParticipantDisconnected, (participant, reason) => {
        this.dropAudioOf(participant.identity);
        if (participant !== this.agent) return;
        this.agent = undefined;
        // While reconnecting, LiveKit drops everyone it knew; that is not the agent hanging up.
        if (this.snapshot.phase === 'reconnecting') return;
        // "resuming": the watchdog is taking a dead worker's receptionist out (removed)
        const resuming = dispatchStatus(room.metadata) === 'resuming';
        if (receptionistEndedCall(reason) && !resuming) void this.endByReceptionist();
        // lost mid-call: stay in the room while the watchdog brings a resumed receptionist
        // (it says "busy" as it dispatches, which extends the wait; "unavailable" ends it)
        else this.awaitAgent(room, 'agent-busy', 'resuming');
      })
      .on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
        if (track.kind === Track.Kind.Audio) this.playAudio(track, participant);
      })
      .on(RoomEvent.TrackUnsubscribed, (track) => this.stopAudio(track))
      .on(RoomEvent.AudioPlaybackStatusChanged, (playing) =>
        this.update({ audioBlocked: !playing }),
      )
      // Both a lost signalling link (media may still flow) and a lost media link show as
      // reconnecting: either way the caller may not be heard, and LiveKit is retrying.
      .on(RoomEvent.ConnectionStateChanged, (state) => this.onConnectionState(room, state))
      .on(RoomEvent.Disconnected, (reason) => this.onDisconnected(room, reason));
    room.registerTextStreamHandler(TRANSCRIPTION_TOPIC, (reader, from) => {
      void this.readTranscription(room, reader, from.identity);
    });
  }

  private onConnectionState(room: Room, state: ConnectionState): void {
    const lost =
      state === ConnectionState.Reconnecting || state === ConnectionState.SignalReconnecting;
    const inRoom = ['waiting', 'active', 'resuming'].includes(this.snapshot.phase);
    if (lost && inRoom) {
      clearTimeout(this.agentTimer);
      this.update({ phase: 'reconnecting' });
    } else if (state === ConnectionState.Connected && this.snapshot.phase === 'reconnecting') {
      if (this.agent) this.update({ phase: 'active' });
      else this.awaitAgent(room, 'dropped');
    }
  }

  private adoptAgent(participant: RemoteParticipant): void {
    this.agent = participant;
    clearTimeout(this.agentTimer);
    this.update({
      phase: this.snapshot.phase === 'reconnecting' ? 'reconnecting' : 'active',
      onHold: false,
    });
    this.readAgentState();
  }

  private readAgentState(): void {
    const value = this.agent?.attributes[ATTR_AGENT_STATE];
    if (value && AGENT_STATES.has(value)) this.update({ agentState: value as AgentState });
  }

  private speakerOf(room: Room, identity: string, trackId: string | undefined): Speaker {
    if (identity === room.localParticipant.identity) return 'caller';
    if (trackId && trackId === this.micTrack?.sid) return 'caller';
    return 'receptionist';
  }

  private async readTranscription(
    room: Room,
    reader: TextStreamReader,
    identity: string,
  ): Promise<void> {
    const attributes = reader.info.attributes ?? {};
    const id = attributes[ATTR_SEGMENT_ID] ?? reader.info.id;
    const speaker = this.speakerOf(room, identity, attributes[ATTR_TRANSCRIBED_TRACK_ID]);
    this.listener.onSegment(this.transcript.beginStream(id, speaker));
    try {
      for await (const chunk of reader) {
        if (this.room !== room) return;
        const segment = this.transcript.append(id, chunk);
        if (segment) this.listener.onSegment(segment);
      }
    } catch {
      // An aborted stream keeps the text it delivered; the next stream or segment goes on.
    }
    if (this.room !== room) return;
    // The closing trailer's attributes are merged into `info.attributes` by the SDK.
    const final = reader.info.attributes?.[ATTR_TRANSCRIPTION_FINAL] === 'true';
    const segment = this.transcript.finish(id, final);
    if (segment) this.listener.onSegment(segment);
  }

  private playAudio(track: RemoteTrack, participant: RemoteParticipant): void {
    const element = track.attach();
    element.dataset.participant = participant.identity;
    this.audioContainer.append(element);
    if (track.sid) this.audioElements.set(track.sid, element);
  }

  private stopAudio(track: RemoteTrack): void {
    track.detach().forEach((element) => element.remove());
    if (track.sid) {
      this.audioElements.get(track.sid)?.remove();
      this.audioElements.delete(track.sid);
    }
  }

  /** A participant who left may leave its (already detached) audio element behind. */
  private dropAudioOf(identity: string): void {
    for (const [sid, element] of this.audioElements) {
      if (element.dataset.participant !== identity) continue;
      element.remove();
      this.audioElements.delete(sid);
    }
  }

  private async endByReceptionist(): Promise<void> {
    await this.teardown();
    this.update({ phase: 'ended', endedBy: 'receptionist', agentState: undefined });
  }

  private onDisconnected(room: Room, reason: DisconnectReason | undefined): void {
    if (this.room !== room) return; // our own hang-up or failure already tore it down
    if (
      reason === DisconnectReason.ROOM_DELETED ||
      reason === DisconnectReason.PARTICIPANT_REMOVED
    ) {
      void this.endByReceptionist();
      return;
    }
    this.fail({ kind: 'dropped' });
  }

  private fail(error: CallError): void {
    void this.teardown();
    this.update({ phase: 'failed', error, agentState: undefined });
  }

  private async teardown(): Promise<void> {
    clearTimeout(this.agentTimer);
    this.abort?.abort();
    const room = this.room;
    const mic = this.micTrack;
    this.room = undefined;
    this.micTrack = undefined;
    this.agent = undefined;
    this.audioElements.forEach((element) => element.remove());
    this.audioElements.clear();
    mic?.stop();
    if (room) {
      room.unregisterTextStreamHandler(TRANSCRIPTION_TOPIC);
      await room.disconnect();
    }
  }

  private update(change: Partial<CallSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    this.listener.onChange(this.snapshot);
  }
}
