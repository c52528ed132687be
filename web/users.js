// User and training administration: list, add, unlock, renew training.
'use strict';

(() => {
  const tbody = document.querySelector('#users tbody');
  const addForm = document.getElementById('add-user');

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  function button(text, label, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary';
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  // The actions cell of one user: unlock (when locked) and a training date form.
  function actions(u) {
    const td = document.createElement('td');
    if (u.locked) {
      td.appendChild(button('Unlock', 'Unlock ' + u.name, async () => {
        try {
          await custos.api('POST', '/api/users/' + encodeURIComponent(u.name) + '/unlock');
          custos.say('message', 'Unlocked ' + u.name + '.', 'ok');
          await load();
        } catch (e) {
          custos.failed(e, 'message');
        }
      }));
    }
    const f = document.createElement('form');
    const id = 'training-' + u.name;
    const label = document.createElement('label');
    label.className = 'visually-hidden';
    label.htmlFor = id;
    label.textContent = 'Training of ' + u.name + ' certified until';
    const input = document.createElement('input');
    input.type = 'date';
    input.id = id;
    input.className = 'compact';
    input.value = u.trained_until || '';
    const save = document.createElement('button');
    save.type = 'submit';
    save.className = 'secondary';
    save.textContent = 'Set training';
    save.setAttribute('aria-label', 'Set the training date of ' + u.name);
    f.append(label, input, save);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await custos.api('PUT', '/api/users/' + encodeURIComponent(u.name) + '/training',
                                   { trained_until: input.value || null });
        custos.say('message', r.trained_until
          ? 'Training of ' + u.name + ' certified until ' + r.trained_until + '.'
          : 'Training certification of ' + u.name + ' cleared.', 'ok');
        await load();
      } catch (e) {
        custos.failed(e, 'message');
      }
    });
    td.appendChild(f);
    return td;
  }

  async function load() {
    const data = await custos.api('GET', '/api/users');
    tbody.replaceChildren();
    for (const u of data.users) {
      const tr = document.createElement('tr');
      const name = document.createElement('th');
      name.scope = 'row';
      name.textContent = u.name;
      tr.append(name, cell(u.role), cell(u.trained_until || '—'), cell(u.locked ? 'yes' : 'no'),
                cell(String(u.failed_logins)), cell(u.created), actions(u));
      tbody.appendChild(tr);
    }
  }

  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const el = addForm.elements;
    const body = {
      name: el.name.value.trim(),
      role: el.role.value,
      password: el.password.value,
      trained_until: el.trained_until.value || null,
    };
    custos.say('add-error', '');
    try {
      await custos.api('POST', '/api/users', body);
      addForm.reset();
      custos.say('message', 'Added ' + body.name + ' (' + body.role + ').', 'ok');
      await load();
    } catch (e) {
      if (e.status === 401) custos.failed(e, 'add-error');
      else custos.say('add-error', 'Could not add the user: ' + e.message, 'error');
    }
  });

  (async () => {
    const main = document.getElementById('main');
    try {
      const me = await custos.requireSession();
      if (me === null) return;
      if (me.role !== 'admin') {
        custos.say('message', 'Only administrators manage users.', 'error');
        addForm.hidden = true;
        return;
      }
      await load();
    } catch (e) {
      custos.failed(e, 'message');
    } finally {
      main.setAttribute('aria-busy', 'false');
    }
  })();
})();
