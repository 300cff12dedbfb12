/*! Accord consent banner, format v1. Contract: docs/contracts.md.
 * <script src="https://HOST/embed/consent.js" data-site="default" [data-lang="de"] async></script>
 * Hand-written, dependency-free classic script; styles are inlined so embed = one request. */
(() => {
  'use strict';
  if (window.Accord) return; // included twice: the first copy wins

  const d = document;
  const me = d.currentScript || d.querySelector('script[src*="/embed/consent.js"]');
  const ds = me ? me.dataset : {};
  const base = me ? new URL(me.src, location.href).origin : location.origin; // API lives next to the script
  const site = ds.site || 'default';
  const lang = ds.lang || navigator.language || 'en'; // full tag (pt-BR): the server negotiates
  const HEX = /^[0-9a-f]{32}$/;
  const GATED = 'script[type="text/plain"][data-category],iframe[data-src][data-category],img[data-src][data-category]';
  // Last-resort labels only; every text normally comes from the config endpoint.
  const FB = {
    banner_title: 'Cookies', preferences_title: 'Cookie preferences', accept_all: 'Accept all',
    reject_all: 'Reject all', customize: 'Customize', save: 'Save choices', close: 'Close',
    always_on: 'Always on', allow: 'Allow', placeholder: 'Blocked until you allow {category}.',
    ok: 'OK', do_not_sell: 'Do not sell or share my personal information', gpc_honored: 'Opt-out request honored',
  };
  // Google Consent Mode v2 types; MAP is the fallback when the config has no mapping.
  const TYPES = ['ad_storage', 'ad_user_data', 'ad_personalization', 'analytics_storage',
    'functionality_storage', 'personalization_storage', 'security_storage'];
  const MAP = { marketing: TYPES.slice(0, 3), analytics: [TYPES[3]], functional: TYPES.slice(4, 6) };

  const CSS = `
:host{all:initial}
*{box-sizing:border-box}
[hidden]{display:none!important}
.bn,.dl{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;text-align:start}
.bn{position:fixed;z-index:2147483646;inset-inline:1rem;bottom:1rem;max-width:46rem;max-height:45vh;overflow:auto;margin:0 auto;padding:1rem 1.25rem;border:1px solid #767676;border-radius:8px;box-shadow:0 4px 24px #0004}
h2{margin:0 0 .25rem;font-size:1.15em;line-height:1.3}
p{margin:0 0 .5rem}
a{display:inline-block;min-height:24px;margin-inline-end:1rem;color:#1d4ed8;text-decoration:underline}
.bs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,8rem),1fr));gap:.5rem;margin-top:.75rem}
.b,.x{min-height:44px;padding:.5rem 1rem;font:inherit;font-weight:600;border:2px solid #1a1a1a;border-radius:6px;cursor:pointer}
.b{color:#fff;background:#1a1a1a}
.b:hover{background:#3d3d3d}
.x{min-height:32px;padding:.25rem .75rem;color:#1a1a1a;background:#fff}
.x:hover{background:#eee}
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
.ov{position:fixed;z-index:2147483647;inset:0;display:flex;align-items:center;justify-content:center;padding:1rem;background:#0009}
.dl{width:100%;max-width:40rem;max-height:100%;overflow:auto;padding:1.25rem;border-radius:8px}
.hd,.r{display:flex;align-items:center;justify-content:space-between;gap:1rem}
.hd{align-items:flex-start;margin-bottom:.25rem}
.c{padding:.75rem 0;border-top:1px solid #ccc}
.r label{flex:1;font-weight:600;cursor:pointer}
.r input{flex:none;width:24px;height:24px;margin:0;accent-color:#1a1a1a;cursor:pointer}
.r input:disabled{cursor:default}
.c p{margin:.25rem 0 0}
.c p,.on{font-size:.93em;color:#404040}
.gpc{padding:.25rem .5rem;border-inline-start:4px solid #15803d;background:#f0fdf4;font-weight:600}`;
  const PH_CSS = `.accord-placeholder{display:flex;flex-wrap:wrap;align-items:center;gap:.5em;margin:.25em 0;padding:.75em 1em;border:1px dashed #767676;background:#f5f5f5;color:#1a1a1a;font:14px/1.4 system-ui,sans-serif}
.accord-placeholder button{min-height:32px;padding:.25em 1em;font:inherit;cursor:pointer}`;

  let cfg = null, cats = [], opt = [], req = [];
  let cur = null;  // current valid decision {visitor_id, decided_at, policy_version, granted[, action]}
  let vid = null;  // last known visitor id, even from an expired/outdated cookie
  let model = 'opt_in', dflt = [], sale = [], sig = false, gpc = false, auto = false, L = lang, dir = 'ltr';
  let host, banner, heading, ov, dlg, opener, wantShow, spb;
  let queue = Promise.resolve();
  const subs = new Set(), done = new WeakSet(), phs = new WeakMap(), ran = new Set();

  // Consent Mode first of all, synchronously: everything denied until the config says otherwise.
  window.dataLayer = window.dataLayer || [];
  window.gtag = window.gtag || function () { dataLayer.push(arguments); }; // gtag.js wants the arguments object
  const gtag = (...a) => window.gtag(...a);
  const denied = {};
  for (const k of TYPES) denied[k] = k === 'security_storage' ? 'granted' : 'denied';
  gtag('consent', 'default', { ...denied, wait_for_update: 500 });

  const t = k => (cfg.texts || {})[k] || FB[k] || '';
  // Under Global Privacy Control (binding here and signalled) sale/sharing categories are off, whatever was stored.
  const off = c => gpc && sale.includes(c);
  // Before a choice, opt_out/notice jurisdictions run their default categories.
  const has = c => !!cfg && (req.includes(c) || !off(c) && (cur ? cur.granted : dflt).includes(c));
  const pub = x => x && { ...x, granted: [...x.granted] }; // callers get copies, never our state
  const fire = (type, detail) => d.dispatchEvent(new CustomEvent('accord:' + type, { detail }));
  const days = g => +cfg.cookie[g.length ? 'consent_days' : 'refusal_days'] || 182;
  const rid = () => [...crypto.getRandomValues(new Uint8Array(16))].map(b => b.toString(16).padStart(2, '0')).join('');

  // Tiny DOM builder: attributes via setAttribute, children as nodes or text (never parsed as HTML).
  const h = (tag, attrs, ...kids) => {
    const e = d.createElement(tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    e.append(...kids);
    return e;
  };
  // Constructable sheets pass strict CSP (no 'unsafe-inline'); <style> is the fallback.
  const sheet = (root, css) => {
    try {
      const s = new CSSStyleSheet();
      s.replaceSync(css);
      root.adoptedStyleSheets = [...root.adoptedStyleSheets, s];
    } catch (e) {
      (root.head || root).append(h('style', {}, css));
    }
  };

  // Cookie v1: 1~visitor~decided_at~policy~granted.keys
  const read = () => {
    const name = cfg.cookie.name + '=';
    const v = (d.cookie.split(/; */).find(s => s.startsWith(name)) || '').slice(name.length);
    const m = /^1~([0-9a-f]{32})~(\d{1,12})~([\w.-]{1,32})~([a-z0-9_.]*)$/.exec(v);
    return m && {
      visitor_id: m[1], decided_at: +m[2], policy_version: m[3],
      granted: m[4].split('.').filter(k => opt.includes(k)),
    };
  };
  const valid = x => !!x && (cfg.policy.valid_versions || [cfg.policy.version]).includes(x.policy_version) &&
    (x.decided_at + days(x.granted) * 86400) * 1000 > Date.now();
  const write = x => {
    vid = x.visitor_id;
    d.cookie = `${cfg.cookie.name}=1~${x.visitor_id}~${x.decided_at}~${x.policy_version}~${x.granted.join('.')}` +
      `; Max-Age=${days(x.granted) * 86400}; Path=/; SameSite=Lax${location.protocol === 'https:' ? '; Secure' : ''}`;
  };

  // Record on the server; resolves to the server-issued visitor id, or a falsy value.
  const post = (id, x, source) => {
    const url = base + '/api/v1/consents';
    const body = JSON.stringify({
      site, visitor_id: id || null, action: x.action, granted: x.granted, source,
      policy_version: x.policy_version, language: L, page: location.pathname, gpc: sig || undefined,
    });
    if (!window.fetch) {
      if (navigator.sendBeacon) navigator.sendBeacon(url, new Blob([body], { type: 'text/plain' }));
      return Promise.resolve();
    }
    // text/plain keeps it a CORS-simple request (no preflight); keepalive survives a reload/navigation.
    return fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body, keepalive: true, credentials: 'omit' })
      .then(r => r.ok ? r.json().then(j => HEX.test(j.visitor_id) && j.visitor_id)
        // A 4xx with an id may mean the id was only generated locally: retry once without it.
        : id && r.status < 500 && post(null, x, source))
      .catch(() => 0);
  };

  // Unblock gated elements; runs are queued so document order of scripts is kept.
  const apply = () => (queue = queue.then(run, run));
  const run = async () => {
    for (const el of d.querySelectorAll(GATED)) {
      if (done.has(el)) continue;
      const c = el.dataset.category, src = el.dataset.src;
      if (!has(c)) {
        if (el.tagName !== 'SCRIPT') placeholder(el, c);
        continue;
      }
      done.add(el);
      ran.add(c);
      if (el.tagName !== 'SCRIPT') {
        el.src = src;
        const p = phs.get(el);
        if (p) p.remove();
        continue;
      }
      const s = d.createElement('script');
      for (const a of el.attributes) if (!/^(type|nonce|data-(src|category|type))$/.test(a.name)) s.setAttribute(a.name, a.value);
      if (el.dataset.type) s.type = el.dataset.type;
      s.nonce = el.nonce; // CSP hides the nonce attribute after parsing; only the property still holds it
      s.async = el.hasAttribute('async'); // injected scripts default to async; keep order unless asked not to
      if (src) s.src = src;
      else if (!s.src) s.text = el.text;
      const loaded = s.src && !s.async && new Promise(r => { s.onload = s.onerror = r; });
      el.replaceWith(s);
      if (loaded) await loaded; // the next gated script may depend on this one
    }
  };

  const placeholder = (el, c) => {
    if (phs.has(el)) return;
    const cat = cats.find(x => x.key === c);
    const ph = h('div', { class: 'accord-placeholder', lang: L, dir },
      h('span', {}, t('placeholder').replace(/\{category\}/g, () => cat ? cat.name : c)));
    if (cat && !off(c)) {
      const b = h('button', { type: 'button' }, t('allow'));
      // Grant just this category, keeping what already applies (a decision, or the region's defaults).
      b.addEventListener('click', () => choose('custom', [...(cur ? cur.granted : dflt), c], 'banner'));
      ph.append(' ', b);
    }
    el.before(ph);
    phs.set(el, ph);
  };

  // Store a decision: cookie and Consent Mode update now, the server record in the background.
  const record = (action, granted, source) => {
    const old = vid;
    const x = cur = {
      visitor_id: old || rid(), decided_at: Math.floor(Date.now() / 1000),
      policy_version: cfg.policy.version, granted: opt.filter(k => granted.includes(k) && !off(k)), action,
    };
    write(x); // persist now; rewritten below with the server's id (server ids are preferred)
    update(); // before any newly granted tag is unblocked
    return post(old, x, source).then(id => {
      if (id && cur === x && id !== x.visitor_id) { x.visitor_id = id; write(x); }
    });
  };

  const choose = async (action, granted, source) => {
    auto = false;
    showBanner(false);
    close();
    const p = record(action, granted, source), x = cur;
    await Promise.race([p, new Promise(r => setTimeout(r, 4000))]); // slow server: don't hold the page
    apply();
    fire('change', pub(x));
    subs.forEach(cb => { try { cb(pub(x)); } catch (e) { console.error(e); } });
    // Scripts that already ran cannot be un-run: reload so the withdrawal takes effect.
    if ([...ran].some(k => !has(k))) location.reload();
  };

  const showBanner = on => {
    const s = d.documentElement.style;
    if (banner.hidden === !on) return;
    banner.hidden = !on;
    if (on) {
      spb = s.scrollPaddingBottom;
      s.scrollPaddingBottom = banner.offsetHeight + 24 + 'px'; // focused page elements scroll clear of the banner
      heading.focus({ preventScroll: true });
    } else s.scrollPaddingBottom = spb;
  };

  // Deepest focused element, looking through shadow roots.
  const active = () => {
    let a = d.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a;
  };
  const focusables = () => [...dlg.querySelectorAll('button,a[href],input:not(:disabled)')];

  const show = () => {
    if (!host) return void (wantShow = true); // opened once config has loaded
    if (!ov.hidden) return;
    opener = active();
    for (const i of dlg.querySelectorAll('input:not(:disabled)')) i.checked = has(i.dataset.k);
    ov.hidden = false;
    focusables()[0].focus();
  };
  const close = () => {
    if (ov.hidden) return;
    ov.hidden = true;
    if (opener && opener.focus) opener.focus();
    opener = null;
  };

  const build = () => {
    const u = cfg.urls || {};
    const btn = (k, a) => h('button', { type: 'button', class: 'b', 'data-a': a }, t(k));
    // The GPC status line, in the banner and in the dialog.
    const note = () => gpc ? h('p', { class: 'gpc', role: 'status', title: t('gpc_explain') }, t('gpc_honored')) : '';
    const links = h('p', {});
    for (const [href, k] of [[u.privacy || cfg.policy.url, 'privacy_link'], [u.cookies, 'cookies_link']]) {
      if (/^https?:/i.test(href || '') && t(k)) links.append(h('a', { href }, t(k))); // no javascript: URLs
    }
    heading = h('h2', { id: 'at', tabindex: '-1' }, t('banner_title'));
    banner = h('div', { class: 'bn', role: 'region', 'aria-label': t('banner_title'), lang: L, dir, hidden: '' },
      heading, note(), h('p', {}, t('banner_body_' + model) || t('banner_body')), links,
      h('div', { class: 'bs' },
        ...model === 'notice' ? [btn('ok', 'ok')]
          : [btn('accept_all', 'accept'), model === 'opt_out' ? btn('do_not_sell', 'optout') : btn('reject_all', 'reject')],
        btn('customize', 'custom')));

    const rows = cats.map((c, i) => {
      const lock = c.required ? 'always_on' : off(c.key) && 'gpc_honored'; // GPC: a sale category stays off
      const inp = h('input', { type: 'checkbox', id: 'c' + i, 'data-k': c.key, 'aria-describedby': (lock ? 'o' + i + ' ' : '') + 'd' + i });
      inp.checked = !!c.required; // optional ones are never pre-ticked
      inp.disabled = !!lock;
      return h('div', { class: 'c' },
        h('div', { class: 'r' }, h('label', { for: 'c' + i }, c.name || c.key),
          lock ? h('span', { class: 'on', id: 'o' + i }, t(lock)) : '', inp),
        h('p', { id: 'd' + i }, c.description || ''));
    });
    dlg = h('div', { class: 'dl', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'pt', 'aria-describedby': 'pb', lang: L, dir },
      h('div', { class: 'hd' }, h('h2', { id: 'pt' }, t('preferences_title')),
        h('button', { type: 'button', class: 'x', 'data-a': 'close' }, t('close'))),
      h('p', { id: 'pb' }, t('preferences_body')), note(), ...rows,
      h('div', { class: 'bs' }, btn('save', 'save'), btn('accept_all', 'accept'), btn('reject_all', 'reject')));
    ov = h('div', { class: 'ov', hidden: '' }, dlg);

    host = d.createElement('accord-consent');
    const sr = host.attachShadow({ mode: 'open' }); // open: pages and tests may inspect it
    sheet(sr, CSS);
    sheet(d, PH_CSS);
    sr.append(banner, ov);
    sr.addEventListener('click', e => {
      const b = e.target.closest('[data-a]');
      if (!b) return;
      const a = b.dataset.a, src = ov.hidden ? 'banner' : 'preferences';
      if (a === 'close') close();
      else if (a === 'custom') show();
      else if (a === 'save') choose('custom', [...dlg.querySelectorAll('input:checked')].map(i => i.dataset.k), src);
      else if (a === 'optout') choose('custom', opt.filter(k => !sale.includes(k)), src); // "do not sell or share"
      else if (a === 'ok') auto ? showBanner(false) : choose('custom', dflt, src); // GPC already recorded: just dismiss
      else choose(a + '_all', a === 'accept' ? opt : [], src);
    });
    d.body.append(host);
  };

  // Modal behaviour: Esc closes, Tab/Shift+Tab cycle inside the dialog, focus cannot leave it.
  d.addEventListener('keydown', e => {
    if (!ov || ov.hidden) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'Tab') {
      const f = focusables(), a = active(), out = !dlg.contains(a);
      const edge = e.shiftKey ? f[0] : f[f.length - 1];
      if (out || a === edge) {
        e.preventDefault();
        (e.shiftKey ? f[f.length - 1] : f[0]).focus();
      }
    }
  });
  d.addEventListener('focusin', e => {
    if (ov && !ov.hidden && e.target !== host) focusables()[0].focus();
  });
  d.addEventListener('click', e => {
    const o = e.target.closest && e.target.closest('[data-accord-open]');
    if (o) { e.preventDefault(); show(); }
  });

  // Google Consent Mode v2 state of the current decision (or defaults): all seven types, always.
  const consentMode = () => {
    const cm = cfg && cfg.consent_mode || {}, m = cm.mapping || MAP, on = cm.always_granted || ['security_storage'];
    const s = {};
    for (const k of TYPES) s[k] = on.includes(k) || Object.keys(m).some(c => has(c) && m[c].includes(k)) ? 'granted' : 'denied';
    return s;
  };
  const update = () => gtag('consent', 'update', consentMode());

  window.Accord = Object.freeze({
    has,
    show,
    onChange: cb => (subs.add(cb), () => { subs.delete(cb); }),
    decision: () => pub(cur),
    consentMode,
  });

  if (!customElements.get('accord-consent')) customElements.define('accord-consent', class extends HTMLElement {});

  (async () => {
    try {
      const q = new URLSearchParams({ site, lang });
      const r = await fetch(`${base}/api/v1/config?${q}`, { credentials: 'omit' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const c = await r.json();
      if (!c.policy.version || !c.cookie.name) throw new Error('bad config');
      cfg = c;
      cats = (c.categories || []).filter(x => x && x.key);
      opt = cats.filter(x => !x.required).map(x => x.key);
      req = cats.filter(x => x.required).map(x => x.key);
      L = c.language || lang;
      dir = c.dir === 'rtl' ? 'rtl' : 'ltr';
      const j = c.jurisdiction || {}, cm = c.consent_mode || {};
      if (j.model === 'opt_out' || j.model === 'notice') model = j.model;
      sale = j.sale_categories || [];
      sig = navigator.globalPrivacyControl === true || j.gpc_signal === true;
      gpc = j.gpc === true && sig;
      if (model !== 'opt_in') dflt = opt.filter(k => (j.defaults || []).includes(k) && !off(k));
      const x = read();
      vid = x && x.visitor_id;
      cur = valid(x) ? x : null;
      // Region defaults, then the state that already applies; all before any gated tag runs.
      for (const e of cm.defaults || []) {
        gtag('consent', 'default', { ...e.state, wait_for_update: cm.wait_for_update ?? 500, ...e.region && { region: e.region } });
      }
      if (!cur && gpc && model !== 'opt_in') {
        auto = true; // record the GPC opt-out without a click, and show it once on this page
        record('gpc', dflt, 'banner');
      } else if (cur || model !== 'opt_in') update();
      if (d.readyState === 'loading') await new Promise(r => d.addEventListener('DOMContentLoaded', r));
      build();
    } catch (e) {
      cfg = null; // everything stays blocked
      return console.warn('[accord] consent config unavailable; optional content stays blocked.', e);
    }
    apply();
    if (!cur || auto) showBanner(true);
    // Gated markup added later (SPA routes, lazy widgets) is picked up too; debounced.
    let tm;
    new MutationObserver(() => { clearTimeout(tm); tm = setTimeout(apply, 50); })
      .observe(d.documentElement, { childList: true, subtree: true });
    fire('ready', pub(cur));
    if (wantShow) show();
  })();
})();
