// The auditor's page: the log's latest signed checkpoint (GET /api/audit),
// verifying the whole log (POST /api/audit/verify), one entry with its
// inclusion proof (GET /api/audit/entries/{index}) and the oversight report
// (GET /api/report) as tables per year.
'use strict';

(() => {
  // The report's breakdowns, in the order of the public page.
  const BREAKDOWNS = [
    ['by_level', 'Requests by agency level', 'Level'],
    ['by_department', 'Requests by federal department', 'Department'],
    ['by_agency', 'Requests by agency', 'Agency'],
    ['by_outcome', 'Outcomes', 'Outcome'],
    ['by_reason', 'Reason codes', 'Reason'],
    ['reviews', 'Reviews by stage', 'Stage'],
    ['searches_by_examiner', 'Searches by examiner', 'Examiner'],
    ['by_offense_class', 'Offense classes', 'Class'],
  ];
  const TOTALS = [['requests', 'Requests'], ['searches', 'Searches'],
    ['possible_matches', 'Possible matches'], ['releases', 'Releases of limited identity']];

  function set(elId, value) {
    document.getElementById(elId).textContent = value === null || value === undefined ? '—' : String(value);
  }

  function showCheckpoint(a) {
    set('cp-size', a.size);
    set('cp-origin', a.origin);
    set('cp-root', a.root);
    set('cp-key', a.key);
    set('cp-note', a.checkpoint);
  }

  async function checkpoint() {
    showCheckpoint(await custos.api('GET', '/api/audit'));
  }

  function table(caption, head, rows) {
    const t = custos.el('table', null, { className: 'report' });
    t.appendChild(custos.el('caption', caption));
    const thead = document.createElement('thead');
    const hr = document.createElement('tr');
    for (const h of head) hr.appendChild(custos.el('th', h, { scope: 'col' }));
    thead.appendChild(hr);
    const tbody = document.createElement('tbody');
    for (const [k, v] of rows) {
      const tr = document.createElement('tr');
      tr.append(custos.el('th', k, { scope: 'row' }), custos.el('td', v, { className: 'num' }));
      tbody.appendChild(tr);
    }
    t.append(thead, tbody);
    return t;
  }

  function renderReport(doc) {
    const cp = doc.checkpoint || {};
    set('report-checkpoint', 'Computed at the audit checkpoint of tree size ' + cp.size + ', root ' + cp.root + '.');
    const out = document.getElementById('report');
    out.replaceChildren();
    const years = Object.keys(doc.years || {}).sort();
    if (years.length === 0) out.appendChild(custos.el('p', 'No request in these years.'));
    for (const y of years) {
      const Y = doc.years[y];
      const sec = custos.el('section', null, { className: 'year', 'aria-labelledby': 'year-' + y });
      sec.appendChild(custos.el('h3', y, { id: 'year-' + y }));
      sec.appendChild(table('Totals of ' + y, ['Figure', 'Count'], TOTALS.map(([k, t]) => [t, Y[k] || 0])));
      for (const [k, title, col] of BREAKDOWNS) {
        const obj = Y[k] || {};
        const rows = Object.keys(obj).sort().map((key) => [key, obj[key]]);
        if (rows.length === 0) continue;
        sec.appendChild(table(title + ', ' + y, [col, 'Count'], rows));
      }
      out.appendChild(sec);
    }
  }

  async function report(from, to) {
    const q = new URLSearchParams();
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    const s = q.toString();
    renderReport(await custos.api('GET', '/api/report' + (s ? '?' + s : '')));
  }

  document.getElementById('verify').addEventListener('click', async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    custos.say('verify-result', 'Verifying…', 'muted');
    try {
      const r = await custos.api('POST', '/api/audit/verify');
      if (r.ok) {
        custos.say('verify-result', 'The log verifies: ' + r.entries + ' entries, ' + r.checkpoints +
          ' signed checkpoints.', 'ok');
      } else {
        custos.say('verify-result', 'The log does NOT verify: ' + r.problem, 'error');
      }
    } catch (e) {
      custos.failed(e, 'verify-result');
    } finally {
      b.disabled = false;
    }
  });

  document.getElementById('sign').addEventListener('click', async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    try {
      const a = await custos.api('POST', '/api/audit/checkpoint');
      showCheckpoint(a);
      custos.say('sign-result', a.signed_now
        ? 'Signed a new checkpoint: ' + a.size + ' entries.'
        : 'The log has not grown since the latest checkpoint (' + a.size + ' entries): nothing to sign.', 'ok');
    } catch (e) {
      custos.failed(e, 'sign-result');
    } finally {
      b.disabled = false;
    }
  });

  document.getElementById('proof-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = document.getElementById('entry-index').value.trim();
    custos.say('proof-error', '');
    document.getElementById('proof').hidden = true;
    if (!/^[0-9]{1,15}$/.test(v)) {
      custos.say('proof-error', 'Enter an entry index: 0 or a positive whole number.', 'error');
      return;
    }
    try {
      const p = await custos.api('GET', '/api/audit/entries/' + encodeURIComponent(v));
      set('proof-index', p.index);
      set('proof-entry', p.entry);
      set('proof-checkpoint', p.checkpoint);
      set('proof-proof', typeof p.proof === 'string' ? p.proof : JSON.stringify(p.proof, null, 2));
      document.getElementById('proof').hidden = false;
    } catch (e) {
      if (e.status === 404) {
        custos.say('proof-error', 'No entry ' + v + ' in the log, or no signed checkpoint covers it yet (sign one above).', 'error');
      }
      else custos.failed(e, 'proof-error');
    }
  });

  document.getElementById('report-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    custos.say('report-error', '');
    try {
      await report(document.getElementById('report-from').value.trim(),
                   document.getElementById('report-to').value.trim());
    } catch (e) {
      custos.failed(e, 'report-error');
    }
  });

  (async () => {
    const main = document.getElementById('main');
    try {
      const me = await custos.requireSession();
      if (me === null) return;
      if (me.role !== 'auditor') {
        custos.say('message', 'Only auditors read the log and the report; you are signed in as ' + me.role + '.', 'error');
        return;
      }
      document.getElementById('auditor').hidden = false;
      await Promise.all([checkpoint(), report('', '')]);
    } catch (e) {
      custos.failed(e, 'message');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
