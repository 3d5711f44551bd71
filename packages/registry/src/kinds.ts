/** The kinds of component an experiment is composed of, in the order a pipeline builds them. */
export const COMPONENT_KINDS = [
  'backend',
  'dataset',
  'sampler',
  'backbone',
  'head',
  'loss',
  'mixup',
  'optimizer',
  'schedule',
  'evaluator',
] as const;

export type ComponentKind = (typeof COMPONENT_KINDS)[number];

export function isComponentKind(value: string): value is ComponentKind {
  return (COMPONENT_KINDS as readonly string[]).includes(value);
}
