//! virtio-net (VIRTIO 1.2 section 5.1) with one queue pair: queue 0 is
//! receiveq1 (host → guest), queue 1 is transmitq1 (guest → host).
//!
//! Offered: VIRTIO_NET_F_MAC (the configuration space holds the MAC) and
//! VIRTIO_NET_F_STATUS (the link is always up). No checksum offload, no
//! GSO, no mergeable receive buffers, no control queue: every frame is a
//! plain Ethernet frame behind an all-zero `virtio_net_hdr`.
//!
//! The header is 12 bytes when VIRTIO_F_VERSION_1 is negotiated (modern;
//! `num_buffers` is always present and set to 1 on receive) and 10 bytes
//! otherwise (legacy without VIRTIO_NET_F_MRG_RXBUF), as section 5.1.6
//! says.
//!
//! * Transmit: each chain's readable bytes are a header and one frame; the
//!   frame goes to the [`NetBackend`]. A chain shorter than the header is
//!   malformed (the device needs a reset); a frame longer than
//!   [`MAX_FRAME`] or with GSO requested (never negotiated) is dropped and
//!   the chain completed.
//! * Receive: frames the backend produced wait in a backlog of at most
//!   [`RX_BACKLOG`] frames (the backend keeps or drops the rest) until the
//!   driver posts receive buffers; each frame fills one chain. A frame that
//!   does not fit the chain's writable bytes is dropped and the chain used
//!   for the next frame. Frames are taken when the driver notifies the
//!   receive queue and at every [`crate::device::Device::poll`].

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use super::queue::{DescChain, Queue, QueueError};
use super::{device_id, features, VirtioDevice};
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// VIRTIO_NET_F_MAC: the device has a MAC address in its configuration.
pub const F_MAC: u64 = 1 << 5;
/// VIRTIO_NET_F_STATUS: the configuration `status` field is valid.
pub const F_STATUS: u64 = 1 << 16;
/// VIRTIO_NET_S_LINK_UP.
pub const S_LINK_UP: u16 = 1;
/// Queue size of both queues.
pub const QUEUE_SIZE: u16 = 256;
/// receiveq1 index.
pub const RECEIVEQ: usize = 0;
/// transmitq1 index.
pub const TRANSMITQ: usize = 1;
/// Header length with VIRTIO_F_VERSION_1 (`num_buffers` included).
pub const HDR_LEN_MODERN: usize = 12;
/// Header length of a legacy device without MRG_RXBUF.
pub const HDR_LEN_LEGACY: usize = 10;
/// The largest frame passed either way (QEMU's limit, with room for a
/// 64 KiB packet and its Ethernet header).
pub const MAX_FRAME: usize = 65_550;
/// Most received frames waiting for guest buffers.
pub const RX_BACKLOG: usize = 256;
/// QEMU's default MAC for the first NIC.
pub const DEFAULT_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// QEMU's numbering: the `index`th NIC without an explicit MAC gets
    /// 52:54:00:12:34:56 + index in the last byte.
    pub fn default_for(index: usize) -> MacAddr {
        let mut m = DEFAULT_MAC.0;
        m[5] = m[5].wrapping_add(index as u8);
        MacAddr(m)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;

    /// Six hex bytes separated by `:`; a multicast address (bit 0 of the
    /// first byte) is refused, since no NIC may own one.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad MAC address {s:?} (expected six hex bytes like 52:54:00:12:34:56)");
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut m = [0u8; 6];
        for (b, p) in m.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if m[0] & 1 != 0 {
            return Err(format!(
                "MAC address {s} is a multicast address; a NIC needs a unicast one"
            ));
        }
        Ok(MacAddr(m))
    }
}

/// Where a NIC's frames go (the `--nic` backend kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicBackendKind {
    /// User-mode networking ([`crate::usernet`]).
    User,
}

/// One `--nic` option: `user[,mac=52:54:00:12:34:56]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicConfig {
    /// The backend.
    pub backend: NicBackendKind,
    /// The MAC address; `None` takes [`MacAddr::default_for`] the NIC's
    /// index.
    pub mac: Option<MacAddr>,
}

