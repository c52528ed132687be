// The intake form: builds the request document of POLICY.md from the fields
// and sends it with the order and the probe photo as multipart/form-data
// (parts request, order, probe) to POST /api/cases; then shows the checks'
// decision and reasons and links to the new case.
'use strict';

(() => {
  const form = document.getElementById('request');
  const list = document.getElementById('offenses');
  const submit = document.getElementById('submit');
  let offenseCount = 0;

  // One offense: citation and description, with a remove button after the first.
  function addOffense() {
    offenseCount += 1;
    const n = offenseCount;
    const li = custos.el('li', null, { className: 'offense' });
    for (const [part, label, max, required] of [['citation', 'statute citation', 256, true],
      ['description', 'description', 2048, false]]) {
      const id = 'offense-' + n + '-' + part;
      const div = custos.el('div', null, { className: 'field' });
      const lab = custos.el('label', 'Offense ' + n + ': ' + label + (required ? '' : ' (optional)'), { for: id });
      const input = custos.el('input', null, { id, type: 'text', maxlength: String(max), autocomplete: 'off' });
      input.dataset.part = part;
      if (required) input.required = true;
      if (part === 'citation') input.setAttribute('aria-describedby', 'offenses-help');
      div.append(lab, input);
      li.appendChild(div);
    }
    if (n > 1) {
      const rm = custos.el('button', 'Remove offense ' + n, { type: 'button', className: 'secondary' });
      rm.addEventListener('click', () => {
        li.remove();
        document.getElementById('add-offense').focus();
      });
      li.appendChild(rm);
    }
    list.appendChild(li);
    return li;
  }

  function value(id) {
    return document.getElementById(id).value.trim();
  }

  // Sets obj[key] = the field's value when the field is filled in.
  function optional(obj, key, id) {
    const v = value(id);
    if (v !== '') obj[key] = v;
  }

  // The request document, or throws an Error naming the first missing field
  // (with .field, the element to focus).
  function build() {
    const missing = (id, what) => {
      const e = new Error(what);
      e.field = document.getElementById(id);
      return e;
    };
    const need = (id, what) => {
      const v = value(id);
      if (v === '') throw missing(id, what);
      return v;
    };
    const doc = { received: need('received', 'Enter the day the request was received.') };
    doc.agency = {
      name: need('agency_name', "Enter the agency's name."),
      level: value('agency_level'),
    };
    optional(doc.agency, 'department', 'agency_department');
    optional(doc.agency, 'component', 'agency_component');
    doc.requester = { name: need('requester_name', "Enter the requester's name.") };
    optional(doc.requester, 'title', 'requester_title');
    doc.requester.contact = need('requester_contact', "Enter the requester's contact.");
    optional(doc, 'case_number', 'case_number');

    const type = value('lp_type');
    const lp = { type };
    optional(lp, 'form', 'lp_form');
    optional(lp, 'court_system', 'lp_court_system');
    optional(lp, 'court', 'lp_court');
    optional(lp, 'judge', 'lp_judge');
    const signed = value('lp_signed');
    if (signed !== '') lp.signed = signed === 'true';
    optional(lp, 'docket', 'lp_docket');
    const order = document.getElementById('order').files[0];
    if (type !== 'none') lp.issued = need('lp_issued', 'Enter the day the order was issued.');
    else optional(lp, 'issued', 'lp_issued');
    if (!order) throw missing('order', 'Attach the document the agency sent.');
    optional(lp, 'expires', 'lp_expires');
    if (order) lp.document = order.name;
    doc.legal_process = lp;

    doc.offenses = [];
    for (const li of list.querySelectorAll('li.offense')) {
      const cit = li.querySelector('[data-part="citation"]');
      const desc = li.querySelector('[data-part="description"]');
      if (cit.value.trim() === '' && desc.value.trim() === '') continue;
      if (cit.value.trim() === '') {
        const e = new Error('Enter the statute citation of each offense.');
        e.field = cit;
        throw e;
      }
      const o = { citation: cit.value.trim() };
      if (desc.value.trim() !== '') o.description = desc.value.trim();
      doc.offenses.push(o);
    }
    optional(doc, 'narrative', 'narrative');
    const probe = document.getElementById('probe').files[0];
    if (!probe) throw missing('probe', 'Attach the probe photo.');
    doc.probe = { image: probe.name, source: value('probe_source') };
    return { doc, order, probe };
  }

  function showResult(r) {
    const result = document.getElementById('result');
    const decision = document.getElementById('decision');
    if (r.state === 'rejected' || r.decision === 'reject') {
      decision.textContent = 'Case ' + r.case + ' is registered and rejected by the automatic checks.';
      decision.className = 'error';
    } else {
      decision.textContent = 'Case ' + r.case + ' is registered: the automatic checks passed, it waits for the ' +
        casekit.stageText(r.state) + '.';
      decision.className = 'ok';
    }
    document.getElementById('result-reasons').replaceChildren(casekit.reasons(r.reasons));
    const link = document.getElementById('result-link');
    link.href = '/case?id=' + encodeURIComponent(r.case);
    link.textContent = 'Open case ' + r.case;
    form.hidden = true;
    result.hidden = false;
    custos.say('message', 'Registered as case ' + r.case + '.', 'ok');
    document.getElementById('result-heading').focus();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    custos.say('form-error', '');
    let parts;
    try {
      parts = build();
    } catch (e) {
      custos.say('form-error', e.message, 'error');
      if (e.field) e.field.focus();
      return;
    }
    const fd = new FormData();
    fd.append('request', JSON.stringify(parts.doc));
    if (parts.order) fd.append('order', parts.order, parts.order.name);
    fd.append('probe', parts.probe, parts.probe.name);
    submit.disabled = true;
    try {
      const r = await custos.api('POST', '/api/cases', fd);
      showResult(r);
    } catch (e) {
      if (e.status === 401) custos.failed(e, 'form-error');
      else custos.say('form-error', 'The request was not registered: ' + e.message, 'error');
    } finally {
      submit.disabled = false;
    }
  });

  document.getElementById('add-offense').addEventListener('click', () => {
    addOffense().querySelector('input').focus();
  });

  (async () => {
    const main = document.getElementById('main');
    try {
      const me = await custos.requireSession();
      if (me === null) return;
      if (me.role !== 'intake') {
        form.hidden = true;
        custos.say('message', 'Only intake staff register requests; you are signed in as ' + me.role + '.', 'error');
        return;
      }
      addOffense();
      form.hidden = false;
      document.getElementById('received').value = new Date().toISOString().slice(0, 10);
    } catch (e) {
      custos.failed(e, 'message');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
