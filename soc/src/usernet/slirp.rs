//! libslirp, loaded at run time: the few C declarations the user-mode
//! network needs, and a safe [`Stack`] over one libslirp instance. Every
//! `unsafe` of the user-mode network is here.
//!
//! # Why at run time
//!
//! Linking libslirp at build time would make the whole workspace need its
//! development files (and glib's, and `pkg-config`) just to compile. So
//! the library is opened with `dlopen` the first time a `--nic user` is
//! built; without it that NIC fails with [`Unavailable`] and everything
//! else works. `PREBOARD_LIBSLIRP` names another file to open instead of
//! [`LIBRARY`].
//!
//! # The C API we declare
//!
//! From `<slirp/libslirp.h>` (libslirp 4.7.0, Debian bookworm): the
//! `SlirpConfig` fields of config version 3 ([`CONFIG_VERSION`], libslirp
//! 4.3 and newer accept it), `SlirpCb`, `slirp_new`, `slirp_input`,
//! `slirp_pollfds_fill`, `slirp_pollfds_poll`, `slirp_cleanup` and
//! `slirp_version_string`. The layouts are checked field by field against
//! the offsets a C compiler gives for that header (the `layout` tests).
//!
//! # Ownership and aliasing
//!
//! libslirp keeps two pointers of ours for the life of an instance: the
//! callback table (a `static`, [`CALLBACKS`]) and the `opaque` pointer
//! it hands back to every callback, which points at a [`State`] leaked
//! from a `Box` and freed only after `slirp_cleanup`. Neither Rust nor C
//! ever takes a `&mut State`: callbacks and [`Stack`] alike see `&State`,
//! and what changes (the timers, the frame sink) sits in `RefCell`s, so a
//! callback that re-enters while we hold a borrow is caught at run time
//! instead of being undefined behaviour.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, OsString};
use std::net::Ipv4Addr;
use std::os::fd::{BorrowedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::time::Instant;

use libloading::Library;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// The file opened unless `PREBOARD_LIBSLIRP` names another.
#[cfg(not(target_os = "macos"))]
const LIBRARY: &str = "libslirp.so.0";
/// The file opened unless `PREBOARD_LIBSLIRP` names another.
#[cfg(target_os = "macos")]
const LIBRARY: &str = "libslirp.0.dylib";

/// The `SlirpConfig` version [`RawConfig`] is laid out as.
const CONFIG_VERSION: u32 = 3;

/// libslirp could not be opened (or lacks a function we call).
#[derive(Debug, Clone, thiserror::Error)]
#[error("user-mode networking needs libslirp (Debian: apt install libslirp0): {0}")]
pub struct Unavailable(String);

// ---------------------------------------------------------------------------
// The C declarations.

/// `struct in_addr`: the address in network byte order.
#[repr(C)]
#[derive(Clone, Copy)]
struct InAddr {
    s_addr: u32,
}

impl From<Ipv4Addr> for InAddr {
    fn from(a: Ipv4Addr) -> InAddr {
        InAddr {
            s_addr: u32::from_ne_bytes(a.octets()),
        }
    }
}

/// `struct in6_addr` (16 bytes, 4-byte aligned as glibc declares it).
#[repr(C)]
#[derive(Clone, Copy)]
struct In6Addr {
    s6_addr32: [u32; 4],
}

const IN6_UNSPECIFIED: In6Addr = In6Addr { s6_addr32: [0; 4] };

/// `SlirpConfig` up to and including the fields of version 3
/// (`disable_dns`); libslirp reads no further for that version.
#[repr(C)]
struct RawConfig {
    version: u32,
    restricted: c_int,
    in_enabled: bool,
    vnetwork: InAddr,
    vnetmask: InAddr,
    vhost: InAddr,
    in6_enabled: bool,
    vprefix_addr6: In6Addr,
    vprefix_len: u8,
    vhost6: In6Addr,
    vhostname: *const c_char,
    tftp_server_name: *const c_char,
    tftp_path: *const c_char,
    bootfile: *const c_char,
    vdhcp_start: InAddr,
    vnameserver: InAddr,
    vnameserver6: In6Addr,
    vdnssearch: *mut *const c_char,
    vdomainname: *const c_char,
    if_mtu: usize,
    if_mru: usize,
    disable_host_loopback: bool,
    enable_emu: bool,
    // Version 2.
    outbound_addr: *const c_void,
    outbound_addr6: *const c_void,
    // Version 3.
    disable_dns: bool,
}

/// `Slirp`, opaque.
#[repr(C)]
struct RawSlirp {
    _opaque: [u8; 0],
}

type TimerCb = unsafe extern "C" fn(cb_opaque: *mut c_void);
type AddPollCb = unsafe extern "C" fn(fd: c_int, events: c_int, opaque: *mut c_void) -> c_int;
type GetREventsCb = unsafe extern "C" fn(idx: c_int, opaque: *mut c_void) -> c_int;

/// `SlirpCb`. The two version-4 members are declared (and null) so the
/// table is complete for any config version; with version 3 libslirp
/// does not read them.
#[repr(C)]
struct Callbacks {
    send_packet: unsafe extern "C" fn(buf: *const c_void, len: usize, opaque: *mut c_void) -> isize,
    guest_error: unsafe extern "C" fn(msg: *const c_char, opaque: *mut c_void),
    clock_get_ns: unsafe extern "C" fn(opaque: *mut c_void) -> i64,
    timer_new: unsafe extern "C" fn(cb: TimerCb, cb_opaque: *mut c_void, opaque: *mut c_void) -> *mut c_void,
    timer_free: unsafe extern "C" fn(timer: *mut c_void, opaque: *mut c_void),
    timer_mod: unsafe extern "C" fn(timer: *mut c_void, expire_time: i64, opaque: *mut c_void),
    register_poll_fd: unsafe extern "C" fn(fd: c_int, opaque: *mut c_void),
    unregister_poll_fd: unsafe extern "C" fn(fd: c_int, opaque: *mut c_void),
    notify: unsafe extern "C" fn(opaque: *mut c_void),
    // Version 4.
    init_completed: Option<unsafe extern "C" fn(slirp: *mut RawSlirp, opaque: *mut c_void)>,
    timer_new_opaque:
        Option<unsafe extern "C" fn(id: c_int, cb_opaque: *mut c_void, opaque: *mut c_void) -> *mut c_void>,
}

const SLIRP_POLL_IN: c_int = 1 << 0;
const SLIRP_POLL_OUT: c_int = 1 << 1;
const SLIRP_POLL_PRI: c_int = 1 << 2;
const SLIRP_POLL_ERR: c_int = 1 << 3;
const SLIRP_POLL_HUP: c_int = 1 << 4;

/// libslirp's `SLIRP_POLL_*` flags and poll(2)'s, both ways.
const POLL_FLAGS: [(c_int, PollFlags); 5] = [
    (SLIRP_POLL_IN, PollFlags::POLLIN),
    (SLIRP_POLL_OUT, PollFlags::POLLOUT),
    (SLIRP_POLL_PRI, PollFlags::POLLPRI),
    (SLIRP_POLL_ERR, PollFlags::POLLERR),
    (SLIRP_POLL_HUP, PollFlags::POLLHUP),
];

// ---------------------------------------------------------------------------
// Loading.

/// The opened library and the functions we call in it.
pub struct Api {
    new: unsafe extern "C" fn(cfg: *const RawConfig, callbacks: *const Callbacks, opaque: *mut c_void) -> *mut RawSlirp,
    cleanup: unsafe extern "C" fn(slirp: *mut RawSlirp),
    input: unsafe extern "C" fn(slirp: *mut RawSlirp, pkt: *const u8, pkt_len: c_int),
    pollfds_fill:
        unsafe extern "C" fn(slirp: *mut RawSlirp, timeout: *mut u32, add_poll: AddPollCb, opaque: *mut c_void),
    pollfds_poll:
        unsafe extern "C" fn(slirp: *mut RawSlirp, select_error: c_int, get_revents: GetREventsCb, opaque: *mut c_void),
    version_string: unsafe extern "C" fn() -> *const c_char,
    /// Keeps the function pointers above valid; never unloaded.
    _library: Library,
}

impl Api {
    /// The library's version, e.g. `4.7.0`.
    pub fn version(&self) -> String {
        // SAFETY: `slirp_version_string` takes no arguments and returns a
        // pointer to a static NUL-terminated string (SLIRP_VERSION_STRING).
        let v = unsafe { (self.version_string)() };
        if v.is_null() {
            return "(unknown version)".into();
        }
        // SAFETY: non-null, NUL-terminated and static (see above).
        unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
    }
}

/// Looks `name` up in `library` as a `T`.
///
/// # Safety
///
/// `T` must be the `unsafe extern "C" fn` type the library's `name` has.
unsafe fn symbol<T: Copy>(library: &Library, name: &str) -> Result<T, Unavailable> {
    let mut c_name = name.as_bytes().to_vec();
    c_name.push(0);
    // SAFETY: the caller guarantees `T` is the symbol's type; the value is
    // copied out and used only while `library` stays loaded (it is kept in
    // the same `Api` and never unloaded).
    let sym = unsafe { library.get::<T>(&c_name) };
    sym.map(|s| *s).map_err(|e| Unavailable(format!("{name}: {e}")))
}

/// Opens `file` and finds the functions [`Api`] holds.
fn load(file: &OsString) -> Result<Api, Unavailable> {
    // SAFETY: opening runs the library's ELF initialisers (libslirp's and
    // those of glib, which it links); they are ordinary C library
    // initialisers with no requirements on this process. `file` is
    // libslirp (or what the user named in PREBOARD_LIBSLIRP, at their
    // own risk); `api` opens it at most once per process.
    let library = unsafe { Library::new(file) }.map_err(|e| Unavailable(e.to_string()))?;
    // SAFETY: each `symbol` type below is the one its function has in
    // <slirp/libslirp.h>: `Slirp *slirp_new(const SlirpConfig *, const
    // SlirpCb *, void *)`, `void slirp_cleanup(Slirp *)`, `void
    // slirp_input(Slirp *, const uint8_t *, int)`, `void
    // slirp_pollfds_fill(Slirp *, uint32_t *, SlirpAddPollCb, void *)`,
    // `void slirp_pollfds_poll(Slirp *, int, SlirpGetREventsCb, void *)`,
    // `const char *slirp_version_string(void)`.
    unsafe {
        Ok(Api {
            new: symbol(&library, "slirp_new")?,
            cleanup: symbol(&library, "slirp_cleanup")?,
            input: symbol(&library, "slirp_input")?,
            pollfds_fill: symbol(&library, "slirp_pollfds_fill")?,
            pollfds_poll: symbol(&library, "slirp_pollfds_poll")?,
            version_string: symbol(&library, "slirp_version_string")?,
            _library: library,
        })
    }
}

/// The process's libslirp, opened on first use ([`LIBRARY`], or the file
/// `PREBOARD_LIBSLIRP` names). A failure is remembered too.
pub fn api() -> Result<&'static Api, Unavailable> {
    static API: OnceLock<Result<Api, Unavailable>> = OnceLock::new();
    API.get_or_init(|| {
        let file = std::env::var_os("PREBOARD_LIBSLIRP").unwrap_or_else(|| LIBRARY.into());
        load(&file)
    })
    .as_ref()
    .map_err(Clone::clone)
}

