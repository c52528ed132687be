// The home page: who is signed in; the case queue arrives with the request workflow.
'use strict';

(async () => {
  const main = document.getElementById('main');
  try {
    await custos.requireSession();
  } catch (e) {
    custos.say('message', e.message, 'error');
  } finally {
    main.setAttribute('aria-busy', 'false');
  }
})();
