import { CorralError } from '../errors/index.js';

export class DatastoreNotFoundError extends CorralError {
  readonly code = 'DATASTORE_NOT_FOUND';
  constructor(
    readonly datastore: string,
    known: readonly string[],
  ) {
    super(`datastore "${datastore}" is not in the catalog (known: ${known.join(', ') || 'none'})`);
  }
}

export class DatastoreVersionNotFoundError extends CorralError {
  readonly code = 'DATASTORE_VERSION_NOT_FOUND';
  constructor(
    readonly datastore: string,
    readonly version: string,
    known: readonly string[],
  ) {
    super(`datastore "${datastore}" has no version "${version}" (known: ${known.join(', ')})`);
  }
}

/** The version exists but new instances may not use it. */
export class DatastoreVersionInactiveError extends CorralError {
  readonly code = 'DATASTORE_VERSION_INACTIVE';
  constructor(
    readonly datastore: string,
    readonly version: string,
  ) {
    super(`datastore "${datastore}" version "${version}" is inactive: new instances cannot use it`);
  }
}

export class NoImageForProviderError extends CorralError {
  readonly code = 'NO_IMAGE_FOR_PROVIDER';
  constructor(
    readonly datastore: string,
    readonly version: string,
    readonly provider: string,
  ) {
    super(`datastore "${datastore}" version "${version}" has no image for provider "${provider}"`);
  }
}