// ---------------------------------------------------------------------------
// The instance and its callbacks.

/// The network a [`Stack`] serves: IPv4 only, no DNS, no TFTP, the host's
/// loopback reachable through `host`.
pub struct Config {
    /// The guest network.
    pub network: Ipv4Addr,
    /// Its netmask.
    pub netmask: Ipv4Addr,
    /// The gateway, standing for the host.
    pub host: Ipv4Addr,
    /// The first address DHCP hands out.
    pub dhcp_start: Ipv4Addr,
    /// The name server address (DNS itself is disabled).
    pub nameserver: Ipv4Addr,
    /// Link MTU (and MRU).
    pub mtu: usize,
}

impl Config {
    fn raw(&self) -> RawConfig {
        RawConfig {
            version: CONFIG_VERSION,
            restricted: 0,
            in_enabled: true,
            vnetwork: self.network.into(),
            vnetmask: self.netmask.into(),
            vhost: self.host.into(),
            in6_enabled: false,
            vprefix_addr6: IN6_UNSPECIFIED,
            vprefix_len: 0,
            vhost6: IN6_UNSPECIFIED,
            vhostname: ptr::null(),
            tftp_server_name: ptr::null(),
            tftp_path: ptr::null(),
            bootfile: ptr::null(),
            vdhcp_start: self.dhcp_start.into(),
            vnameserver: self.nameserver.into(),
            vnameserver6: IN6_UNSPECIFIED,
            vdnssearch: ptr::null_mut(),
            vdomainname: ptr::null(),
            if_mtu: self.mtu,
            if_mru: self.mtu,
            disable_host_loopback: false,
            enable_emu: false,
            outbound_addr: ptr::null(),
            outbound_addr6: ptr::null(),
            disable_dns: true,
        }
    }
}

