import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A datastore server run by the agent: spawned detached (its own session, output to a log file) so it outlives
 * an agent restart, remembered by a pid file, and re-adopted by the next agent run. Whether it is alive is read
 * from /proc, so a zombie or a recycled pid running something else counts as dead.
 */
export interface SupervisedOptions {
  command: string;
  args: string[];
  pidFile: string;
  logFile: string;
  /**
   * A substring of /proc/<pid>/cmdline that proves the pid is still our server; several: any one of them (a
   * server that rewrites its process title proves itself one way before and another after).
   */
  cmdlineMatch: string | readonly string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  env?: Record<string, string>;
}

export type ExitListener = (info: { code: number | null; signal: NodeJS.Signals | null }) => void;

export function isPidAlive(pid: number, cmdlineMatch: string | readonly string[]): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name (which may itself hold spaces or parentheses).
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return (typeof cmdlineMatch === 'string' ? [cmdlineMatch] : cmdlineMatch).some((m) => cmdline.includes(m));
  } catch {
    return false;
  }
}

export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private readonly listeners = new Set<ExitListener>();

  constructor(readonly options: SupervisedOptions) {}

  /** The pid from the pid file, if that process is still our server. */
  pid(): number | undefined {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(this.options.pidFile, 'utf8').trim(), 10);
    } catch {
      return undefined;
    }
    return Number.isInteger(pid) && pid > 0 && isPidAlive(pid, this.options.cmdlineMatch) ? pid : undefined;
  }

  isRunning(): boolean {
    return this.pid() !== undefined;
  }

  /** Called when a server started by this agent run exits (an adopted one is noticed by the status probe). */
  onExit(listener: ExitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the server unless it already runs; returns its pid. Fails if it exits at once. */
  async start(): Promise<number> {
    const running = this.pid();
    if (running !== undefined) return running;
    const log = openSync(this.options.logFile, 'a', 0o640);
    let child: ChildProcess;
    try {
      child = spawn(this.options.command, this.options.args, {
        cwd: this.options.cwd,
        detached: true,
        stdio: ['ignore', log, log],
        ...(this.options.uid === undefined ? {} : { uid: this.options.uid }),
        ...(this.options.gid === undefined ? {} : { gid: this.options.gid }),
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...this.options.env },
      });
    } finally {
      closeSync(log);
    }
    const spawned = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    this.child = child;
    writeFileSync(this.options.pidFile, `${spawned}\n`, { mode: 0o644 });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      for (const listener of this.listeners) listener({ code, signal });
    });
    return spawned;
  }

  /** Signals the server and waits for it to go; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) {
      rmSync(this.options.pidFile, { force: true });
      return;
    }
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + timeoutMs;
    while (isPidAlive(pid, this.options.cmdlineMatch)) {
      if (Date.now() > deadline) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await sleep(50);
    }
    rmSync(this.options.pidFile, { force: true });
  }
}
