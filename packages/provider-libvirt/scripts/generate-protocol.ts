/**
 * Generates TypeScript codecs from libvirt's rpcgen (.x) protocol files.
 *
 *   npx tsx packages/provider-libvirt/scripts/generate-protocol.ts /path/to/libvirt-9.0.0
 *
 * The .x files come from Debian's libvirt source package (deb-src, `apt-get source libvirt`); they are not
 * committed, only the generated `src/protocol/*.generated.ts`. The parser understands the subset of the
 * XDR language libvirt uses: const, typedef, enum, struct, union (with void/default arms), optional data,
 * fixed and variable arrays, opaque, string, and rpcgen's char/short (encoded as 4-byte ints).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Values that libvirt's .x files take from C headers (libvirt.h, libvirt-common.h). */
const externalConstants: Record<string, number> = {
  VIR_UUID_BUFLEN: 16,
  VIR_SECURITY_MODEL_BUFLEN: 257,
  VIR_SECURITY_LABEL_BUFLEN: 4097,
  VIR_SECURITY_DOI_BUFLEN: 257,
  VIR_TYPED_PARAM_INT: 1,
  VIR_TYPED_PARAM_UINT: 2,
  VIR_TYPED_PARAM_LLONG: 3,
  VIR_TYPED_PARAM_ULLONG: 4,
  VIR_TYPED_PARAM_DOUBLE: 5,
  VIR_TYPED_PARAM_BOOLEAN: 6,
  VIR_TYPED_PARAM_STRING: 7,
};

type TypeRef = { kind: 'prim'; name: string } | { kind: 'ref'; name: string };
type Shape =
  | { kind: 'plain' }
  | { kind: 'optional' }
  | { kind: 'fixed'; size: string }
  | { kind: 'var'; max: string | null };
interface Decl {
  name: string;
  type: TypeRef;
  shape: Shape;
}
type Definition =
  | { kind: 'const'; name: string; value: string }
  | { kind: 'typedef'; decl: Decl }
  | { kind: 'enum'; name: string; values: Array<[string, string]> }
  | { kind: 'struct'; name: string; fields: Decl[] }
  | {
      kind: 'union';
      name: string;
      discriminant: Decl;
      arms: Array<{ cases: string[]; decl: Decl | null }>;
      defaultArm?: Decl | null;
    };

function tokenize(source: string): string[] {
  const text = source
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('%'))
    .join('\n');
  return text.match(/[A-Za-z_][A-Za-z0-9_]*|0x[0-9a-fA-F]+|-?[0-9]+|[{}[\]<>();:,=*]/g) ?? [];
}

class Parser {
  private at = 0;
  constructor(private readonly tokens: string[]) {}

  private peek(): string | undefined {
    return this.tokens[this.at];
  }
  private next(): string {
    const token = this.tokens[this.at++];
    if (token === undefined) throw new Error('unexpected end of input');
    return token;
  }
  private expect(token: string): void {
    const got = this.next();
    if (got !== token) throw new Error(`expected ${token}, got ${got} near token ${this.at}`);
  }

  parse(): Definition[] {
    const definitions: Definition[] = [];
    while (this.peek() !== undefined) definitions.push(this.definition());
    return definitions;
  }

