import type { RemoteNonnullStoragePool, RemoteNonnullStorageVol } from '../protocol/remote.generated.js';
import { LibvirtError } from '../rpc/errors.js';
import type { LibvirtCaller } from './connection.js';
import { escapeXml } from './xml.js';

export type PoolRef = RemoteNonnullStoragePool;
export type VolumeRef = RemoteNonnullStorageVol;

const VIR_ERR_NO_STORAGE_POOL = 49;
const VIR_ERR_NO_STORAGE_VOL = 50;

function isCode(error: unknown, code: number): boolean {
  return error instanceof LibvirtError && error.code === code;
}

export interface VolumeInfo {
  name: string;
  key: string;
  path: string;
  capacity: bigint;
  allocation: bigint;
}

/** Storage pools and volumes: a dir pool ensured once, volumes created, uploaded over streams, deleted. */
export class Storage {
  constructor(private readonly connection: LibvirtCaller) {}

  /** Returns the pool, defining, building and starting a `dir` pool at `path` when it is missing or stopped. */
  async ensureDirPool(name: string, path: string): Promise<PoolRef> {
    let pool: PoolRef;
    try {
      pool = (await this.connection.call('storage_pool_lookup_by_name', { name })).pool;
    } catch (error) {
      if (!isCode(error, VIR_ERR_NO_STORAGE_POOL)) throw error;
      const xml = `<pool type='dir'><name>${escapeXml(name)}</name><target><path>${escapeXml(path)}</path></target></pool>`;
      pool = (await this.connection.call('storage_pool_define_xml', { xml, flags: 0 })).pool;
      await this.connection.call('storage_pool_build', { pool, flags: 0 });
      await this.connection.call('storage_pool_set_autostart', { pool, autostart: 1 });
    }
    const { active } = await this.connection.call('storage_pool_is_active', { pool });
    if (active !== 1) {
      try {
        await this.connection.call('storage_pool_create', { pool, flags: 0 });
      } catch (error) {
        // Another process may have started it between our check and the call.
        const again = await this.connection.call('storage_pool_is_active', { pool });
        if (again.active !== 1) throw error;
      }
    }
    return pool;
  }

  async refresh(pool: PoolRef): Promise<void> {
    await this.connection.call('storage_pool_refresh', { pool, flags: 0 });
  }

  async listVolumes(pool: PoolRef): Promise<VolumeRef[]> {
    const { vols } = await this.connection.call('storage_pool_list_all_volumes', { pool, need_results: 1, flags: 0 });
    return vols;
  }

  async findVolume(pool: PoolRef, name: string): Promise<VolumeRef | undefined> {
    try {
      return (await this.connection.call('storage_vol_lookup_by_name', { pool, name })).vol;
    } catch (error) {
      if (isCode(error, VIR_ERR_NO_STORAGE_VOL)) return undefined;
      throw error;
    }
  }

  async info(vol: VolumeRef): Promise<VolumeInfo> {
    const [{ name: path }, info] = await Promise.all([
      this.connection.call('storage_vol_get_path', { vol }),
      this.connection.call('storage_vol_get_info', { vol }),
    ]);
    return { name: vol.name, key: vol.key, path, capacity: info.capacity, allocation: info.allocation };
  }

  async path(vol: VolumeRef): Promise<string> {
    return (await this.connection.call('storage_vol_get_path', { vol })).name;
  }

  /** Creates a volume of `capacity` bytes in `format` (raw, qcow2...). */
  async createVolume(pool: PoolRef, name: string, capacity: bigint | number, format = 'raw'): Promise<VolumeRef> {
    const xml =
      `<volume><name>${escapeXml(name)}</name><capacity unit='bytes'>${capacity}</capacity>` +
      `<target><format type='${escapeXml(format)}'/></target></volume>`;
    return (await this.connection.call('storage_vol_create_xml', { pool, xml, flags: 0 })).vol;
  }

  /** Creates a qcow2 overlay whose backing file is `base` (a qcow2 volume); writes go to the overlay only. */
  async createOverlay(pool: PoolRef, name: string, base: VolumeRef, capacity?: bigint): Promise<VolumeRef> {
    const baseInfo = await this.info(base);
    const size = capacity && capacity > baseInfo.capacity ? capacity : baseInfo.capacity;
    const xml =
      `<volume><name>${escapeXml(name)}</name><capacity unit='bytes'>${size}</capacity>` +
      `<target><format type='qcow2'/></target>` +
      `<backingStore><path>${escapeXml(baseInfo.path)}</path><format type='qcow2'/></backingStore></volume>`;
    return (await this.connection.call('storage_vol_create_xml', { pool, xml, flags: 0 })).vol;
  }

  /** Copies `source` into a new volume (server-side, on the libvirt host). */
  async cloneVolume(pool: PoolRef, name: string, source: VolumeRef, format = 'raw'): Promise<VolumeRef> {
    const info = await this.info(source);
    const xml =
      `<volume><name>${escapeXml(name)}</name><capacity unit='bytes'>${info.capacity}</capacity>` +
      `<target><format type='${escapeXml(format)}'/></target></volume>`;
    return (await this.connection.call('storage_vol_create_xml_from', { pool, xml, clonevol: source, flags: 0 })).vol;
  }

  /** Writes `data` (exactly `length` bytes) into the volume over a libvirt stream; works on remote hosts. */
  async upload(vol: VolumeRef, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, length: number): Promise<void> {
    await this.connection.upload('storage_vol_upload', { vol, offset: 0n, length: BigInt(length), flags: 0 }, data);
  }

  /** Creates a volume holding `bytes` (raw), replacing nothing: fails if the name is taken. */
  async createVolumeFrom(
    pool: PoolRef,
    name: string,
    data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    length: number,
    format = 'raw',
  ): Promise<VolumeRef> {
    const vol = await this.createVolume(pool, name, length, format);
    try {
      await this.upload(vol, data, length);
    } catch (error) {
      await this.deleteVolume(vol).catch(() => {});
      throw error;
    }
    return vol;
  }

  async deleteVolume(vol: VolumeRef): Promise<void> {
    try {
      await this.connection.call('storage_vol_delete', { vol, flags: 0 });
    } catch (error) {
      if (!isCode(error, VIR_ERR_NO_STORAGE_VOL)) throw error;
    }
  }
}
