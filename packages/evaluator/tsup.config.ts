import { library } from '../../tools/tsup.shared.mjs';

// import.meta.url (createRequire, to find the faiss addon) needs a shim in the CJS build.
export default library({ shims: true });
