// envp for exec: the environment with updates, written to our memory once per distinct environment
// and kept (children share our memory, so one copy serves them all).
import type { Environment } from "../environ.js";
import type { WrittenPointer } from "../handle/pointer.js";
import type { RAM } from "../memory/ram.js";
import { ArgList } from "../unistd/exec.js";

/**
 * envp for an exec: the environment with `updates`, written once per distinct environment and kept
 * (children share our memory, so one copy serves them all; environments rarely vary).
 */
const cachedEnvironment = new Map<string, WrittenPointer<ArgList>>();
const MAX_CACHED_ENVIRONMENTS = 16;

function envKey(environ: Environment, updates: Readonly<Record<string, string>>): string {
  return JSON.stringify([environ.toEnvp(), Object.entries(updates)]);
}

/**
 * The common case, an environment as it is: cached by the identity of its variables (an Environment
 * never changes, and a child's shares its parent's), so that no exec serializes them again.
 */
const plainEnvironment = new WeakMap<object, WrittenPointer<ArgList>>();

/** An envp, and what to call once the exec is done with it (frees it unless it is cached). */
export interface Envp {
  envp: WrittenPointer<ArgList>;
  release: () => void;
}

const keep = () => {};

/**
 * The envp of `environ` with `updates`, in memory from `ram`: the Node process's, so that the
 * cached copy does not keep a child's task alive (children share that memory). Without `cache`,
 * for a child in an address space of its own, in that memory, freed after the exec.
 */
export async function environmentArgList(
  environ: Environment,
  updates: Readonly<Record<string, string>>,
  ram: RAM,
  cache = true,
): Promise<Envp> {
  if (!cache) {
    // Another address space: written for this one exec.
    const list = new ArgList(Object.entries({ ...environ.toObject(), ...updates }).map(([k, v]) => `${k}=${v}`));
    const ptr = await ram.ptr(list.getSelfSerializer(ram.task), list);
    return { envp: ptr, release: () => ptr.free() };
  }
  const plain = Object.keys(updates).length === 0;
  const byIdentity = plain ? plainEnvironment.get(environ.variablesKey) : undefined;
  if (byIdentity) return { envp: byIdentity, release: keep };
  const key = envKey(environ, updates);
  const cached = cachedEnvironment.get(key);
  if (cached) {
    if (plain) plainEnvironment.set(environ.variablesKey, cached);
    return { envp: cached, release: keep };
  }
  const env = { ...environ.toObject(), ...updates };
  const list = new ArgList(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const ptr = await ram.ptr(list.getSelfSerializer(ram.task), list);
  if (cachedEnvironment.size >= MAX_CACHED_ENVIRONMENTS) return { envp: ptr, release: () => ptr.free() };
  cachedEnvironment.set(key, ptr);
  if (plain) plainEnvironment.set(environ.variablesKey, ptr);
  return { envp: ptr, release: keep };
}
