// custos: what every staff page shares — calling the JSON API with the CSRF
// token, requiring a session, showing who is signed in, signing out.
'use strict';

const custos = (() => {
  let csrf = null;

  // Calls the API; resolves with the JSON reply, rejects with an Error that
  // carries .status and .code (the server's "error" field).
  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (body instanceof FormData) {
      opts.body = body; // multipart/form-data: the browser sets the boundary
    } else if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET' && csrf !== null) opts.headers['X-CSRF-Token'] = csrf;
    const res = await fetch(path, opts);
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = new Error((data && data.message) || res.statusText || 'request failed');
      err.status = res.status;
      err.code = data && data.error;
      throw err;
    }
    return data;
  }

  function setCsrf(token) {
    csrf = token;
  }

  function toSignIn() {
    const next = location.pathname + location.search;
    location.replace('/signin?next=' + encodeURIComponent(next));
  }

  // Shows the signed-in user in the page's header and wires the sign-out button.
  function showUser(me) {
    const who = document.getElementById('who');
    if (who) who.textContent = 'Signed in as ' + me.user + ' (' + me.role + ')';
    // data-needs-role="intake manager": shown to any of the roles listed.
    for (const el of document.querySelectorAll('[data-needs-role]')) {
      el.hidden = !el.getAttribute('data-needs-role').split(/\s+/).includes(me.role);
    }
    const out = document.getElementById('signout');
    if (out) {
      out.hidden = false;
      out.addEventListener('click', signOut);
    }
  }

  // Resolves with the session ({user, role, csrf}) or sends the browser to
  // the sign-in page.
  async function requireSession() {
    try {
      const me = await api('GET', '/api/me');
      setCsrf(me.csrf);
      showUser(me);
      return me;
    } catch (e) {
      if (e.status === 401) {
        toSignIn();
        return null;
      }
      throw e;
    }
  }

  async function signOut() {
    try {
      await api('DELETE', '/api/session');
    } catch (e) {
      // Signed out already, or the session expired: the sign-in page follows either way.
    }
    location.assign('/signin');
  }

  // Shows text in the element with id (a status or alert region).
  function say(id, text, kind) {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
    if (kind) el.className = kind;
  }

  // Handles an API failure on a signed-in page: back to sign-in on 401.
  function failed(e, id) {
    if (e.status === 401) {
      toSignIn();
      return;
    }
    say(id, e.message, 'error');
  }

  // Makes an element with a text content (never HTML) and attributes.
  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (k === 'className') e.className = v;
        else e.setAttribute(k, v);
      }
    }
    return e;
  }

  // The ?id=N of a case page, or null when absent or not a positive integer.
  function caseId() {
    const id = new URLSearchParams(location.search).get('id');
    return id && /^[1-9][0-9]{0,17}$/.test(id) ? id : null;
  }

  return { api, setCsrf, requireSession, signOut, say, failed, el, caseId };
})();
