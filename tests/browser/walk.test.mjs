// Browser test of the case pages on a real `custos serve`: one request from
// the intake form to the response letter, every step through the pages and
// signed in as the role that does it.
//
//   - intake registers a request the checks reject (an I-200) and sees the
//     reasons, then a request from ICE under a court order with the probe
//     photo of an enrolled holder (another photo of face 01) and a mixed
//     offense; the queue shows the case with its two flags;
//   - the intake, manager and governor reviews on the case page, the
//     governor naming the crime the case rests on;
//   - an examiner runs the search; two examiners each open the blind
//     examination and mark the candidate whose photo is the holder's (picked
//     by comparing the SHA-256 of the image bytes shown with the holder's
//     photo file, never by a score: the page has none); a second mark by the
//     same examiner is refused on the page;
//   - intake writes the response letter, which names the holder's five
//     fields, prints it and closes the case; a third request is withdrawn;
//   - the auditor reads the checkpoint and the report and verifies the log;
//   - wrong roles are refused: the examiner on the intake form and the letter
//     page, intake on the audit page.
// The pages must raise no console error (a CSP violation is one).
// Screenshots of each step go to $CUSTOS_ARTIFACTS (the path is printed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, newProfile, startServer, stopServer } from './lib.mjs';

const CUSTOS = process.env.CUSTOS;
const ARTIFACTS = path.join(
  process.env.CUSTOS_ARTIFACTS || path.join(os.tmpdir(), 'custos-browser-artifacts'), 'walk');
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODELS = process.env.CUSTOS_MODELS || process.env.CUSTOS_MODELS_DIR || path.join(SRC, 'models');

// One user per role, two examiners; test passwords (CUSTOS_TEST_FAST_KDF).
const USERS = {
  ada: 'admin', ian: 'intake', mia: 'manager', gus: 'governor',
  eve: 'examiner', ed: 'examiner', aud: 'auditor',
};
const pw = (name) => `${name} walk password 12345`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'custos-browser-walk.'));
const photos = path.join(dir, 'photos');
const env = {
  ...process.env,
  CUSTOS_TEST_FAST_KDF: '1',
  CUSTOS_DB: path.join(dir, 'custos.db'),
  CUSTOS_MODELS: MODELS,
};
delete env.CUSTOS_PASSWORD;
delete env.CUSTOS_NEW_PASSWORD;

function run(cmd, args, extraEnv) {
  const p = spawnSync(cmd, args, { env: { ...env, ...extraEnv }, encoding: 'utf8' });
  assert.equal(p.status, 0, `${cmd} ${args.join(' ')}: ${p.stderr}`);
  return p.stdout;
}
const cli = (args, extraEnv) => run(CUSTOS, args, extraEnv);

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);

