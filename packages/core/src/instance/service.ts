import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { DatastoreCatalog } from '../datastore/catalog.js';
import { CorralError, parseWith, ValidationError } from '../errors/index.js';
import type { Provider } from '../provider/types.js';
import type { InstanceStatus } from '../status/composite.js';
import { StoreConflictError } from '../store/errors.js';
import type { Store } from '../store/types.js';
import type { JsonObject, TaskKind } from '../taskmanager/models.js';
import type { StatusEventBus } from './events.js';
import { ConfigurationOverridesSchema, type Instance, type InstancePatch } from './models.js';
import { type InstanceView, instanceView } from './views.js';

/**
 * The instance service (Trove's `instance/service.py` + `instance/models.py` create/delete/action paths): the
 * in-process API a control plane calls. Each action validates, writes the instance change and its task in one
 * transaction, casts to the task manager and returns at once; the task manager does the work.
 */

export class InstanceNotFoundError extends CorralError {
  readonly code = 'INSTANCE_NOT_FOUND';
  constructor(readonly instanceId: string) {
    super(`instance ${instanceId} not found`);
  }
}

/** The instance is in a state that forbids the action (building, another task running, deleted). */
export class InstanceBusyError extends CorralError {
  readonly code = 'INSTANCE_BUSY';
  constructor(
    readonly instanceId: string,
    readonly taskStatus: string,
    action: string,
  ) {
    super(`instance ${instanceId} cannot ${action} now: its task status is ${taskStatus}`);
  }
}

export interface TaskCaster {
  /** Wakes the workers (here and in other processes) for a task that was just written. */
  cast(task: { id: string; kind: TaskKind; instanceId: string }): void;
}