impl FromStr for NicConfig {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',');
        let backend = match parts.next().unwrap_or("") {
            "user" => NicBackendKind::User,
            other => {
                return Err(format!(
                    "unknown network backend {other:?} in {s:?} (supported: user[,mac=52:54:00:12:34:56])"
                ))
            }
        };
        let mut mac = None;
        for opt in parts {
            match opt.split_once('=') {
                Some(("mac", v)) if mac.is_none() => mac = Some(v.parse()?),
                Some(("mac", _)) => return Err(format!("mac= given twice in {s:?}")),
                _ => return Err(format!("unknown network option {opt:?} in {s:?} (supported: mac=)")),
            }
        }
        Ok(NicConfig { backend, mac })
    }
}

/// The host side of a NIC: takes the guest's frames and produces frames
/// for it. Frames are whole Ethernet frames without the virtio header.
pub trait NetBackend: Send {
    /// A frame the guest sent. The backend may drop it (a full queue, a
    /// destination it does not serve).
    fn send(&mut self, frame: &[u8]);
    /// The next frame for the guest, if one is waiting.
    fn recv(&mut self) -> Option<Vec<u8>>;
    /// Whether frames may still arrive for the guest while it sleeps (see
    /// [`crate::device::Device::can_produce_input`]). The default is
    /// `false`.
    fn can_produce_input(&self) -> bool {
        false
    }
}

/// A network device.
pub struct VirtioNet {
    mac: MacAddr,
    backend: Box<dyn NetBackend>,
    hdr_len: usize,
    backlog: VecDeque<Vec<u8>>,
    /// A receive chain popped for a frame that did not fit, kept for the
    /// next frame.
    spare_rx: Option<DescChain>,
    tx_frames: u64,
    rx_frames: u64,
    dropped: u64,
}

impl VirtioNet {
    /// A NIC with address `mac` whose frames go to `backend`.
    pub fn new(mac: MacAddr, backend: Box<dyn NetBackend>) -> Self {
        VirtioNet {
            mac,
            backend,
            hdr_len: HDR_LEN_MODERN,
            backlog: VecDeque::new(),
            spare_rx: None,
            tx_frames: 0,
            rx_frames: 0,
            dropped: 0,
        }
    }

    /// The MAC address.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Frames transmitted, received and dropped so far.
    pub fn counters(&self) -> (u64, u64, u64) {
        (self.tx_frames, self.rx_frames, self.dropped)
    }

    /// The header length in effect (12 modern, 10 legacy).
    pub fn header_len(&self) -> usize {
        self.hdr_len
    }

    fn drop_frame(&mut self, why: &str, len: usize) {
        self.dropped += 1;
        tracing::debug!(len, "virtio-net: frame dropped: {why}");
    }

    fn transmit(&mut self, q: &mut Queue, mem: &mut GuestRam) -> Result<(), QueueError> {
        while let Some(chain) = q.pop(mem)? {
            let total = chain.readable_len() as usize;
            if total < self.hdr_len {
                return Err(QueueError::Malformed {
                    head: chain.head(),
                    reason: format!(
                        "transmit chain has {total} readable bytes, less than the {}-byte virtio_net_hdr",
                        self.hdr_len
                    ),
                });
            }
            let len = total - self.hdr_len;
            if len > MAX_FRAME {
                self.drop_frame("longer than the largest frame", len);
            } else {
                let mut buf = vec![0u8; total];
                chain.read(mem, 0, &mut buf)?;
                // gso_type (byte 1) must be VIRTIO_NET_HDR_GSO_NONE: no
                // GSO feature was offered.
                if buf[1] != 0 {
                    self.drop_frame("GSO requested without negotiation", len);
                } else {
                    self.tx_frames += 1;
                    self.backend.send(&buf[self.hdr_len..]);
                }
            }
            q.add_used(mem, chain.head(), 0)?;
        }
        Ok(())
    }

    /// Moves frames from the backend into the backlog, up to its bound.
    fn fill_backlog(&mut self) {
        while self.backlog.len() < RX_BACKLOG {
            match self.backend.recv() {
                Some(f) if f.len() > MAX_FRAME => self.drop_frame("backend frame too long", f.len()),
                Some(f) => self.backlog.push_back(f),
                None => break,
            }
        }
    }

