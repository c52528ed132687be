// The blind examination (GOV-15): POST /api/cases/{id}/examination gives
// this examiner's own list — the probe and each candidate's photo under a
// label, no score, rank or name — shown side by side; the examiner marks one
// candidate or none, sent to POST /api/cases/{id}/adjudication.
'use strict';

(() => {
  const id = custos.caseId();
  const form = document.getElementById('choose');
  const list = document.getElementById('candidates');

  function photo(src, alt) {
    // No photo: the file is missing from the gallery folder or does not match
    // its SHA-256 (the server checks); say so rather than show something else.
    if (typeof src !== 'string' || !src.startsWith('data:image/')) {
      return custos.el('p', alt + ': photo unavailable (tell the administrator)', { className: 'face missing' });
    }
    const img = custos.el('img', null, { alt, className: 'face' });
    img.src = src; // a data: URL from the API (img-src 'self' data:)
    return img;
  }

  function render(x) {
    list.replaceChildren();
    for (const c of x.candidates) {
      const inputId = 'candidate-' + c.label;
      const li = custos.el('li', null, { className: 'candidate' });
      const pair = custos.el('div', null, { className: 'pair' });
      const fp = custos.el('figure');
      fp.append(photo(x.probe, 'The probe photo'), custos.el('figcaption', 'Probe'));
      const fc = custos.el('figure');
      fc.append(photo(c.photo, 'Candidate ' + c.label), custos.el('figcaption', 'Candidate ' + c.label));
      pair.append(fp, fc);
      const choice = custos.el('div', null, { className: 'choice' });
      const input = custos.el('input', null, { type: 'radio', id: inputId, name: 'candidate', value: c.label });
      const label = custos.el('label', 'Candidate ' + c.label + ' is a possible match', { for: inputId });
      choice.append(input, label);
      li.append(pair, choice);
      list.appendChild(li);
    }
    form.hidden = false;
    custos.say('message', x.candidates.length + ' candidates, in an order of your own.', 'ok');
  }

  document.getElementById('open').addEventListener('click', async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    custos.say('error', '');
    try {
      const x = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/examination');
      document.getElementById('intro').hidden = true;
      render(x);
    } catch (e) {
      custos.failed(e, 'error');
    } finally {
      b.disabled = false;
    }
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const checked = form.querySelector('input[name="candidate"]:checked');
    if (!checked) {
      custos.say('choose-error', 'Mark one candidate, or "None of them".', 'error');
      return;
    }
    custos.say('choose-error', '');
    const candidate = checked.value === '' ? null : checked.value;
    const button = document.getElementById('record');
    button.disabled = true;
    try {
      const r = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/adjudication', { candidate });
      form.hidden = true;
      list.replaceChildren(); // the photos leave the page with the choice made
      custos.say('message', (candidate === null ? 'Recorded: none of them.' : 'Recorded: candidate ' +
        candidate + '.') + ' The case is now ' + r.state + '.', 'ok');
    } catch (e) {
      if (e.status === 401) custos.failed(e, 'choose-error');
      else custos.say('choose-error', 'Your choice was not recorded: ' + e.message, 'error');
    } finally {
      button.disabled = false;
    }
  });

  (async () => {
    const main = document.getElementById('main');
    try {
      const me = await custos.requireSession();
      if (me === null) return;
      if (id === null) {
        custos.say('error', 'No case named: open a case from the case queue.', 'error');
        return;
      }
      casekit.backLinks(id);
      document.getElementById('title').textContent = 'Blind examination of case ' + id;
      if (me.role !== 'examiner') {
        custos.say('error', 'Only examiners examine candidates; you are signed in as ' + me.role + '.', 'error');
        return;
      }
      const c = await custos.api('GET', '/api/cases/' + encodeURIComponent(id));
      if (c.state !== 'searched') {
        custos.say('error', 'Case ' + id + ' is not in examination (its state is ' + c.state + ').', 'error');
        return;
      }
      document.getElementById('intro').hidden = false;
    } catch (e) {
      custos.failed(e, 'error');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
