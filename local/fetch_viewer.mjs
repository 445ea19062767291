// npm's postinstall step: unpack the prebuilt OHIF viewer pinned in package.json ("viewer") into
// node_modules/@ohif/app, as published (its dist/ is served as it is, no build step).
//
// Why not an ordinary dependency: @ohif/app's own package.json lists its source dependencies (webpack loaders,
// React, ...), some of them never published at that version (npm install fails with ETARGET), and none of them
// is needed to serve dist/. So npm fetches the package's tarball alone (`npm pack`, through npm's cache and
// registry settings), this script checks it against the pinned integrity and unpacks it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { name, version, integrity } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).viewer;
const target = join(root, 'node_modules', ...name.split('/'));
const installed = join(target, 'package.json');

if (existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === version
    && existsSync(join(target, 'dist', 'index.html'))) {
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'ohif-'));
try {
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const packed = JSON.parse(execFileSync(npm[0], [...npm[1], 'pack', `${name}@${version}`, '--json',
    '--pack-destination', work, '--loglevel=error'], { encoding: 'utf8' }));
  const tarball = join(work, packed[0].filename);
  const digest = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (digest !== integrity) {
    throw new Error(`${name}@${version}: the tarball's integrity ${digest} is not the one pinned in package.json`);
  }
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1', '--no-same-owner']);
  console.log(`${name}@${version} unpacked in ${target} (the viewer served at /viewer)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