    fn receive(&mut self, q: &mut Queue, mem: &mut GuestRam) -> Result<(), QueueError> {
        self.fill_backlog();
        while !self.backlog.is_empty() {
            let chain = match self.spare_rx.take() {
                Some(c) => c,
                None => match q.pop(mem)? {
                    Some(c) => c,
                    None => break,
                },
            };
            let frame = self.backlog.pop_front().unwrap_or_default();
            let room = chain.writable_len() as usize;
            if room < self.hdr_len + frame.len() {
                self.drop_frame("receive buffer too small", frame.len());
                self.spare_rx = Some(chain);
                continue;
            }
            let mut hdr = [0u8; HDR_LEN_MODERN];
            // num_buffers = 1 (only in the modern header).
            hdr[10] = 1;
            chain.write(mem, 0, &hdr[..self.hdr_len])?;
            chain.write(mem, self.hdr_len as u32, &frame)?;
            q.add_used(mem, chain.head(), (self.hdr_len + frame.len()) as u32)?;
            self.rx_frames += 1;
            if self.backlog.is_empty() {
                self.fill_backlog();
            }
        }
        Ok(())
    }
}

impl VirtioDevice for VirtioNet {
    fn device_id(&self) -> u32 {
        device_id::NET
    }

    fn device_features(&self) -> u64 {
        F_MAC | F_STATUS
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE, QUEUE_SIZE]
    }

    fn config_space(&self) -> Vec<u8> {
        // mac[6], status (u16).
        let mut c = self.mac.0.to_vec();
        c.extend_from_slice(&S_LINK_UP.to_le_bytes());
        c
    }

    fn activate(&mut self, negotiated: u64) {
        self.hdr_len = if negotiated & features::VERSION_1 != 0 {
            HDR_LEN_MODERN
        } else {
            HDR_LEN_LEGACY
        };
    }

    fn reset(&mut self) {
        self.spare_rx = None;
        self.backlog.clear();
    }

    fn notify(&mut self, index: usize, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        match index {
            TRANSMITQ => self.transmit(&mut queues[TRANSMITQ], mem),
            RECEIVEQ => self.receive(&mut queues[RECEIVEQ], mem),
            _ => Ok(()),
        }
    }

    fn can_produce_input(&self) -> bool {
        self.backend.can_produce_input()
    }

    /// The MAC, header length, received frames not yet delivered, a held
    /// receive buffer and the counters. The host side (the user-mode
    /// network stack and its connections) is not saved: a restored NIC
    /// talks to a fresh stack, so the guest's open connections through it
    /// are gone (new ones work; the DHCP lease is the same address).
    fn save_state(&self, _name: &str, w: &mut StateWriter) -> Result<(), StateError> {
        w.raw(&self.mac.0);
        w.u64(self.hdr_len as u64);
        w.u64(self.backlog.len() as u64);
        for f in &self.backlog {
            w.bytes(f);
        }
        w.bool(self.spare_rx.is_some());
        if let Some(c) = &self.spare_rx {
            Queue::save_chain(c, w);
        }
        w.u64(self.tx_frames);
        w.u64(self.rx_frames);
        w.u64(self.dropped);
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let mut mac = [0u8; 6];
        r.raw_into("mac", &mut mac)?;
        let hdr_len = r.u64("hdr_len")?;
        if hdr_len != HDR_LEN_MODERN as u64 && hdr_len != HDR_LEN_LEGACY as u64 {
            return Err(r.invalid("hdr_len", hdr_len));
        }
        let n = r.len("backlog", 8)?;
        if n > RX_BACKLOG {
            return Err(r.invalid("backlog", n));
        }
        let mut backlog = VecDeque::new();
        for _ in 0..n {
            let f = r.bytes("backlog frame")?;
            if f.len() > MAX_FRAME {
                return Err(r.invalid("backlog frame", format!("{} bytes", f.len())));
            }
            backlog.push_back(f);
        }
        let spare_rx = if r.bool("spare_rx")? {
            Some(Queue::restore_chain(r, QUEUE_SIZE)?)
        } else {
            None
        };
        let (tx, rx, dropped) = (r.u64("tx_frames")?, r.u64("rx_frames")?, r.u64("dropped")?);
        self.mac = MacAddr(mac);
        self.hdr_len = hdr_len as usize;
        self.backlog = backlog;
        self.spare_rx = spare_rx;
        (self.tx_frames, self.rx_frames, self.dropped) = (tx, rx, dropped);
        Ok(())
    }

    fn poll(&mut self, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        if queues[RECEIVEQ].ready {
            self.receive(&mut queues[RECEIVEQ], mem)?;
        }
        Ok(())
    }
}

