//! User-mode networking, the way QEMU's `-netdev user` works: no root, no
//! tap device; the guest's frames go to a user-space TCP/IP stack that
//! terminates them and talks to the host through ordinary sockets.
//!
//! # Why libslirp
//!
//! The stack is libslirp, the library QEMU itself runs for `-netdev
//! user`. It brings the QEMU semantics guests and users already know —
//! DHCP handing out 10.0.2.15, the gateway 10.0.2.2 standing for the
//! host's loopback, ARP, TCP and UDP NAT, ICMP — with no protocol code of
//! ours. The alternative, a NAT gateway on `smoltcp`,
//! would need a hand-written DHCP server, per-connection listening sockets
//! created on the fly for every SYN, and a proxy to host sockets: a TCP/IP
//! middle box of our own to get right. (The end-to-end test uses `smoltcp`
//! as the *guest's* stack, so the two sides are independent
//! implementations.)
//!
//! libslirp is opened at run time (`libslirp.so.0`, Debian package
//! `libslirp0`; see [`slirp`], the only module with `unsafe`), so
//! building Preboard needs no libslirp, glib or `pkg-config`; without the
//! library, [`UserNet::new`] fails with a message naming the package, and
//! nothing else is affected.
//!
//! # Network
//!
//! | address | what |
//! |---|---|
//! | 10.0.2.0/24 | the guest network |
//! | 10.0.2.15 | the address DHCP gives the guest |
//! | 10.0.2.2 | gateway and DHCP server; TCP/UDP/ICMP to it reach the host's 127.0.0.1 |
//!
//! # Policy: host loopback only
//!
//! QEMU's default (`restrict=off`) lets the guest reach anything the host
//! can. Preboard is stricter: a frame from the guest reaches libslirp only
//! if it is ARP, IPv4 to 10.0.2.2, or a DHCP request (UDP to port 67,
//! broadcast); everything else is dropped here ([`guest_frame_allowed`]).
//! So the guest reaches exactly the host's loopback through 10.0.2.2. DNS
//! (10.0.2.3) and IPv6 are off.
//!
//! # Threads
//!
//! libslirp runs on a thread of its own (as in QEMU's main loop), polling
//! its sockets; frames cross in bounded queues: [`GUEST_QUEUE`] frames
//! from the guest, [`HOST_QUEUE`] to it, dropped when full like a busy
//! link would. Dropping the [`UserNet`] stops the thread and closes every
//! connection.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::virtio::NetBackend;

mod slirp;

/// The guest network.
pub const NETWORK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 0);
/// Its netmask.
pub const NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
/// The gateway: the host's loopback as the guest sees it.
pub const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The (disabled) name server address, as QEMU numbers it.
pub const NAMESERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// The first (and usually only) address DHCP hands out.
pub const GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// Link MTU.
pub const MTU: usize = 1500;
/// Most guest frames waiting for the stack.
pub const GUEST_QUEUE: usize = 256;
/// Most frames from the stack waiting for the guest.
pub const HOST_QUEUE: usize = 512;
/// The longest the stack thread sleeps without looking at its queues.
const MAX_POLL_MS: u32 = 1000;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const IPPROTO_UDP: u8 = 17;
const DHCP_SERVER_PORT: u16 = 67;

/// Whether a frame from the guest may reach the stack under the
/// loopback-only policy (see the module documentation): ARP, IPv4 to
/// [`HOST`], and DHCP requests (UDP to port 67 on [`HOST`] or broadcast).
pub fn guest_frame_allowed(frame: &[u8]) -> bool {
    let Some(ethertype) = frame.get(12..14) else {
        return false;
    };
    match u16::from_be_bytes([ethertype[0], ethertype[1]]) {
        ETHERTYPE_ARP => true,
        ETHERTYPE_IPV4 => {
            let ip = &frame[14..];
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return false;
            }
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            if dst == HOST {
                return true;
            }
            // A DHCP request before the guest has an address: broadcast
            // UDP to port 67 (in the first fragment).
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let first_fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff == 0;
            dst == Ipv4Addr::BROADCAST
                && ip[9] == IPPROTO_UDP
                && first_fragment
                && ip
                    .get(ihl + 2..ihl + 4)
                    .is_some_and(|p| u16::from_be_bytes([p[0], p[1]]) == DHCP_SERVER_PORT)
        }
        _ => false,
    }
}

/// Frames from the stack to the guest, bounded.
#[derive(Default)]
struct Outbox {
    frames: VecDeque<Vec<u8>>,
    dropped: u64,
}

type SharedOutbox = Arc<Mutex<Outbox>>;

fn lock(o: &SharedOutbox) -> std::sync::MutexGuard<'_, Outbox> {
    o.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The libslirp configuration: QEMU's addresses, IPv4 only, no DNS, no
