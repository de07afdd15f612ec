//! Device state for machine snapshots: a small little-endian encoding each
//! device writes and reads itself ([`crate::device::Device::save_state`] /
//! [`crate::device::Device::restore_state`]).
//!
//! Fields have no tags: a device writes them in a fixed order and reads
//! them back in the same order, and the snapshot file's format version
//! changes whenever any device's layout does. Reading never panics: running
//! out of bytes, a value out of range or bytes left over are a
//! [`StateError`] naming the device and the field.
//!
//! Host-side backends (character devices, network stacks, image files) are
//! not device state: a restored device keeps the backend it was built with.

/// Why a device's state could not be saved or restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The saved bytes ended before a field.
    #[error("{device}: saved state ends before field {field}")]
    Truncated {
        /// Device name.
        device: String,
        /// The field being read.
        field: &'static str,
    },
    /// A field's value is impossible for this device.
    #[error("{device}: saved field {field} has invalid value {value}")]
    Invalid {
        /// Device name.
        device: String,
        /// The field.
        field: &'static str,
        /// The value, as text.
        value: String,
    },
    /// Bytes remain after the last field.
    #[error("{device}: {extra} unexpected byte(s) after the saved state")]
    Trailing {
        /// Device name.
        device: String,
        /// How many.
        extra: usize,
    },
    /// The device cannot be saved or restored (yet), or not in its present
    /// condition.
    #[error("{device}: cannot be snapshotted: {reason}")]
    Unsupported {
        /// Device name.
        device: String,
        /// Why.
        reason: String,
    },
}

/// Collects one device's saved fields.
#[derive(Debug, Default)]
pub struct StateWriter {
    buf: Vec<u8>,
}

impl StateWriter {
    /// An empty record.
    pub fn new() -> Self {
        StateWriter::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// A byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A boolean (one byte, 0 or 1).
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// 16 bits.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// 32 bits.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// 64 bits.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// 128 bits.
    pub fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// Bytes without a length (the reader knows how many).
    pub fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// A large, mostly constant buffer: its length, then only the 4 KiB
    /// pages that differ from `fill` (index and contents).
    pub fn sparse(&mut self, v: &[u8], fill: u8) {
        self.u64(v.len() as u64);
        let pages: Vec<(usize, &[u8])> = v
            .chunks(SPARSE_PAGE)
            .enumerate()
            .filter(|(_, p)| !all_equal(p, fill))
            .collect();
        self.u64(pages.len() as u64);
        for (i, p) in pages {
            self.u64(i as u64);
            self.buf.extend_from_slice(p);
        }
    }
}

/// Whether every byte of `data` is `value`. Folds instead of stopping at
/// the first difference, which the compiler vectorises: scanning a large,
/// mostly blank RAM or flash for a snapshot is memory-bound.
pub fn all_equal(data: &[u8], value: u8) -> bool {
    data.iter().fold(0u8, |acc, &b| acc | (b ^ value)) == 0
}

/// Page size of [`StateWriter::sparse`].
const SPARSE_PAGE: usize = 4096;

/// Reads one device's saved fields back, in the order they were written.
#[derive(Debug)]
pub struct StateReader<'a> {
    data: &'a [u8],
    pos: usize,
    device: String,
}

impl<'a> StateReader<'a> {
    /// A reader over `data`, the saved state of device `device` (named in
    /// errors).
    pub fn new(device: &str, data: &'a [u8]) -> Self {
        StateReader {
            data,
            pos: 0,
            device: device.to_string(),
        }
    }

    /// The device the state belongs to.
    pub fn device(&self) -> &str {
        &self.device
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], StateError> {
        let rest = &self.data[self.pos..];
        if rest.len() < n {
            return Err(StateError::Truncated {
                device: self.device.clone(),
                field,
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], StateError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    /// A byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, StateError> {
        Ok(self.take(1, field)?[0])
    }

    /// A boolean; anything but 0 or 1 is refused.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, StateError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.invalid(field, v)),
        }
    }

    /// 16 bits.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, StateError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// 32 bits.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// 64 bits.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// 128 bits.
    pub fn u128(&mut self, field: &'static str) -> Result<u128, StateError> {
        Ok(u128::from_le_bytes(self.array(field)?))
    }

