export { type BackendName, useBackend } from './backend';
export { RecallkitError } from './errors';
export { tf } from './tf';
