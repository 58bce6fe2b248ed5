/**
 * The call widget's markup and behaviour. Rendered into any element (the standalone page or
 * the embed's shadow root) and driven by one `CallSession`.
 */
import { CallSession, type CallSnapshot } from './call';
import type { CallConfig } from './config';
import { errorText, statusText } from './messages';
import type { Segment } from './transcript';

export interface MountOptions {
  /** Heading level of the clinic name: h1 on the standalone page, h2 when embedded. */
  heading?: 'h1' | 'h2';
}

export interface MountedWidget {
  readonly session: CallSession;
  /** Hangs up and removes the widget. */
  destroy(): Promise<void>;
}

/** Fired on the widget (bubbling out of shadow roots) whenever the call's state changes. */
export const PHASE_EVENT = 'bright-smile-call:change';

let instanceCount = 0;

const ICONS = {
  phone:
    '<path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"/>',
  hangup:
    '<path d="M12 9c-1.6 0-3.15.25-4.6.72v3.1c0 .39-.23.74-.56.9-.98.49-1.87 1.12-2.66 1.85a1 1 0 0 1-.7.28 1 1 0 0 1-.71-.29L.29 13.08A1 1 0 0 1 0 12.37c0-.28.11-.53.29-.71A16.9 16.9 0 0 1 12 7c4.57 0 8.7 1.8 11.71 4.67.18.18.29.43.29.71 0 .28-.11.53-.29.71l-2.48 2.48a1 1 0 0 1-.71.29 1 1 0 0 1-.7-.28 11.3 11.3 0 0 0-2.67-1.85 1 1 0 0 1-.56-.9v-3.1A15 15 0 0 0 12 9z"/>',
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11z"/>',
  micOff:
    '<path d="M19 11h-2c0 .74-.16 1.43-.43 2.05l1.5 1.5A6.9 6.9 0 0 0 19 11zm-4 .16V5a3 3 0 0 0-5.94-.6zM4.27 3 3 4.27l6 6V11a3 3 0 0 0 4.5 2.6l1.66 1.66A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.92V21h2v-3.08a6.9 6.9 0 0 0 3.6-1.48L19.73 21 21 19.73z"/>',
  speaker:
    '<path d="M3 9v6h4l5 5V4L7 9zm13.5 3A4.5 4.5 0 0 0 14 7.97v8.05A4.5 4.5 0 0 0 16.5 12zM14 3.23v2.06a7 7 0 0 1 0 13.42v2.06A9 9 0 0 0 14 3.23z"/>',
  tooth:
    '<path d="M12 3.2c-1.2-.8-2.6-1.2-4-1.2C5 2 3 4.3 3 7.4c0 2.1.6 3.4 1.1 4.9.5 1.6.8 3.7 1.2 6.1.3 1.9.9 3.6 2.2 3.6 1.4 0 1.8-1.8 2.1-3.6.3-1.7.6-3.4 2.4-3.4s2.1 1.7 2.4 3.4c.3 1.8.7 3.6 2.1 3.6 1.3 0 1.9-1.7 2.2-3.6.4-2.4.7-4.5 1.2-6.1.5-1.5 1.1-2.8 1.1-4.9C21 4.3 19 2 16 2c-1.4 0-2.8.4-4 1.2z"/>',
} as const;

