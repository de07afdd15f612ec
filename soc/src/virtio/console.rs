//! virtio-console (VIRTIO 1.2 section 5.3) with a single port (no
//! VIRTIO_CONSOLE_F_MULTIPORT): queue 0 is receiveq (host → guest), queue
//! 1 is transmitq (guest → host).
//!
//! The host side is a [`CharBackend`] (a `--serial`-style backend: stdio,
//! a file, a pty, a socket), or a plain writer for output only. Guest
//! output goes to it as soon as the driver notifies the transmit queue.
//! Host input, read from the backend at each poll or pushed through a
//! [`ConsoleInput`], is queued (at most [`INPUT_CAPACITY`] bytes; what does
//! not fit stays with the backend or the pusher) and copied into the
//! receive buffers the driver has posted, when the driver notifies the
//! receive queue or at the next poll.
//!
//! VIRTIO_CONSOLE_F_EMERG_WRITE is offered: a write to `emerg_wr`
//! (configuration offset 8) outputs its low byte. `cols`/`rows` are 0
//! (F_SIZE is not offered).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::queue::{Queue, QueueError};
use super::{device_id, VirtioDevice};
use crate::chardev::{self, CharBackend};
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// VIRTIO_CONSOLE_F_EMERG_WRITE.
pub const F_EMERG_WRITE: u64 = 1 << 2;
/// Queue size of both queues.
pub const QUEUE_SIZE: u16 = 128;
/// Most input bytes queued for the guest.
pub const INPUT_CAPACITY: usize = 64 * 1024;
/// receiveq index.
pub const RECEIVEQ: usize = 0;
/// transmitq index.
pub const TRANSMITQ: usize = 1;

/// The host-input side of a console: cheap to clone, so an input thread
/// can push while the device sits on the bus.
///
/// It also says whether input may still arrive
/// ([`ConsoleInput::set_connected`]): while connected, the console reports
/// [`crate::device::Device::can_produce_input`], so a machine whose cores
/// all wait for an interrupt keeps waiting for the user.
#[derive(Clone, Debug, Default)]
pub struct ConsoleInput(Arc<Mutex<VecDeque<u8>>>, Arc<AtomicBool>);

impl ConsoleInput {
    /// Declares whether a host input source is attached (true while stdin
    /// or a socket is open; false at end of input). Starts false.
    pub fn set_connected(&self, connected: bool) {
        self.1.store(connected, Ordering::Relaxed);
    }

    /// Whether a host input source is attached.
    pub fn is_connected(&self) -> bool {
        self.1.load(Ordering::Relaxed)
    }

    /// Queues host input for the guest. Accepts as many bytes as fit in
    /// [`INPUT_CAPACITY`] and returns how many; the caller keeps the rest.
    pub fn push(&self, bytes: &[u8]) -> usize {
        let mut q = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = bytes.len().min(INPUT_CAPACITY.saturating_sub(q.len()));
        q.extend(&bytes[..n]);
        n
    }

    /// Bytes waiting for the guest.
    pub fn pending(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A single-port console.
pub struct VirtioConsole {
    backend: Box<dyn CharBackend>,
    input: ConsoleInput,
}

impl VirtioConsole {
    /// A console writing guest output to `out`; input only through
    /// [`VirtioConsole::input`].
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self::with_backend(Box::new(chardev::Writer::new(out)))
    }

    /// A console connected to a host character backend: guest output is
    /// written to it, and its input is read at each poll (besides what
    /// [`VirtioConsole::input`] pushes).
    pub fn with_backend(backend: Box<dyn CharBackend>) -> Self {
        VirtioConsole {
            backend,
            input: ConsoleInput::default(),
        }
    }

    /// A handle on the input queue.
    pub fn input(&self) -> ConsoleInput {
        self.input.clone()
    }

    /// Queues host input (see [`ConsoleInput::push`]).
    pub fn push_input(&self, bytes: &[u8]) -> usize {
        self.input.push(bytes)
    }

    /// Output errors are the backend's to report (once).
    fn emit(&mut self, bytes: &[u8]) {
        self.backend.write(bytes);
    }

    /// Moves what the backend has received into the input queue, as far
    /// as it has room (the rest waits in the backend).
    fn pull_backend_input(&mut self) {
        let input = self.input.clone();
        let mut queued = input.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut buf = [0u8; 256];
        while queued.len() < INPUT_CAPACITY {
            let want = buf.len().min(INPUT_CAPACITY - queued.len());
            let n = self.backend.read_available(&mut buf[..want]);
            if n == 0 {
                break;
            }
            queued.extend(&buf[..n]);
        }
    }

    fn transmit(&mut self, q: &mut Queue, mem: &mut GuestRam) -> Result<(), QueueError> {
        while let Some(chain) = q.pop(mem)? {
            for (addr, len) in chain.segments(false, 0, chain.readable_len()) {
                let bytes = mem
                    .slice(addr, len as usize)
                    .map_err(|_| QueueError::Malformed {
                        head: chain.head(),
                        reason: format!("buffer at {addr:#x} vanished"),
                    })?
                    .to_vec();
                self.emit(&bytes);
            }
            q.add_used(mem, chain.head(), 0)?;
        }
        Ok(())
    }

    fn receive(&mut self, q: &mut Queue, mem: &mut GuestRam) -> Result<(), QueueError> {
        let input = self.input.clone();
        let mut pending = input.0.lock().unwrap_or_else(PoisonError::into_inner);
        while !pending.is_empty() {
            let Some(chain) = q.pop(mem)? else {
                break;
            };
            let n = pending.len().min(chain.writable_len() as usize);
            let bytes: Vec<u8> = pending.drain(..n).collect();
            let written = chain.write(mem, 0, &bytes)?;
            q.add_used(mem, chain.head(), written as u32)?;
        }
        Ok(())
    }
}

impl VirtioDevice for VirtioConsole {
    fn device_id(&self) -> u32 {
        device_id::CONSOLE
    }