/// A libslirp timer: the C callback to run and its deadline in
/// milliseconds of [`State::start`]'s clock (`None`: not armed).
struct Timer {
    cb: TimerCb,
    cb_opaque: *mut c_void,
    expire_ms: Option<i64>,
}

#[derive(Default)]
struct Timers {
    /// Keyed by the handle given to libslirp (never 0, so never null).
    by_id: HashMap<usize, Timer>,
    last_id: usize,
}

/// Where a [`Stack`] delivers frames for the guest.
pub type Sink = Box<dyn FnMut(&[u8])>;

/// What libslirp's `opaque` points at.
struct State {
    start: Instant,
    timers: RefCell<Timers>,
    /// Where frames for the guest go.
    send: RefCell<Sink>,
}

impl State {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// The state behind a callback's `opaque`.
///
/// # Safety
///
/// `opaque` must be the pointer [`Stack::new`] gave `slirp_new`, and the
/// [`Stack`] must be alive (libslirp calls back only from inside the
/// calls a `Stack` makes, including its `slirp_cleanup`, which runs before
/// the state is freed).
unsafe fn state<'a>(opaque: *mut c_void) -> &'a State {
    // SAFETY: per the contract, `opaque` is the `Box::into_raw` pointer of
    // a live `State`; only shared references to it are ever made.
    unsafe { &*opaque.cast::<State>() }
}

/// `send_packet`: a frame for the guest.
unsafe extern "C" fn cb_send_packet(buf: *const c_void, len: usize, opaque: *mut c_void) -> isize {
    // SAFETY: libslirp passes back the opaque it was given (see `state`).
    let state = unsafe { state(opaque) };
    let frame = if len == 0 {
        &[][..]
    } else {
        // SAFETY: libslirp passes a frame of `len` readable bytes at `buf`
        // that stays valid for the duration of this call.
        unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }
    };
    match state.send.try_borrow_mut() {
        Ok(mut send) => send(frame),
        Err(_) => tracing::warn!("user-mode network: re-entrant send_packet; frame dropped"),
    }
    isize::try_from(len).unwrap_or(isize::MAX)
}

