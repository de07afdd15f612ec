//! The inspector GUI (eframe/egui). Arrives with the GUI issue; it will be
//! a client of the machine's inspection and control interface.
#![deny(missing_docs)]
