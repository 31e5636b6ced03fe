import * as z from 'zod';

/**
 * Small value schemas that both the wire contract (guest RPC, conductor messages) and the control plane's
 * records use. They live here, under the contract, so the records depend on the contract and never the
 * other way round.
 */

/** JSON data: what a checkpoint, task arguments, a heartbeat's payload or a result may hold. */
export const JsonObjectSchema = z.record(z.string(), z.json());
export type JsonObject = z.infer<typeof JsonObjectSchema>;

/** A user's configuration overrides: parameter name → value (checked against the catalog's rules). */
export const ConfigurationOverridesSchema = z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()]));
export type ConfigurationOverrides = z.infer<typeof ConfigurationOverridesSchema>;