/// `guest_error`: the guest did something libslirp refuses.
unsafe extern "C" fn cb_guest_error(msg: *const c_char, _opaque: *mut c_void) {
    if msg.is_null() {
        return;
    }
    // SAFETY: libslirp passes a NUL-terminated message valid during the
    // call.
    let msg = unsafe { CStr::from_ptr(msg) };
    tracing::warn!("user-mode network: guest error: {}", msg.to_string_lossy());
}

/// `clock_get_ns`: nanoseconds since the stack started.
unsafe extern "C" fn cb_clock_get_ns(opaque: *mut c_void) -> i64 {
    // SAFETY: libslirp passes back the opaque it was given (see `state`).
    let state = unsafe { state(opaque) };
    i64::try_from(state.start.elapsed().as_nanos()).unwrap_or(i64::MAX)
}

/// `timer_new`: a disarmed timer; the handle is its id as a pointer.
unsafe extern "C" fn cb_timer_new(cb: TimerCb, cb_opaque: *mut c_void, opaque: *mut c_void) -> *mut c_void {
    // SAFETY: libslirp passes back the opaque it was given (see `state`).
    let state = unsafe { state(opaque) };
    let Ok(mut timers) = state.timers.try_borrow_mut() else {
        tracing::warn!("user-mode network: re-entrant timer_new refused");
        return ptr::null_mut();
    };
    timers.last_id += 1;
    let id = timers.last_id;
    timers.by_id.insert(
        id,
        Timer {
            cb,
            cb_opaque,
            expire_ms: None,
        },
    );
    ptr::without_provenance_mut(id)
}

/// `timer_free`.
unsafe extern "C" fn cb_timer_free(timer: *mut c_void, opaque: *mut c_void) {
    // SAFETY: libslirp passes back the opaque it was given (see `state`).
    let state = unsafe { state(opaque) };
    if let Ok(mut timers) = state.timers.try_borrow_mut() {
        timers.by_id.remove(&timer.addr());
    }
}

