// The sign-in page: POST /api/session, then on to the page asked for.
'use strict';

(() => {
  const form = document.getElementById('signin');
  const button = document.getElementById('submit');

  // Only a path on this site: never another origin ("//host", "/\host").
  function nextPage() {
    const next = new URLSearchParams(location.search).get('next');
    if (next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\')) {
      return next;
    }
    return '/';
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = form.elements.user.value.trim();
    const password = form.elements.password.value;
    if (!user || !password) {
      custos.say('error', 'Enter your user name and password.', 'error');
      return;
    }
    button.disabled = true;
    try {
      await custos.api('POST', '/api/session', { user, password });
      location.assign(nextPage());
    } catch (e) {
      form.elements.password.value = '';
      custos.say('error', 'Sign-in failed: ' + e.message + '.', 'error');
      form.elements.password.focus();
    } finally {
      button.disabled = false;
    }
  });
  form.elements.user.focus();
})();