    fn device_features(&self) -> u64 {
        F_EMERG_WRITE
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE, QUEUE_SIZE]
    }

    fn config_space(&self) -> Vec<u8> {
        // cols, rows (u16), max_nr_ports (u32), emerg_wr (u32).
        vec![0u8; 12]
    }

    fn write_config(&mut self, offset: usize, data: &[u8]) {
        if offset == 8 && !data.is_empty() {
            self.emit(&data[..1]);
        }
    }

    fn notify(&mut self, index: usize, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        match index {
            TRANSMITQ => self.transmit(&mut queues[TRANSMITQ], mem),
            RECEIVEQ => self.receive(&mut queues[RECEIVEQ], mem),
            _ => Ok(()),
        }
    }

    fn can_produce_input(&self) -> bool {
        self.input.is_connected() || self.backend.can_produce_input()
    }

    /// Host input queued for the guest but not yet delivered.
    fn save_state(&self, _name: &str, w: &mut StateWriter) -> Result<(), StateError> {
        let pending = self.input.0.lock().unwrap_or_else(PoisonError::into_inner);
        w.bytes(&pending.iter().copied().collect::<Vec<u8>>());
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let bytes = r.bytes("input")?;
        if bytes.len() > INPUT_CAPACITY {
            return Err(r.invalid("input", format!("{} bytes", bytes.len())));
        }
        let mut pending = self.input.0.lock().unwrap_or_else(PoisonError::into_inner);
        *pending = bytes.into();
        Ok(())
    }