// The gallery: a made-up holder per face cut from the demo photos (as
// scripts/demo does), leaving out face 04 (not found when cut this tightly)
// and face 12 (close to face 02).  Face 01 is the one the probe shows.
function seed() {
  cli(['init', '--admin', 'ada'], { CUSTOS_NEW_PASSWORD: pw('ada') });
  for (const [name, role] of Object.entries(USERS)) {
    if (name === 'ada') continue;
    const args = ['user', 'add', name, '--role', role, '--as', 'ada'];
    if (role === 'examiner') args.push('--trained-until', day(365));
    cli(args, { CUSTOS_PASSWORD: pw('ada'), CUSTOS_NEW_PASSWORD: pw(name) });
  }
  run('python3', [path.join(SRC, 'tests/data/import/make_photos.py'), CUSTOS, path.join(MODELS, 'demo'),
    path.join(SRC, 'tests/data/reference/demo.jsonl'), photos]);
  const first = ['Avery', 'Blake', 'Casey', 'Dana', 'Emery', 'Finley', 'Gray', 'Harper', 'Indy', 'Jules',
    'Kai', 'Lane', 'Morgan', 'Noel', 'Oakley', 'Parker', 'Quinn', 'Reese', 'Sage', 'Tatum', 'Uma', 'Vale'];
  const last = ['Example', 'Sample', 'Placeholder', 'Testwood', 'Demoson', 'Fakely', 'Mockridge',
    'Dummett', 'Fictiv', 'Madeup', 'Notreal', 'Pretendo', 'Stubbs', 'Fixture', 'Inventa', 'Imagino',
    'Nobody', 'Specimen', 'Prototyp', 'Mockford', 'Shamley', 'Trialson'];
  const holders = {};
  const lines = ['license_no,first_name,middle_name,last_name,dob,photo'];
  for (let i = 0; fs.existsSync(path.join(photos, `face-${String(i).padStart(2, '0')}.png`)); i++) {
    if (i === 4 || i === 12) continue;
    const nn = String(i).padStart(2, '0');
    const h = {
      license_no: `WALK${String(i).padStart(5, '0')}X`, first_name: first[i % first.length],
      middle_name: 'Q', last_name: last[i % last.length],
      dob: `19${70 + i}-0${1 + (i % 9)}-${String(10 + (i % 18)).padStart(2, '0')}`, photo: `face-${nn}.png`,
    };
    holders[nn] = h;
    lines.push([h.license_no, h.first_name, h.middle_name, h.last_name, h.dob, h.photo].join(','));
  }
  fs.writeFileSync(path.join(dir, 'holders.csv'), lines.join('\n') + '\n');
  cli(['import', '--holders', path.join(dir, 'holders.csv'), '--photos', photos, '--as', 'ada'],
    { CUSTOS_PASSWORD: pw('ada') });
  return holders;
}

fs.rmSync(ARTIFACTS, { recursive: true, force: true });
fs.mkdirSync(ARTIFACTS, { recursive: true });
console.log('screenshots: ' + ARTIFACTS);
const holders = seed();
const want = holders['01'];
const wantSha = sha256(fs.readFileSync(path.join(photos, want.photo)));
const server = await startServer(CUSTOS, env, ['--photos', photos]);
const base = server.base;
const profile = newProfile();
let context = null;
let failed = false;
const problems = [];
// Refusals the test provokes on purpose are logged by chromium as failed
// resource loads: 401 before each sign-in, and the statuses of `expecting`.
let expecting = null;

