/**
 * A small ISO 9660 writer: one root directory of small files, with a Joliet tree so Linux sees the real
 * (lowercase, dashed) names. Enough for a cloud-init NoCloud seed (`cidata` with meta-data and user-data),
 * built in memory so no genisoimage is needed on the libvirt host or here.
 */

const SECTOR = 2048;
/** 150 sectors (300 KiB) of room at the least, as mkisofs pads. */
const MIN_SECTORS = 150;

export interface IsoFile {
  /** The name as the guest should see it (Joliet): up to 64 characters, no slash. */
  name: string;
  data: Uint8Array;
}

export interface IsoOptions {
  /** The volume label (`cidata` for NoCloud): up to 16 characters. */
  volumeId: string;
  files: IsoFile[];
  /** Fixed timestamps make the output reproducible (tests). */
  date?: Date;
}

const both16 = (view: DataView, at: number, value: number) => {
  view.setUint16(at, value, true);
  view.setUint16(at + 2, value, false);
};
const both32 = (view: DataView, at: number, value: number) => {
  view.setUint32(at, value, true);
  view.setUint32(at + 4, value, false);
};

function ascii(bytes: Uint8Array, at: number, text: string, length: number): void {
  for (let i = 0; i < length; i++) bytes[at + i] = i < text.length ? text.charCodeAt(i) : 0x20;
}

function ucs2(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    out[i * 2] = text.charCodeAt(i) >> 8;
    out[i * 2 + 1] = text.charCodeAt(i) & 0xff;
  }
  return out;
}

function ucs2Padded(bytes: Uint8Array, at: number, text: string, length: number): void {
  for (let i = 0; i < length / 2; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 0x20;
    bytes[at + i * 2] = code >> 8;
    bytes[at + i * 2 + 1] = code & 0xff;
  }
}

/** ISO 9660 level 1 name for the primary tree: upper case d-characters, 8.3, version ;1. */
function primaryName(name: string, taken: Set<string>): string {
  const clean = name.toUpperCase().replace(/[^A-Z0-9_.]/g, '_');
  const dot = clean.lastIndexOf('.');
  const stem = (dot >= 0 ? clean.slice(0, dot) : clean).replace(/\./g, '_').slice(0, 8) || 'FILE';
  const ext = dot >= 0 ? clean.slice(dot + 1).slice(0, 3) : '';
  let candidate = `${stem}.${ext};1`;
  for (let n = 1; taken.has(candidate); n++) candidate = `${stem.slice(0, 6)}~${n}.${ext};1`;
  taken.add(candidate);
  return candidate;
}

function recordDate(bytes: Uint8Array, at: number, date: Date): void {
  bytes[at] = date.getUTCFullYear() - 1900;
  bytes[at + 1] = date.getUTCMonth() + 1;
  bytes[at + 2] = date.getUTCDate();
  bytes[at + 3] = date.getUTCHours();
  bytes[at + 4] = date.getUTCMinutes();
  bytes[at + 5] = date.getUTCSeconds();
  bytes[at + 6] = 0;
}

function volumeDate(bytes: Uint8Array, at: number, date: Date | undefined): void {
  const pad = (value: number, width: number) => String(value).padStart(width, '0');
  const text = date
    ? `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1, 2)}${pad(date.getUTCDate(), 2)}` +
      `${pad(date.getUTCHours(), 2)}${pad(date.getUTCMinutes(), 2)}${pad(date.getUTCSeconds(), 2)}00`
    : '0000000000000000';
  ascii(bytes, at, text, 16);
  bytes[at + 16] = 0;
}

/** One directory record; returns its length. */
function directoryRecord(
  out: Uint8Array,
  at: number,
  entry: { name: Uint8Array; extent: number; size: number; directory: boolean; date: Date },
): number {
  const length = 33 + entry.name.byteLength + (entry.name.byteLength % 2 === 0 ? 1 : 0);
  const view = new DataView(out.buffer, out.byteOffset);
  out[at] = length;
  out[at + 1] = 0;
  both32(view, at + 2, entry.extent);
  both32(view, at + 10, entry.size);
  recordDate(out, at + 18, entry.date);
  out[at + 25] = entry.directory ? 2 : 0;
  out[at + 26] = 0;
  out[at + 27] = 0;
  both16(view, at + 28, 1);
  out[at + 32] = entry.name.byteLength;
  out.set(entry.name, at + 33);
  return length;
}

function recordLength(nameLength: number): number {
  return 33 + nameLength + (nameLength % 2 === 0 ? 1 : 0);
}