impl fmt::Debug for VirtioNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioNet")
            .field("mac", &self.mac)
            .field("hdr_len", &self.hdr_len)
            .field("backlog", &self.backlog.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::device::Device;
    use crate::virtio::testing::*;
    use crate::virtio::transport::reg;

    /// Records sent frames; hands out queued frames.
    #[derive(Clone, Default)]
    struct Fake {
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
        incoming: Arc<Mutex<VecDeque<Vec<u8>>>>,
    }

    impl NetBackend for Fake {
        fn send(&mut self, frame: &[u8]) {
            self.sent.lock().unwrap().push(frame.to_vec());
        }
        fn recv(&mut self) -> Option<Vec<u8>> {
            self.incoming.lock().unwrap().pop_front()
        }
    }

    fn net(version: u32) -> (Driver<VirtioNet>, Fake) {
        let fake = Fake::default();
        let mut d = Driver::new(VirtioNet::new(DEFAULT_MAC, Box::new(fake.clone())), version);
        d.init(F_MAC | F_STATUS, 16);
        (d, fake)
    }

    fn poll(d: &mut Driver<VirtioNet>) {
        let mut mem = std::mem::take(&mut d.mem);
        d.dev.poll(&mut mem);
        d.mem = mem;
    }

    fn frame(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
    }

    #[test]
    fn identity_features_and_config() {
        let (mut d, _) = net(2);
        assert_eq!(d.read(reg::DEVICE_ID), device_id::NET);
        let offered = d.offered();
        assert_ne!(offered & F_MAC, 0);
        assert_ne!(offered & F_STATUS, 0);
        assert_ne!(offered & features::VERSION_1, 0);
        assert_eq!(d.dev.negotiated_features() & (F_MAC | F_STATUS), F_MAC | F_STATUS);
        let mac: Vec<u8> = (0..6).map(|i| d.config(i, 1) as u8).collect();
        assert_eq!(mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(d.config(6, 2), u64::from(S_LINK_UP));
        assert_eq!(d.dev.queues().len(), 2);
        assert_eq!(d.dev.device().header_len(), HDR_LEN_MODERN);
        // Legacy: no VERSION_1, the 10-byte header.
        let (mut l, _) = net(1);
        assert_eq!(l.offered() & features::VERSION_1, 0);
        assert_eq!(l.dev.device().header_len(), HDR_LEN_LEGACY);
    }

    #[test]
    fn transmit_strips_the_header() {
        for (v, hdr) in [(2, HDR_LEN_MODERN), (1, HDR_LEN_LEGACY)] {
            let (mut d, fake) = net(v);
            let f = frame(60, 3);
            // Header and frame split across descriptors at an odd place.
            let mut bytes = vec![0u8; hdr];
            bytes.extend_from_slice(&f);
            d.mem.write_bytes(DATA, &bytes[..hdr + 5]).unwrap();
            d.mem.write_bytes(DATA + 0x100, &bytes[hdr + 5..]).unwrap();
            let head = d.add_chain(TRANSMITQ, &[(DATA, hdr as u32 + 5, false), (DATA + 0x100, 55, false)]);
            d.notify(TRANSMITQ as u32);
            assert_eq!(d.take_used(TRANSMITQ), [(u32::from(head), 0)]);
            assert_eq!(*fake.sent.lock().unwrap(), [f], "version {v}");
            assert!(d.irq());
            assert_eq!(d.dev.device().counters(), (1, 0, 0));
        }
    }

    #[test]
    fn transmit_drops_gso_and_oversized_frames() {
        let (mut d, fake) = net(2);
        let mut hdr = [0u8; 12];
        hdr[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
        d.mem.write_bytes(DATA, &hdr).unwrap();
        d.add_chain(TRANSMITQ, &[(DATA, 12, false), (DATA + 0x100, 60, false)]);
        d.add_chain(TRANSMITQ, &[(DATA + 0x1000, 12 + MAX_FRAME as u32 + 1, false)]);
        d.notify(TRANSMITQ as u32);
        assert_eq!(d.take_used(TRANSMITQ).len(), 2);
        assert!(fake.sent.lock().unwrap().is_empty());
        assert_eq!(d.dev.device().counters(), (0, 0, 2));
        assert!(!d.dev.needs_reset());
    }

    #[test]
    fn receive_fills_one_chain_per_frame() {
        for (v, hdr) in [(2, HDR_LEN_MODERN), (1, HDR_LEN_LEGACY)] {
            let (mut d, fake) = net(v);
            let (f1, f2) = (frame(100, 1), frame(42, 9));
            fake.incoming.lock().unwrap().extend([f1.clone(), f2.clone()]);
            poll(&mut d);
            assert!(d.take_used(RECEIVEQ).is_empty(), "no buffers yet");
            d.mem.write_bytes(DATA, &[0xaa; 0x300]).unwrap();
            let before = d.snapshot();
            // A chain of two buffers, then a single one.
            let h1 = d.add_chain(RECEIVEQ, &[(DATA, 8, true), (DATA + 0x10, 200, true)]);
            let h2 = d.add_chain(RECEIVEQ, &[(DATA + 0x200, 256, true)]);
            d.notify(RECEIVEQ as u32);
            let used = d.take_used(RECEIVEQ);
            assert_eq!(
                used,
                [
                    (u32::from(h1), (hdr + f1.len()) as u32),
                    (u32::from(h2), (hdr + f2.len()) as u32)
                ]
            );
            // Header: all zero but num_buffers = 1 in the modern layout.
            let mut stream = d.bytes(DATA, 8);
            stream.extend(d.bytes(DATA + 0x10, hdr + f1.len() - 8));
            let mut want_hdr = vec![0u8; hdr];
            if hdr == HDR_LEN_MODERN {
                want_hdr[10] = 1;
            }
            assert_eq!(stream[..hdr], want_hdr[..]);
            assert_eq!(stream[hdr..], f1[..]);
            assert_eq!(d.bytes(DATA + 0x200 + hdr as u64, f2.len()), f2);
            let q = d.queues[RECEIVEQ];
            assert_only_changed(
                &before,
                &d.snapshot(),
                &[
                    (DATA, 8),
                    (DATA + 0x10, (hdr + f1.len() - 8) as u64),
                    (DATA + 0x200, (hdr + f2.len()) as u64),
                    (q.desc, 16 * 16),
                    (q.avail, 38),
                    (q.used, 134),
                ],
            );
            assert!(d.irq());
            assert_eq!(d.dev.device().counters(), (0, 2, 0));
        }
    }

    #[test]
    fn frame_too_big_for_the_buffer_is_dropped_and_the_buffer_reused() {
        let (mut d, fake) = net(2);
        fake.incoming.lock().unwrap().extend([frame(200, 0), frame(50, 5)]);
        let h = d.add_chain(RECEIVEQ, &[(DATA, 100, true)]);
        d.notify(RECEIVEQ as u32);
        assert_eq!(d.take_used(RECEIVEQ), [(u32::from(h), 62)]);
        assert_eq!(d.bytes(DATA + 12, 50), frame(50, 5));
        assert_eq!(d.dev.device().counters(), (0, 1, 1));
    }

    #[test]
    fn backlog_is_bounded() {
        let (mut d, fake) = net(2);
        fake.incoming
            .lock()
            .unwrap()
            .extend((0..RX_BACKLOG + 10).map(|i| frame(60, i as u8)));
        poll(&mut d);
        // The device took what its backlog holds; the backend keeps the rest.
        assert_eq!(fake.incoming.lock().unwrap().len(), 10);
        // After a reset the backlog is gone.
        d.init(0, 16);
        d.add_chain(RECEIVEQ, &[(DATA, 2048, true)]);
        d.notify(RECEIVEQ as u32);
        assert_eq!(d.take_used(RECEIVEQ), [(0, 72)]);
        assert_eq!(
            d.bytes(DATA + 12, 60),
            frame(60, 0),
            "first frame the backend still had"
        );
    }

    #[test]
    fn short_transmit_chain_needs_reset() {
        for (v, hdr) in [(2, HDR_LEN_MODERN), (1, HDR_LEN_LEGACY)] {
            let (mut d, fake) = net(v);
            d.add_chain(TRANSMITQ, &[(DATA, hdr as u32 - 1, false)]);
            let before = d.snapshot();
            d.notify(TRANSMITQ as u32);
            d.assert_broken(&before);
            assert!(fake.sent.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn bad_descriptors_need_reset() {
        // A transmit buffer outside RAM.
        let (mut d, fake) = net(2);
        d.add_chain(TRANSMITQ, &[(0x1000, 64, false)]);
        let before = d.snapshot();
        d.notify(TRANSMITQ as u32);
        d.assert_broken(&before);
        assert!(fake.sent.lock().unwrap().is_empty());
        // A receive chain that loops, found when a frame arrives.
        let (mut d, fake) = net(2);
        d.write_desc(RECEIVEQ, 0, DATA, 2048, 2 | 1, 1);
        d.write_desc(RECEIVEQ, 1, DATA, 2048, 2 | 1, 0);
        d.make_available(RECEIVEQ, 0);
        fake.incoming.lock().unwrap().push_back(frame(60, 0));
        let before = d.snapshot();
        poll(&mut d);
        d.assert_broken(&before);
        // A readable buffer in a receive chain has no room: dropped frame,
        // not a crash (the chain is kept for a later frame).
        let (mut d, fake) = net(2);
        d.add_chain(RECEIVEQ, &[(DATA, 2048, false)]);
        fake.incoming.lock().unwrap().push_back(frame(60, 0));
        poll(&mut d);
        assert!(!d.dev.needs_reset());
        assert_eq!(d.dev.device().counters(), (0, 0, 1));
    }

    #[test]
    fn nic_specs() {
        assert_eq!(
            "user".parse::<NicConfig>(),
            Ok(NicConfig {
                backend: NicBackendKind::User,
                mac: None
            })
        );
        let c: NicConfig = "user,mac=52:54:00:AB:cd:01".parse().unwrap();
        assert_eq!(c.mac, Some(MacAddr([0x52, 0x54, 0, 0xab, 0xcd, 1])));
        assert_eq!(c.mac.unwrap().to_string(), "52:54:00:ab:cd:01");
        for (bad, msg) in [
            ("tap", "unknown network backend \"tap\""),
            ("", "unknown network backend \"\""),
            ("user,mac=52:54:00:12:34", "bad MAC address"),
            ("user,mac=52:54:00:12:34:5g", "bad MAC address"),
            ("user,mac=53:54:00:12:34:56", "multicast"),
            ("user,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57", "twice"),
            (
                "user,hostfwd=tcp::22-:22",
                "unknown network option \"hostfwd=tcp::22-:22\"",
            ),
        ] {
            let e = bad.parse::<NicConfig>().unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
        assert_eq!(MacAddr::default_for(0), DEFAULT_MAC);
        assert_eq!(MacAddr::default_for(2).to_string(), "52:54:00:12:34:58");
    }

    /// Frames the host delivered but the guest had no buffers for, and
    /// the queues' positions, survive a save and restore onto a NIC with a
    /// new backend; the backend's own (host) state is not carried over.
    #[test]
    fn state_survives_a_snapshot_round_trip() {
        use crate::snapshot::{StateReader, StateWriter};
        let (mut a, fake) = net(2);
        let (f1, f2) = (frame(100, 1), frame(42, 9));
        fake.incoming.lock().unwrap().extend([f1.clone(), f2.clone()]);
        poll(&mut a);
        // One frame first, so the rings have moved.
        let h = a.add_chain(RECEIVEQ, &[(DATA, 0x200, true)]);
        a.notify(RECEIVEQ as u32);
        assert_eq!(
            a.take_used(RECEIVEQ),
            [(u32::from(h), (HDR_LEN_MODERN + f1.len()) as u32)]
        );
        let mut w = StateWriter::new();
        a.dev.save_state(&mut w).unwrap();
        let state = w.into_bytes();

        let (mut b, fresh) = net(2);
        b.mem.write_bytes(RAM_BASE, &a.snapshot()).unwrap();
        b.queues = a.queues.clone();
        let mut r = StateReader::new("virtio0", &state);
        b.dev.restore_state(&mut r).unwrap();
        r.finish().unwrap();
        let mut w = StateWriter::new();
        b.dev.save_state(&mut w).unwrap();
        assert_eq!(w.into_bytes(), state);
        let h = b.add_chain(RECEIVEQ, &[(DATA + 0x400, 0x200, true)]);
        b.notify(RECEIVEQ as u32);
        assert_eq!(
            b.take_used(RECEIVEQ),
            [(u32::from(h), (HDR_LEN_MODERN + f2.len()) as u32)]
        );
        assert_eq!(b.bytes(DATA + 0x400 + HDR_LEN_MODERN as u64, f2.len()), f2);
        assert!(fresh.sent.lock().unwrap().is_empty());
    }
}