export const CreateInstanceRequestSchema = z.object({
  name: z
    .string()
    .regex(
      /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/,
      'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit',
    ),
  projectId: z.string().min(1).max(255).default('default'),
  /** Provider name; the control plane's only provider when omitted. */
  provider: z.string().min(1).optional(),
  flavor: z.string().min(1),
  datastore: z.object({ type: z.string().min(1), version: z.string().min(1).optional() }),
  volumeSizeGb: z.number().int().positive().max(16_384).optional(),
  configuration: ConfigurationOverridesSchema.default({}),
  /** The caller's id (must be a valid guest id); a random UUID otherwise. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, "_" or "-" (it names topics and certificates)')
    .optional(),
});
export type CreateInstanceRequest = z.input<typeof CreateInstanceRequestSchema>;

export const ListInstancesQuerySchema = z.object({
  status: z.union([z.string(), z.array(z.string())]).optional(),
  datastore: z.string().optional(),
  datastoreVersion: z.string().optional(),
  projectId: z.string().optional(),
  limit: z.number().int().min(1).max(1000).default(100),
  after: z.string().optional(),
});
export type ListInstancesQuery = z.input<typeof ListInstancesQuerySchema>;

export interface InstanceStatusChange {
  instanceId: string;
  status: InstanceStatus;
  previousStatus?: InstanceStatus;
  view: InstanceView;
}

export interface InstanceServiceOptions {
  store: Store;
  catalog: DatastoreCatalog;
  providers: Record<string, Provider>;
  tasks: TaskCaster;
  events: StatusEventBus;
  /** Flavors per provider, cached after the first look-up (providers' `listFlavors`). */
  flavorCacheMs?: number;
}

const IDLE = new Set(['NONE', 'RESTART_REQUIRED']);

export class InstanceService {
  readonly #options: InstanceServiceOptions;
  readonly #flavors = new Map<string, { at: number; names: Set<string> }>();

  constructor(options: InstanceServiceOptions) {
    this.#options = options;
  }

  /** Validates, writes instance (BUILDING, service NEW) + create task in one transaction, casts, returns BUILD. */
  async create(request: CreateInstanceRequest, options: { requestId?: string } = {}): Promise<InstanceView> {
    const input = parseWith(CreateInstanceRequestSchema, request, 'instance');
    const providerName = this.#providerName(input.provider);
    const { catalog } = this.#options;
    const resolved = catalog.resolve({
      datastore: input.datastore.type,
      version: input.datastore.version,
      provider: providerName,
    });
    await this.#checkFlavor(providerName, input.flavor);
    if (input.volumeSizeGb !== undefined) {
      const provider = this.#options.providers[providerName];
      const why = !resolved.version.capabilities.volumes
        ? `${resolved.datastore.name} ${resolved.version.name} keeps its data on the root disk; volumes are not supported`
        : provider !== undefined && !provider.capabilities.volumes
          ? `provider ${providerName} does not attach volumes`
          : undefined;
      if (why !== undefined) {
        throw new ValidationError(`invalid instance: volumeSizeGb: ${why}`, [{ path: 'volumeSizeGb', message: why }]);
      }
    }
    const overrides = catalog.validateOverrides(resolved.datastore.name, resolved.version.name, input.configuration);
    const id = input.id ?? randomUUID();
    const taskId = randomUUID();
    const { instance, task } = await this.#options.store.createInstance(
      {
        id,
        name: input.name,
        projectId: input.projectId,
        provider: providerName,
        flavor: input.flavor,
        image: resolved.image,
        datastore: { type: resolved.datastore.name, version: resolved.version.name },
        volumeSizeGb: input.volumeSizeGb ?? null,
        configurationOverrides: overrides.values,
        taskStatus: 'BUILDING',
        serviceStatus: 'NEW',
      },
      { id: taskId, kind: 'create', instanceId: id, args: {}, requestId: options.requestId ?? null },
    );
    if (task) this.#options.tasks.cast(task);
    return instanceView(instance);
  }

  async get(id: string, options: { includeDeleted?: boolean } = {}): Promise<InstanceView> {
    const instance = await this.#options.store.findInstance(id, options);
    if (instance === undefined) throw new InstanceNotFoundError(id);
    return instanceView(instance);
  }

  /** A page of instances, filtered by composite status and datastore. `nextAfter` continues the listing. */
  async list(query: ListInstancesQuery = {}): Promise<{ items: InstanceView[]; nextAfter?: string }> {
    const q = parseWith(ListInstancesQuerySchema, query, 'instance query');
    const statuses = q.status === undefined ? undefined : new Set(Array.isArray(q.status) ? q.status : [q.status]);
    const items: InstanceView[] = [];
    let after = q.after;
    // Composite status is computed, so filtering scans store pages until the page is full.
    for (;;) {
      const page = await this.#options.store.listInstances({
        datastore: q.datastore,
        datastoreVersion: q.datastoreVersion,
        projectId: q.projectId,
        limit: q.limit,
        after,
      });
      for (const instance of page.items) {
        const view = instanceView(instance);
        if (statuses === undefined || statuses.has(view.status)) items.push(view);
        if (items.length === q.limit) {
          const more = page.nextAfter !== undefined || instance !== page.items[page.items.length - 1];
          return more ? { items, nextAfter: view.id } : { items };
        }
      }
      if (page.nextAfter === undefined) return { items };
      after = page.nextAfter;
    }
  }

  /** Deletes the instance. Refused while building (or another task runs) unless `force`. */
  async delete(id: string, options: { force?: boolean; requestId?: string } = {}): Promise<InstanceView> {
    const instance = await this.#load(id);
    if (instance.taskStatus === 'DELETING' && !options.force) return instanceView(instance);
    const busy = !IDLE.has(instance.taskStatus) && !isErrorTask(instance.taskStatus);
    if (busy && !options.force) throw new InstanceBusyError(id, instance.taskStatus, 'be deleted');
    const store = this.#options.store;
    const running = await store.listTasks({ instanceId: id, states: ['pending', 'running'] });
    for (const task of running) {
      await store.cancelTask(task.id, { reason: 'superseded by a forced delete' }).catch(() => undefined);
    }
    const [createTask] = await store.listTasks({ instanceId: id, kinds: ['create'], limit: 1 });
    return this.#startTask(
      instance,
      'delete',
      { createTaskId: createTask?.id ?? null },
      'DELETING',
      options.requestId,
      {},
      (current) => {
        if (current.taskStatus === 'DELETING') throw new InstanceBusyError(id, current.taskStatus, 'be deleted twice');
      },
    );
  }

  /** Restarts the datastore through the guest (Trove's `restart`). */
  async restart(id: string, options: { requestId?: string } = {}): Promise<InstanceView> {
    const instance = await this.#loadIdle(id, 'restart');
    return this.#startTask(instance, 'restart', {}, 'RESTARTING', options.requestId, {}, (c) =>
      assertIdle(c, 'restart'),
    );
  }

  /**
   * Reboots the server, then waits for the guest (Trove's `reboot`). `hard` powers it off and on (Nova's
   * HARD reboot, libvirt's destroy + start) instead of asking the guest to restart.
   */
  async reboot(id: string, options: { requestId?: string; hard?: boolean } = {}): Promise<InstanceView> {
    const instance = await this.#loadIdle(id, 'reboot');
    return this.#startTask(
      instance,
      'reboot',
      { hard: options.hard === true },
      'REBOOTING',
      options.requestId,
      {},
      (c) => assertIdle(c, 'reboot'),
    );
  }

  /** Moves the server to another flavor (Trove's `resize_flavor`). */
  async resize(id: string, flavor: string, options: { requestId?: string } = {}): Promise<InstanceView> {
    const parsed = parseWith(z.string().min(1), flavor, 'flavor');
    const instance = await this.#loadIdle(id, 'resize');
    if (parsed === instance.flavor) {
      throw new ValidationError(`invalid resize: flavor: is already ${parsed}`, [
        { path: 'flavor', message: `is already ${parsed}` },
      ]);
    }
    await this.#checkFlavor(instance.provider, parsed);
    return this.#startTask(instance, 'resize', { flavor: parsed }, 'RESIZING', options.requestId, {}, (c) =>
      assertIdle(c, 'resize'),
    );
  }

  /**
   * Validates and applies configuration overrides. The guest applies what it can live; parameters that need a
   * restart leave the instance RESTART_REQUIRED (as Trove's static parameters do).
   */
  async updateConfiguration(
    id: string,
    overrides: Record<string, unknown>,
    options: { requestId?: string } = {},
  ): Promise<InstanceView> {
    const parsed = parseWith(ConfigurationOverridesSchema, overrides, 'configuration');
    const instance = await this.#loadIdle(id, 'update its configuration');
    const { values, restartRequired } = this.#options.catalog.validateOverrides(
      instance.datastore.type,
      instance.datastore.version,
      parsed,
    );
    const merged = { ...instance.configurationOverrides, ...values };
    return this.#startTask(
      instance,
      'update_configuration',
      { overrides: values, restartRequired },
      'UPDATING_CONFIGURATION',
      options.requestId,
      { configurationOverrides: merged },
      (c) => assertIdle(c, 'update its configuration'),
    );
  }

  /**
   * Status changes of instances (all, or one), as they happen: each store or conductor event is turned into
   * the instance's view, and a change of its composite status is yielded.
   */
  async *watch(options: { instanceId?: string; signal?: AbortSignal } = {}): AsyncGenerator<InstanceStatusChange> {
    const last = new Map<string, InstanceStatus>();
    for await (const event of this.#options.events.stream(options)) {
      const instance = await this.#options.store.findInstance(event.instanceId, { includeDeleted: true });
      if (instance === undefined) continue;
      const view = instanceView(instance);
      const previousStatus = last.get(view.id);
      if (previousStatus === view.status) continue;
      last.set(view.id, view.status);
      yield { instanceId: view.id, status: view.status, previousStatus, view };
    }
  }

  /** Resolves with the view once `predicate` holds (checked now, then on each event; never by polling). */
  async waitFor(
    id: string,
    predicate: (view: InstanceView) => boolean,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<InstanceView> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`timed out waiting for instance ${id}`)),
      options.timeoutMs ?? 60_000,
    );
    options.signal?.addEventListener('abort', () => controller.abort(options.signal?.reason), { once: true });
    try {
      const stream = this.#options.events.stream({ instanceId: id, signal: controller.signal });
      const now = await this.get(id, { includeDeleted: true });
      if (predicate(now)) return now;
      for await (const _event of stream) {
        const view = await this.get(id, { includeDeleted: true });
        if (predicate(view)) return view;
      }
      throw controller.signal.reason ?? new Error('stream ended');
    } finally {
      clearTimeout(timer);
      controller.abort(new Error('done'));
    }
  }

  async #load(id: string): Promise<Instance> {
    const instance = await this.#options.store.findInstance(id);
    if (instance === undefined) throw new InstanceNotFoundError(id);
    return instance;
  }

  async #loadIdle(id: string, action: string): Promise<Instance> {
    const instance = await this.#load(id);
    assertIdle(instance, action);
    return instance;
  }

  async #startTask(
    instance: Instance,
    kind: TaskKind,
    args: JsonObject,
    taskStatus: InstancePatch['taskStatus'],
    requestId: string | undefined,
    extraPatch: InstancePatch = {},
    check: (current: Instance) => void = () => {},
  ): Promise<InstanceView> {
    let current = instance;
    // The version check makes two racing actions on one instance end with one task, the other refused. A
    // heartbeat also bumps the version, so a conflict is re-read and re-checked before it counts as a race.
    for (let attempt = 0; ; attempt++) {
      try {
        const { task, instance: updated } = await this.#options.store.createTask(
          { id: randomUUID(), kind, instanceId: current.id, args, requestId: requestId ?? null },
          { instancePatch: { taskStatus, fault: null, ...extraPatch }, expectedInstanceVersion: current.version },
        );
        this.#options.tasks.cast(task);
        return instanceView(updated ?? current);
      } catch (error) {
        if (!(error instanceof StoreConflictError) || attempt >= 20) throw error;
        current = await this.#load(current.id);
        check(current);
      }
    }
  }

  #providerName(requested: string | undefined): string {
    const names = Object.keys(this.#options.providers);
    if (requested !== undefined) {
      if (!names.includes(requested)) {
        const message = `must be one of ${names.join(', ') || '(none configured)'}`;
        throw new ValidationError(`invalid instance: provider: ${message}`, [{ path: 'provider', message }]);
      }
      return requested;
    }
    const [only] = names;
    if (names.length !== 1 || only === undefined) {
      const message = `required when the control plane has ${names.length} providers`;
      throw new ValidationError(`invalid instance: provider: ${message}`, [{ path: 'provider', message }]);
    }
    return only;
  }

  async #checkFlavor(providerName: string, flavor: string): Promise<void> {
    const cached = this.#flavors.get(providerName);
    let names = cached && Date.now() - cached.at < (this.#options.flavorCacheMs ?? 60_000) ? cached.names : undefined;
    if (names === undefined) {
      const provider = this.#options.providers[providerName];
      if (provider === undefined) throw new Error(`no provider ${providerName}`);
      const flavors = await provider.listFlavors();
      names = new Set(flavors.flatMap((f) => [f.id, f.name]));
      this.#flavors.set(providerName, { at: Date.now(), names });
    }
    if (!names.has(flavor)) {
      const message = `unknown flavor "${flavor}" on provider ${providerName}`;
      throw new ValidationError(`invalid instance: flavor: ${message}`, [{ path: 'flavor', message }]);
    }
  }
}

function assertIdle(instance: Instance, action: string): void {
  if (!IDLE.has(instance.taskStatus)) throw new InstanceBusyError(instance.id, instance.taskStatus, action);
}

function isErrorTask(taskStatus: string): boolean {
  return taskStatus.endsWith('_ERROR') || taskStatus.includes('_ERROR_');
}
