/** The zod namespace the registry validates with: plugins can write their schemas with it. */
export { z } from 'zod';
export { closestMatch, editDistance } from './closest';
export {
  type ComponentRef,
  componentRefSchema,
  type Experiment,
  type ExperimentInput,
  experimentSchema,
  type ResolvedRef,
  validateExperiment,
} from './experiment';
export { describeIssues, formatPath } from './issues';
export { COMPONENT_KINDS, type ComponentKind, isComponentKind } from './kinds';
export {
  type ComponentDefinition,
  type ComponentId,
  type ComponentOf,
  type ComponentTypes,
  createRegistry,
  type RegisteredComponent,
  type Registry,
  register,
  registry,
  resolve,
} from './registry';
