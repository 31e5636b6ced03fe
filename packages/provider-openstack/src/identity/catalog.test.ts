import { describe, expect, it } from 'vitest';
import { type Catalog, canonicalServiceType, EndpointNotFoundError, selectEndpoint } from './catalog.js';

const catalog: Catalog = [
  {
    type: 'volumev3',
    endpoints: [
      { interface: 'public', region_id: 'RegionOne', url: 'http://one:8776/v3/p' },
      { interface: 'public', region_id: 'RegionTwo', url: 'http://two:8776/v3/p' },
    ],
  },
  {
    type: 'compute',
    endpoints: [
      { interface: 'public', region: 'RegionOne', url: 'http://pub:8774/v2.1/' },
      { interface: 'internal', region: 'RegionOne', url: 'http://int:8774/v2.1' },
    ],
  },
];

describe('selectEndpoint', () => {
  it('finds a service by any alias, interface and region', () => {
    expect(selectEndpoint(catalog, 'block-storage', { region: 'RegionTwo' })).toBe('http://two:8776/v3/p');
    expect(selectEndpoint(catalog, 'volume')).toBe('http://one:8776/v3/p');
    expect(selectEndpoint(catalog, 'compute')).toBe('http://pub:8774/v2.1');
    expect(selectEndpoint(catalog, 'compute', { interface: 'internal' })).toBe('http://int:8774/v2.1');
  });

  it('lets an override win and names what the catalog has when nothing matches', () => {
    expect(selectEndpoint(catalog, 'compute', { overrides: { compute: 'http://proxy:1/v2.1/' } })).toBe(
      'http://proxy:1/v2.1',
    );
    expect(() => selectEndpoint(catalog, 'image')).toThrow(EndpointNotFoundError);
    expect(() => selectEndpoint(catalog, 'compute', { region: 'Nowhere' })).toThrow(/catalog has: volumev3, compute/);
  });

  it('canonicalises aliases', () => {
    expect(canonicalServiceType('volumev3')).toBe('block-storage');
    expect(canonicalServiceType('block_storage')).toBe('block-storage');
    expect(canonicalServiceType('compute')).toBe('compute');
  });
});