function icon(name: keyof typeof ICONS): string {
  return `<svg class="bsc-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;
}

function escapeHtml(text: string): string {
  const replacements: Record<string, string> = {
    '&': '&amp;',
    '<': '&lt;',
    '>': '&gt;',
    '"': '&quot;',
    "'": '&#39;',
  };
  return text.replace(/[&<>"']/g, (c) => replacements[c] ?? c);
}

function template(id: string, config: CallConfig, heading: 'h1' | 'h2'): string {
  // the transcript's heading sits one level below the clinic's name: no skipped level
  const subheading = heading === 'h1' ? 'h2' : 'h3';
  const phone = config.clinicPhone
    ? ` Prefer a person? Call <a href="tel:${escapeHtml(config.clinicPhone.replace(/[^+\d]/g, ''))}">${escapeHtml(config.clinicPhone)}</a>.`
    : '';
  return `
<section class="bsc" aria-labelledby="${id}-title" data-phase="idle" data-tone="neutral">
  <header class="bsc-header">
    <span class="bsc-logo">${icon('tooth')}</span>
    <div class="bsc-heading">
      <${heading} class="bsc-title" id="${id}-title">${escapeHtml(config.clinicName)}</${heading}>
      <p class="bsc-subtitle">Virtual receptionist</p>
    </div>
  </header>
  <div class="bsc-stage">
    <div class="bsc-orb" aria-hidden="true"><span class="bsc-ring"></span><span class="bsc-ring bsc-ring--late"></span>${icon('mic')}</div>
    <div class="bsc-status" role="status">
      <span class="bsc-pill"><span class="bsc-dot"></span><span class="bsc-status-label"></span></span>
      <p class="bsc-status-detail"></p>
    </div>
    <span class="bsc-timer" role="timer" aria-label="Call duration" hidden>0:00</span>
  </div>
  <div class="bsc-alert" role="alert" hidden>
    <p class="bsc-alert-text"></p>
    <button type="button" class="bsc-btn bsc-btn--secondary bsc-retry">Try again</button>
  </div>
  <button type="button" class="bsc-btn bsc-btn--secondary bsc-sound" hidden>${icon('speaker')}<span>Turn on sound</span></button>
  <div class="bsc-transcript-wrap">
    <${subheading} class="bsc-sr-only" id="${id}-transcript">Conversation transcript</${subheading}>
    <div class="bsc-transcript" role="log" aria-live="off" aria-labelledby="${id}-transcript" tabindex="0"><ol class="bsc-transcript-lines"></ol></div>
    <p class="bsc-empty">What you and the receptionist say will appear here.</p>
  </div>
  <div class="bsc-sr-only bsc-announcer" aria-live="polite" aria-atomic="false"></div>
  <div class="bsc-controls">
    <button type="button" class="bsc-btn bsc-btn--call bsc-call">${icon('phone')}<span class="bsc-call-label">Call</span></button>
    <button type="button" class="bsc-btn bsc-btn--secondary bsc-mute" aria-pressed="false" hidden>${icon('mic')}<span>Mute</span></button>
    <button type="button" class="bsc-btn bsc-btn--hangup bsc-hangup" hidden>${icon('hangup')}<span>Hang up</span></button>
  </div>
  <p class="bsc-footnote">You’ll talk to an automated assistant; calls are transcribed to help it understand you.${phone}</p>
  <div class="bsc-audio" hidden></div>
</section>`;
}

function find<T extends Element>(root: ParentNode, selector: string): T {
  const element = root.querySelector<T>(selector);
  if (!element) throw new Error(`call widget: missing ${selector}`);
  return element;
}

export function mountCallWidget(
  container: HTMLElement | ShadowRoot,
  config: CallConfig,
  options: MountOptions = {},
): MountedWidget {
  instanceCount += 1;
  const id = `bsc${instanceCount}`;
  const holder = document.createElement('div');
  holder.innerHTML = template(id, config, options.heading ?? 'h1');
  const root = find<HTMLElement>(holder, '.bsc');
  container.append(root);

  const statusLabel = find<HTMLElement>(root, '.bsc-status-label');
  const statusDetail = find<HTMLElement>(root, '.bsc-status-detail');
  const alertBox = find<HTMLElement>(root, '.bsc-alert');
  const alertText = find<HTMLElement>(root, '.bsc-alert-text');
  const retryButton = find<HTMLButtonElement>(root, '.bsc-retry');
  const soundButton = find<HTMLButtonElement>(root, '.bsc-sound');
  const transcriptBox = find<HTMLElement>(root, '.bsc-transcript');
  const transcriptList = find<HTMLOListElement>(root, '.bsc-transcript-lines');
  const announcer = find<HTMLElement>(root, '.bsc-announcer');
  const callButton = find<HTMLButtonElement>(root, '.bsc-call');
  const callLabel = find<HTMLElement>(root, '.bsc-call-label');
  const muteButton = find<HTMLButtonElement>(root, '.bsc-mute');
  const hangupButton = find<HTMLButtonElement>(root, '.bsc-hangup');
  const audioContainer = find<HTMLElement>(root, '.bsc-audio');
  const timer = find<HTMLElement>(root, '.bsc-timer');
  let timerInterval: ReturnType<typeof setInterval> | undefined;
  const lines = new Map<string, HTMLLIElement>();
  let retryCountdown: ReturnType<typeof setInterval> | undefined;
  let previousPhase: CallSnapshot['phase'] = 'idle';

  const reducedMotion = window.matchMedia?.('(prefers-reduced-motion: reduce)');

  function scrollTranscript(): void {
    transcriptBox.scrollTo({
      top: transcriptBox.scrollHeight,
      behavior: reducedMotion?.matches ? 'auto' : 'smooth',
    });
  }

  function renderSegment(segment: Segment): void {
    let line = lines.get(segment.id);
    if (!line) {
      if (!segment.text) return;
      line = document.createElement('li');
      line.className = `bsc-line bsc-line--${segment.speaker}`;
      line.dataset.segment = segment.id;
      line.innerHTML = `<span class="bsc-who">${segment.speaker === 'caller' ? 'You' : 'Receptionist'}</span><p class="bsc-text"></p>`;
      lines.set(segment.id, line);
      transcriptList.append(line);
      root.classList.add('bsc--has-transcript');
    }
    const wasFinal = line.dataset.final === 'true';
    find<HTMLElement>(line, '.bsc-text').textContent = segment.text;
    line.dataset.final = String(segment.final);
    if (segment.final && !wasFinal && segment.text) {
      // Screen readers hear finished sentences only, not every interim word.
      const said = document.createElement('p');
      said.textContent = `${segment.speaker === 'caller' ? 'You' : 'Receptionist'}: ${segment.text}`;
      announcer.append(said);
      while (announcer.childElementCount > 3) announcer.firstElementChild?.remove();
    }
    scrollTranscript();
  }

  function stopCountdown(): void {
    clearInterval(retryCountdown);
    retryCountdown = undefined;
    retryButton.removeAttribute('aria-disabled');
    retryButton.textContent = 'Try again';
  }

  function startCountdown(seconds: number): void {
    stopCountdown();
    let remaining = seconds;
    const tick = (): void => {
      if (remaining <= 0) {
        stopCountdown();
        return;
      }
      retryButton.setAttribute('aria-disabled', 'true');
      retryButton.textContent = `Try again in ${remaining} s`;
      remaining -= 1;
    };
    tick();
    retryCountdown = setInterval(tick, 1000);
  }

  /** Call duration, counted from the moment the receptionist joins. */
  function runTimer(running: boolean): void {
    if (running === (timerInterval !== undefined)) return;
    if (!running) {
      clearInterval(timerInterval);
      timerInterval = undefined;
      return;
    }
    const startedAt = Date.now();
    const show = (): void => {
      const seconds = Math.floor((Date.now() - startedAt) / 1000);
      timer.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
    };
    show();
    timer.hidden = false;
    timerInterval = setInterval(show, 1000);
  }

  function render(snapshot: CallSnapshot): void {
    const hadFocus = root.contains((root.getRootNode() as Document | ShadowRoot).activeElement);
    const status = statusText(snapshot);
    root.dataset.phase = snapshot.phase;
    root.dataset.tone = status.tone;
    root.dataset.agentState = snapshot.agentState ?? '';
    statusLabel.textContent = status.label;
    statusDetail.textContent =
      snapshot.muted && session.inCall ? 'You’re muted — press Mute again to talk.' : status.detail;

    const inCall = session.inCall;
    callButton.hidden = inCall || snapshot.phase === 'failed';
    callLabel.textContent = snapshot.phase === 'ended' ? 'Call again' : 'Call';
    hangupButton.hidden = !inCall;
    muteButton.hidden = !inCall || snapshot.phase === 'starting';
    muteButton.setAttribute('aria-pressed', String(snapshot.muted));
    muteButton.innerHTML = `${icon(snapshot.muted ? 'micOff' : 'mic')}<span>Mute</span>`;
    soundButton.hidden = !(inCall && snapshot.audioBlocked);
    runTimer(
      snapshot.phase === 'active' ||
        (['reconnecting', 'resuming'].includes(snapshot.phase) && timerInterval !== undefined),
    );
    if (snapshot.phase === 'starting') timer.hidden = true;

    if (snapshot.phase === 'failed' && snapshot.error) {
      if (snapshot.phase !== previousPhase) {
        alertText.textContent = errorText(snapshot.error, config.clinicPhone);
        if (snapshot.error.kind === 'rate-limited') {
          startCountdown(snapshot.error.retryAfterSeconds ?? 10);
        } else {
          stopCountdown();
        }
      }
      alertBox.hidden = false;
    } else {
      alertBox.hidden = true;
      stopCountdown();
    }

    // A button that disappears under keyboard focus would drop focus to <body>: move it to the
    // control that now matters (hang up during a call, try again after a failure, call otherwise).
    if (hadFocus && snapshot.phase !== previousPhase) {
      const active = (root.getRootNode() as Document | ShadowRoot).activeElement;
      if (
        !(active instanceof HTMLElement) ||
        !root.contains(active) ||
        active.closest('[hidden]')
      ) {
        const target = inCall
          ? hangupButton
          : snapshot.phase === 'failed'
            ? retryButton
            : callButton;
        target.focus();
      }
    }
    previousPhase = snapshot.phase;
    root.dispatchEvent(
      new CustomEvent<CallSnapshot>(PHASE_EVENT, {
        detail: snapshot,
        bubbles: true,
        composed: true,
      }),
    );
  }

  const session = new CallSession(
    config,
    {
      onChange: render,
      onSegment: renderSegment,
      onTranscriptCleared: () => {
        lines.clear();
        transcriptList.replaceChildren();
        announcer.replaceChildren();
        root.classList.remove('bsc--has-transcript');
      },
    },
    audioContainer,
  );

  render(session.state);
  callButton.addEventListener('click', () => void session.start());
  retryButton.addEventListener('click', () => {
    if (retryButton.getAttribute('aria-disabled') === 'true') return;
    void session.start();
  });
  hangupButton.addEventListener('click', () => void session.hangUp());
  muteButton.addEventListener('click', () => void session.setMuted(!session.state.muted));
  soundButton.addEventListener('click', () => void session.enableAudio());
  const onPageHide = (): void => void session.hangUp();
  window.addEventListener('pagehide', onPageHide);

  return {
    session,
    async destroy() {
      window.removeEventListener('pagehide', onPageHide);
      stopCountdown();
      runTimer(false);
      await session.hangUp();
      root.remove();
    },
  };
}
