import { describeStoreContract } from '../testing/store-contract.js';
import { createMemoryStore } from './memory.js';

describeStoreContract('memory', async (clock) => {
  const store = createMemoryStore({ clock });
  return { store, close: () => store.close() };
});