/// `timer_mod`: arm a timer for `expire_time` milliseconds.
unsafe extern "C" fn cb_timer_mod(timer: *mut c_void, expire_time: i64, opaque: *mut c_void) {
    // SAFETY: libslirp passes back the opaque it was given (see `state`).
    let state = unsafe { state(opaque) };
    if let Ok(mut timers) = state.timers.try_borrow_mut() {
        if let Some(t) = timers.by_id.get_mut(&timer.addr()) {
            t.expire_ms = Some(expire_time);
        }
    }
}

/// `register_poll_fd`, `unregister_poll_fd`, `notify`: nothing to do, as
/// the stack thread asks for its descriptors before every poll and never
/// sleeps longer than its caller allows.
unsafe extern "C" fn cb_fd_ignored(_fd: c_int, _opaque: *mut c_void) {}

unsafe extern "C" fn cb_notify(_opaque: *mut c_void) {}

static CALLBACKS: Callbacks = Callbacks {
    send_packet: cb_send_packet,
    guest_error: cb_guest_error,
    clock_get_ns: cb_clock_get_ns,
    timer_new: cb_timer_new,
    timer_free: cb_timer_free,
    timer_mod: cb_timer_mod,
    register_poll_fd: cb_fd_ignored,
    unregister_poll_fd: cb_fd_ignored,
    notify: cb_notify,
    init_completed: None,
    timer_new_opaque: None,
};

/// The descriptors of one poll: what libslirp asked for and what poll(2)
/// reported, by the index `add_poll` returned.
#[derive(Default)]
struct PollSet {
    wanted: Vec<(RawFd, PollFlags)>,
    revents: Vec<PollFlags>,
}

/// `add_poll` for `slirp_pollfds_fill`.
unsafe extern "C" fn cb_add_poll(fd: c_int, events: c_int, opaque: *mut c_void) -> c_int {
    // SAFETY: `Stack::poll` passes a `&mut PollSet` it does not otherwise
    // use during `slirp_pollfds_fill`, the only call that invokes this.
    let set = unsafe { &mut *opaque.cast::<PollSet>() };
    if fd < 0 {
        return -1;
    }
    let flags = POLL_FLAGS
        .iter()
        .filter(|(s, _)| events & s != 0)
        .fold(PollFlags::empty(), |f, &(_, p)| f | p);
    set.wanted.push((fd, flags));
    c_int::try_from(set.wanted.len() - 1).unwrap_or(-1)
}

/// `get_revents` for `slirp_pollfds_poll`.
unsafe extern "C" fn cb_get_revents(idx: c_int, opaque: *mut c_void) -> c_int {
    // SAFETY: `Stack::poll` passes a `&mut PollSet` it does not otherwise
    // use during `slirp_pollfds_poll`, the only call that invokes this.
    let set = unsafe { &*opaque.cast::<PollSet>() };
    let Some(&revents) = usize::try_from(idx).ok().and_then(|i| set.revents.get(i)) else {
        return 0;
    };
    POLL_FLAGS
        .iter()
        .filter(|(_, p)| revents.contains(*p))
        .fold(0, |f, &(s, _)| f | s)
}

/// One libslirp instance. Not `Send`: it lives on the thread that made it.
pub struct Stack {
    api: &'static Api,
    slirp: NonNull<RawSlirp>,
    /// From `Box::into_raw`; freed in `drop` after `slirp_cleanup`.
    state: NonNull<State>,
}

impl Stack {
    /// Starts an instance serving `config`; frames for the guest go to
    /// `send`. `None` if libslirp refuses the configuration (older than
    /// 4.3, which introduced config version 3).
    pub fn new(api: &'static Api, config: &Config, send: Sink) -> Option<Stack> {
        let state = NonNull::from(Box::leak(Box::new(State {
            start: Instant::now(),
            timers: RefCell::default(),
            send: RefCell::new(send),
        })));
        let raw = config.raw();
        // SAFETY: `raw` is a complete version-3 SlirpConfig (layout checked
        // by the `layout` tests) whose pointers are all null; libslirp
        // copies what it needs from it during the call. `CALLBACKS` is a
        // static, so it outlives the instance, which keeps a pointer to it.
        // `state` stays valid until `drop` frees it after `slirp_cleanup`.
        let slirp = unsafe { (api.new)(&raw, &CALLBACKS, state.as_ptr().cast()) };
        match NonNull::new(slirp) {
            Some(slirp) => Some(Stack { api, slirp, state }),
            None => {
                // SAFETY: `state` came from `Box::leak` above, and libslirp
                // returned no instance, so nothing refers to it any more.
                drop(unsafe { Box::from_raw(state.as_ptr()) });
                None
            }
        }
    }

