/**
 * Output for people and for scripts. With `--json` every command prints exactly one JSON document on
 * stdout and nothing else there; progress and spinners go to stderr and only when it is a terminal.
 */

export interface OutputOptions {
  json: boolean;
}

export function printResult(options: OutputOptions, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** A table of rows with aligned columns. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Progress {
  update(text: string): void;
  done(text: string): void;
  fail(text: string): void;
}

/** A spinner on a terminal; plain lines otherwise (CI logs); nothing at all in JSON mode. */
export function startProgress(options: OutputOptions, text: string): Progress {
  const stream = process.stderr;
  if (options.json) return { update() {}, done() {}, fail() {} };
  if (!stream.isTTY) {
    stream.write(`… ${text}\n`);
    return {
      update: (next) => stream.write(`… ${next}\n`),
      done: (next) => stream.write(`✔ ${next}\n`),
      fail: (next) => stream.write(`✖ ${next}\n`),
    };
  }
  let current = text;
  let frame = 0;
  const render = () => stream.write(`\r\x1b[2K${frames[frame++ % frames.length]} ${current}`);
  const timer = setInterval(render, 80);
  render();
  const finish = (mark: string, next: string) => {
    clearInterval(timer);
    stream.write(`\r\x1b[2K${mark} ${next}\n`);
  };
  return {
    update: (next) => {
      current = next;
    },
    done: (next) => finish('✔', next),
    fail: (next) => finish('✖', next),
  };
}
