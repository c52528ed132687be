// One case (GET /api/cases/{id}): its fields, the checks' reasons, the
// reviews done and required, what it waits for, and the action the signed-in
// role can take in its state: a review (legal, intake, manager, governor),
// the search (examiner, approved), the blind examination (examiner,
// searched), the response letter (intake, manager, examined), closing
// (responded) and withdrawing (open states).
'use strict';

(() => {
  const id = custos.caseId();
  const RESPONDERS = ['intake', 'manager'];
  const REVIEWERS = ['legal', 'intake', 'manager', 'governor'];
  const NO_WITHDRAW = ['responded', 'closed', 'rejected', 'withdrawn'];
  let me = null;
  let kase = null;

  function show(elId, on) {
    document.getElementById(elId).hidden = !on;
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined || text === '' ? '—' : String(text);
    return td;
  }

  // Adds a term and its value to a description list (skipped when absent).
  function item(dl, term, value) {
    if (value === null || value === undefined || value === '') return;
    const dd = document.createElement('dd');
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = String(value);
    dl.append(custos.el('dt', term), dd);
  }

  // A yes/no answer as the record keeps it ("yes"/"no") or as a boolean.
  function yesNo(v) {
    if (typeof v === 'string') return v;
    return v ? 'yes' : 'no';
  }

  function waitingText(c) {
    if (c.waiting_for) return 'It waits for the ' + casekit.stageText(c.waiting_for) + '.';
    switch (c.state) {
      case 'approved': return 'Every review approved it: it waits for an examiner to run the search.';
      case 'searched': return 'Searched: it waits for the blind examination by two examiners (' +
        (c.marks || 0) + ' of 2 done).';
      case 'examined': return 'Examined (outcome: ' + (c.outcome || '—') + '): it waits for the response letter.';
      case 'responded': return 'Answered: it waits to be closed.';
      case 'closed': return 'Closed. Nothing more to do.';
      case 'rejected': return 'Rejected. Nothing more to do.';
      case 'withdrawn': return 'Withdrawn. Nothing more to do.';
      default: return 'State: ' + c.state + '.';
    }
  }

  function renderFields(c) {
    const dl = document.getElementById('fields');
    dl.replaceChildren();
    item(dl, 'State', c.state + ' (' + casekit.stateText(c.state) + ')');
    if (c.history) item(dl, 'History', 'imported from the records before custos');
    item(dl, 'Received', c.received);
    item(dl, 'Registered (UTC)', c.created);
    item(dl, 'Registered by', c.submitter);
    item(dl, 'Closed (UTC)', c.closed);
    const a = c.agency || {};
    item(dl, 'Agency', a.name);
    item(dl, 'Agency level', a.level);
    item(dl, 'Department', a.department);
    item(dl, 'Component', a.component);
    item(dl, "Agency's case number", c.case_number);
    const r = c.requester || {};
    item(dl, 'Requester', [r.name, r.title, r.contact].filter(Boolean).join(', '));
    const l = c.legal || c.legal_process || {};
    item(dl, 'Legal process', l.type);
    item(dl, 'Form', l.form);
    item(dl, 'Court system', l.court_system);
    item(dl, 'Court', l.court);
    item(dl, 'Judge', l.judge);
    if (typeof l.signed === 'boolean') item(dl, 'Signed by the judge', yesNo(l.signed));
    item(dl, 'Docket', l.docket);
    item(dl, 'Issued', l.issued);
    item(dl, 'Expires', l.expires);
    item(dl, 'Narrative', c.narrative);
    // The reviewers read the order itself: a download, never shown inside this page.
    if (c.document_sha256 && REVIEWERS.includes(me.role)) {
      const link = custos.el('a', 'Download the order document', {
        href: '/api/cases/' + c.case + '/order', download: '', id: 'order-link'
      });
      item(dl, 'Order document', link);
    }
    item(dl, 'Order document SHA-256', c.document_sha256 ? custos.el('code', c.document_sha256) : null);
    item(dl, 'Probe photo SHA-256', c.probe_sha256 ? custos.el('code', c.probe_sha256) : null);
    item(dl, 'Policy SHA-256', c.policy_sha256 ? custos.el('code', c.policy_sha256) : null);
    if (c.withdrawn) item(dl, 'Withdrawn', 'by ' + c.withdrawn.user + ': ' + c.withdrawn.note);
    item(dl, 'Probe and candidates purged', c.purged);

    const tbody = document.querySelector('#offenses tbody');
    tbody.replaceChildren();
    for (const o of c.offenses || []) {
      const tr = document.createElement('tr');
      tr.append(cell(o.citation), cell(o.statute), cell(o.class), cell(o.description));
      tbody.appendChild(tr);
    }
  }

  function renderChecks(c) {
    document.getElementById('checks-decision').textContent = c.decision === 'reject'
      ? 'The automatic checks rejected the request.'
      : c.decision === 'review' ? 'The automatic checks passed: the request goes to the human reviews.' : '';
    document.getElementById('reasons').replaceChildren(casekit.reasons(c.reasons));
  }

  function renderReviews(c) {
    const req = (c.reviews_required || []).map(casekit.stageText);
    document.getElementById('reviews-required').textContent = req.length
      ? 'Required, in this order: ' + req.join(', ') + '. Done: ' + (c.reviews || []).length + '.' : '';
    const tbody = document.querySelector('#reviews tbody');
    tbody.replaceChildren();
    for (const r of c.reviews || []) {
      const tr = document.createElement('tr');
      const th = custos.el('th', casekit.stageText(r.stage), { scope: 'row' });
      tr.append(th, cell(r.user), cell(r.decision), cell(yesNo(r.immigration_related)),
                cell(r.rests_on), cell(r.note), cell(r.time));
      tbody.appendChild(tr);
    }
    show('reviews', (c.reviews || []).length > 0);
    show('no-reviews', (c.reviews || []).length === 0);
  }

  function renderSearch(c) {
    const dl = document.getElementById('search-fields');
    dl.replaceChildren();
    const s = c.search;
    if (s) {
      item(dl, 'Searched by', s.examiner);
      item(dl, 'Searched at (UTC)', s.time);
      item(dl, 'Face model', s.model);
      item(dl, 'Gallery size', s.gallery_size);
      item(dl, 'Candidates for examination', s.candidates);
    }
    if (typeof c.marks === 'number' && (s || c.marks)) item(dl, 'Examinations recorded', c.marks + ' of 2');
    item(dl, 'Outcome', c.outcome);
    item(dl, 'Response', c.response);
    show('search-section', dl.childElementCount > 0);
  }

  // The one action this role can take now, if any.
  function renderActions(c) {
    const role = me.role;
    const waiting = document.getElementById('waiting');
    waiting.textContent = waitingText(c);
    const flags = (c.reasons || []).map((r) => (typeof r === 'string' ? r : r.code))
      .filter((code) => code.startsWith('FLAG_') || code.startsWith('ESCALATE_'));
    document.getElementById('flags').replaceChildren(casekit.badges(flags));
    show('flags-line', flags.length > 0);

    const canReview = Boolean(c.waiting_for) && role === c.waiting_for;
    if (c.waiting_for && !canReview && REVIEWERS.includes(role)) {
      waiting.append(' Your role (' + role + ') does not do this review.');
    }
    show('review', canReview);
    if (canReview) {
      document.getElementById('review-stage').textContent = 'Stage: ' + casekit.stageText(c.waiting_for) + '.';
      const codes = (c.reasons || []).map((r) => (typeof r === 'string' ? r : r.code));
      const mixed = c.waiting_for === 'governor' && codes.includes('ESCALATE_MIXED_OFFENSE');
      const sel = document.getElementById('rests-on');
      sel.replaceChildren();
      if (mixed) {
        sel.appendChild(custos.el('option', 'Choose the offense', { value: '' }));
        for (const o of c.offenses || []) {
          if (o.class === 'criminal') sel.appendChild(custos.el('option', o.citation, { value: o.citation }));
        }
      }
      show('rests-on-field', mixed);
    }
    show('search', role === 'examiner' && c.state === 'approved');
    show('examine', role === 'examiner' && c.state === 'searched');
    document.getElementById('examine-link').href = '/case/examine?id=' + encodeURIComponent(c.case);
    const responder = RESPONDERS.includes(role);
    show('letter', responder && c.state === 'examined');
    document.getElementById('letter-link').href = '/case/letter?id=' + encodeURIComponent(c.case);
    show('close', responder && c.state === 'responded');
    show('withdraw', responder && !NO_WITHDRAW.includes(c.state));
  }

  async function load() {
    kase = await custos.api('GET', '/api/cases/' + encodeURIComponent(id));
    document.getElementById('title').textContent = 'Case ' + kase.case;
    document.title = 'Case ' + kase.case + ' — custos';
    renderFields(kase);
    renderChecks(kase);
    renderReviews(kase);
    renderSearch(kase);
    renderActions(kase);
    show('case', true);
  }

  // Runs an action: clears the messages, calls fn, reports its result
  // (success in the status region, a refusal in the alert), reloads the case.
  async function act(button, errorId, fn) {
    custos.say('error', '');
    custos.say(errorId, '');
    custos.say('message', '');
    if (button) button.disabled = true;
    try {
      const text = await fn();
      await load();
      custos.say('message', text, 'ok');
    } catch (e) {
      custos.failed(e, errorId);
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.getElementById('review').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const decision = f.elements.decision.value;
    const imm = f.elements.immigration.value;
    const note = f.elements.note.value.trim();
    const restsOn = document.getElementById('rests-on');
    const needRestsOn = !document.getElementById('rests-on-field').hidden;
    let problem = '';
    if (!decision) problem = 'Choose approve or reject.';
    else if (!imm) problem = 'Answer whether the request is immigration-related.';
    else if (!note) problem = 'Write a note for the record.';
    else if (needRestsOn && decision === 'approve' && !restsOn.value) {
      problem = 'Choose the non-immigration crime the case rests on.';
    }
    if (problem) {
      custos.say('review-error', problem, 'error');
      return;
    }
    const body = { stage: kase.waiting_for, decision, immigration_related: imm === 'yes', note };
    if (needRestsOn && restsOn.value) body.rests_on = restsOn.value;
    act(f.querySelector('button[type="submit"]'), 'review-error', async () => {
      const r = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/reviews', body);
      f.reset();
      return 'Your ' + casekit.stageText(body.stage) + ' is recorded (' + body.decision +
        '): the case is now ' + r.state + '.';
    });
  });

  document.getElementById('search-button').addEventListener('click', (ev) => {
    act(ev.currentTarget, 'error', async () => {
      const r = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/search');
      return 'Searched a gallery of ' + r.gallery_size + ': ' + r.candidates +
        ' candidates for the blind examination. The case is now ' + r.state + '.';
    });
  });

  document.getElementById('close-button').addEventListener('click', (ev) => {
    act(ev.currentTarget, 'error', async () => {
      const r = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/close');
      return 'The case is now ' + r.state + '.';
    });
  });

  document.getElementById('withdraw').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const note = f.elements.note.value.trim();
    if (!note) {
      custos.say('withdraw-error', 'Say why the request is withdrawn.', 'error');
      return;
    }
    act(f.querySelector('button[type="submit"]'), 'withdraw-error', async () => {
      const r = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/withdraw', { note });
      f.reset();
      return 'The request is withdrawn: the case is now ' + r.state + '.';
    });
  });

  (async () => {
    const main = document.getElementById('main');
    try {
      me = await custos.requireSession();
      if (me === null) return;
      if (id === null) {
        custos.say('error', 'No case named: open a case from the case queue.', 'error');
        return;
      }
      await load();
    } catch (e) {
      custos.failed(e, 'error');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
