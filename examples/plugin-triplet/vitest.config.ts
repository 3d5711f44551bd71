export { default } from '../../tools/vitest.shared.mjs';
