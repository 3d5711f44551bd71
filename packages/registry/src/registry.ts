import { RecallkitError } from '@recallkit/core';
import type { z } from 'zod';
import { closestMatch } from './closest';
import { describeIssues } from './issues';
import { COMPONENT_KINDS, type ComponentKind, isComponentKind } from './kinds';

/**
 * What each kind of component resolves to. Empty here (the registry knows no component types);
 * packages that register components augment it, e.g.
 * `declare module '@recallkit/registry' { interface ComponentTypes { loss: EmbeddingLoss } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: augmented by declaration merging
export interface ComponentTypes {}

export type ComponentOf<K extends ComponentKind> = K extends keyof ComponentTypes
  ? ComponentTypes[K]
  : unknown;

/** A component id: `'<kind>:<name>'`, e.g. `'loss:rsk'`. */
export type ComponentId = `${ComponentKind}:${string}`;

export interface ComponentDefinition<
  S extends z.ZodType = z.ZodType,
  T = unknown,
  C = Record<string, unknown>,
> {
  /** Validates (and fills defaults of) the options given in a config. */
  readonly schema: S;
  /** Builds the component from validated options and what the caller supplies (a loss to wrap, labels...). */
  readonly create: (options: z.output<S>, context: C) => T | Promise<T>;
  readonly aliases?: readonly string[];
  readonly description?: string;
}

export interface RegisteredComponent extends ComponentDefinition {
  readonly kind: ComponentKind;
  readonly name: string;
  readonly id: ComponentId;
  readonly aliases: readonly string[];
}

export interface Registry {
  /** Adds a component; a name or alias already taken in that kind is an error (pass `override` to replace). */
  register<K extends ComponentKind, S extends z.ZodType, C = Record<string, unknown>>(
    kind: K,
    name: string,
    definition: ComponentDefinition<S, ComponentOf<K>, C>,
    options?: { override?: boolean },
  ): RegisteredComponent;
  has(id: string): boolean;
  /** The registered component behind an id or alias; throws `UNKNOWN_COMPONENT` naming what exists. */
  get(id: string): RegisteredComponent;
  /** Every component of one kind (or of all kinds), sorted by id. */
  list(kind?: ComponentKind): RegisteredComponent[];
  /** Validates options against the component's schema; throws `INVALID_OPTION` naming each bad field. */
  validate(id: string, options?: unknown): unknown;
  /** Validates the options, then creates the component. */
  resolve<K extends ComponentKind>(
    id: `${K}:${string}`,
    options?: unknown,
    context?: Record<string, unknown>,
  ): Promise<ComponentOf<K>>;
}

function parseId(id: string): { kind: ComponentKind; name: string } {
  const colon = id.indexOf(':');
  const kind = colon < 0 ? id : id.slice(0, colon);
  const name = colon < 0 ? '' : id.slice(colon + 1);
  if (!isComponentKind(kind)) {
    const hint = closestMatch(kind, COMPONENT_KINDS);
    throw new RecallkitError(
      'UNKNOWN_KIND',
      `'${id}' is not a component id: ids look like 'loss:rsk', with a kind among ${COMPONENT_KINDS.join(', ')}` +
        (hint && colon >= 0 ? ` (did you mean '${hint}:${name}'?)` : ''),
      { id },
    );
  }
  if (!name) {
    throw new RecallkitError('INVALID_ID', `'${id}' names no component: write '${kind}:<name>'`, { id });
  }
  return { kind, name };
}

function schemaKeys(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape && typeof shape === 'object' ? Object.keys(shape) : [];
}

export function createRegistry(): Registry {
  // kind -> lower-cased name or alias -> component
  const byKind = new Map<ComponentKind, Map<string, RegisteredComponent>>(
    COMPONENT_KINDS.map((k) => [k, new Map()]),
  );

  function get(id: string): RegisteredComponent {
    const { kind, name } = parseId(id);
    const table = byKind.get(kind)!;
    const found = table.get(name.toLowerCase());
    if (found) return found;
    const names = [...new Set([...table.values()].map((c) => c.name))].sort();
    const hint = closestMatch(name, table.keys());
    const hintName = hint === undefined ? undefined : table.get(hint)!.name;
    throw new RecallkitError(
      'UNKNOWN_COMPONENT',
      `unknown ${kind} '${name}'` +
        (hintName ? ` (did you mean '${hintName}'?)` : '') +
        `; registered: ${names.length ? names.join(', ') : 'none'}`,
      { id, kind, name, available: names, suggestion: hintName },
    );
  }

  function validate(id: string, options: unknown = {}): unknown {
    const component = get(id);
    const parsed = component.schema.safeParse(options ?? {});
    if (parsed.success) return parsed.data;
    const keys = schemaKeys(component.schema);
    const problems = describeIssues(parsed.error.issues).map((line, i) => {
      const issue = parsed.error.issues[i]!;
      if (issue.code !== 'unrecognized_keys' || issue.path.length) return line;
      const hints = issue.keys.map((k) => closestMatch(k, keys)).filter((h): h is string => !!h);
      return hints.length ? `${line} (did you mean ${hints.map((h) => `'${h}'`).join(', ')}?)` : line;
    });
    throw new RecallkitError('INVALID_OPTION', `${component.id}: ${problems.join('; ')}`, {
      id: component.id,
      problems,
    });
  }

  return {
    register(kind, name, definition, { override = false } = {}) {
      if (!isComponentKind(kind)) parseId(`${kind}:${name}`);
      if (!/^[A-Za-z0-9][\w.-]*$/.test(name)) {
        throw new RecallkitError(
          'INVALID_ID',
          `component name '${name}' must be letters, digits, '-', '_' or '.'`,
        );
      }
      const table = byKind.get(kind)!;
      const component: RegisteredComponent = {
        ...(definition as unknown as ComponentDefinition),
        kind,
        name,
        id: `${kind}:${name}`,
        aliases: definition.aliases ?? [],
      };
      const keys = [name, ...component.aliases].map((k) => k.toLowerCase());
      if (!override) {
        for (const key of keys) {
          const taken = table.get(key);
          if (taken) {
            throw new RecallkitError(
              'DUPLICATE_COMPONENT',
              `${kind} '${key}' is already registered (as ${taken.id}); pass { override: true } to replace it`,
            );
          }
        }
      } else {
        for (const [key, existing] of table) if (existing.name === name) table.delete(key);
      }
      for (const key of keys) table.set(key, component);
      return component;
    },
    has(id) {
      try {
        get(id);
        return true;
      } catch {
        return false;
      }
    },
    get,
    list(kind) {
      const kinds = kind ? [kind] : COMPONENT_KINDS;
      const all = kinds.flatMap((k) => [...new Set(byKind.get(k)?.values() ?? [])]);
      return all.sort((a, b) => a.id.localeCompare(b.id));
    },
    validate,
    async resolve(id, options, context = {}) {
      const component = get(id);
      const valid = validate(id, options);
      return (await component.create(valid, context)) as never;
    },
  };
}

/** The process-wide registry that built-in components and plugins register into. */
export const registry: Registry = createRegistry();

/** `registry.register` on the shared registry, for plugins: `register('loss', 'triplet', {...})`. */
export const register: Registry['register'] = (kind, name, definition, options) =>
  registry.register(kind, name, definition, options);

/** `registry.resolve` on the shared registry. */
export const resolve: Registry['resolve'] = (id, options, context) => registry.resolve(id, options, context);
