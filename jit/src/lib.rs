//! The JIT: lowers the shared instruction semantics (`cpu_aarch64::sem`) to
//! host code with dynasmrt. Arrives with the JIT issue; until then every
//! engine choice runs the interpreter in `cpu_aarch64::interp`.
#![deny(missing_docs)]
