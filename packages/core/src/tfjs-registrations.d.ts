// Types of tfjs-registrations.js (generated; registers gradients and chained ops, exports nothing).
export {};
