//! rhythm-bindings: the C API of rhythm (opaque handles, error codes, a cbindgen header).
//! Not built yet: see the C API issue.