    fn poll(&mut self, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        self.pull_backend_input();
        if self.input.pending() > 0 && queues[RECEIVEQ].ready {
            self.receive(&mut queues[RECEIVEQ], mem)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for VirtioConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioConsole")
            .field("backend", &self.backend.describe())
            .field("input_pending", &self.input.pending())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::virtio::testing::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn console(version: u32) -> (Driver<VirtioConsole>, Sink, ConsoleInput) {
        let sink = Sink::default();
        let c = VirtioConsole::new(Box::new(sink.clone()));
        let input = c.input();
        let mut d = Driver::new(c, version);
        d.init(0, 16);
        (d, sink, input)
    }

    fn poll(d: &mut Driver<VirtioConsole>) {
        let mut mem = std::mem::take(&mut d.mem);
        d.dev.poll(&mut mem);
        d.mem = mem;
    }

    #[test]
    fn transmit() {
        for v in [1, 2] {
            let (mut d, sink, _) = console(v);
            assert_eq!(d.read(crate::virtio::transport::reg::DEVICE_ID), 3);
            d.mem.write_bytes(DATA, b"hello, ").unwrap();
            d.mem.write_bytes(DATA + 0x100, b"world\n").unwrap();
            d.add_chain(TRANSMITQ, &[(DATA, 7, false), (DATA + 0x100, 6, false)]);
            d.notify(TRANSMITQ as u32);
            assert_eq!(d.take_used(TRANSMITQ), [(0, 0)]);
            assert_eq!(&*sink.0.lock().unwrap(), b"hello, world\n");
            assert!(d.irq());
        }
    }

    #[test]
    fn receive_waits_for_buffers_and_splits_input() {
        let (mut d, _, input) = console(2);
        assert_eq!(input.push(b"abcdef"), 6);
        poll(&mut d);
        assert!(d.take_used(RECEIVEQ).is_empty(), "no buffers yet");
        let before = d.snapshot();
        d.add_chain(RECEIVEQ, &[(DATA, 4, true)]);
        d.add_chain(RECEIVEQ, &[(DATA + 0x100, 4, true)]);
        d.add_chain(RECEIVEQ, &[(DATA + 0x200, 4, true)]);
        // Posting buffers (the notification) delivers pending input.
        d.notify(RECEIVEQ as u32);
        assert_eq!(d.take_used(RECEIVEQ), [(0, 4), (1, 2)]);
        assert_eq!(d.bytes(DATA, 4), b"abcd");
        assert_eq!(d.bytes(DATA + 0x100, 2), b"ef");
        assert_eq!(input.pending(), 0);
        let q = d.queues[RECEIVEQ];
        assert_only_changed(
            &before,
            &d.snapshot(),
            &[
                (DATA, 4),
                (DATA + 0x100, 2),
                (q.desc, 16 * 16),
                (q.avail, 38),
                (q.used, 134),
            ],
        );
        assert_eq!(d.ack(), crate::virtio::interrupt::USED_BUFFER);
        // Later input goes to the remaining buffer at the next poll.
        input.push(b"z");
        poll(&mut d);
        assert_eq!(d.take_used(RECEIVEQ), [(2, 1)]);
        assert_eq!(d.bytes(DATA + 0x200, 1), b"z");
        assert!(d.irq());
    }

    #[test]
    fn can_produce_input_follows_the_input_source() {
        let (d, _, input) = console(2);
        assert!(!d.dev.can_produce_input());
        input.set_connected(true);
        assert!(d.dev.can_produce_input());
        input.set_connected(false);
        assert!(!d.dev.can_produce_input());
    }

    /// A backend whose input is a script and whose output is recorded.
    struct Scripted {
        input: Arc<Mutex<VecDeque<u8>>>,
        output: Sink,
    }

    impl CharBackend for Scripted {
        fn write(&mut self, bytes: &[u8]) {
            self.output.0.lock().unwrap().extend_from_slice(bytes);
        }
        fn read_available(&mut self, buf: &mut [u8]) -> usize {
            let mut q = self.input.lock().unwrap();
            let n = buf.len().min(q.len());
            for (d, s) in buf.iter_mut().zip(q.drain(..n)) {
                *d = s;
            }
            n
        }
        fn can_produce_input(&self) -> bool {
            true
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    #[test]
    fn a_char_backend_is_both_sides_of_the_port() {
        let host_in: Arc<Mutex<VecDeque<u8>>> = Arc::default();
        let sink = Sink::default();
        let c = VirtioConsole::with_backend(Box::new(Scripted {
            input: host_in.clone(),
            output: sink.clone(),
        }));
        assert!(c.can_produce_input(), "the backend may still send input");
        let mut d = Driver::new(c, 2);
        d.init(0, 16);
        d.mem.write_bytes(DATA, b"to the host\n").unwrap();
        d.add_chain(TRANSMITQ, &[(DATA, 12, false)]);
        d.notify(TRANSMITQ as u32);
        assert_eq!(&*sink.0.lock().unwrap(), b"to the host\n");

        // More input than the queue holds: the rest waits in the backend.
        host_in
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(b'k', INPUT_CAPACITY + 5));
        d.add_chain(RECEIVEQ, &[(DATA + 0x100, 8, true)]);
        poll(&mut d);
        assert_eq!(d.take_used(RECEIVEQ), [(0, 8)]);
        assert_eq!(d.bytes(DATA + 0x100, 8), b"kkkkkkkk");
        assert_eq!(d.dev.device().input.pending(), INPUT_CAPACITY - 8);
        assert_eq!(host_in.lock().unwrap().len(), 5);
        poll(&mut d);
        assert_eq!(
            d.dev.device().input.pending(),
            INPUT_CAPACITY - 3,
            "topped up from the backend"
        );
        assert!(host_in.lock().unwrap().is_empty());
    }

    #[test]
    fn input_capacity() {
        let c = VirtioConsole::new(Box::new(std::io::sink()));
        assert_eq!(c.push_input(&vec![0u8; INPUT_CAPACITY + 10]), INPUT_CAPACITY);
        assert_eq!(c.push_input(b"x"), 0);
    }

    #[test]
    fn emergency_write() {
        let (mut d, sink, _) = console(2);
        assert_ne!(d.offered() & F_EMERG_WRITE, 0);
        let info = crate::device::AccessInfo {
            cpu: 0,
            region: 0,
            offset: 0x100 + 8,
            size: 4,
            debug: false,
        };
        d.dev.write(info, u64::from(b'!')).unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"!");
        assert_eq!(d.config(0, 4), 0);
    }

    #[test]
    fn bad_receive_buffer_breaks_the_device() {
        let (mut d, _, input) = console(2);
        input.push(b"q");
        d.add_chain(RECEIVEQ, &[(0x10, 4, true)]);
        let before = d.snapshot();
        poll(&mut d);
        d.assert_broken(&before);
    }
}
