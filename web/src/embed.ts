/**
 * Entry of `embed.js`: a "Talk to us" button and a panel for any website. It stays tiny; the
 * call widget itself (`app.js`, with the LiveKit SDK) loads from the same place as this script
 * the first time the panel opens, and renders inside a shadow root so the host page's CSS
 * cannot break it (and ours cannot break the page).
 *
 *   <script src="https://calls.example.com/embed.js" async
 *           data-clinic-id="bright-smile" data-clinic-name="Bright Smile Dental"
 *           data-clinic-phone="+1 555 0100"></script>
 *
 * Options (data attributes on the script tag): data-token-endpoint (default: `/v1/token` next
 * to this script), data-clinic-id, data-clinic-name, data-clinic-phone, data-agent-timeout
 * (seconds), data-button-label (default "Talk to us"), data-position ("right" or "left").
 */
import embedCss from './embed.css';
import type { CallSnapshot } from './call';
import { readConfig } from './config';
import type { BrightSmileCallApi } from './app';

declare const __ASSET_VERSION__: string;

const PHASE_EVENT = 'bright-smile-call:change';

function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

/**
 * A constructed stylesheet is not an inline <style> as far as the host page's CSP is
 * concerned, so clinics with `style-src` locked down need not allow 'unsafe-inline'.
 */
function adoptStyles(shadow: ShadowRoot, css: string): void {
  if ('adoptedStyleSheets' in shadow && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style');
    style.textContent = css;
    shadow.prepend(style);
  }
}

function setUp(script: HTMLScriptElement): void {
  const assetBase = new URL('.', script.src);
  const asset = (name: string): string => `${new URL(name, assetBase).href}?v=${__ASSET_VERSION__}`;
  const config = readConfig(script.dataset, '', {
    tokenEndpoint: new URL('v1/token', assetBase).href,
  });
  const buttonLabel = script.dataset.buttonLabel?.trim() || 'Talk to us';

  const host = document.createElement('div');
  host.className = 'bright-smile-call-embed';
  host.dataset.position = script.dataset.position === 'left' ? 'left' : 'right';
  const shadow = host.attachShadow({ mode: 'open' });
  shadow.innerHTML = `
<link rel="stylesheet" href="${asset('app.css')}">
<div class="bse" data-position="${host.dataset.position}">
  <div class="bse-panel" role="dialog" aria-modal="false" hidden>
    <button type="button" class="bse-close" aria-label="Close the call panel">
      <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z"/></svg>
    </button>
    <div class="bse-body"><p class="bse-loading" role="status">Loading…</p></div>
  </div>
  <button type="button" class="bse-launcher" aria-expanded="false">
    <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"/></svg>
    <span class="bse-launcher-label"></span>
  </button>
</div>`;
  adoptStyles(shadow, embedCss);
  document.body.append(host);

  const panel = shadow.querySelector<HTMLElement>('.bse-panel')!;
  const body = shadow.querySelector<HTMLElement>('.bse-body')!;
  const launcher = shadow.querySelector<HTMLButtonElement>('.bse-launcher')!;
  const launcherLabel = shadow.querySelector<HTMLElement>('.bse-launcher-label')!;
  const closeButton = shadow.querySelector<HTMLButtonElement>('.bse-close')!;
  launcherLabel.textContent = buttonLabel;
  panel.setAttribute('aria-label', `Call ${config.clinicName}`);
  let mounted: Promise<void> | undefined;
  let inCall = false;

  function mount(): Promise<void> {
    mounted ??= (async () => {
      if (!window.BrightSmileCall) await loadScript(asset('app.js'));
      const api: BrightSmileCallApi | undefined = window.BrightSmileCall;
      if (!api) throw new Error('call widget did not load');
      body.replaceChildren();
      api.mount(body, config, { heading: 'h2' });
    })().catch(() => {
      mounted = undefined;
      body.innerHTML = '<p class="bse-loading" role="alert"></p>';
      body.firstElementChild!.textContent = `Sorry, calls can’t be started right now.${
        config.clinicPhone ? ` Please call us on ${config.clinicPhone}.` : ''
      }`;
    });
    return mounted;
  }

  function renderLauncher(open: boolean): void {
    launcher.setAttribute('aria-expanded', String(open));
    launcherLabel.textContent = !open && inCall ? 'Return to call' : buttonLabel;
    launcher.classList.toggle('bse-launcher--live', inCall);
  }

  function open(): void {
    panel.hidden = false;
    renderLauncher(true);
    void mount().then(() => {
      const target = shadow.querySelector<HTMLElement>(
        '.bsc-call:not([hidden]), .bsc-hangup:not([hidden])',
      );
      (target ?? closeButton).focus();
    });
  }

  function close(): void {
    panel.hidden = true;
    renderLauncher(false);
    launcher.focus();
  }

  launcher.addEventListener('click', () => (panel.hidden ? open() : close()));
  closeButton.addEventListener('click', close);
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') close();
  });
  shadow.addEventListener(PHASE_EVENT, (event) => {
    const { phase } = (event as CustomEvent<CallSnapshot>).detail;
    inCall = ['starting', 'waiting', 'active', 'reconnecting', 'resuming'].includes(phase);
    renderLauncher(!panel.hidden);
  });
}

const current = document.currentScript;
if (current instanceof HTMLScriptElement && current.src) {
  const script = current;
  if (document.body) setUp(script);
  else document.addEventListener('DOMContentLoaded', () => setUp(script), { once: true });
}
