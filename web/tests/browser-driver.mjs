// Drives Debian's headless Chromium through playwright-core for the Python browser tests
// (tests/test_web_client.py).
//
// Reads one JSON command per line on stdin and answers one JSON line on stdout:
//   {"id": 1, "op": "newPage", "viewport": {"width": 390, "height": 844}}
//   -> {"id": 1, "ok": true, "result": "p1"}
// A failure answers {"id": ..., "ok": false, "error": "..."} and the driver keeps serving.
// The browser starts on the first newPage with the flags this machine needs plus
// BROWSER_EXTRA_ARGS (a JSON array, e.g. the fake microphone flags). Every page gets a
// context of its own: its own cache, storage and permissions, like a new visitor.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

// axe-core's engine, evaluated into a page by the `axe` op (through the DevTools protocol,
// so the page's Content-Security-Policy does not block it).
const axeSource = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const extraArgs = JSON.parse(process.env.BROWSER_EXTRA_ARGS || '[]');

// Without the background-networking flags Chromium keeps dialling Google on a closed network.
const baseArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Functions run inside the page by the `probe` op. Each is self-contained (Playwright sends
 * its source) and returns JSON.
 */
const probes = {
  /** The first attached <audio>: is it playing, and how loud is it over about one second? */
  async agentAudio() {
    const element = document.querySelector('.bsc-audio audio');
    if (!element || !element.srcObject) return { found: false };
    const context = new AudioContext();
    await context.resume();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(element.srcObject).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const startedAt = element.currentTime;
    let peak = 0;
    for (let i = 0; i < 25; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 40));
      analyser.getFloatTimeDomainData(samples);
      for (const value of samples) peak = Math.max(peak, Math.abs(value));
    }
    await context.close();
    return { found: true, paused: element.paused, advanced: element.currentTime - startedAt, peak };
  },

  attachedAudio() {
    return document.querySelectorAll('.bsc-audio audio').length;
  },

  /** WCAG AA contrast of every visible text in the widget, shadow roots included. */
  contrast() {
    const parse = (value) => {
      const match = value.match(/rgba?\(([^)]+)\)/);
      if (!match) return null;
      const parts = match[1]
        .split(/[\s,/]+/)
        .filter(Boolean)
        .map(Number);
      return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
    };
    const channel = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    const luminance = ({ r, g, b }) =>
      0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = (element) => {
      for (let e = element; e; e = e.parentElement ?? e.getRootNode().host ?? null) {
        const colour = parse(getComputedStyle(e).backgroundColor);
        if (colour && colour.a > 0.9) return colour;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const hosts = [...document.querySelectorAll('*')].filter((e) => e.shadowRoot);
    const roots = [document, ...hosts.map((e) => e.shadowRoot)];
    const failures = [];
    let checked = 0;
    for (const root of roots) {
      for (const element of root.querySelectorAll('.bsc *, .bse *')) {
        const ownText = [...element.childNodes].some(
          (n) => n.nodeType === 3 && n.textContent.trim(),
        );
        if (!ownText || !element.getClientRects().length || element.closest('.bsc-sr-only'))
          continue;
        const style = getComputedStyle(element);
        const pair = [luminance(parse(style.color)), luminance(background(element))];
        const ratio = (Math.max(...pair) + 0.05) / (Math.min(...pair) + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
        checked += 1;
        if (ratio < (large ? 3 : 4.5)) {
          const text = element.textContent.trim().slice(0, 40);
          failures.push(`${element.className || element.tagName} ${ratio.toFixed(2)}: ${text}`);
        }
      }
    }
    return { checked, failures };
  },

  noSidewaysScroll() {
    return document.documentElement.scrollWidth <= window.innerWidth;
  },

  /** The transcript lines of one speaker ("caller" or "receptionist"). */
  transcript(speaker) {
    return [...document.querySelectorAll(`.bsc-line--${speaker}`)].map((line) => ({
      text: line.querySelector('.bsc-text').textContent,
      final: line.dataset.final,
    }));
  },

  /** Text and outline of the element with keyboard focus, looking into shadow roots. */
  focused() {
    let element = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    if (!element || element === document.body) return null;
    const style = getComputedStyle(element);
    return {
      text: element.textContent.trim(),
      outlineStyle: style.outlineStyle,
      outlineWidth: parseFloat(style.outlineWidth),
    };
  },

  /** A property of the first element matching `selector` (e.g. an attribute or style). */
  describe(selector) {
    const element = document.querySelector(selector);
    if (!element) return null;
    return {
      pressed: element.getAttribute('aria-pressed'),
      disabled: element.getAttribute('aria-disabled'),
      text: element.textContent.trim(),
      animation: getComputedStyle(element).animationName,
    };
  },
};

let browser;
const pages = new Map();
const consoleLines = new Map();
let pageCount = 0;

async function launched() {
  // playwright gives the browser a fresh temporary profile (--user-data-dir) of its own
  browser ??= await chromium.launch({
    executablePath,
    headless: true,
    args: [...baseArgs, ...extraArgs],
  });
  return browser;
}

function page(id) {
  const found = pages.get(id);
  if (!found) throw new Error(`no page ${id}`);
  return found;
}

function locate(cmd) {
  let locator = page(cmd.page).locator(cmd.selector);
  if (cmd.hasText !== undefined) locator = locator.filter({ hasText: cmd.hasText });
  return locator.first();
}

const ops = {
  /** {viewport, reducedMotion, microphone: whether the microphone permission is granted} */
  async newPage(cmd) {
    const context = await (
      await launched()
    ).newContext({
      viewport: cmd.viewport ?? { width: 1280, height: 860 },
      reducedMotion: cmd.reducedMotion ?? 'no-preference',
      permissions: cmd.microphone === false ? [] : ['microphone'],
    });
    const created = await context.newPage();
    pageCount += 1;
    const id = `p${pageCount}`;
    const lines = [];
    created.on('console', (msg) => lines.push(`${msg.type()}: ${msg.text()}`));
    created.on('pageerror', (error) => lines.push(`pageerror: ${error.message}`));
    pages.set(id, created);
    consoleLines.set(id, lines);
    return id;
  },
  async goto(cmd) {
    const response = await page(cmd.page).goto(cmd.url, { waitUntil: 'load' });
    return response ? response.status() : null;
  },
  async reload(cmd) {
    await page(cmd.page).reload({ waitUntil: 'load' });
    return null;
  },
  async resize(cmd) {
    await page(cmd.page).setViewportSize(cmd.viewport);
    return null;
  },
  async click(cmd) {
    await locate(cmd).click({ timeout: cmd.timeout ?? 10000 });
    return null;
  },
  async press(cmd) {
    await page(cmd.page).keyboard.press(cmd.key);
    return null;
  },
  async waitFor(cmd) {
    await locate(cmd).waitFor({ state: cmd.state ?? 'visible', timeout: cmd.timeout ?? 10000 });
    return null;
  },
  async text(cmd) {
    return await locate(cmd).innerText({ timeout: cmd.timeout ?? 10000 });
  },
  async probe(cmd) {
    const probe = probes[cmd.name];
    if (!probe) throw new Error(`unknown probe ${cmd.name}`);
    return await page(cmd.page).evaluate(probe, cmd.arg ?? null);
  },
  /** axe-core over the whole page, shadow roots included: every violation, any impact. */
  async axe(cmd) {
    const target = page(cmd.page);
    if (!(await target.evaluate(() => 'axe' in window))) await target.evaluate(axeSource);
    return await target.evaluate(async () => {
      const results = await window.axe.run(document, { resultTypes: ['violations'] });
      return results.violations.map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        nodes: violation.nodes.map((node) => `${node.target.join(' ')}: ${node.failureSummary}`),
      }));
    });
  },
  async screenshot(cmd) {
    await page(cmd.page).screenshot({ path: cmd.path });
    return cmd.path;
  },
  async console(cmd) {
    return consoleLines.get(cmd.page) ?? [];
  },
  async closePage(cmd) {
    await page(cmd.page).context().close();
    pages.delete(cmd.page);
    consoleLines.delete(cmd.page);
    return null;
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let reply;
  let cmd = {};
  try {
    cmd = JSON.parse(line);
    const handler = ops[cmd.op];
    if (!handler) throw new Error(`unknown op ${cmd.op}`);
    reply = { id: cmd.id, ok: true, result: (await handler(cmd)) ?? null };
  } catch (error) {
    reply = { id: cmd.id ?? null, ok: false, error: String(error?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
await browser?.close();
