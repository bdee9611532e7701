// Loads a running nines' status page in Debian's headless Chromium, light and dark, at
// desktop width and at 360 px, takes screenshots, checks the DOM against what the caller
// expects, measures the contrast of the graphics, and runs axe-core.
//
//   node status_page.mjs --url http://127.0.0.1:9469/ --out DIR --expect '{"probes":[...]}'
//
// --expect: {"probes": [{"name", "state": "Up"|"Down"|"Confirmed down"|..., "days": N,
//            "sparkline": bool, "logs": bool}], "slos": [names], "servers": [names]}
// Prints what it found, one line per check, and exits 1 when a check fails, 2 on a usage
// or setup error. Only the given URL (loopback) is loaded; Chromium's own background
// traffic is switched off.
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);

function usage(message) {
  console.error(`status_page.mjs: ${message}`);
  process.exit(2);
}

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    expect: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!args.url || !args.out || !args.expect) {
  usage('want --url, --out and --expect');
}
const pageUrl = new URL(args.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(pageUrl.hostname)) {
  usage(`refusing a non-loopback URL ${args.url}`);
}
let expected;
try {
  expected = JSON.parse(args.expect);
} catch (error) {
  usage(`--expect is not JSON: ${error.message}`);
}

let chromium;
let axeSource;
try {
  ({ chromium } = require('playwright-core'));
  axeSource = require.resolve('axe-core/axe.min.js');
} catch (error) {
  usage(`${error.message}\n(install the test tools: bash .ci/setup test)`);
}
if (!existsSync(args.chromium)) {
  usage(`no Chromium at ${args.chromium} (install it: bash .ci/setup test)`);
}
mkdirSync(args.out, { recursive: true });

const failures = [];
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) {
    failures.push(what);
  }
}

