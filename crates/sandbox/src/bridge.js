// Installs what a snippet can see besides the JavaScript language: `tools`, `store`,
// `console` and `ToolError`. Evaluated once per runtime, before the snippet, and given the host
// functions as arguments so that they are never reachable as globals.
//
// Everything here that runs later, after the snippet may have replaced built-ins or poisoned
// prototypes, uses only values captured now (`define`, `apply`, ...) and syntax that does not
// look anything up on a prototype: null-prototype objects and `{ __proto__: null }` descriptors.
(function (hostCall, hostLog, hostStore) {
  "use strict";
  const define = Object.defineProperty;
  const freeze = Object.freeze;
  const create = Object.create;
  const apply = Reflect.apply;
  const NativeError = Error;
  const mapForEach = Map.prototype.forEach;
  const setForEach = Set.prototype.forEach;
  const stringSlice = String.prototype.slice;
  const constant = (value) => ({ __proto__: null, value, writable: false, enumerable: false, configurable: false });
  const field = (value, enumerable) => ({ __proto__: null, value, writable: true, enumerable, configurable: true });

  class ToolError extends NativeError {
    constructor(message, tool, code) {
      super(message);
      define(this, "tool", field(tool, true));
      define(this, "code", field(code, true));
    }
  }
  define(ToolError.prototype, "name", field("ToolError", false));

  // `site` is an Error made where the snippet called the tool, so the stack points there.
  const makeToolError = (message, tool, code, site) => {
    const error = new ToolError(message, tool, code);
    if (site !== undefined) define(error, "stack", field(site.stack, false));
    return error;
  };

  const lockedHandler = (get) => freeze({
    __proto__: null,
    get,
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  });

  // A property that is not a tool: `then` (so `await tools.x` does not call a tool named
  // "then") and symbols (inspection, iteration).
  const notATool = (name) => typeof name !== "string" || name === "then";

  const namespace = (ns) => {
    const fns = create(null);
    return new Proxy(create(null), lockedHandler((_, name) => {
      if (notATool(name)) return undefined;
      let fn = fns[name];
      if (fn === undefined) {
        fn = (args) => hostCall(ns, name, args, new NativeError());
        define(fn, "name", constant(name));
        fns[name] = freeze(fn);
      }
      return fn;
    }));
  };

  const namespaces = create(null);
  const tools = new Proxy(create(null), lockedHandler((_, ns) => {
    if (notATool(ns)) return undefined;
    let found = namespaces[ns];
    if (found === undefined) found = namespaces[ns] = namespace(ns);
    return found;
  }));

  // State the host keeps between executions; each operation is a promise, `site` as for tools.
  // The operation is a number the host reads: 0 set, 1 get, 2 keys, 3 delete.
  const store = freeze({
    __proto__: null,
    set: (key, value) => hostStore(0, key, value, new NativeError()),
    get: (key) => hostStore(1, key, undefined, new NativeError()),
    keys: () => hostStore(2, undefined, undefined, new NativeError()),
    delete: (key) => hostStore(3, key, undefined, new NativeError()),
  });

  const console = {
    log: hostLog.bind(undefined, 0),
    info: hostLog.bind(undefined, 1),
    warn: hostLog.bind(undefined, 2),
    error: hostLog.bind(undefined, 3),
    debug: hostLog.bind(undefined, 4),
  };

  // For the host's conversion of results: the entries of a Map or the values of a Set, as an
  // array; undefined for anything else. forEach iterates internally, so a replaced iterator
  // cannot interfere.
  const entriesOf = (value) => {
    const out = [];
    let i = 0;
    const push = (item) => { define(out, i++, field(item, true)); };
    try {
      apply(mapForEach, value, [(v, k) => push([k, v])]);
      return out;
    } catch (_) {}
    try {
      apply(setForEach, value, [(v) => push(v)]);
      return out;
    } catch (_) {}
    return undefined;
  };

  // For the host, which copies no more of a snippet's string than it needs: a string of at
  // most `max` UTF-16 units as it is, a longer one cut there, anything else undefined.
  const clip = (value, max) => {
    if (typeof value !== "string") return undefined;
    return value.length <= max ? value : apply(stringSlice, value, [0, max]);
  };

  define(globalThis, "tools", constant(tools));
  define(globalThis, "store", constant(store));
  define(globalThis, "ToolError", constant(ToolError));
  define(globalThis, "console", field(console, false));
  return { __proto__: null, makeToolError, entriesOf, clip };
})
