// What the case pages share: the states of a case, readable flags and
// reasons, and the header link of the case pages.  Loaded after custos.js.
'use strict';

const casekit = (() => {
  // The eleven states of docs/cases.md, in the order a case goes through them.
  const STATES = ['legal', 'intake', 'manager', 'governor', 'approved', 'searched', 'examined',
    'responded', 'closed', 'rejected', 'withdrawn'];
  const FINAL = ['closed', 'rejected', 'withdrawn'];
  const OPEN = STATES.filter((s) => !FINAL.includes(s));

  const STATE_TEXT = {
    legal: 'legal review',
    intake: 'intake review',
    manager: 'manager review',
    governor: "governor's-office review",
    approved: 'approved, not searched',
    searched: 'searched, in examination',
    examined: 'examined, letter to write',
    responded: 'answered',
    closed: 'closed',
    rejected: 'rejected',
    withdrawn: 'withdrawn',
  };

  // The review stages and the role that does each (GOV-10, GOV-11).
  const STAGE_TEXT = {
    legal: 'legal review',
    intake: 'intake review',
    manager: 'manager review',
    governor: "governor's-office review",
  };

  // The queue's flags (the checks' FLAG_ and ESCALATE_ reasons), readable.
  const FLAG_TEXT = {
    FLAG_IMMIGRATION_AUTHORITY: 'Federal immigration authority',
    ESCALATE_LEGAL_REVIEW: 'Needs legal review',
    ESCALATE_MIXED_OFFENSE: 'Immigration-related offense',
  };

  function stateText(s) {
    return STATE_TEXT[s] || s;
  }

  function stageText(s) {
    return STAGE_TEXT[s] || s;
  }

  // A visible badge for a flag code: readable text, the code as its title.
  function badge(code) {
    const known = Object.prototype.hasOwnProperty.call(FLAG_TEXT, code);
    const kind = code.startsWith('FLAG_') ? 'flag' : code.startsWith('ESCALATE_') ? 'escalate' : 'other';
    const b = custos.el('span', known ? FLAG_TEXT[code] : code, { className: 'badge badge-' + kind });
    b.title = code;
    return b;
  }

  // The flags of a case as a list of badges (or a dash when there are none).
  function badges(codes) {
    if (!codes || codes.length === 0) return document.createTextNode('—');
    const ul = custos.el('ul', null, { className: 'badges' });
    for (const c of codes) {
      const li = document.createElement('li');
      li.appendChild(badge(c));
      ul.appendChild(li);
    }
    return ul;
  }

  // The reasons [{code, rule, text}] of the checks as a list.
  function reasons(list) {
    const ul = custos.el('ul', null, { className: 'reasons' });
    for (const r of list || []) {
      const li = document.createElement('li');
      const code = typeof r === 'string' ? r : r.code;
      li.appendChild(custos.el('code', code));
      if (r.rule) li.append(' ', custos.el('span', r.rule, { className: 'rule' }));
      if (r.text) li.append(': ', r.text);
      if (code.startsWith('REJECT_')) li.className = 'reason-reject';
      ul.appendChild(li);
    }
    if (!ul.firstChild) ul.appendChild(custos.el('li', 'None: every check passed.'));
    return ul;
  }

  // A link to the case page of case id.
  function caseLink(id, text) {
    return custos.el('a', text || 'Case ' + id, { href: '/case?id=' + encodeURIComponent(id) });
  }

  // Fills the page's "back to case" links (class case-back) with this case.
  function backLinks(id) {
    for (const a of document.querySelectorAll('a.case-back')) {
      a.href = '/case?id=' + encodeURIComponent(id);
      a.textContent = 'Back to case ' + id;
    }
  }

  return { STATES, FINAL, OPEN, stateText, stageText, badge, badges, reasons, caseLink, backLinks };
})();