/** Builds the image. Throws a TypeError naming the problem for names or labels it cannot represent. */
export function buildIso(options: IsoOptions): Uint8Array {
  const date = options.date ?? new Date();
  if (options.volumeId.length === 0 || options.volumeId.length > 16 || /[^\x20-\x7e]/.test(options.volumeId)) {
    throw new TypeError('volumeId: must be 1-16 printable ASCII characters');
  }
  const seen = new Set<string>();
  for (const file of options.files) {
    if (file.name.length === 0 || file.name.length > 64 || file.name.includes('/')) {
      throw new TypeError(`files: "${file.name}" must be 1-64 characters without "/"`);
    }
    if (seen.has(file.name)) throw new TypeError(`files: "${file.name}" appears twice`);
    seen.add(file.name);
  }
  const taken = new Set<string>();
  const files = [...options.files]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((file) => ({
      ...file,
      primary: new TextEncoder().encode(primaryName(file.name, taken)),
      joliet: ucs2(file.name),
    }));

  // Layout: 16 system sectors, PVD, Joliet SVD, terminator, 4 path tables, 2 root directories, file data.
  const pathTablePrimaryL = 19;
  const pathTablePrimaryM = 20;
  const pathTableJolietL = 21;
  const pathTableJolietM = 22;
  const rootPrimary = 23;
  const rootJoliet = 24;
  const dirSize = (kind: 'primary' | 'joliet') =>
    34 * 2 + files.reduce((sum, f) => sum + recordLength((kind === 'primary' ? f.primary : f.joliet).byteLength), 0);
  if (dirSize('primary') > SECTOR || dirSize('joliet') > SECTOR)
    throw new TypeError('files: too many for one directory sector');
  let next = 25;
  const extents = files.map((file) => {
    const extent = next;
    next += Math.max(1, Math.ceil(file.data.byteLength / SECTOR));
    return extent;
  });
  // Padded like mkisofs's -pad: probes such as busybox's findfs/blkid read 68 KiB from the start and treat a
  // shorter device as unreadable, so a tiny seed ISO would go unseen by the guest.
  const totalSectors = Math.max(next, MIN_SECTORS);
  const image = new Uint8Array(totalSectors * SECTOR);
  const view = new DataView(image.buffer);

  const descriptor = (sector: number, joliet: boolean) => {
    const at = sector * SECTOR;
    image[at] = joliet ? 2 : 1;
    ascii(image, at + 1, 'CD001', 5);
    image[at + 6] = 1;
    if (joliet) {
      ucs2Padded(image, at + 8, '', 32);
      ucs2Padded(image, at + 40, options.volumeId, 32);
      // UCS-2 level 3 escape sequence: marks this supplementary descriptor as Joliet.
      image.set([0x25, 0x2f, 0x45], at + 88);
    } else {
      ascii(image, at + 8, '', 32);
      ascii(image, at + 40, options.volumeId, 32);
    }
    both32(view, at + 80, totalSectors);
    both16(view, at + 120, 1);
    both16(view, at + 124, 1);
    both16(view, at + 128, SECTOR);
    both32(view, at + 132, 10);
    view.setUint32(at + 140, joliet ? pathTableJolietL : pathTablePrimaryL, true);
    view.setUint32(at + 148, joliet ? pathTableJolietM : pathTablePrimaryM, false);
    directoryRecord(image, at + 156, {
      name: new Uint8Array([0]),
      extent: joliet ? rootJoliet : rootPrimary,
      size: SECTOR,
      directory: true,
      date,
    });
    const fill = joliet
      ? (o: number, l: number) => ucs2Padded(image, at + o, '', l)
      : (o: number, l: number) => ascii(image, at + o, '', l);
    fill(190, 128);
    fill(318, 128);
    fill(446, 128);
    if (joliet) ucs2Padded(image, at + 574, 'CORRAL', 128);
    else ascii(image, at + 574, 'CORRAL', 128);
    fill(702, 36);
    fill(739, 36);
    fill(776, 36);
    volumeDate(image, at + 813, date);
    volumeDate(image, at + 830, date);
    volumeDate(image, at + 847, undefined);
    volumeDate(image, at + 864, undefined);
    image[at + 881] = 1;
  };
  descriptor(16, false);
  descriptor(17, true);
  image[18 * SECTOR] = 255;
  ascii(image, 18 * SECTOR + 1, 'CD001', 5);
  image[18 * SECTOR + 6] = 1;

  const pathTable = (sector: number, root: number, littleEndian: boolean) => {
    const at = sector * SECTOR;
    image[at] = 1;
    image[at + 1] = 0;
    view.setUint32(at + 2, root, littleEndian);
    view.setUint16(at + 6, 1, littleEndian);
    image[at + 8] = 0;
  };
  pathTable(pathTablePrimaryL, rootPrimary, true);
  pathTable(pathTablePrimaryM, rootPrimary, false);
  pathTable(pathTableJolietL, rootJoliet, true);
  pathTable(pathTableJolietM, rootJoliet, false);

  const directory = (sector: number, kind: 'primary' | 'joliet') => {
    let at = sector * SECTOR;
    for (const self of [0, 1]) {
      at += directoryRecord(image, at, {
        name: new Uint8Array([self]),
        extent: sector,
        size: SECTOR,
        directory: true,
        date,
      });
    }
    files.forEach((file, index) => {
      at += directoryRecord(image, at, {
        name: kind === 'primary' ? file.primary : file.joliet,
        extent: extents[index]!,
        size: file.data.byteLength,
        directory: false,
        date,
      });
    });
  };
  directory(rootPrimary, 'primary');
  directory(rootJoliet, 'joliet');
  files.forEach((file, index) => {
    image.set(file.data, extents[index]! * SECTOR);
  });
  return image;
}
