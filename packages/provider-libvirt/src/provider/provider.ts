import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import {
  BadRequestError,
  type CallOptions,
  type CreateServerRequest,
  type Flavor,
  type Image,
  NotFoundError,
  PROVIDER_SPECIFICATION_VERSION,
  ProviderTimeoutError,
  type ProviderV1,
  parseCreateServerRequest,
  type Server,
} from '@corral/core/contract';
import { type Logger, pino } from 'pino';
import { probeKvm, removeProbeLeftovers } from '../api/capabilities.js';
import { type DomainRef, DomainState, uuidToString } from '../api/domains.js';
import { type Libvirt, openLibvirt } from '../api/index.js';
import type { PoolRef } from '../api/storage.js';
import { buildNoCloudSeed } from '../iso/nocloud.js';
import { untilAborted } from '../rpc/abort.js';
import { LibvirtError } from '../rpc/errors.js';
import { parseLibvirtUri } from '../rpc/uri.js';
import { DATA_VOLUME_SUFFIX, dataSerialOf } from './data-volume.js';
import { buildDomainXml, resizeDomainXml } from './domain-xml.js';
import { PROVIDER_NAME, toProviderError } from './errors.js';
import { ensureImageVolumes } from './images.js';
import { METADATA_NAMESPACE, METADATA_PREFIX, recordFromXml, recordToXml, type ServerRecord } from './metadata.js';
import {
  type ImageConfig,
  type LibvirtProviderOptions,
  LibvirtProviderOptionsSchema,
  type ResolvedOptions,
} from './options.js';
import { statusFromDomainState } from './status.js';
import { watchServer } from './watch.js';
import { watchServers } from './watch-servers.js';

/** The seed ISO, root overlay and data disk a server of this domain name may have, in that order. */
function volumeNamesOf(domainName: string): [seed: string, disk: string, data: string] {
  return [`${domainName}-seed.iso`, `${domainName}-disk.qcow2`, `${domainName}${DATA_VOLUME_SUFFIX}`];
}

/** The libvirt provider: ProviderV1 plus what tests and operators need on top. */
export interface LibvirtProvider extends ProviderV1 {
  /** Where the server's serial console is logged, on the libvirt host. */
  consoleLogPath(serverId: string): Promise<string>;
  /** The console log's text (local libvirt hosts only). */
  readConsoleLog(serverId: string): Promise<string>;
  /** `kvm` or `qemu`: the domain type servers get (probing once when `domainType` is `auto`). */
  domainType(): Promise<'kvm' | 'qemu'>;
  /** The underlying client, for callers that need more of libvirt. */
  libvirt(): Promise<Libvirt>;
}

const VIR_DOMAIN_METADATA_ELEMENT = 2;
const VIR_DOMAIN_AFFECT_CONFIG = 2;

function throwIfAborted(options?: CallOptions): void {
  if (options?.signal?.aborted) {
    throw new ProviderTimeoutError('the call was aborted', { provider: PROVIDER_NAME, cause: options.signal.reason });
  }
}

/**
 * Creates the libvirt provider. Nothing is dialled until the first call; the connection reopens itself
 * after a daemon restart.
 *
 *   const provider = createLibvirtProvider({
 *     uri: 'qemu:///system',
 *     pool: { name: 'corral', path: '/var/lib/corral/pool' },
 *     images: [{ kind: 'kernel', name: 'micro', kernel: 'vmlinuz', initrd: 'initrd.img', cmdline: 'console=ttyS0' }],
 *   });
 */