  private definition(): Definition {
    const keyword = this.next();
    switch (keyword) {
      case 'const': {
        const name = this.next();
        this.expect('=');
        const value = this.next();
        this.expect(';');
        return { kind: 'const', name, value };
      }
      case 'typedef': {
        const decl = this.declaration();
        this.expect(';');
        return { kind: 'typedef', decl };
      }
      case 'enum': {
        const name = this.next();
        const values = this.enumBody();
        this.expect(';');
        return { kind: 'enum', name, values };
      }
      case 'struct': {
        const name = this.next();
        this.expect('{');
        const fields: Decl[] = [];
        while (this.peek() !== '}') {
          fields.push(this.declaration());
          this.expect(';');
        }
        this.expect('}');
        this.expect(';');
        return { kind: 'struct', name, fields };
      }
      case 'union': {
        const name = this.next();
        this.expect('switch');
        this.expect('(');
        const discriminant = this.declaration();
        this.expect(')');
        this.expect('{');
        const arms: Array<{ cases: string[]; decl: Decl | null }> = [];
        let defaultArm: Decl | null | undefined;
        while (this.peek() !== '}') {
          const cases: string[] = [];
          let isDefault = false;
          while (this.peek() === 'case' || this.peek() === 'default') {
            if (this.next() === 'case') cases.push(this.next());
            else isDefault = true;
            this.expect(':');
          }
          let decl: Decl | null = null;
          if (this.peek() === 'void') this.next();
          else decl = this.declaration();
          this.expect(';');
          if (isDefault) defaultArm = decl;
          if (cases.length > 0) arms.push({ cases, decl });
        }
        this.expect('}');
        this.expect(';');
        return { kind: 'union', name, discriminant, arms, defaultArm };
      }
      default:
        throw new Error(`unexpected ${keyword} near token ${this.at}`);
    }
  }

  private enumBody(): Array<[string, string]> {
    this.expect('{');
    const values: Array<[string, string]> = [];
    while (this.peek() !== '}') {
      const name = this.next();
      this.expect('=');
      values.push([name, this.next()]);
      if (this.peek() === ',') this.next();
    }
    this.expect('}');
    return values;
  }

  private typeName(): TypeRef {
    let token = this.next();
    if (token === 'unsigned') {
      const following = this.peek();
      if (following === 'int' || following === 'hyper' || following === 'char' || following === 'short') {
        token = `unsigned ${this.next()}`;
      } else {
        token = 'unsigned int';
      }
    }
    if (token === 'struct' || token === 'enum') token = this.next();
    const prims = ['int', 'unsigned int', 'hyper', 'unsigned hyper', 'bool', 'float', 'double', 'string', 'opaque'];
    const aliases: Record<string, string> = {
      char: 'int',
      short: 'int',
      'unsigned char': 'unsigned int',
      'unsigned short': 'unsigned int',
    };
    if (aliases[token]) return { kind: 'prim', name: aliases[token] };
    if (prims.includes(token)) return { kind: 'prim', name: token };
    return { kind: 'ref', name: token };
  }

  private declaration(): Decl {
    const type = this.typeName();
    if (this.peek() === '*') {
      this.next();
      return { name: this.next(), type, shape: { kind: 'optional' } };
    }
    const name = this.next();
    if (this.peek() === '[') {
      this.next();
      const size = this.next();
      this.expect(']');
      return { name, type, shape: { kind: 'fixed', size } };
    }
    if (this.peek() === '<') {
      this.next();
      const max = this.peek() === '>' ? null : this.next();
      this.expect('>');
      return { name, type, shape: { kind: 'var', max } };
    }
    return { name, type, shape: { kind: 'plain' } };
  }
}

