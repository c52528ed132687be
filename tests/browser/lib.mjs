// What the browser tests (*.test.mjs) share: starting and stopping a real
// `custos serve`, and launching Debian's chromium headless through
// playwright-core.  run.sh runs only *.test.mjs, so this file is no test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CUSTOS_CHROMIUM || '/usr/bin/chromium';

// Starts `custos serve --listen 127.0.0.1:0 ...args` with env; resolves with
// { proc, base, stderr } once it prints the address it serves.
export function startServer(custos, env, args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(custos, ['serve', '--listen', '127.0.0.1:0', ...args],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + err)), 60000);
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving (http:\/\/[^\s]+?)\/?\n/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, base: m[1], stderr: () => err });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

// Sends SIGTERM; resolves with the exit status (or the signal's name).
export function stopServer(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    proc.removeAllListeners('exit');
    proc.on('exit', (code, sig) => resolve(code === null ? sig : code));
    proc.kill('SIGTERM');
  });
}

// A new, empty chromium profile folder (the caller removes it).
export function newProfile() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'custos-chromium-profile.'));
}

// Launches chromium headless on profile; resolves with the browser context.
export function launchBrowser(profile, viewport) {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
  });
}
