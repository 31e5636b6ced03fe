'use strict';
// Test hook, run by rc.sysinit only when the kernel command line has corral.probe=HOST:PORT. It proves the
// guest works end to end: node runs, it reaches the host through QEMU user-mode networking, redis-server
// starts and answers, and the seed's user-data is readable. It sends one JSON line with what it found (a
// digest of user-data, never its text) and then obeys one reply line: "ok", or "kill-agent" (SIGKILL the
// agent so the test can watch the supervisor bring it back).
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, execFileSync } = require('node:child_process');

const uptimeMs = () => Math.round(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000);
const say = (text) => process.stdout.write(`corral-guest: probe: ${text}\n`);
const startedMs = uptimeMs();
say(`node ${process.version} started at ${startedMs} ms`);

const [host, portText] = (process.argv[2] ?? '').split(':');
const port = Number(portText);
if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
  say(`bad target '${process.argv[2]}': want HOST:PORT`);
  process.exit(2);
}

function seedReport() {
  const dir = process.env.CORRAL_SEED_DIR;
  if (!dir) return null;
  const report = { dir, kind: process.env.CORRAL_SEED_KIND, files: fs.readdirSync(dir).sort() };
  const userData = path.join(dir, 'user-data');
  if (fs.existsSync(userData)) {
    const bytes = fs.readFileSync(userData);
    report.userDataBytes = bytes.length;
    report.userDataSha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  }
  return report;
}

// Starts a throwaway redis on a unix socket and asks it for PONG: proves the binary and its libraries work.
async function redisPing() {
  const socket = '/tmp/corral-probe-redis.sock';
  const server = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  try {
    for (let i = 0; i < 100 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    return execFileSync('redis-cli', ['-s', socket, 'ping'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch (error) {
    return `error: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    server.kill('SIGTERM');
  }
}

function agentPid() {
  try {
    const pid = Number(fs.readFileSync('/run/corral/agent.pid', 'utf8'));
    return fs.existsSync(`/proc/${pid}`) ? pid : null;
  } catch {
    return null;
  }
}

function connect(deadline) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => resolve(socket));
      socket.once('error', (error) => {
        socket.destroy();
        if (Date.now() > deadline) reject(error);
        else setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}

async function main() {
  const socket = await connect(Date.now() + 60_000);
  const connectedMs = uptimeMs();
  say(`connected to ${host}:${port} at ${connectedMs} ms`);
  const redisStartMs = uptimeMs();
  const redis = await redisPing();
  const report = {
    kind: 'corral-guest-probe',
    node: process.version,
    startedMs,
    connectedMs,
    redis,
    redisVersion: execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim(),
    redisPingMs: uptimeMs() - redisStartMs,
    seed: seedReport(),
    blkid: (() => {
      try {
        return execFileSync('blkid', [], { encoding: 'utf8', timeout: 10_000 }).trim();
      } catch (error) {
        return `error: ${error instanceof Error ? error.message : String(error)}`;
      }
    })(),
    agentPid: agentPid(),
    hostname: require('node:os').hostname(),
    release: fs.readFileSync('/etc/corral/guest-release', 'utf8'),
    stateDirWritable: (() => {
      try {
        fs.writeFileSync('/var/lib/corral/.probe', 'x');
        fs.unlinkSync('/var/lib/corral/.probe');
        return true;
      } catch {
        return false;
      }
    })(),
  };
  socket.write(`${JSON.stringify(report)}\n`);
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffered += chunk;
    const newline = buffered.indexOf('\n');
    if (newline < 0) return;
    const command = buffered.slice(0, newline).trim();
    if (command === 'kill-agent') {
      const pid = agentPid();
      if (pid) process.kill(pid, 'SIGKILL');
      say(`killed agent pid ${pid}`);
    }
    socket.end();
  });
}

main().catch((error) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
