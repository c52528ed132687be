// The case queue: the cases by state (GET /api/cases), newest first, each
// linking to its case page; the checks' flags shown as badges.
'use strict';

(() => {
  const form = document.getElementById('filter');
  const select = document.getElementById('state');
  const tbody = document.querySelector('#cases tbody');

  function cell(content) {
    const td = document.createElement('td');
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === null || content === undefined ? '—' : content;
    return td;
  }

  // "open" (the default), "all" or one of the eleven states.
  function chosen() {
    const v = new URLSearchParams(location.search).get('state');
    if (v === 'all' || casekit.STATES.includes(v)) return v;
    return 'open';
  }

  async function load(which) {
    const path = casekit.STATES.includes(which)
      ? '/api/cases?state=' + encodeURIComponent(which) : '/api/cases';
    const data = await custos.api('GET', path);
    let list = data.cases;
    if (which === 'open') list = list.filter((c) => casekit.OPEN.includes(c.state));
    // All cases: the open ones first, each group newest first as the API gives them.
    if (which === 'all') {
      list = list.filter((c) => casekit.OPEN.includes(c.state))
        .concat(list.filter((c) => !casekit.OPEN.includes(c.state)));
    }
    tbody.replaceChildren();
    for (const c of list) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.appendChild(casekit.caseLink(c.case));
      if (c.history) th.append(' ', custos.el('span', '(history)', { className: 'muted' }));
      const agency = c.department ? c.agency + ' (' + c.department + ')' : c.agency;
      tr.append(th, cell(c.received), cell(agency), cell(c.level), cell(c.state),
                cell(c.waiting_for ? casekit.stageText(c.waiting_for) : '—'),
                cell(casekit.badges(c.flags)));
      tbody.appendChild(tr);
    }
    const caption = select.options[select.selectedIndex].textContent;
    document.getElementById('cases-caption').textContent =
      caption + ', newest first: ' + list.length + (list.length === 1 ? ' case' : ' cases');
    document.getElementById('cases').hidden = list.length === 0;
    document.getElementById('empty').hidden = list.length !== 0;
  }

  async function show(which) {
    try {
      custos.say('message', '');
      await load(which);
    } catch (e) {
      custos.failed(e, 'message');
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const which = select.value;
    history.replaceState(null, '', which === 'open' ? '/cases' : '/cases?state=' + encodeURIComponent(which));
    show(which);
  });

  (async () => {
    const main = document.getElementById('main');
    try {
      const me = await custos.requireSession();
      if (me === null) return;
      select.value = chosen();
      await show(select.value);
    } catch (e) {
      custos.failed(e, 'message');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
