//! The GDB remote stub (gdbstub crate) for gdb-multiarch. Arrives with the
//! gdb issue; it will drive the machine through the same inspection and
//! control interface as the GUI.
#![deny(missing_docs)]