/// TFTP, host loopback reachable through [`HOST`].
fn slirp_config() -> slirp::Config {
    slirp::Config {
        network: NETWORK,
        netmask: NETMASK,
        host: HOST,
        dhcp_start: GUEST,
        nameserver: NAMESERVER,
        mtu: MTU,
    }
}

/// The stack thread: feeds guest frames to libslirp, runs its timers and
/// polls its sockets until the [`UserNet`] is dropped.
fn stack_thread(
    api: &'static slirp::Api,
    from_guest: Receiver<Vec<u8>>,
    wake: UnixStream,
    out: SharedOutbox,
    ready: mpsc::Sender<bool>,
) {
    let send = move |frame: &[u8]| {
        let mut out = lock(&out);
        if out.frames.len() < HOST_QUEUE {
            out.frames.push_back(frame.to_vec());
        } else {
            out.dropped += 1;
        }
    };
    let stack = slirp::Stack::new(api, &slirp_config(), Box::new(send));
    if ready.send(stack.is_some()).is_err() {
        return;
    }
    let Some(mut stack) = stack else {
        return;
    };
    let mut drain = [0u8; 256];
    loop {
        loop {
            match from_guest.try_recv() {
                Ok(frame) => stack.input(&frame),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        stack.run_timers();
        if stack.poll(MAX_POLL_MS, wake.as_fd()) {
            match (&wake).read(&mut drain) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// The user-mode network backend of one NIC (see the module
/// documentation).
pub struct UserNet {
    to_stack: Option<SyncSender<Vec<u8>>>,
    wake: UnixStream,
    out: SharedOutbox,
    thread: Option<JoinHandle<()>>,
    sent: bool,
    filtered: u64,
    overflowed: u64,
}

impl UserNet {
    /// Starts the stack (its thread and libslirp instance). Fails if
    /// libslirp cannot be loaded (the message names the Debian package
    /// and carries the loader's error) or refuses to start.
    pub fn new() -> io::Result<UserNet> {
        let api = slirp::api().map_err(io::Error::other)?;
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let (to_stack, from_guest) = mpsc::sync_channel(GUEST_QUEUE);
        let out = SharedOutbox::default();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_out = out.clone();
        let thread = std::thread::Builder::new()
            .name("usernet".into())
            .spawn(move || stack_thread(api, from_guest, wake_rx, thread_out, ready_tx))?;
        if ready_rx.recv() != Ok(true) {
            let _ = thread.join();
            return Err(io::Error::other(format!(
                "libslirp {} did not start (it needs libslirp 4.3 or newer)",
                api.version()
            )));
        }
        Ok(UserNet {
            to_stack: Some(to_stack),
            wake,
            out,
            thread: Some(thread),
            sent: false,
            filtered: 0,
            overflowed: 0,
        })
    }

    /// Frames dropped: refused by the policy, lost to a full queue towards
    /// the stack, lost to a full queue towards the guest.
    pub fn dropped(&self) -> (u64, u64, u64) {
        (self.filtered, self.overflowed, lock(&self.out).dropped)
    }
}

impl NetBackend for UserNet {
    fn send(&mut self, frame: &[u8]) {
        if !guest_frame_allowed(frame) {
            self.filtered += 1;
            tracing::debug!(len = frame.len(), "user-mode network: frame outside the policy dropped");
            return;
        }
        let Some(tx) = &self.to_stack else {
            return;
        };
        match tx.try_send(frame.to_vec()) {
            Ok(()) => {
                self.sent = true;
                // A full socket buffer means a wake-up is already pending.
                let _ = (&self.wake).write(&[1]);
            }
            Err(TrySendError::Full(_)) => self.overflowed += 1,
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("user-mode network stack stopped; frames are dropped");
                self.to_stack = None;
            }
        }
    }

    fn recv(&mut self) -> Option<Vec<u8>> {
        lock(&self.out).frames.pop_front()
    }

    /// Replies can arrive once the guest has talked to the network.
    fn can_produce_input(&self) -> bool {
        self.sent && self.to_stack.is_some()
    }
}

impl Drop for UserNet {
    fn drop(&mut self) {
        self.to_stack = None;
        let _ = self.wake.shutdown(std::net::Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for UserNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserNet").field("dropped", &self.dropped()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant as StdInstant};

    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::phy::{self, DeviceCapabilities, Medium};
    use smoltcp::socket::{dhcpv4, tcp};
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};

    use super::*;
    use crate::device::Device;
    use crate::virtio::net::{VirtioNet, DEFAULT_MAC, F_MAC, HDR_LEN_MODERN, RECEIVEQ, TRANSMITQ};
    use crate::virtio::testing::*;

    /// Whether libslirp can be loaded: a test that needs it skips with a
    /// notice when it cannot, unless `PREBOARD_REQUIRE_TOOLS=1` (set by CI)
    /// makes that a failure.
    fn libslirp_available() -> bool {
        match slirp::api() {
            Ok(_) => true,
            Err(e) => {
                assert!(
                    std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none(),
                    "libslirp is required (PREBOARD_REQUIRE_TOOLS is set): {e}"
                );
                eprintln!("NOTICE: {e}; skipping this test (CI installs libslirp0)");
                false
            }
        }
    }

    fn eth_ipv4(dst: [u8; 4], proto: u8, dport: u16) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&DEFAULT_MAC.0);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[10, 0, 2, 15]);
        ip[16..20].copy_from_slice(&dst);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&1234u16.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0; 4]);
        f
    }

    #[test]
    fn policy_lets_only_arp_dhcp_and_the_host_through() {
        let mut arp = eth_ipv4([0; 4], 0, 0);
        arp[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        assert!(guest_frame_allowed(&arp));
        assert!(guest_frame_allowed(&eth_ipv4([10, 0, 2, 2], 6, 80)));
        assert!(guest_frame_allowed(&eth_ipv4([10, 0, 2, 2], 1, 0)));
        assert!(guest_frame_allowed(&eth_ipv4([255, 255, 255, 255], 17, 67)));
        // Everything else: other guest-network addresses, DNS, the world,
        // broadcasts to other ports, IPv6, runts.
        assert!(!guest_frame_allowed(&eth_ipv4([10, 0, 2, 3], 17, 53)));
        assert!(!guest_frame_allowed(&eth_ipv4([10, 0, 2, 4], 6, 80)));
        assert!(!guest_frame_allowed(&eth_ipv4([192, 0, 2, 1], 6, 80)));
        assert!(!guest_frame_allowed(&eth_ipv4([255, 255, 255, 255], 17, 68)));
        assert!(!guest_frame_allowed(&eth_ipv4([255, 255, 255, 255], 6, 67)));
        let mut v6 = eth_ipv4([10, 0, 2, 2], 6, 80);
        v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        assert!(!guest_frame_allowed(&v6));
        assert!(!guest_frame_allowed(&eth_ipv4([10, 0, 2, 2], 6, 80)[..30]));
        assert!(!guest_frame_allowed(&[0; 13]));
    }

    /// smoltcp's view of the virtio-net device: frames it sends are queued
    /// for the transmit queue, frames the device received wait in `rx`.
    #[derive(Default)]
    struct Phy {
        rx: VecDeque<Vec<u8>>,
        tx: Vec<Vec<u8>>,
    }

    struct Rx(Vec<u8>);
    struct Tx<'a>(&'a mut Vec<Vec<u8>>);

    impl phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl phy::TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut buf = vec![0u8; len];
            let r = f(&mut buf);
            self.0.push(buf);
            r
        }
    }

    impl phy::Device for Phy {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx<'a>;

        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
            let f = self.rx.pop_front()?;
            Some((Rx(f), Tx(&mut self.tx)))
        }

        fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
            Some(Tx(&mut self.tx))
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut c = DeviceCapabilities::default();
            c.medium = Medium::Ethernet;
            c.max_transmission_unit = MTU + 14;
            c
        }
    }

    /// The guest side: a driver for the virtio-net queues under a smoltcp
    /// interface.
    struct Guest {
        d: Driver<VirtioNet>,
        phy: Phy,
        /// Receive buffer address of each posted head.
        rx_bufs: HashMap<u16, u64>,
    }

    const RX_BUF: u32 = 2048;
    const RX_POSTED: u64 = 32;
    const TX_BUF: u64 = DATA + 0x4_0000;

    impl Guest {
        fn new() -> Guest {
            let backend = UserNet::new().expect("libslirp starts");
            let mut d = Driver::new(VirtioNet::new(DEFAULT_MAC, Box::new(backend)), 2);
            d.init(F_MAC, 256);
            let mut g = Guest {
                d,
                phy: Phy::default(),
                rx_bufs: HashMap::new(),
            };
            for i in 0..RX_POSTED {
                g.post_rx(DATA + i * u64::from(RX_BUF));
            }
            g.d.notify(RECEIVEQ as u32);
            g
        }

        fn post_rx(&mut self, addr: u64) {
            let head = self.d.add_chain(RECEIVEQ, &[(addr, RX_BUF, true)]);
            self.rx_bufs.insert(head, addr);
        }

        /// Moves frames both ways between smoltcp and the device.
        fn pump(&mut self) {
            for f in std::mem::take(&mut self.phy.tx) {
                let mut bytes = vec![0u8; HDR_LEN_MODERN];
                bytes.extend_from_slice(&f);
                self.d.mem.write_bytes(TX_BUF, &bytes).unwrap();
                self.d.add_chain(TRANSMITQ, &[(TX_BUF, bytes.len() as u32, false)]);
                self.d.notify(TRANSMITQ as u32);
                assert_eq!(self.d.take_used(TRANSMITQ).len(), 1);
            }
            let mut mem = std::mem::take(&mut self.d.mem);
            self.d.dev.poll(&mut mem);
            self.d.mem = mem;
            assert!(!self.d.dev.needs_reset());
            let used = self.d.take_used(RECEIVEQ);
            for &(head, len) in &used {
                let addr = self.rx_bufs.remove(&(head as u16)).expect("posted buffer");
                let frame = self
                    .d
                    .bytes(addr + HDR_LEN_MODERN as u64, len as usize - HDR_LEN_MODERN);
                self.phy.rx.push_back(frame);
                self.post_rx(addr);
            }
            if !used.is_empty() {
                self.d.notify(RECEIVEQ as u32);
            }
            self.d.ack();
        }
    }

    /// The proof: a guest (smoltcp on the virtio-net queues) gets
    /// 10.0.2.15 by DHCP and fetches a payload from a TCP server on the
    /// host's 127.0.0.1 through 10.0.2.2.
    #[test]
    fn guest_fetches_from_a_tcp_server_on_host_loopback() {
        if !libslirp_available() {
            return;
        }
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = payload.clone();
        let server = std::thread::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut req = [0u8; 4];
            s.read_exact(&mut req).unwrap();
            s.write_all(&served).unwrap();
            (req, peer)
        });

        let mut g = Guest::new();
        let start = StdInstant::now();
        let now = || Instant::from_micros(start.elapsed().as_micros() as i64);
        let config = Config::new(EthernetAddress(DEFAULT_MAC.0).into());
        let mut iface = Interface::new(config, &mut g.phy, now());
        let mut sockets = SocketSet::new(vec![]);
        let dhcp = sockets.add(dhcpv4::Socket::new());
        let tcp_socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 4096]),
        );
        let tcp = sockets.add(tcp_socket);

        let deadline = StdInstant::now() + Duration::from_secs(30);
        let mut leased = None;
        let mut connected = false;
        let mut sent_request = false;
        let mut got = Vec::new();
        loop {
            assert!(
                StdInstant::now() < deadline,
                "timed out: lease {leased:?}, {} bytes",
                got.len()
            );
            iface.poll(now(), &mut g.phy, &mut sockets);
            g.pump();
            if let Some(dhcpv4::Event::Configured(c)) = sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
                iface.update_ip_addrs(|a| {
                    a.clear();
                    a.push(IpCidr::Ipv4(c.address)).unwrap();
                });
                if let Some(router) = c.router {
                    iface.routes_mut().add_default_ipv4_route(router).unwrap();
                }
                leased = Some((c.address, c.router));
            }
            if leased.is_some() && !connected {
                let cx = iface.context();
                sockets
                    .get_mut::<tcp::Socket>(tcp)
                    .connect(cx, (IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 2)), port), 49152)
                    .unwrap();
                connected = true;
            }
            let s = sockets.get_mut::<tcp::Socket>(tcp);
            if s.may_send() && !sent_request {
                s.send_slice(b"GET!").unwrap();
                sent_request = true;
            }
            if s.can_recv() {
                s.recv(|b| {
                    got.extend_from_slice(b);
                    (b.len(), ())
                })
                .unwrap();
            }
            if connected && sent_request && !s.may_recv() && got.len() >= payload.len() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let (addr, router) = leased.unwrap();
        assert_eq!(addr.address(), Ipv4Address::new(10, 0, 2, 15));
        assert_eq!(addr.prefix_len(), 24);
        assert_eq!(router, Some(Ipv4Address::new(10, 0, 2, 2)));
        assert!(
            got == payload,
            "payload differs ({} of {} bytes)",
            got.len(),
            payload.len()
        );
        let (req, peer) = server.join().unwrap();
        assert_eq!(&req, b"GET!");
        assert!(peer.ip().is_loopback());
        assert!(g.d.dev.can_produce_input());
        let (tx, rx, _) = g.d.dev.device().counters();
        assert!(tx > 10 && rx > 100, "tx {tx} rx {rx}");
    }

    #[test]
    fn starts_and_stops_cleanly() {
        if !libslirp_available() {
            return;
        }
        for _ in 0..3 {
            let n = UserNet::new().unwrap();
            assert!(!n.can_produce_input());
            drop(n);
        }
    }
}
