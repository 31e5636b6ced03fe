'use strict';
// Stand-in for the corral agent while packages/agent has no single-file bundle: it shows that the guest
// starts an agent with its environment and keeps it running, and nothing more (no MQTT, no datastore).
const fs = require('node:fs');
const path = require('node:path');

const say = (text) => process.stdout.write(`corral-agent(placeholder): ${text}\n`);
const seedDir = process.env.CORRAL_SEED_DIR;
let userData = 'none';
if (seedDir && fs.existsSync(path.join(seedDir, 'user-data'))) {
  // Its size only: user-data carries secrets and is never printed.
  userData = `${fs.statSync(path.join(seedDir, 'user-data')).size} bytes`;
}
say(`running with node ${process.version}, pid ${process.pid}, seed ${seedDir || 'none'}, user-data ${userData}`);

const timer = setInterval(() => {}, 60_000);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    say(`${signal}, exiting`);
    clearInterval(timer);
    process.exit(0);
  });
}