const pascal = (name: string) =>
  name
    .split(/_+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');

class Emitter {
  private readonly consts = new Map<string, number>(Object.entries(externalConstants));
  private readonly emitted = new Set<string>();
  private readonly out: string[] = [];

  constructor(private readonly definitions: Definition[]) {}

  private value(token: string): number {
    if (/^-?[0-9]+$/.test(token) || /^0x/i.test(token)) return Number(token);
    const known = this.consts.get(token);
    if (known === undefined) throw new Error(`unknown constant ${token}`);
    return known;
  }

  private primCodec(name: string): { codec: string; ts: string } {
    switch (name) {
      case 'int':
        return { codec: 'x.int', ts: 'number' };
      case 'unsigned int':
        return { codec: 'x.uint', ts: 'number' };
      case 'hyper':
        return { codec: 'x.hyper', ts: 'bigint' };
      case 'unsigned hyper':
        return { codec: 'x.uhyper', ts: 'bigint' };
      case 'bool':
        return { codec: 'x.bool', ts: 'boolean' };
      case 'float':
        return { codec: 'x.float', ts: 'number' };
      case 'double':
        return { codec: 'x.double', ts: 'number' };
      default:
        throw new Error(`no plain codec for ${name}`);
    }
  }

  private refCodec(name: string): string {
    // Names used before their definition are wrapped so module evaluation order does not matter.
    return this.emitted.has(name) ? name : `x.lazy(() => ${name})`;
  }

  private declCodec(decl: Decl): { codec: string; ts: string } {
    const { type, shape } = decl;
    if (type.kind === 'prim' && type.name === 'string') {
      const max = shape.kind === 'var' && shape.max ? this.value(shape.max) : undefined;
      return { codec: `x.string(${max ?? ''})`, ts: 'string' };
    }
    if (type.kind === 'prim' && type.name === 'opaque') {
      if (shape.kind === 'fixed') return { codec: `x.fixedOpaque(${this.value(shape.size)})`, ts: 'Uint8Array' };
      const max = shape.kind === 'var' && shape.max ? this.value(shape.max) : undefined;
      return { codec: `x.opaque(${max ?? ''})`, ts: 'Uint8Array' };
    }
    const base =
      type.kind === 'prim' ? this.primCodec(type.name) : { codec: this.refCodec(type.name), ts: pascal(type.name) };
    switch (shape.kind) {
      case 'plain':
        return base;
      case 'optional':
        return { codec: `x.optional(${base.codec})`, ts: `${base.ts} | null` };
      case 'fixed':
        return { codec: `x.fixedArray(${base.codec}, ${this.value(shape.size)})`, ts: `Array<${base.ts}>` };
      case 'var':
        return {
          codec: `x.array(${base.codec}${shape.max ? `, ${this.value(shape.max)}` : ''})`,
          ts: `Array<${base.ts}>`,
        };
    }
  }

  emit(header: string): string {
    this.out.push(header);
    for (const definition of this.definitions) {
      switch (definition.kind) {
        case 'const': {
          const value = this.value(definition.value);
          this.consts.set(definition.name, value);
          this.out.push(`export const ${definition.name} = ${value};`);
          break;
        }
        case 'enum': {
          const entries = definition.values.map(([name, value]) => {
            const number = this.value(value);
            this.consts.set(name, number);
            return [name, number] as const;
          });
          this.out.push(
            `export const ${pascal(definition.name)} = {\n${entries.map(([n, v]) => `  ${n}: ${v},`).join('\n')}\n} as const;`,
            `export type ${pascal(definition.name)} = (typeof ${pascal(definition.name)})[keyof typeof ${pascal(definition.name)}];`,
            `export const ${definition.name}: x.Codec<${pascal(definition.name)}> = x.enumeration(Object.values(${pascal(definition.name)}));`,
          );
          this.emitted.add(definition.name);
          break;
        }
        case 'typedef': {
          const { codec, ts } = this.declCodec(definition.decl);
          const name = definition.decl.name;
          this.out.push(
            `export type ${pascal(name)} = ${ts};`,
            `export const ${name}: x.Codec<${pascal(name)}> = ${codec};`,
          );
          this.emitted.add(name);
          break;
        }
        case 'struct': {
          const fields = definition.fields.map((field) => ({ field, ...this.declCodec(field) }));
          const type = pascal(definition.name);
          this.out.push(
            `export interface ${type} {\n${fields.map((f) => `  ${f.field.name}: ${f.ts};`).join('\n')}\n}`,
            `export const ${definition.name}: x.Codec<${type}> = x.struct<${type}>([\n${fields
              .map((f) => `  ['${f.field.name}', ${f.codec}],`)
              .join('\n')}\n]);`,
          );
          this.emitted.add(definition.name);
          break;
        }
        case 'union': {
          const type = pascal(definition.name);
          const tag = definition.discriminant.name;
          const variants: string[] = [];
          const arms: string[] = [];
          for (const arm of definition.arms) {
            const armCodec = arm.decl ? this.declCodec(arm.decl) : null;
            for (const label of arm.cases) {
              const value = this.value(label);
              variants.push(`{ ${tag}: ${value}${arm.decl && armCodec ? `; ${arm.decl.name}: ${armCodec.ts}` : ''} }`);
              arms.push(
                `  [${value}, [${arm.decl ? `'${arm.decl.name}'` : 'null'}, ${armCodec ? armCodec.codec : 'x.none'}]],`,
              );
            }
          }
          let defaultArm = '';
          if (definition.defaultArm !== undefined) {
            const d = definition.defaultArm;
            const dc = d ? this.declCodec(d) : null;
            variants.push(`{ ${tag}: number${d && dc ? `; ${d.name}: ${dc.ts}` : ''} }`);
            defaultArm = `, [${d ? `'${d.name}'` : 'null'}, ${dc ? dc.codec : 'x.none'}]`;
          }
          this.out.push(
            `export type ${type} =\n  | ${variants.join('\n  | ')};`,
            `export const ${definition.name}: x.Codec<${type}> = x.union<${type}>('${tag}', new Map<number, x.UnionArm>([\n${arms.join('\n')}\n])${defaultArm});`,
          );
          this.emitted.add(definition.name);
          break;
        }
      }
    }
    return `${this.out.join('\n\n')}\n`;
  }

  /** The procedure table: each procedure's number and the codecs of its args, ret and event message. */
  procedures(enumName: string, prefix: string, structPrefix: string, tableName: string): string {
    const procEnum = this.definitions.find((d) => d.kind === 'enum' && d.name === enumName);
    if (procEnum?.kind !== 'enum') throw new Error(`no enum ${enumName}`);
    const structs = new Set(this.definitions.filter((d) => d.kind === 'struct').map((d) => d.name));
    const rows = procEnum.values.map(([constant, value]) => {
      const key = constant.slice(prefix.length).toLowerCase();
      const codec = (suffix: string) => {
        const name = `${structPrefix}${key}_${suffix}`;
        return structs.has(name) ? name : 'x.none';
      };
      return `  ${key}: { id: ${this.value(value)}, args: ${codec('args')}, ret: ${codec('ret')}, msg: ${codec('msg')} },`;
    });
    return `\n/** Every procedure: its number and the codecs of its arguments, reply and (for events) message. */\nexport const ${tableName} = {\n${rows.join('\n')}\n} as const;\n`;
  }
}

function generate(source: string, header: string, table?: [string, string, string, string]): string {
  const definitions = new Parser(tokenize(source)).parse();
  const emitter = new Emitter(definitions);
  let code = emitter.emit(header);
  if (table) code += emitter.procedures(...table);
  return code;
}

const root = process.argv[2];
if (!root) {
  console.error('usage: generate-protocol.ts <libvirt source directory>');
  process.exit(2);
}
const outDir = new URL('../src/protocol/', import.meta.url);
const header = (file: string) =>
  `// Generated by packages/provider-libvirt/scripts/generate-protocol.ts from libvirt 9.0 ${file}. Do not edit.\n/* eslint-disable */\nimport * as x from '../xdr/codec.js';`;

writeFileSync(
  new URL('remote.generated.ts', outDir),
  generate(readFileSync(join(root, 'src/remote/remote_protocol.x'), 'utf8'), header('src/remote/remote_protocol.x'), [
    'remote_procedure',
    'REMOTE_PROC_',
    'remote_',
    'remoteProcedures',
  ]),
);
writeFileSync(
  new URL('virnet.generated.ts', outDir),
  generate(readFileSync(join(root, 'src/rpc/virnetprotocol.x'), 'utf8'), header('src/rpc/virnetprotocol.x')),
);
writeFileSync(
  new URL('keepalive.generated.ts', outDir),
  generate(
    readFileSync(join(root, 'src/rpc/virkeepaliveprotocol.x'), 'utf8'),
    header('src/rpc/virkeepaliveprotocol.x'),
  ),
);
console.log('generated remote, virnet and keepalive protocol codecs');