    fn state(&self) -> &State {
        // SAFETY: `state` is live for as long as `self` (freed only in
        // `drop`), and only shared references to it are ever made.
        unsafe { self.state.as_ref() }
    }

    /// A frame from the guest.
    pub fn input(&mut self, frame: &[u8]) {
        let Ok(len) = c_int::try_from(frame.len()) else {
            return;
        };
        // SAFETY: `slirp` is a live instance used only on this thread;
        // `frame` is `len` readable bytes for the duration of the call,
        // which libslirp copies and does not keep.
        unsafe { (self.api.input)(self.slirp.as_ptr(), frame.as_ptr(), len) }
    }

    /// Runs the timers that are due. A timer is disarmed before its
    /// callback runs, which may re-arm it, arm others or free it.
    pub fn run_timers(&mut self) {
        loop {
            let due = {
                let state = self.state();
                let now = state.now_ms();
                let mut timers = state.timers.borrow_mut();
                timers
                    .by_id
                    .values_mut()
                    .find(|t| t.expire_ms.is_some_and(|e| e <= now))
                    .map(|t| {
                        t.expire_ms = None;
                        (t.cb, t.cb_opaque)
                    })
            };
            let Some((cb, cb_opaque)) = due else {
                return;
            };
            // SAFETY: `cb` and `cb_opaque` are what libslirp gave
            // `timer_new` for a timer it has not freed (it is still in the
            // table); it expects `cb(cb_opaque)` on expiry, from the thread
            // that runs the instance. No borrow of the state is held.
            unsafe { cb(cb_opaque) };
        }
    }

    /// Milliseconds until the next armed timer, at most `cap`.
    fn next_timer_ms(&self, cap: u32) -> u32 {
        let state = self.state();
        let now = state.now_ms();
        state
            .timers
            .borrow()
            .by_id
            .values()
            .filter_map(|t| t.expire_ms)
            .map(|e| u32::try_from((e - now).max(0)).unwrap_or(u32::MAX))
            .fold(cap, u32::min)
    }

