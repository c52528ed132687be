// The home page: who is signed in, and the cases waiting for an action of
// this role (reviews of its stage; searches and examinations for examiners;
// letters and closing for intake staff and managers).
'use strict';

(() => {
  // What each role acts on: a case's state (and for reviewers its waiting stage).
  const WORK = {
    legal: { states: ['legal'], help: 'Cases waiting for the legal review.' },
    intake: { states: ['intake', 'examined', 'responded'],
      help: 'Cases waiting for the intake review, a response letter or closing.' },
    manager: { states: ['manager', 'examined', 'responded'],
      help: 'Cases waiting for the manager review, a response letter or closing.' },
    governor: { states: ['governor'], help: "Cases waiting for the governor's-office review." },
    examiner: { states: ['approved', 'searched'], help: 'Cases to search or to examine blind.' },
  };

  function cell(content) {
    const td = document.createElement('td');
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content;
    return td;
  }

  async function showWork(role) {
    const work = WORK[role];
    if (!work) return;
    const data = await custos.api('GET', '/api/cases');
    const rows = data.cases.filter((c) => !c.history && work.states.includes(c.state));
    const tbody = document.querySelector('#mine-table tbody');
    tbody.replaceChildren();
    for (const c of rows) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.appendChild(casekit.caseLink(c.case));
      tr.append(th, cell(c.received), cell(c.agency), cell(casekit.stateText(c.state)),
                cell(casekit.badges(c.flags)));
      tbody.appendChild(tr);
    }
    document.getElementById('mine-help').textContent = work.help;
    document.getElementById('mine-table').hidden = rows.length === 0;
    document.getElementById('mine-empty').hidden = rows.length !== 0;
    document.getElementById('mine').hidden = false;
  }

  (async () => {
    const main = document.getElementById('main');
    try {
      const me = await custos.requireSession();
      if (me === null) return;
      await showWork(me.role);
    } catch (e) {
      custos.failed(e, 'message');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