    /// A length, checked against the bytes that remain (each element takes
    /// at least `min_elem` bytes), so a corrupt length cannot make the
    /// reader allocate without bound.
    pub fn len(&mut self, field: &'static str, min_elem: usize) -> Result<usize, StateError> {
        let n = self.u64(field)?;
        let left = (self.data.len() - self.pos) as u64;
        if n.saturating_mul(min_elem.max(1) as u64) > left {
            return Err(StateError::Truncated {
                device: self.device.clone(),
                field,
            });
        }
        Ok(n as usize)
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, StateError> {
        let n = self.len(field, 1)?;
        Ok(self.take(n, field)?.to_vec())
    }

    /// Exactly `out.len()` bytes written by [`StateWriter::raw`].
    pub fn raw_into(&mut self, field: &'static str, out: &mut [u8]) -> Result<(), StateError> {
        out.copy_from_slice(self.take(out.len(), field)?);
        Ok(())
    }

    /// A length-prefixed UTF-8 string.
    pub fn string(&mut self, field: &'static str) -> Result<String, StateError> {
        let b = self.bytes(field)?;
        String::from_utf8(b).map_err(|_| self.invalid(field, "not UTF-8"))
    }

    /// A buffer written by [`StateWriter::sparse`], which must be `len`
    /// bytes long; pages not saved are `fill`. With `fill` 0 the buffer
    /// comes from the allocator's zeroed pages, so restoring a large,
    /// mostly blank buffer costs only its saved pages.
    pub fn sparse(&mut self, field: &'static str, len: usize, fill: u8) -> Result<Vec<u8>, StateError> {
        let saved = self.u64(field)?;
        if saved != len as u64 {
            return Err(self.invalid(field, format!("length {saved:#x}, expected {len:#x}")));
        }
        let pages = self.len(field, 8)?;
        let mut out = vec![fill; len];
        for _ in 0..pages {
            let i = self.u64(field)?;
            let start = usize::try_from(i)
                .ok()
                .and_then(|i| i.checked_mul(SPARSE_PAGE))
                .filter(|&s| s < out.len())
                .ok_or_else(|| self.invalid(field, format!("page index {i}")))?;
            let end = (start + SPARSE_PAGE).min(out.len());
            out[start..end].copy_from_slice(self.take(end - start, field)?);
        }
        Ok(out)
    }

    /// An error for `field` holding `value`.
    pub fn invalid(&self, field: &'static str, value: impl std::fmt::Display) -> StateError {
        StateError::Invalid {
            device: self.device.clone(),
            field,
            value: value.to_string(),
        }
    }

    /// Checks that every byte was read.
    pub fn finish(self) -> Result<(), StateError> {
        let extra = self.data.len() - self.pos;
        if extra == 0 {
            Ok(())
        } else {
            Err(StateError::Trailing {
                device: self.device,
                extra,
            })
        }
    }
}

/// Saves `dev` and restores the bytes into `fresh` (a device built the same
/// way), returning the bytes of both saves: tests compare them to show the
/// state survives the round trip.
#[cfg(test)]
pub(crate) fn round_trip(dev: &dyn crate::device::Device, fresh: &mut dyn crate::device::Device) -> (Vec<u8>, Vec<u8>) {
    let mut w = StateWriter::new();
    dev.save_state(&mut w).unwrap();
    let a = w.into_bytes();
    let mut r = StateReader::new(fresh.name(), &a);
    fresh.restore_state(&mut r).unwrap();
    r.finish().unwrap();
    let mut w = StateWriter::new();
    fresh.save_state(&mut w).unwrap();
    (a, w.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_in_order_and_leftovers_or_shortfalls_are_errors() {
        let mut w = StateWriter::new();
        w.u8(7);
        w.bool(true);
        w.u16(0x1234);
        w.u32(0xdead_beef);
        w.u64(u64::MAX);
        w.u128(1 << 100);
        w.str("hello");
        let mut big = vec![0xffu8; 3 * 4096 + 10];
        big[4096 + 5] = 1;
        big[3 * 4096 + 9] = 2;
        w.sparse(&big, 0xff);
        let bytes = w.into_bytes();
        let mut r = StateReader::new("dev", &bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert!(r.bool("b").unwrap());
        assert_eq!(r.u16("c").unwrap(), 0x1234);
        assert_eq!(r.u32("d").unwrap(), 0xdead_beef);
        assert_eq!(r.u64("e").unwrap(), u64::MAX);
        assert_eq!(r.u128("f").unwrap(), 1 << 100);
        assert_eq!(r.string("g").unwrap(), "hello");
        assert_eq!(r.sparse("h", big.len(), 0xff).unwrap(), big);
        r.finish().unwrap();
        // Two dirty pages of the four were stored.
        assert!(bytes.len() < 2 * 4096 + 100, "{}", bytes.len());

        let mut r = StateReader::new("dev", &bytes[..3]);
        r.u8("a").unwrap();
        r.bool("b").unwrap();
        assert_eq!(
            r.u16("flag").unwrap_err().to_string(),
            "dev: saved state ends before field flag"
        );
        let r = StateReader::new("dev", &bytes[..3]);
        assert!(matches!(r.finish(), Err(StateError::Trailing { extra: 3, .. })));
        let mut r = StateReader::new("dev", &[2]);
        assert!(matches!(r.bool("on"), Err(StateError::Invalid { field: "on", .. })));
        // A huge length prefix is refused before allocating.
        let mut w = StateWriter::new();
        w.u64(u64::MAX);
        let b = w.into_bytes();
        assert!(StateReader::new("dev", &b).bytes("blob").is_err());
    }
}
