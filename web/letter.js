// The response letter (GOV-16, GOV-17): POST /api/cases/{id}/letter answers
// the case and gives the letter once — the five fields of limited identity or
// "no identification made", and the statement — shown here for printing.
'use strict';

(() => {
  const id = custos.caseId();

  function text(elId, value) {
    document.getElementById(elId).textContent = value === null || value === undefined || value === '' ? '—' : value;
  }

  const OUTCOME = {
    possible_match: 'possible match confirmed by two examiners',
    no_identification: 'no identification',
    inconclusive: 'inconclusive',
  };

  function render(l) {
    text('l-agency', l.agency);
    text('l-case-number', l.case_number);
    text('l-case', l.case);
    text('l-outcome', OUTCOME[l.outcome] || l.outcome);
    const identity = l.identity;
    document.getElementById('l-identity').hidden = !identity;
    document.getElementById('l-none').hidden = Boolean(identity);
    if (identity) {
      text('l-first', identity.first_name);
      text('l-middle', identity.middle_name);
      text('l-last', identity.last_name);
      text('l-dob', identity.dob);
      text('l-license', identity.license_no);
    }
    text('l-statement', l.statement);
    document.getElementById('letter').hidden = false;
  }

  document.getElementById('write-button').addEventListener('click', async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    custos.say('error', '');
    try {
      const l = await custos.api('POST', '/api/cases/' + encodeURIComponent(id) + '/letter');
      document.getElementById('write').hidden = true;
      render(l);
      custos.say('message', 'The letter is written and case ' + l.case + ' is answered. Print it now: it is given once.', 'ok');
      document.getElementById('print').focus();
    } catch (e) {
      custos.failed(e, 'error');
    } finally {
      b.disabled = false;
    }
  });

  document.getElementById('print').addEventListener('click', () => window.print());

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
      document.getElementById('title').textContent = 'Response letter for case ' + id;
      if (me.role !== 'intake' && me.role !== 'manager') {
        custos.say('error', 'Only intake staff and managers write response letters; you are signed in as ' +
          me.role + '.', 'error');
        return;
      }
      const c = await custos.api('GET', '/api/cases/' + encodeURIComponent(id));
      if (c.state !== 'examined') {
        custos.say('error', 'Case ' + id + ' has no letter to write: its state is ' + c.state +
          (c.state === 'responded' || c.state === 'closed' ? ' (the letter was given already).' : '.'), 'error');
        return;
      }
      document.getElementById('write').hidden = false;
    } catch (e) {
      custos.failed(e, 'error');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
