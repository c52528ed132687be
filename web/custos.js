// custos: what every staff page shares — calling the JSON API with the CSRF
// token, requiring a session, showing who is signed in, signing out.
'use strict';

const custos = (() => {
  let csrf = null;

  // Calls the API; resolves with the JSON reply, rejects with an Error that
  // carries .status and .code (the server's "error" field).
  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
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
    for (const el of document.querySelectorAll('[data-needs-role]')) {
      el.hidden = el.getAttribute('data-needs-role') !== me.role;
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

  return { api, setCsrf, requireSession, signOut, say, failed };
})();
