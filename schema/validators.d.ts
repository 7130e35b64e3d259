/**
 * Types of `validators.js`, the standalone Ajv validators compiled from the schemas of this
 * folder by `lib/schema_compile.ts`.
 *
 * @module
 */

/** An Ajv error, as `schema.ts` reads it. */
export interface ValidatorError {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** A compiled validator: true when `data` is valid, else false with `errors` set. */
export interface Validator {
  (data: unknown): boolean;
  errors?: ValidatorError[] | null;
}

/** Validates a run record (`run.schema.json`). */
export const run: Validator;
/** Validates a stored `summary.json` (`summary.schema.json`). */
export const summary: Validator;
/** Validates `manifest.json` (`manifest.schema.json`). */
export const manifest: Validator;
/** Validates an SMP export (`smp.schema.json`). */
export const smp: Validator;
