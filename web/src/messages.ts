/** Every sentence the caller reads, in one place: plain language, no error codes. */
import type { AgentState, CallError, CallSnapshot } from './call';

export interface StatusText {
  /** Short label for the status pill, e.g. "Listening". */
  label: string;
  /** One sentence under it saying what happens now. */
  detail: string;
  /** Drives the colour of the status indicator. */
  tone: 'neutral' | 'busy' | 'live' | 'warn' | 'error';
}

const AGENT_STATUS: Record<AgentState, StatusText> = {
  initializing: {
    label: 'Connecting',
    detail: 'The receptionist is joining the call…',
    tone: 'busy',
  },
  idle: {
    label: 'Listening',
    detail: 'Go ahead and speak — the receptionist is listening.',
    tone: 'live',
  },
  listening: {
    label: 'Listening',
    detail: 'Go ahead and speak — the receptionist is listening.',
    tone: 'live',
  },
  thinking: {
    label: 'Thinking',
    detail: 'The receptionist is working on your request…',
    tone: 'busy',
  },
  speaking: { label: 'Speaking', detail: 'The receptionist is talking.', tone: 'live' },
};

function orCall(phone: string | undefined): string {
  return phone ? ` or call us on ${phone}` : '';
}

export function errorText(error: CallError, clinicPhone: string | undefined): string {
  switch (error.kind) {
    case 'mic-denied':
      return 'We can’t use your microphone. Allow microphone access for this site in your browser (usually the icon in the address bar), then press Try again.';
    case 'mic-missing':
      return 'We couldn’t find a microphone. Plug one in or check your sound settings, then press Try again.';
    case 'mic-busy':
      return 'Your microphone is being used by another app. Close that app, then press Try again.';
    case 'rate-limited': {
      const seconds = error.retryAfterSeconds ?? 10;
      return `Too many call attempts. Please wait ${seconds} second${seconds === 1 ? '' : 's'} and try again.`;
    }
    case 'unavailable':
      return `Our call service is temporarily unavailable. Please try again in a minute${orCall(clinicPhone)}.`;
    case 'agent-busy':
      return `Our receptionist is busy right now. Please try again${orCall(clinicPhone)}.`;
    case 'unknown-clinic':
      return `Online calls aren’t set up for this clinic yet${clinicPhone ? `. Please call us on ${clinicPhone}` : ''}.`;
    case 'unauthorized':
      return `This page isn’t allowed to start calls${clinicPhone ? `. Please call us on ${clinicPhone}` : ''}.`;
    case 'network':
      return 'We couldn’t reach our call service. Check your internet connection and try again.';
    case 'rejected':
      return `We couldn’t start the call. Please try again${orCall(clinicPhone)}.`;
    case 'connect-failed':
      return `We couldn’t connect the call. Check your internet connection and try again${orCall(clinicPhone)}.`;
    case 'dropped':
      return 'The call dropped and we couldn’t reconnect. Press Try again to call back.';
    case 'unsupported':
      return `This browser can’t make calls. Please use an up-to-date Chrome, Edge, Firefox or Safari${orCall(clinicPhone)}.`;
  }
}

export function statusText(snapshot: CallSnapshot): StatusText {
  switch (snapshot.phase) {
    case 'idle':
      return {
        label: 'Ready',
        detail: 'Press Call to book, change or cancel an appointment, or to ask a question.',
        tone: 'neutral',
      };
    case 'starting':
      return { label: 'Connecting', detail: 'Setting up your call…', tone: 'busy' };
    case 'waiting':
      return snapshot.onHold
        ? {
            label: 'On hold',
            detail: 'All our lines are busy — please hold, the next receptionist will answer.',
            tone: 'busy',
          }
        : { label: 'Connecting', detail: 'Connecting you to the receptionist…', tone: 'busy' };
    case 'active':
      return snapshot.agentState ? AGENT_STATUS[snapshot.agentState] : AGENT_STATUS.initializing;
    case 'reconnecting':
      return { label: 'Reconnecting', detail: 'Connection lost — reconnecting…', tone: 'warn' };
    case 'resuming':
      return {
        label: 'Reconnecting',
        detail: 'We were cut off — reconnecting you to the receptionist…',
        tone: 'warn',
      };
    case 'ended':
      return {
        label: 'Call ended',
        detail:
          snapshot.endedBy === 'receptionist'
            ? 'The receptionist ended the call. Thanks for calling!'
            : 'You hung up. Thanks for calling!',
        tone: 'neutral',
      };
    case 'failed':
      // The alert under the status says what happened and what to do.
      return { label: 'Call failed', detail: '', tone: 'error' };
  }
}
