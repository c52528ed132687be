// Browser test of the staff pages on a real `custos serve`: the home page sends
// a stranger to sign-in; the administrator signs in, adds a user on the
// user-and-training page, renews that user's training, unlocks the account
// after it was locked by wrong passwords, signs out; the new user signs in and
// sees the examiner's home page, and is refused the administration page.  The
// pages must raise no console error (a CSP violation is one).  Screenshots of
// each step go to $CUSTOS_ARTIFACTS (the path is printed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, newProfile, startServer, stopServer } from './lib.mjs';

const CUSTOS = process.env.CUSTOS;
const ARTIFACTS = process.env.CUSTOS_ARTIFACTS || path.join(os.tmpdir(), 'custos-browser-artifacts');
const ADMIN = 'alice';
const ADMIN_PW = 'alice password 12345';
const NEW_USER = 'ellen';
const NEW_PW = 'ellen password 12345';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custos-browser-test.'));
const env = {
  ...process.env,
  CUSTOS_TEST_FAST_KDF: '1',
  CUSTOS_DB: path.join(dir, 'custos.db'),
};
if (process.env.CUSTOS_MODELS_DIR && !env.CUSTOS_MODELS) env.CUSTOS_MODELS = process.env.CUSTOS_MODELS_DIR;
delete env.CUSTOS_PASSWORD;

function cli(args, extraEnv) {
  const p = spawnSync(CUSTOS, args, { env: { ...env, ...extraEnv }, encoding: 'utf8' });
  assert.equal(p.status, 0, `custos ${args.join(' ')}: ${p.stderr}`);
}

fs.mkdirSync(ARTIFACTS, { recursive: true });
console.log('screenshots: ' + ARTIFACTS);
cli(['init', '--admin', ADMIN], { CUSTOS_NEW_PASSWORD: ADMIN_PW });
const server = await startServer(CUSTOS, env);
const base = server.base;
const profile = newProfile();
let context = null;
let failed = false;
const problems = [];

try {
  context = await launchBrowser(profile, { width: 1200, height: 800 });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (m) => {
    // The refusals this test provokes (400 short password, 401 before
    // sign-in and wrong password) are logged by chromium as failed resource
    // loads; any other error (a CSP violation, a script error) is a problem.
    if (m.type() === 'error' && !/status of 40[01] /.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  let shot = 0;
  const snap = async (name) => {
    shot += 1;
    const file = path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
  };

  // A stranger is sent to sign-in.
  await page.goto(base + '/');
  await page.waitForURL(/\/signin\?next=%2F$/);
  await snap('signin');
  assert.equal(await page.getByLabel('User name').getAttribute('autocomplete'), 'username');

  // A wrong password is refused on the page.
  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Sign-in failed' }).waitFor();
  await snap('signin-refused');

  // The administrator signs in.
  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password').fill(ADMIN_PW);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + '/');
  await page.locator('#who', { hasText: `Signed in as ${ADMIN} (admin)` }).waitFor();
  await snap('home-admin');
  const cookies = await context.cookies(base);
  const sc = cookies.find((c) => c.name === 'custos_session');
  assert.ok(sc && sc.httpOnly && sc.sameSite === 'Strict', 'session cookie HttpOnly, SameSite=Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the cookie is not readable by scripts');

  // The user-and-training page: add a user.
  await page.getByRole('link', { name: 'Users and training' }).click();
  await page.waitForURL(base + '/admin/users');
  await page.getByRole('rowheader', { name: ADMIN }).waitFor();
  await snap('users');
  await page.getByLabel('User name').fill(NEW_USER);
  await page.getByLabel('Role').selectOption('examiner');
  await page.getByLabel('Initial password').fill(NEW_PW);
  await page.getByLabel('Training certified until (optional)').fill('2030-12-31');
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.getByRole('status').filter({ hasText: `Added ${NEW_USER} (examiner).` }).waitFor();
  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: NEW_USER }) });
  await row.getByRole('cell', { name: '2030-12-31', exact: true }).waitFor();
  await snap('user-added');

  // A short password is refused with the library's reason.
  await page.getByLabel('User name').fill('frank');
  await page.getByLabel('Initial password').fill('short');
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.locator('#add-error', { hasText: 'Could not add the user' }).waitFor();
  await snap('user-refused');

  // Renew the new user's training.
  await page.getByLabel(`Training of ${NEW_USER} certified until`).fill('2031-06-30');
  await page.getByRole('button', { name: `Set the training date of ${NEW_USER}` }).click();
  await page.getByRole('status').filter({ hasText: `certified until 2031-06-30` }).waitFor();
  await row.getByRole('cell', { name: '2031-06-30', exact: true }).waitFor();

  // Five wrong passwords lock the account; the page unlocks it.
  for (let i = 0; i < 5; i++) {
    await fetch(base + '/api/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: NEW_USER, password: 'wrong guess ' + i }),
    });
  }
  await page.reload();
  await row.getByRole('cell', { name: 'yes', exact: true }).waitFor();
  await snap('user-locked');
  await page.getByRole('button', { name: `Unlock ${NEW_USER}` }).click();
  await page.getByRole('status').filter({ hasText: `Unlocked ${NEW_USER}.` }).waitFor();
  await row.getByRole('cell', { name: 'no', exact: true }).waitFor();

  // Sign out.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(base + '/signin');
  await snap('signed-out');
  await page.goto(base + '/admin/users');
  await page.waitForURL(/\/signin\?next=%2Fadmin%2Fusers$/);

  // The new user signs in and lands where they were going.
  await page.getByLabel('User name').fill(NEW_USER);
  await page.getByLabel('Password').fill(NEW_PW);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + '/admin/users');
  await page.getByRole('status').filter({ hasText: 'Only administrators manage users.' }).waitFor();
  await snap('users-as-examiner');
  await page.getByRole('link', { name: 'Cases' }).click();
  await page.waitForURL(base + '/');
  await page.locator('#who', { hasText: `Signed in as ${NEW_USER} (examiner)` }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Users and training' }).isVisible(), false,
    'no administration link for an examiner');
  await snap('home-examiner');

  // An open redirect through ?next= is not followed.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(base + '/signin');
  await page.goto(base + '/signin?next=//example.com/x');
  await page.getByLabel('User name').fill(NEW_USER);
  await page.getByLabel('Password').fill(NEW_PW);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + '/');

  assert.deepEqual(problems, [], 'no console errors');
  console.log('ok: sign in, add a user, training, unlock, sign out, sign in as the new user');
} catch (e) {
  failed = true;
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
  if (problems.length) console.error('console errors: ' + problems.join('\n'));
  console.error('server log: ' + server.stderr().slice(-2000));
} finally {
  if (context) await context.close();
  const code = await stopServer(server.proc);
  if (code !== 0) {
    failed = true;
    console.error(`FAIL: server exit status ${code} on SIGTERM: ${server.stderr().slice(-2000)}`);
  }
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log('screenshots: ' + ARTIFACTS);
process.exit(failed ? 1 : 0);