    /// Sleeps in poll(2) on libslirp's sockets and `wake` for at most
    /// `max_ms` (less if a timer is due sooner), then lets libslirp handle
    /// what is ready. Whether `wake` had an event.
    pub fn poll(&mut self, max_ms: u32, wake: BorrowedFd<'_>) -> bool {
        let mut timeout = self.next_timer_ms(max_ms);
        let mut set = PollSet::default();
        // SAFETY: `slirp` is live and used only on this thread; `timeout`
        // is a valid `uint32_t`; `cb_add_poll` has the `SlirpAddPollCb`
        // type and its opaque is `set`, untouched by us until the call
        // returns.
        unsafe {
            (self.api.pollfds_fill)(
                self.slirp.as_ptr(),
                &mut timeout,
                cb_add_poll,
                ptr::from_mut(&mut set).cast(),
            );
        }
        let mut fds: Vec<PollFd<'_>> = set
            .wanted
            .iter()
            .map(|&(fd, flags)| {
                // SAFETY: `fd` (not -1: `cb_add_poll` skips negative ones)
                // is a socket libslirp just handed us. libslirp closes its
                // sockets only inside its own calls (input, pollfds_poll,
                // timers, cleanup), all made on this thread after `fds` is
                // dropped, so the descriptor stays open while borrowed.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                PollFd::new(fd, flags)
            })
            .collect();
        fds.push(PollFd::new(wake, PollFlags::POLLIN));
        let ms = u16::try_from(timeout.min(max_ms)).unwrap_or(u16::MAX);
        let result = nix::poll::poll(&mut fds, PollTimeout::from(ms));
        set.revents = fds.iter().map(|p| p.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        let woken = set.revents.last().is_some_and(|e| !e.is_empty());
        // SAFETY: as for `slirp_pollfds_fill`; `cb_get_revents` has the
        // `SlirpGetREventsCb` type and reads `set`, which we do not touch
        // until the call returns.
        unsafe {
            (self.api.pollfds_poll)(
                self.slirp.as_ptr(),
                c_int::from(result.is_err()),
                cb_get_revents,
                ptr::from_mut(&mut set).cast(),
            );
        }
        woken
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: `slirp` is live and not used after this; cleanup may
        // call back (timer_free, unregister_poll_fd) with `state`, which
        // is still alive here.
        unsafe { (self.api.cleanup)(self.slirp.as_ptr()) };
        // SAFETY: `state` came from `Box::leak` in `new`; the instance that
        // referred to it is gone, so this is the last use.
        drop(unsafe { Box::from_raw(self.state.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    /// Field offsets and sizes from gcc for <slirp/libslirp.h> 4.7.0
    /// (Debian bookworm, x86-64; aarch64 Linux has the same LP64 layout):
    /// `offsetof`/`sizeof` of each member.
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    #[test]
    fn layout_matches_the_c_header() {
        macro_rules! check {
            ($t:ty, $($f:ident = $off:expr, $size:expr;)*) => {$(
                assert_eq!(offset_of!($t, $f), $off, concat!(stringify!($t), ".", stringify!($f), " offset"));
                let size = {
                    fn size_of_field<T, F>(_: impl Fn(&T) -> &F) -> usize { size_of::<F>() }
                    size_of_field(|s: &$t| &s.$f)
                };
                assert_eq!(size, $size, concat!(stringify!($t), ".", stringify!($f), " size"));
            )*};
        }
        check!(RawConfig,
            version = 0, 4;
            restricted = 4, 4;
            in_enabled = 8, 1;
            vnetwork = 12, 4;
            vnetmask = 16, 4;
            vhost = 20, 4;
            in6_enabled = 24, 1;
            vprefix_addr6 = 28, 16;
            vprefix_len = 44, 1;
            vhost6 = 48, 16;
            vhostname = 64, 8;
            tftp_server_name = 72, 8;
            tftp_path = 80, 8;
            bootfile = 88, 8;
            vdhcp_start = 96, 4;
            vnameserver = 100, 4;
            vnameserver6 = 104, 16;
            vdnssearch = 120, 8;
            vdomainname = 128, 8;
            if_mtu = 136, 8;
            if_mru = 144, 8;
            disable_host_loopback = 152, 1;
            enable_emu = 153, 1;
            outbound_addr = 160, 8;
            outbound_addr6 = 168, 8;
            disable_dns = 176, 1;
        );
        check!(Callbacks,
            send_packet = 0, 8;
            guest_error = 8, 8;
            clock_get_ns = 16, 8;
            timer_new = 24, 8;
            timer_free = 32, 8;
            timer_mod = 40, 8;
            register_poll_fd = 48, 8;
            unregister_poll_fd = 56, 8;
            notify = 64, 8;
            init_completed = 72, 8;
            timer_new_opaque = 80, 8;
        );
        assert_eq!(size_of::<Callbacks>(), 88);
        // The C struct continues with `disable_dhcp` (version 4) at 177.
        assert!(size_of::<RawConfig>() >= 177);
        assert_eq!(std::mem::align_of::<In6Addr>(), 4);
        assert_eq!(std::mem::align_of::<InAddr>(), 4);
    }

    #[test]
    fn addresses_are_in_network_byte_order() {
        let a = InAddr::from(Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(a.s_addr.to_ne_bytes(), [10, 0, 2, 15]);
    }

    #[test]
    fn poll_flags_round_trip() {
        let mut set = PollSet::default();
        let p = ptr::from_mut(&mut set).cast();
        // SAFETY: `p` points at `set`, alive and otherwise unused here.
        let idx = unsafe { cb_add_poll(7, SLIRP_POLL_IN | SLIRP_POLL_PRI, p) };
        assert_eq!(idx, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { cb_add_poll(-1, SLIRP_POLL_IN, p) }, -1);
        assert_eq!(set.wanted, [(7, PollFlags::POLLIN | PollFlags::POLLPRI)]);
        set.revents = vec![PollFlags::POLLIN | PollFlags::POLLHUP];
        let p = ptr::from_mut(&mut set).cast();
        // SAFETY: as above.
        assert_eq!(unsafe { cb_get_revents(0, p) }, SLIRP_POLL_IN | SLIRP_POLL_HUP);
        // SAFETY: as above.
        assert_eq!(unsafe { cb_get_revents(5, p) }, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { cb_get_revents(-1, p) }, 0);
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let Err(e) = load(&"libslirp-preboard-does-not-exist.so.0".into()) else {
            panic!("a library that does not exist loaded");
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("user-mode networking needs libslirp (Debian: apt install libslirp0): ")
                && msg.contains("libslirp-preboard-does-not-exist.so.0"),
            "{msg}"
        );
    }
}
