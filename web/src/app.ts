/**
 * Entry of `app.js`: defines `window.BrightSmileCall.mount(...)` (used by `embed.js`) and
 * mounts the widget into `[data-bright-smile-call]` when the page has one (`index.html`).
 */
import { DEFAULT_CONFIG, readConfig, type CallConfig } from './config';
import { mountCallWidget, type MountOptions, type MountedWidget } from './widget';

export interface BrightSmileCallApi {
  mount(
    target: HTMLElement | ShadowRoot,
    config?: Partial<CallConfig>,
    options?: MountOptions,
  ): MountedWidget;
}

declare global {
  interface Window {
    BrightSmileCall?: BrightSmileCallApi;
  }
}

window.BrightSmileCall = {
  mount: (target, config = {}, options = {}) =>
    mountCallWidget(target, { ...DEFAULT_CONFIG, ...config }, options),
};

const pageRoot = document.querySelector<HTMLElement>('[data-bright-smile-call]');
if (pageRoot) {
  const config = readConfig(pageRoot.dataset, window.location.search);
  document.title = `${config.clinicName} — talk to our receptionist`;
  mountCallWidget(pageRoot, config, { heading: 'h1' });
}
