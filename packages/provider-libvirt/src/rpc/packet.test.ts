import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { remote_connect_get_lib_version_ret, remote_node_get_info_ret } from '../protocol/remote.generated.js';
import { decode } from '../xdr/index.js';
import { decodeRemoteError } from './client.js';
import { LibvirtError, ProtocolError } from './errors.js';
import replies from './fixtures/replies.json' with { type: 'json' };
import { encodePacket, PacketFramer, PacketStatus, PacketType } from './packet.js';

const recorded = (name: string) => new Uint8Array(Buffer.from(replies.find((r) => r.name === name)!.hex, 'hex'));

describe('packets recorded from libvirtd 9.0', () => {
  it('decodes a reply header and body (connect_get_lib_version)', () => {
    const [packet] = new PacketFramer().push(recorded('connect_get_lib_version'));
    expect(packet!.header).toMatchObject({
      program: 0x20008086,
      version: 1,
      procedure: 157,
      type: PacketType.REPLY,
      status: PacketStatus.OK,
    });
    expect(decode(remote_connect_get_lib_version_ret, packet!.body).lib_ver).toBe(9000000n);
  });

  it('decodes node_get_info, fed one byte at a time', () => {
    const framer = new PacketFramer();
    const bytes = recorded('node_get_info');
    const packets = [];
    for (let i = 0; i < bytes.byteLength; i++) packets.push(...framer.push(bytes.subarray(i, i + 1)));
    expect(packets).toHaveLength(1);
    const info = decode(remote_node_get_info_ret, packets[0]!.body);
    expect(info.cpus).toBeGreaterThan(0);
    expect(Buffer.from(info.model.filter((c) => c > 0)).toString()).toBe('x86_64');
  });

  it('decodes a remote_error into LibvirtError {code, domain, message, level}', () => {
    const [packet] = new PacketFramer().push(recorded('domain_lookup_by_name_missing'));
    expect(packet!.header.status).toBe(PacketStatus.ERROR);
    const error = decodeRemoteError(packet!.body, 'domain_lookup_by_name');
    expect(error).toBeInstanceOf(LibvirtError);
    expect(error).toMatchObject({ code: 42, domain: 10, level: 2, procedure: 'domain_lookup_by_name' });
    expect(error.message).toMatch(/corral-fixture-missing/);
  });

  it('splits several packets that arrive in one chunk', () => {
    const both = Buffer.concat([recorded('auth_list'), recorded('connect_open'), recorded('connect_get_lib_version')]);
    expect(new PacketFramer().push(both).map((p) => p.header.serial)).toEqual([1, 2, 3]);
  });

  it('round-trips an encoded packet', () => {
    const header = {
      program: 1,
      version: 2,
      procedure: 3,
      type: PacketType.STREAM,
      serial: 9,
      status: PacketStatus.CONTINUE,
    };
    const [packet] = new PacketFramer().push(encodePacket(header, new Uint8Array([1, 2, 3])));
    expect(packet).toEqual({ header, body: new Uint8Array([1, 2, 3]) });
  });

  it('rejects impossible lengths at once (no unbounded buffering)', () => {
    expect(() => new PacketFramer().push(new Uint8Array([0, 0, 0, 4]))).toThrow(ProtocolError);
    expect(() => new PacketFramer().push(new Uint8Array([0x7f, 0xff, 0xff, 0xff]))).toThrow(/invalid packet length/);
  });

  it('fuzz: arbitrary byte streams give packets or a ProtocolError, never another error', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const framer = new PacketFramer();
        try {
          for (const chunk of chunks) framer.push(chunk);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: mutated recorded replies decode or fail with ProtocolError/LibvirtError', () => {
    const originals = replies.map((r) => Buffer.from(r.hex, 'hex'));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: originals.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (which, flips, cutAt) => {
          const bytes = Buffer.from(originals[which]!);
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          const truncated = bytes.subarray(0, Math.max(4, cutAt % (bytes.length + 1)));
          try {
            for (const packet of new PacketFramer().push(truncated)) {
              if (packet.header.status === PacketStatus.ERROR) {
                const error = decodeRemoteError(packet.body);
                expect(error instanceof LibvirtError || error instanceof ProtocolError).toBe(true);
              }
            }
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