try {
  context = await launchBrowser(profile, { width: 1200, height: 900 });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    if (/status of 401 /.test(t)) return;
    if (expecting && expecting.test(t)) return;
    problems.push(`${page.url()}: ${t}`);
  });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e}`));
  let shot = 0;
  const snap = async (name) => {
    shot += 1;
    await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
  const status = (text, opts) => page.getByRole('status').filter({ hasText: text }).first().waitFor(opts);
  const alert = (text, opts) => page.getByRole('alert').filter({ hasText: text }).first().waitFor(opts);

  // Signs in as name through the sign-in page on the way to path.
  async function signInAt(name, where) {
    const out = page.locator('#signout');
    if (await out.isVisible()) {
      await out.click();
      await page.waitForURL(base + '/signin');
    }
    await page.goto(base + where);
    await page.waitForURL(base + '/signin?next=' + encodeURIComponent(where));
    await page.getByLabel('User name').fill(name);
    await page.getByLabel('Password').fill(pw(name));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(base + where);
    await page.locator('#who', { hasText: `Signed in as ${name} (${USERS[name]})` }).waitFor();
    await page.locator('main[aria-busy="false"]').waitFor();
  }

  // Fills the intake form; fields the caller does not name keep their defaults.
  async function fillRequest(r) {
    const f = (label, value) => page.getByLabel(label, { exact: true }).fill(value);
    await f('Received on', day(0));
    await f("Agency's case number (optional)", r.caseNumber);
    await f('Agency name', r.agency);
    await page.getByLabel('Agency level', { exact: true }).selectOption('federal');
    await f('Department (optional)', r.department);
    await f('Component (optional)', r.component);
    await f('Requester name', 'J. Doe');
    await f('Requester title (optional)', 'Special Agent');
    await f('Requester contact', 'jdoe@example.gov');
    await page.getByLabel('Type of legal process', { exact: true }).selectOption(r.type);
    await page.getByLabel('Court system (optional)', { exact: true }).selectOption(r.courtSystem);
    await f('Court (optional)', 'U.S. District Court, W.D. Wash.');
    await f('Judge (optional)', 'Hon. A. Judge');
    await page.getByLabel('Signed by the judge', { exact: true }).selectOption('true');
    await f('Docket number (optional)', '2:99-mj-00042');
    await f('Issued on (optional)', day(-2));
    await f('Expires on (optional)', day(20));
    if (r.form) await f('Form (optional)', r.form);
    await page.getByLabel('Order document (PDF, JPEG or PNG)').setInputFiles(path.join(SRC, 'tests/data/requests/order.pdf'));
    await f('Offense 1: statute citation', '18 U.S.C. 2252');
    await f('Offense 1: description (optional)', 'distribution of child sexual abuse material');
    if (r.second) {
      await page.getByRole('button', { name: 'Add another offense' }).click();
      await f('Offense 2: statute citation', r.second);
      await f('Offense 2: description (optional)', 'bringing in and harboring certain aliens');
    }
    await page.getByLabel('Narrative (optional)').fill('Why this person is believed to be connected to the crime.');
    await page.getByLabel('Probe source', { exact: true }).selectOption('surveillance');
    await page.getByLabel('Probe photo (JPEG or PNG)').setInputFiles(path.join(photos, 'face-01-alt.png'));
  }

  // --- intake: a request the checks reject, then one that passes -----------------------
  await signInAt('ian', '/cases/new');
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.ok(await nav.getByRole('link', { name: 'New request' }).isVisible(), 'intake sees New request');
  assert.ok(await nav.getByRole('link', { name: 'Case queue' }).isVisible(), 'intake sees the queue');
  assert.equal(await nav.getByRole('link', { name: 'Audit' }).isVisible(), false, 'no Audit link for intake');
  await snap('intake-form');
  await fillRequest({ caseNumber: 'HSI-SE-0001', agency: 'U.S. Immigration and Customs Enforcement',
    department: 'DHS', component: 'ICE', type: 'administrative_warrant', courtSystem: 'agency', form: 'I-200' });
  await page.getByRole('button', { name: 'Register the request' }).click();
  await status('Registered as case');
  const rejectedText = await page.locator('#result').innerText();
  assert.match(rejectedText, /rejected by the automatic checks/);
  assert.match(rejectedText, /REJECT_NOT_JUDICIAL GOV-02: the legal process is not an order signed by a judge/);
  assert.match(rejectedText, /FLAG_IMMIGRATION_AUTHORITY GOV-07/);
  const rejectedCase = (await page.locator('#result-link').getAttribute('href')).match(/id=(\d+)$/)[1];
  await snap('intake-rejected');

  await page.getByRole('link', { name: 'Register another request' }).click();
  await page.waitForURL(base + '/cases/new');
  await page.locator('#request:not([hidden])').waitFor();
  await fillRequest({ caseNumber: 'HSI-SE-0002', agency: 'U.S. Immigration and Customs Enforcement',
    department: 'DHS', component: 'ICE', type: 'court_order', courtSystem: 'us_article_iii',
    second: '8 U.S.C. 1324' });
  await snap('intake-filled');
  await page.getByRole('button', { name: 'Register the request' }).click();
  await status('Registered as case');
  const okText = await page.locator('#result').innerText();
  assert.match(okText, /the automatic checks passed, it waits for the intake review/);
  assert.match(okText, /FLAG_IMMIGRATION_AUTHORITY GOV-07: the agency is a federal immigration authority/);
  assert.match(okText, /ESCALATE_MIXED_OFFENSE GOV-06: an offense is an immigration-related crime/);
  const caseId = (await page.locator('#result-link').getAttribute('href')).match(/id=(\d+)$/)[1];
  assert.notEqual(caseId, rejectedCase);
  await snap('intake-registered');

  // The home page lists what waits for intake; the queue: open cases by
  // default, the flag as a badge, each row linking to its case.
  await page.getByRole('link', { name: 'Cases', exact: true }).click();
  await page.waitForURL(base + '/');
  await page.getByRole('table').getByRole('link', { name: `Case ${caseId}`, exact: true }).waitFor();
  await snap('home-intake');
  await page.getByRole('link', { name: 'Case queue', exact: true }).click();
  await page.waitForURL(base + '/cases');
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: `Case ${caseId}`, exact: true }) });
  await row.waitFor();
  await row.getByText('Federal immigration authority').waitFor();
  await row.getByText('Immigration-related offense').waitFor();
  await row.getByRole('cell', { name: 'intake review', exact: true }).waitFor();
  assert.equal(await page.getByRole('link', { name: `Case ${rejectedCase}`, exact: true }).count(), 0,
    'a rejected case is not in the open queue');
  await snap('queue-open');
  await page.getByLabel('Show', { exact: true }).selectOption('rejected');
  await page.getByRole('button', { name: 'Show these cases' }).click();
  await page.getByRole('link', { name: `Case ${rejectedCase}`, exact: true }).waitFor();
  await snap('queue-rejected');
  await page.getByLabel('Show', { exact: true }).selectOption('open');
  await page.getByRole('button', { name: 'Show these cases' }).click();
  await row.getByRole('link', { name: `Case ${caseId}`, exact: true }).click();
  await page.waitForURL(base + `/case?id=${caseId}`);

  // --- the three reviews ---------------------------------------------------------------
  async function review(stage, who) {
    await page.locator('#waiting', { hasText: `waits for the ${stage}` }).waitFor();
    await page.getByRole('radio', { name: 'Approve' }).check();
    await page.getByRole('group', { name: 'Is this request immigration-related?' })
      .getByRole('radio', { name: 'No' }).check();
    await page.getByLabel('Note', { exact: true }).fill(`walk: ${stage} by ${who}`);
    // GOV-06: the governor names the non-immigration crime a mixed case rests on.
    const restsOn = page.getByLabel('The non-immigration crime the case rests on');
    assert.equal(await restsOn.isVisible(), stage.startsWith('governor'), 'rests-on only for the governor');
    if (stage.startsWith('governor')) {
      assert.deepEqual(await restsOn.locator('option').allTextContents(), ['Choose the offense', '18 U.S.C. 2252'],
        'only the criminal offense to choose');
      await restsOn.selectOption('18 U.S.C. 2252');
    }
    // The reviewer reads the order itself: the page's link downloads exactly the uploaded file.
    const href = await page.locator('#order-link').getAttribute('href');
    const got = await page.evaluate(async (u) => {
      const r = await fetch(u);
      return { status: r.status, type: r.headers.get('content-type'), bytes: Array.from(new Uint8Array(await r.arrayBuffer())) };
    }, href);
    assert.equal(got.status, 200, 'the order document downloads');
    assert.equal(sha256(Buffer.from(got.bytes)), sha256(fs.readFileSync(path.join(SRC, 'tests/data/requests/order.pdf'))),
      'the downloaded order is the uploaded one');
    await snap(`review-${stage.split(/[ ']/)[0]}`);
    await page.getByRole('button', { name: 'Record the review' }).click();
    await status(`is recorded (approve)`);
  }
  await page.locator('#case').waitFor();
  const caseText = await page.locator('#case').innerText();
  assert.match(caseText, /U\.S\. Immigration and Customs Enforcement/);
  assert.match(caseText, /HSI-SE-0002/);
  assert.match(caseText, /FLAG_IMMIGRATION_AUTHORITY GOV-07: the agency is a federal immigration authority/);
  assert.match(caseText, /Required, in this order: intake review, manager review, governor's-office review/);
  await review('intake review', 'ian');
  await page.locator('#waiting', { hasText: 'waits for the manager review' }).waitFor();
  assert.equal(await page.locator('#review').isVisible(), false, 'intake cannot do the manager review');

  await signInAt('mia', `/case?id=${caseId}`);
  await review('manager review', 'mia');
  await signInAt('gus', `/case?id=${caseId}`);
  await review("governor's-office review", 'gus');
  await page.locator('#waiting', { hasText: 'waits for an examiner to run the search' }).waitFor();
  const reviews = await page.locator('#reviews tbody tr').evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.children, (td) => td.textContent)));
  assert.deepEqual(reviews.map((r) => r.slice(0, 6)), [
    ['intake review', 'ian', 'approve', 'no', '—', 'walk: intake review by ian'],
    ['manager review', 'mia', 'approve', 'no', '—', 'walk: manager review by mia'],
    ["governor's-office review", 'gus', 'approve', 'no', '18 U.S.C. 2252', "walk: governor's-office review by gus"],
  ], 'the three reviews listed as recorded');
  await snap('reviews-done');

  // --- the examiner: wrong pages refused, then the search -----------------------------
  await signInAt('eve', '/cases/new');
  await status('Only intake staff register requests');
  assert.equal(await page.locator('#request').isVisible(), false, 'no intake form for an examiner');
  assert.equal(await nav.getByRole('link', { name: 'New request' }).isVisible(), false);
  await snap('examiner-refused-intake');
  // Not only the page: the server refuses the examiner's upload too.
  expecting = /status of 403 /;
  const refused = await page.evaluate(async () => {
    const me = await (await fetch('/api/me')).json();
    const fd = new FormData();
    fd.append('request', '{}');
    const r = await fetch('/api/cases', { method: 'POST', headers: { 'X-CSRF-Token': me.csrf }, body: fd });
    return [r.status, (await r.json()).error];
  });
  expecting = null;
  assert.deepEqual(refused, [403, 'forbidden'], 'POST /api/cases as an examiner');
  await page.goto(base + `/case/letter?id=${caseId}`);
  await alert('Only intake staff and managers write response letters');
  assert.equal(await page.getByRole('button', { name: 'Write the response letter' }).isVisible(), false);
  await page.goto(base + `/case?id=${caseId}`);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await status('candidates for the blind examination', { timeout: 120000 });
  await page.locator('#waiting', { hasText: 'blind examination by two examiners (0 of 2 done)' }).waitFor();
  await snap('searched');

  // The blind examination: pick the candidate whose photo bytes are the holder's.
  async function examine(who) {
    if (who !== 'eve') await signInAt(who, `/case?id=${caseId}`);
    await page.getByRole('link', { name: 'Examine the candidates blind' }).click();
    await page.waitForURL(base + `/case/examine?id=${caseId}`);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/cases/${caseId}/examination`)),
      page.getByRole('button', { name: 'Show the candidates' }).click(),
    ]);
    assert.equal(resp.status(), 200);
    const x = await resp.json();
    assert.deepEqual(Object.keys(x).sort(), ['candidates', 'case', 'probe']);
    for (const c of x.candidates) {
      assert.deepEqual(Object.keys(c).sort(), ['label', 'photo', 'photo_sha256'], 'no score, rank or identity');
    }
    await page.locator('li.candidate').first().waitFor();
    const shown = await page.locator('li.candidate').evaluateAll((lis) => lis.map((li) => {
      const imgs = li.querySelectorAll('img');
      return { probe: imgs[0].src, photo: imgs[1].src, label: li.querySelector('input[type=radio]').value };
    }));
    assert.equal(shown.length, x.candidates.length);
    const text = await page.locator('main').innerText();
    assert.doesNotMatch(text, /score|distance|rank/i, 'no score on the page');
    for (const h of Object.values(holders)) assert.ok(!text.includes(h.last_name), 'no holder name on the page');
    const bytes = (url) => Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    const probeSha = sha256(fs.readFileSync(path.join(photos, 'face-01-alt.png')));
    const hits = [];
    for (const s of shown) {
      assert.equal(sha256(bytes(s.probe)), probeSha, 'the probe beside each candidate');
      if (sha256(bytes(s.photo)) === wantSha) hits.push(s.label);
    }
    assert.equal(hits.length, 1, `the holder's photo is among ${who}'s candidates exactly once`);
    await snap(`examine-${who}`);
    await page.getByRole('radio', { name: `Candidate ${hits[0]} is a possible match` }).check();
    await page.getByRole('button', { name: 'Record my choice' }).click();
    await status(`Recorded: candidate ${hits[0]}.`);
    await snap(`examined-${who}`);
    return hits[0];
  }
  await examine('eve');

  // A second mark by the same examiner is refused, and the page says so.
  await page.goto(base + `/case/examine?id=${caseId}`);
  await page.getByRole('button', { name: 'Show the candidates' }).click();
  await page.getByRole('radio', { name: 'None of them' }).check();
  expecting = /status of (400|403|409|422) /;
  await page.getByRole('button', { name: 'Record my choice' }).click();
  await alert('Your choice was not recorded');
  expecting = null;
  await snap('examine-twice-refused');

  await examine('ed');
  await page.goto(base + `/case?id=${caseId}`);
  await page.locator('#waiting', { hasText: 'outcome: possible_match' }).waitFor();

  // --- intake: the response letter, printed, and the case closed ---------------------
  await signInAt('ian', `/case?id=${caseId}`);
  await page.getByRole('link', { name: 'Write the response letter' }).click();
  await page.waitForURL(base + `/case/letter?id=${caseId}`);
  await snap('letter-before');
  await page.getByRole('button', { name: 'Write the response letter' }).click();
  await status('The letter is written');
  const letter = page.locator('#letter');
  await letter.waitFor();
  assert.equal(await page.locator('#l-agency').innerText(), 'U.S. Immigration and Customs Enforcement');
  assert.equal(await page.locator('#l-case-number').innerText(), 'HSI-SE-0002');
  assert.equal(await page.locator('#l-case').innerText(), String(caseId));
  assert.equal(await page.locator('#l-first').innerText(), want.first_name);
  assert.equal(await page.locator('#l-middle').innerText(), want.middle_name);
  assert.equal(await page.locator('#l-last').innerText(), want.last_name);
  assert.equal(await page.locator('#l-dob').innerText(), want.dob);
  assert.equal(await page.locator('#l-license').innerText(), want.license_no);
  assert.equal(await page.locator('#l-none').isVisible(), false);
  assert.match(await page.locator('#l-statement').innerText(), /investigative lead/i);
  const letterText = await letter.innerText();
  for (const h of Object.values(holders)) {
    if (h !== want) assert.ok(!letterText.includes(h.license_no), 'no other candidate in the letter');
  }
  await snap('letter');
  await page.evaluate(() => { window.printed = 0; window.print = () => { window.printed += 1; }; });
  await page.getByRole('button', { name: 'Print' }).click();
  assert.equal(await page.evaluate(() => window.printed), 1, 'Print calls window.print');
  await page.reload();
  await alert('the letter was given already');
  await page.goto(base + `/case?id=${caseId}`);
  await page.getByRole('button', { name: 'Close the case' }).click();
  await status('The case is now closed.');
  await snap('closed');

  // --- a request withdrawn -----------------------------------------------------------
  await page.goto(base + '/cases/new');
  await page.locator('#request:not([hidden])').waitFor();
  await fillRequest({ caseNumber: 'FBI-SE-0003', agency: 'Federal Bureau of Investigation',
    department: 'DOJ', component: 'FBI', type: 'court_order', courtSystem: 'us_article_iii' });
  await page.getByRole('button', { name: 'Register the request' }).click();
  await status('Registered as case');
  assert.match(await page.locator('#result').innerText(), /None: every check passed/);
  await page.locator('#result-link').click();
  await page.waitForURL(/\/case\?id=\d+$/);
  await page.getByLabel('Why is the request withdrawn?').fill('the agency withdrew its request');
  await page.getByRole('button', { name: 'Withdraw the request' }).click();
  await status('The request is withdrawn: the case is now withdrawn.');
  assert.match(await page.locator('#fields').innerText(), /Withdrawn\s+by ian: the agency withdrew its request/);
  assert.equal(await page.getByRole('button', { name: 'Withdraw the request' }).isVisible(), false);
  await snap('withdrawn');

  // --- the auditor -------------------------------------------------------------------
  await signInAt('ian', '/audit');
  await status('Only auditors read the log');
  await signInAt('aud', '/audit');
  assert.ok(await nav.getByRole('link', { name: 'Audit' }).isVisible(), 'the auditor sees Audit');
  assert.equal(await nav.getByRole('link', { name: 'New request' }).isVisible(), false);
  await page.getByRole('link', { name: 'oversight page' }).waitFor();
  await page.locator('#cp-size', { hasText: /^[1-9][0-9]*$/ }).waitFor();
  const year = day(0).slice(0, 4);
  const totals = page.getByRole('table', { name: `Totals of ${year}` });
  await totals.getByRole('row', { name: /Requests 3$/ }).waitFor();
  await totals.getByRole('row', { name: /Releases of limited identity 1$/ }).waitFor();
  await page.getByRole('table', { name: `Reason codes, ${year}` })
    .getByRole('row', { name: /FLAG_IMMIGRATION_AUTHORITY 2$/ }).waitFor();
  await snap('audit');
  await page.getByRole('button', { name: 'Verify the log' }).click();
  await status('The log verifies');
  const entries = Number((await page.locator('#verify-result').innerText()).match(/verifies: (\d+) entries/)[1]);
  const proofOf = async (index) => {
    await page.getByLabel('Entry index').fill(String(index));
    await page.getByRole('button', { name: 'Show the entry and its proof' }).click();
  };
  await proofOf(0);
  await page.locator('#proof-index', { hasText: /^0$/ }).waitFor();
  assert.match(await page.locator('#proof-entry').innerText(), /"action":"log\.init"/);
  await page.locator('#proof-checkpoint').filter({ hasText: /\S/ }).waitFor();
  await snap('audit-verified');
  // The latest entries are not covered by the checkpoint signed at init: sign one.
  const last = entries - 1;
  const covered = Number(await page.locator('#cp-size').innerText());
  expecting = /status of 404 /;
  if (covered <= last) {
    await proofOf(last);
    await alert(`No entry ${last} in the log, or no signed checkpoint covers it yet`);
  }
  await page.getByRole('button', { name: 'Sign a checkpoint of the log as it is now' }).click();
  await status('Signed a new checkpoint');
  assert.ok(Number(await page.locator('#cp-size').innerText()) > last, 'the new checkpoint covers the log');
  await proofOf(last);
  await page.locator('#proof-index', { hasText: new RegExp(`^${last}$`) }).waitFor();
  assert.match(await page.locator('#proof-proof').innerText(), /"leaf_index": \d+/);
  await snap('audit-proof');
  await proofOf(999999);
  await alert('No entry 999999 in the log');
  expecting = null;

  // The home page of an examiner lists nothing to do once the case is closed.
  await signInAt('eve', '/');
  await page.locator('#mine-empty', { hasText: 'Nothing waits for you.' }).waitFor();
  await snap('home-examiner');

  assert.deepEqual(problems, [], 'no console errors');
  console.log(`ok: case ${caseId} from the intake form to the letter (${want.first_name} ${want.last_name}), ` +
    'three reviews, search, two blind examinations, audit verified; refusals shown');
} catch (e) {
  failed = true;
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
  if (problems.length) console.error('console errors: ' + problems.join('\n'));
  console.error('server log: ' + server.stderr().slice(-3000));
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