// WCAG relative luminance and contrast ratio of two CSS rgb()/rgba() colours.
function parseColor(text) {
  const m = /rgba?\(([\d.]+)[, ]+([\d.]+)[, ]+([\d.]+)/.exec(text);
  if (!m) {
    throw new Error(`cannot read colour ${text}`);
  }
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}
function luminance([r, g, b]) {
  const channel = (v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}
function contrast(a, b) {
  const [hi, lo] = [luminance(parseColor(a)), luminance(parseColor(b))].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// What the page shows, read in the browser.
function readPage() {
  const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : '');
  const probes = [...document.querySelectorAll('section.probe')].map((section) => {
    const days = section.querySelector('svg.days');
    const spark = section.querySelector('svg.spark');
    const state = section.querySelector('.state');
    return {
      name: text(section.querySelector('h2')),
      state: text(state),
      stateClass: state ? state.className : '',
      stateHasSymbol: !!(state && state.querySelector('[aria-hidden="true"]')),
      dayBars: days ? days.querySelectorAll('g').length : 0,
      dayBarsTitled: days ? days.querySelectorAll('g > title').length : 0,
      daysLabel: days ? days.getAttribute('aria-label') || '' : '',
      uptimeCells: [...section.querySelectorAll('table td.num')].map(text),
      sparkline: !!(spark && spark.querySelector('.p50') && spark.querySelector('.p99')),
      sparkText: text(section.querySelector('.spark-row .legend')),
      logsLink: !!section.querySelector('a[href^="logs?probe="]'),
      text: text(section),
    };
  });
  return {
    title: document.title,
    header: text(document.querySelector('header')),
    body: text(document.body),
    scripts: document.querySelectorAll('script').length,
    refresh: !!document.querySelector('meta[http-equiv="refresh" i]'),
    meters: document.querySelectorAll('meter').length,
    probes,
    bodyBackground: getComputedStyle(document.body).backgroundColor,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  };
}

// The fill or stroke of each graphic class, drawn on the page background.
function readGraphics() {
  const out = {};
  for (const [cls, prop] of [
    ['day-ok', 'fill'],
    ['day-warn', 'fill'],
    ['day-bad', 'fill'],
    ['p50', 'stroke'],
    ['p99', 'stroke'],
  ]) {
    const el = document.querySelector(`.${cls}`);
    if (el) {
      out[cls] = getComputedStyle(el)[prop];
    }
  }
  return out;
}

async function runAxe(page) {
  await page.addScriptTag({ path: axeSource });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
}

const browser = await chromium.launch({
  executablePath: args.chromium,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ],
  timeout: 60000,
});

try {
  const backgrounds = {};
  for (const scheme of ['light', 'dark']) {
    // The page as users get it: CSP enforced, so a blocked style or script shows up as a
    // console error.
    const context = await browser.newContext({
      viewport: { width: 1100, height: 900 },
      colorScheme: scheme,
    });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') {
        consoleErrors.push(m.text());
      }
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const response = await page.goto(args.url, { waitUntil: 'load', timeout: 30000 });
    check(response.status() === 200, `${scheme}: GET ${args.url} is 200 (${response.status()})`);
    const csp = response.headers()['content-security-policy'] || '';
    check(
      csp.includes("default-src 'none'") && !csp.includes('unsafe-inline'),
      `${scheme}: strict Content-Security-Policy (${csp})`,
    );
    check(consoleErrors.length === 0, `${scheme}: no console errors (${consoleErrors.join(' | ')})`);

    const seen = await page.evaluate(readPage);
    backgrounds[scheme] = seen.bodyBackground;
    await page.screenshot({ path: path.join(args.out, `status-${scheme}.png`), fullPage: true });

    if (scheme === 'light') {
      check(seen.scripts === 0, `no <script> elements (${seen.scripts})`);
      check(!seen.refresh, 'no auto-refresh without ?refresh=N');
      check(/nines \d+\.\d+\.\d+/.test(seen.header), `header names the version (${seen.header})`);
      check(/\bup\b/.test(seen.header), 'header shows how long nines has been up');
      check(/Config loaded OK/.test(seen.header), 'header shows the config reload state');
      const names = seen.probes.map((p) => p.name);
      check(
        JSON.stringify(names) === JSON.stringify(expected.probes.map((p) => p.name)),
        `probes in config order: ${JSON.stringify(names)}`,
      );
      for (const want of expected.probes) {
        const got = seen.probes.find((p) => p.name === want.name);
        if (!got) {
          continue;
        }
        check(
          got.state.startsWith(want.state) && got.stateHasSymbol,
          `${want.name}: state "${got.state}" is the word "${want.state}" plus a symbol`,
        );
        check(got.uptimeCells.length === 5, `${want.name}: uptime for 1h 24h 7d 30d 90d: ${got.uptimeCells.join(' ')}`);
        check(
          got.dayBars === want.days && got.dayBarsTitled === want.days && got.daysLabel !== '',
          `${want.name}: ${got.dayBars} daily bars with tooltips (want ${want.days}), labelled "${got.daysLabel}"`,
        );
        check(
          got.sparkline === want.sparkline &&
            (!want.sparkline || /p50 [\d.]+ m?s.*p99 [\d.]+ m?s/.test(got.sparkText)),
          `${want.name}: latency sparkline ${got.sparkline} with numbers "${got.sparkText}"`,
        );
        if (want.lastFailure) {
          check(
            got.text.includes('Last failure') && got.text.includes(want.lastFailure),
            `${want.name}: last failure shown with reason ${want.lastFailure}`,
          );
        }
        check(got.logsLink, `${want.name}: links to its logs`);
      }
      for (const slo of expected.slos) {
        check(seen.body.includes(slo), `SLO ${slo} shown`);
      }
      check(seen.meters >= expected.slos.length, `${seen.meters} error budget meters`);
      for (const server of expected.servers) {
        check(
          new RegExp(`${server}\\s*[\\d.]+/s`).test(seen.body),
          `nginx server ${server} with its request rate`,
        );
      }
    }

    // Graphics against the background: at least 3:1 (WCAG 1.4.11).
    const graphics = await page.evaluate(readGraphics);
    for (const [cls, color] of Object.entries(graphics)) {
      const ratio = contrast(color, seen.bodyBackground);
      check(ratio >= 3, `${scheme}: .${cls} ${color} on ${seen.bodyBackground} contrast ${ratio.toFixed(2)}:1 >= 3`);
    }

    // 360 px wide: no sideways scrolling of the page.
    await page.setViewportSize({ width: 360, height: 800 });
    const narrow = await page.evaluate(readPage);
    check(
      narrow.scrollWidth <= narrow.clientWidth,
      `${scheme}: at 360 px the page is ${narrow.scrollWidth} px wide (viewport ${narrow.clientWidth})`,
    );
    await page.screenshot({ path: path.join(args.out, `status-360-${scheme}.png`), fullPage: true });

    // The logs page of the first probe that has failures.
    const failing = expected.probes.find((p) => p.lastFailure);
    if (failing) {
      await page.setViewportSize({ width: 1100, height: 900 });
      const logs = await page.goto(new URL(`logs?probe=${encodeURIComponent(failing.name)}`, args.url).href);
      check(logs.status() === 200, `${scheme}: logs of ${failing.name} are 200`);
      const body = await page.evaluate(() => document.body.textContent);
      check(body.includes(failing.lastFailure), `${scheme}: logs of ${failing.name} show ${failing.lastFailure}`);
      await page.screenshot({ path: path.join(args.out, `logs-${scheme}.png`), fullPage: true });
    }
    await context.close();

    // axe-core, injected into the same page (CSP bypassed for axe's own script only).
    for (const target of ['', failing ? `logs?probe=${encodeURIComponent(failing.name)}` : null]) {
      if (target === null) {
        continue;
      }
      const axeContext = await browser.newContext({
        viewport: { width: 1100, height: 900 },
        colorScheme: scheme,
        bypassCSP: true,
      });
      const axePage = await axeContext.newPage();
      await axePage.goto(new URL(target, args.url).href, { waitUntil: 'load' });
      const violations = await runAxe(axePage);
      const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      for (const v of violations) {
        console.log(`     axe ${scheme} /${target}: ${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(', ')}`);
      }
      check(serious.length === 0, `${scheme}: axe-core finds no serious violations on /${target} (${serious.map((v) => v.id).join(', ')})`);
      await axeContext.close();
    }
  }
  check(
    backgrounds.light !== backgrounds.dark,
    `dark mode follows prefers-color-scheme (${backgrounds.light} vs ${backgrounds.dark})`,
  );
} finally {
  await browser.close();
}

if (failures.length > 0) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