export function createLibvirtProvider(input: LibvirtProviderOptions = {}): LibvirtProvider {
  const parsed = LibvirtProviderOptionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new BadRequestError(
      `invalid libvirt provider options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      { provider: PROVIDER_NAME },
    );
  }
  const options: ResolvedOptions = parsed.data;
  const logger: Logger = input.logger ?? pino({ level: 'silent' });
  const log = logger.child({ provider: PROVIDER_NAME, uri: options.uri });
  const local = parseLibvirtUri(options.uri).transport === 'unix';

  let client: Promise<Libvirt> | undefined;
  /** Aborts a dial still under way when the provider is closed. */
  let closing = new AbortController();
  let pool: Promise<PoolRef> | undefined;
  let resolvedType: Promise<'kvm' | 'qemu'> | undefined;
  const creating = new Map<string, Promise<Server>>();

  const libvirt = (): Promise<Libvirt> => {
    if (!client) {
      client = openLibvirt(
        options.uri,
        {
          ...input.connection,
          onConnectionChange: (state, error) => {
            if (state === 'closed')
              log.warn({ err: error?.message }, 'libvirt connection lost; the next call reconnects');
            else log.debug('libvirt connection open');
          },
        },
        { signal: closing.signal },
      );
      client.then(
        (lv) => void sweepProbeLeftovers(lv),
        () => {
          client = undefined;
        },
      );
    }
    return client;
  };

  // Once per provider, on its first connection: probe domains an interrupted start of ours left running.
  let swept: Promise<void> | undefined;
  const sweepProbeLeftovers = (lv: Libvirt): Promise<void> => {
    swept ??= removeProbeLeftovers(lv.connection, { namePrefix: options.namePrefix }).then(
      (removed) => {
        if (removed.length > 0) log.warn({ removed }, 'destroyed KVM probe domains an interrupted probe left running');
      },
      (error: unknown) => {
        swept = undefined;
        log.warn({ err: (error as Error).message }, 'could not look for leftover KVM probe domains');
      },
    );
    return swept;
  };

  const ensurePool = async (): Promise<PoolRef> => {
    if (!pool) {
      pool = libvirt().then((lv) => lv.storage.ensureDirPool(options.pool.name, options.pool.path));
      pool.catch(() => {
        pool = undefined;
      });
    }
    return pool;
  };

  const domainType = (): Promise<'kvm' | 'qemu'> => {
    if (options.domainType !== 'auto') return Promise.resolve(options.domainType);
    if (!resolvedType) {
      resolvedType = (async () => {
        const lv = await libvirt();
        const kernelImage = options.images.find((image) => image.kind === 'kernel');
        let kernelPath: string | undefined;
        if (kernelImage) {
          const volumes = await ensureImageVolumes(lv, await ensurePool(), options.namePrefix, kernelImage);
          kernelPath = volumes.kernelPath;
        }
        await sweepProbeLeftovers(lv);
        const result = await probeKvm(lv.connection, { kernelPath, namePrefix: options.namePrefix });
        if (result.usable) {
          log.info({ elapsedMs: result.elapsedMs }, 'KVM works: servers get domain type kvm');
          return 'kvm' as const;
        }
        log.warn(
          { reason: result.reason, elapsedMs: result.elapsedMs },
          'KVM is not usable here: falling back to domain type qemu (software emulation, much slower)',
        );
        return 'qemu' as const;
      })();
      resolvedType.catch(() => {
        resolvedType = undefined;
      });
    }
    return resolvedType;
  };

  const isOurs = (dom: Pick<DomainRef, 'name'>) =>
    dom.name.startsWith(options.namePrefix) && !dom.name.startsWith(`${options.namePrefix}kvm-probe`);

  const readRecord = async (lv: Libvirt, dom: DomainRef): Promise<ServerRecord | undefined> => {
    const xml = await lv.domains.metadata(dom, METADATA_NAMESPACE);
    return xml ? recordFromXml(xml) : undefined;
  };

  const consoleLogFor = (domainName: string) => `${options.consoleLogDir}/${domainName}.log`;

  const toServer = async (lv: Libvirt, dom: DomainRef, record: ServerRecord): Promise<Server> => {
    const { state } = await lv.domains.state(dom);
    const status = statusFromDomainState(state, record.fault !== undefined);
    const fault =
      record.fault ?? (state === DomainState.CRASHED ? { message: 'the guest crashed', code: 'CRASHED' } : undefined);
    return {
      id: uuidToString(dom.uuid),
      name: record.name,
      status,
      ...(fault ? { fault } : {}),
      idempotencyKey: record.idempotencyKey,
      flavor: record.flavor,
      image: record.image,
      // User-mode networking: the guest always has QEMU's fixed address, reachable from nowhere but itself.
      addresses: status === 'ACTIVE' ? { user: ['10.0.2.15'] } : {},
      metadata: record.metadata,
      createdAt: record.createdAt,
      volumes: record.volumes
        .filter((volume) => volume.endsWith(DATA_VOLUME_SUFFIX))
        .map((volume) => ({ id: volume, serial: dataSerialOf(volume) })),
    };
  };

  /** Finds our domain by server id (its UUID); NotFoundError for anything else. */
  const lookup = async (lv: Libvirt, id: string): Promise<{ dom: DomainRef; record: ServerRecord }> => {
    const notFound = () => new NotFoundError(`no libvirt server ${id}`, { provider: PROVIDER_NAME });
    if (!/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(id)) throw notFound();
    let dom: DomainRef;
    try {
      dom = await lv.domains.lookupByUuid(id);
    } catch (error) {
      if (error instanceof LibvirtError && error.code === 42) throw notFound();
      throw error;
    }
    const record = isOurs(dom) ? await readRecord(lv, dom) : undefined;
    if (!record) throw notFound();
    return { dom, record };
  };

  const listOurs = async (lv: Libvirt) => {
    const found: Array<{ dom: DomainRef; record: ServerRecord }> = [];
    for (const dom of await lv.domains.list()) {
      if (!isOurs(dom)) continue;
      try {
        const record = await readRecord(lv, dom);
        if (record) found.push({ dom, record });
      } catch (error) {
        if (!(error instanceof LibvirtError && error.code === 42)) throw error; // vanished meanwhile
      }
    }
    return found;
  };

  /**
   * Runs one provider call: its errors become typed ProviderErrors, and an abort of the caller's signal ends
   * it at once. Reads also pass the signal to every RPC (`libvirtFor`), so nothing of theirs stays in flight;
   * changes (create, delete, reboot, resize) go on in the background to a consistent end, bounded by the
   * client's deadlines, and a retry with the same idempotency key or id finds what they did.
   */
  const guard = async <T>(context: string, run: () => Promise<T>, callOptions?: CallOptions): Promise<T> => {
    try {
      throwIfAborted(callOptions);
      return await untilAborted(run(), callOptions?.signal, context);
    } catch (error) {
      throw toProviderError(error, context);
    }
  };

  /** The client for a read: waiting for the shared dial, and every RPC, end at once when the signal aborts. */
  const libvirtFor = async (callOptions?: CallOptions): Promise<Libvirt> => {
    const lv = await untilAborted(libvirt(), callOptions?.signal, 'connecting to libvirtd');
    return lv.withSignal(callOptions?.signal);
  };

  const findByKey = async (key: string, callOptions?: CallOptions): Promise<Server | undefined> => {
    const lv = await libvirtFor(callOptions);
    const match = (await listOurs(lv)).find((entry) => entry.record.idempotencyKey === key);
    return match ? toServer(lv, match.dom, match.record) : undefined;
  };

  const deleteVolumes = async (lv: Libvirt, names: string[]) => {
    const poolRef = await ensurePool();
    for (const name of names) {
      const vol = await lv.storage.findVolume(poolRef, name);
      if (vol) await lv.storage.deleteVolume(vol);
    }
  };

  const create = async (request: CreateServerRequest, callOptions?: CallOptions): Promise<Server> => {
    const req = parseCreateServerRequest(PROVIDER_NAME, request);
    const lv0 = await libvirt();
    const existing = (await listOurs(lv0)).find((entry) => entry.record.idempotencyKey === req.idempotencyKey);
    if (existing) {
      // A creator cut off between define and start (libvirtd restarted, the process died) left the domain
      // defined and off: a create's answer is a running server, so the retry starts it.
      const { state } = await lv0.domains.state(existing.dom);
      if (state === DomainState.SHUTOFF && existing.record.fault === undefined) {
        log.info({ server: existing.dom.name }, 'found the server defined but never started: starting it');
        await startOrRecordFault(lv0, existing.dom, existing.record);
      }
      return toServer(lv0, existing.dom, existing.record);
    }
    const flavor = options.flavors.find((f) => f.id === req.flavor || f.name === req.flavor);
    if (!flavor) {
      throw new BadRequestError(
        `flavor: "${req.flavor}" is not one of ${options.flavors.map((f) => f.id).join(', ')}`,
        {
          provider: PROVIDER_NAME,
        },
      );
    }
    const image: ImageConfig | undefined = options.images.find((i) => i.name === req.image);
    if (!image) {
      throw new BadRequestError(
        `image: "${req.image}" is not one of the configured images (${options.images.map((i) => i.name).join(', ') || 'none'})`,
        { provider: PROVIDER_NAME },
      );
    }
    const lv = await libvirt();
    const poolRef = await ensurePool();
    const type = await domainType();
    throwIfAborted(callOptions);
    // The name derives from the idempotency key: a second process racing on the same key collides on it.
    const suffix = createHash('sha256').update(req.idempotencyKey).digest('hex').slice(0, 10);
    const domainName = `${options.namePrefix}${req.name}-${suffix}`.slice(0, 200);
    const [seedVolume, diskVolume, dataVolume] = volumeNamesOf(domainName);
    const made: string[] = [];
    const record: ServerRecord = {
      name: req.name,
      idempotencyKey: req.idempotencyKey,
      flavor: flavor.id,
      image: image.name,
      createdAt: new Date().toISOString(),
      volumes: [],
      metadata: req.metadata,
    };
    const reqLog = log.child({ server: domainName, idempotencyKey: req.idempotencyKey });
    let dom: DomainRef | undefined;
    try {
      const imageVolumes = await ensureImageVolumes(lv, poolRef, options.namePrefix, image);
      // Leftovers of a creator that died half-way (no domain was defined, or we would have found it).
      await deleteVolumes(lv, [seedVolume, diskVolume, dataVolume]);
      const seed = buildNoCloudSeed({ instanceId: randomUUID(), hostname: req.name, userData: req.bootstrap.userData });
      made.push(seedVolume);
      await lv.storage.createVolumeFrom(poolRef, seedVolume, [seed], seed.byteLength);
      if (image.kind === 'disk') {
        const base = await lv.storage.findVolume(poolRef, imageVolumes.baseVolume!);
        if (!base)
          throw new NotFoundError(`image volume ${imageVolumes.baseVolume} vanished`, { provider: PROVIDER_NAME });
        made.push(diskVolume);
        const size = flavor.diskGb > 0 ? BigInt(flavor.diskGb) * 1024n ** 3n : undefined;
        await lv.storage.createOverlay(poolRef, diskVolume, base, size);
      }
      if (req.volumeSizeGb) {
        made.push(dataVolume);
        await lv.storage.createVolume(poolRef, dataVolume, BigInt(req.volumeSizeGb) * 1024n ** 3n, 'qcow2');
      }
      record.volumes = [...made];
      const consoleLogPath = consoleLogFor(domainName);
      if (local) {
        await mkdir(options.consoleLogDir, { recursive: true });
        await rm(consoleLogPath, { force: true });
      }
      const xml = buildDomainXml({
        name: domainName,
        type,
        vcpus: flavor.vcpus,
        ramMb: flavor.ramMb,
        machine: options.machine,
        record,
        pool: options.pool.name,
        boot:
          image.kind === 'kernel'
            ? {
                kind: 'kernel',
                kernelPath: imageVolumes.kernelPath!,
                initrdPath: imageVolumes.initrdPath!,
                cmdline: image.cmdline,
              }
            : { kind: 'disk', volume: diskVolume },
        seedVolume,
        dataVolume: req.volumeSizeGb ? dataVolume : undefined,
        dataSerial: req.volumeSizeGb ? dataSerialOf(dataVolume) : undefined,
        cdromBus: options.cdromBus,
        consoleLogPath,
      });
      dom = await lv.domains.define(xml);
    } catch (error) {
      reqLog.warn(
        { err: (error as Error).message },
        'create failed before the domain was defined; removing what was made',
      );
      await deleteVolumes(lv, made).catch(() => {});
      // Another creator with the same key may own the name: theirs is the answer.
      const raced = await findByKey(req.idempotencyKey).catch(() => undefined);
      if (raced) return raced;
      throw error;
    }
    reqLog.debug({ server: domainName }, 'domain defined');
    await startOrRecordFault(lv, dom, record);
    reqLog.info({ type, flavor: flavor.id, image: image.name }, 'server started');
    return toServer(lv, dom, record);
  };

  /**
   * Starts a defined domain. If libvirt refuses, the server exists but could not start: it is kept in ERROR
   * with libvirt's own words, like Nova's fault. A lost connection is thrown as is (retryable): the retry
   * finds the domain by its key and starts it then.
   */
  const startOrRecordFault = async (lv: Libvirt, dom: DomainRef, record: ServerRecord): Promise<void> => {
    try {
      await lv.domains.start(dom);
    } catch (error) {
      if (!(error instanceof LibvirtError)) throw error;
      if (error.code === 55 && (await lv.domains.state(dom)).state === DomainState.RUNNING) return; // raced: up
      record.fault = { message: error.message, code: error.code };
      log.warn({ server: dom.name, fault: error.message }, 'server failed to start');
      await lv.connection.call('domain_set_metadata', {
        dom,
        type: VIR_DOMAIN_METADATA_ELEMENT,
        metadata: recordToXml(record, false),
        key: METADATA_PREFIX,
        uri: METADATA_NAMESPACE,
        flags: VIR_DOMAIN_AFFECT_CONFIG,
      });
    }
  };

  const provider: LibvirtProvider = {
    specificationVersion: PROVIDER_SPECIFICATION_VERSION,
    name: PROVIDER_NAME,
    capabilities: {
      reboot: true,
      resize: true,
      configDrive: true,
      userData: false,
      events: true,
      volumes: true,
      imageUpload: false,
    },

    createServer(request, callOptions) {
      return guard(
        'create server',
        async () => {
          throwIfAborted(callOptions);
          const key = (request as { idempotencyKey?: unknown })?.idempotencyKey;
          if (typeof key !== 'string') return create(request, callOptions);
          // One create per key at a time in this process; the domain name guards across processes.
          const running = creating.get(key);
          if (running) return running;
          const started = create(request, callOptions).finally(() => creating.delete(key));
          creating.set(key, started);
          return started;
        },
        callOptions,
      );
    },

    getServer(id, callOptions) {
      return guard(
        `get server ${id}`,
        async () => {
          throwIfAborted(callOptions);
          const lv = await libvirtFor(callOptions);
          const { dom, record } = await lookup(lv, id);
          return toServer(lv, dom, record);
        },
        callOptions,
      );
    },

    findServerByIdempotencyKey(key, callOptions) {
      return guard(
        'find server by idempotency key',
        async () => {
          throwIfAborted(callOptions);
          return findByKey(key, callOptions);
        },
        callOptions,
      );
    },

    listServers(callOptions) {
      return guard(
        'list servers',
        async () => {
          throwIfAborted(callOptions);
          const lv = await libvirtFor(callOptions);
          const servers: Server[] = [];
          for (const { dom, record } of await listOurs(lv)) {
            try {
              servers.push(await toServer(lv, dom, record));
            } catch (error) {
              if (!(error instanceof LibvirtError && error.code === 42)) throw error;
            }
          }
          return servers;
        },
        callOptions,
      );
    },

    deleteServer(id, callOptions) {
      return guard(
        `delete server ${id}`,
        async () => {
          throwIfAborted(callOptions);
          const lv = await libvirt();
          const { dom, record } = await lookup(lv, id);
          const { state } = await lv.domains.state(dom);
          if (state !== DomainState.SHUTOFF) {
            await lv.domains.destroy(dom).catch((error: unknown) => {
              if (!(error instanceof LibvirtError && (error.code === 55 || error.code === 42))) throw error;
            });
          }
          // The domain is the record of what the server owns: it goes last, so a delete cut off at any point
          // finds it again and finishes (undefining first would strand the seed ISO, which holds the guest's
          // private key, and the console log with nothing left to name them).
          const names = new Set([...record.volumes, ...volumeNamesOf(dom.name)]);
          await deleteVolumes(lv, [...names]);
          if (local) await rm(consoleLogFor(dom.name), { force: true });
          await lv.domains.undefine(dom).catch((error: unknown) => {
            if (!(error instanceof LibvirtError && error.code === 42)) throw error;
          });
          log.info({ server: dom.name, volumes: names.size }, 'server deleted');
        },
        callOptions,
      );
    },

    rebootServer(id, callOptions) {
      return guard(
        `reboot server ${id}`,
        async () => {
          throwIfAborted(callOptions);
          const lv = await libvirt();
          const { dom } = await lookup(lv, id);
          const { state } = await lv.domains.state(dom);
          if (state === DomainState.SHUTOFF || state === DomainState.CRASHED) {
            await lv.domains.start(dom);
            return;
          }
          // Soft reboot asks the guest over ACPI; a guest without ACPI handling needs `hard`.
          if (callOptions?.hard) await lv.domains.reset(dom);
          else await lv.domains.reboot(dom, 0);
        },
        callOptions,
      );
    },

    resizeServer(id, flavorName, callOptions) {
      return guard(
        `resize server ${id}`,
        async () => {
          throwIfAborted(callOptions);
          const flavor = options.flavors.find((f) => f.id === flavorName || f.name === flavorName);
          if (!flavor)
            throw new BadRequestError(`flavor: "${flavorName}" is not a known flavor`, { provider: PROVIDER_NAME });
          const lv = await libvirt();
          const { dom, record } = await lookup(lv, id);
          const xml = await lv.domains.xml(dom, { inactive: true });
          record.flavor = flavor.id;
          const resized = resizeDomainXml(xml, flavor.vcpus, flavor.ramMb).replace(
            /<metadata>[\s\S]*<\/metadata>/,
            `<metadata>${recordToXml(record)}</metadata>`,
          );
          await lv.domains.define(resized);
          const { state } = await lv.domains.state(dom);
          // The new size applies on the next start: restart a running server now.
          if (state !== DomainState.SHUTOFF) {
            await lv.domains.destroy(dom);
            await lv.domains.start(dom);
          }
        },
        callOptions,
      );
    },

    async listFlavors() {
      return options.flavors.map((f): Flavor => ({ ...f }));
    },

    async listImages() {
      return options.images.map((image): Image => ({ id: image.name, name: image.name, status: 'active' }));
    },

    watchServer(id, watchOptions) {
      return watchServer({
        id,
        signal: watchOptions.signal,
        intervalMs: watchOptions.intervalMs ?? 2000,
        get: () => provider.getServer(id, { signal: watchOptions.signal }),
        libvirt,
      });
    },

    watchServers(watchOptions) {
      return watchServers({
        signal: watchOptions.signal,
        libvirt,
        isOurs: (name) => isOurs({ name }),
      });
    },

    consoleLogPath(serverId) {
      return guard(`console log of ${serverId}`, async () => {
        const lv = await libvirt();
        const { dom } = await lookup(lv, serverId);
        return consoleLogFor(dom.name);
      });
    },

    async readConsoleLog(serverId) {
      if (!local)
        throw new BadRequestError('readConsoleLog works with a local libvirt only', { provider: PROVIDER_NAME });
      const path = await provider.consoleLogPath(serverId);
      return readFile(path, 'utf8').catch(() => '');
    },

    domainType: () => guard('resolve domain type', domainType),
    libvirt,

    async close() {
      closing.abort(new Error('the libvirt provider was closed'));
      closing = new AbortController(); // a call after close dials again, as before
      const current = client;
      client = undefined;
      pool = undefined;
      if (current) await (await current.catch(() => undefined))?.close();
    },
  };
  return provider;
}
