//! Reading device tree blobs supplied by users (`--dtb`,
//! `--board-from-dtb`): a strict, bounds-checked parser of the flattened
//! format (Devicetree Specification v0.4, chapter 5) into a plain tree.
//!
//! Every malformed blob is a [`DtbReadError`] naming the byte offset and
//! what is wrong; nothing here can panic or loop on hostile input (lengths
//! are checked before every slice, nesting is bounded, the walk advances
//! on every token).

/// A node read from a blob.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DtNode {
    /// Name with unit address, e.g. `pl011@9000000` (empty for the root).
    pub name: String,
    /// Properties in blob order.
    pub props: Vec<(String, Vec<u8>)>,
    /// Children in blob order.
    pub children: Vec<DtNode>,
}

impl DtNode {
    /// The raw value of property `name`.
    pub fn prop(&self, name: &str) -> Option<&[u8]> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The property as big-endian 32-bit cells (`None` if absent or not a
    /// whole number of cells).
    pub fn cells(&self, name: &str) -> Option<Vec<u32>> {
        let v = self.prop(name)?;
        if v.len() % 4 != 0 {
            return None;
        }
        Some(
            v.chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    /// A single-cell property.
    pub fn u32(&self, name: &str) -> Option<u32> {
        match self.cells(name)?.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// The property as a list of NUL-terminated strings.
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        let v = self.prop(name)?;
        let v = v.strip_suffix(&[0])?;
        v.split(|&b| b == 0)
            .map(|s| std::str::from_utf8(s).ok().map(str::to_string))
            .collect()
    }

    /// The first string of the property.
    pub fn string(&self, name: &str) -> Option<String> {
        self.strings(name)?.into_iter().next()
    }

    /// The child at `path` below this node (`a/b`, names with unit
    /// addresses; a name without `@` also matches `name@...`).
    pub fn find(&self, path: &str) -> Option<&DtNode> {
        let mut n = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            n = n
                .children
                .iter()
                .find(|c| c.name == part)
                .or_else(|| n.children.iter().find(|c| c.name.split('@').next() == Some(part)))?;
        }
        Some(n)
    }
}

/// Why a blob could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset:#x}: {reason}")]
pub struct DtbReadError {
    /// Offset in the blob where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// Deepest nesting accepted (real trees are a handful of levels deep).
const MAX_DEPTH: usize = 64;

fn err(offset: usize, reason: impl Into<String>) -> DtbReadError {
    DtbReadError {
        offset,
        reason: reason.into(),
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, DtbReadError> {
    b.get(at..at.saturating_add(4))
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .ok_or_else(|| err(at, "truncated: a 32-bit value runs past the end"))
}

fn align4(x: usize) -> usize {
    x.saturating_add(3) & !3
}

/// A NUL-terminated string starting at `at` in `b`.
fn cstr(b: &[u8], at: usize, what: &str) -> Result<String, DtbReadError> {
    let rest = b
        .get(at..)
        .ok_or_else(|| err(at, format!("{what} starts past the end")))?;
    let len = rest
        .iter()
        .position(|&c| c == 0)
        .ok_or_else(|| err(at, format!("{what} has no terminating NUL")))?;
    String::from_utf8(rest[..len].to_vec()).map_err(|_| err(at, format!("{what} is not UTF-8")))
}

/// Parses a flattened device tree (version 16 or later).
pub fn parse(blob: &[u8]) -> Result<DtNode, DtbReadError> {
    if be32(blob, 0)? != MAGIC {
        return Err(err(0, "not a device tree blob (bad magic)"));
    }
    let total = be32(blob, 4)? as usize;
    if total > blob.len() {
        return Err(err(
            4,
            format!("totalsize {total:#x} is larger than the file ({:#x} bytes)", blob.len()),
        ));
    }
    let b = &blob[..total];
    let off_struct = be32(b, 8)? as usize;
    let off_strings = be32(b, 12)? as usize;
    let version = be32(b, 20)?;
    let last_compat = be32(b, 24)?;
    if version < 16 || last_compat > 17 {
        return Err(err(
            20,
            format!("unsupported version {version} (last compatible {last_compat}); need 16 or 17"),
        ));
    }
    let size_strings = be32(b, 32)? as usize;
    let size_struct = if version >= 17 {
        be32(b, 36)? as usize
    } else {
        total.saturating_sub(off_struct)
    };
    let strings = b
        .get(off_strings..off_strings.saturating_add(size_strings))
        .ok_or_else(|| err(12, "strings block lies outside the blob"))?;
    let structure = b
        .get(off_struct..off_struct.saturating_add(size_struct))
        .ok_or_else(|| err(8, "structure block lies outside the blob"))?;

    // Walk the tokens with an explicit stack: no recursion on input depth.
    let mut stack: Vec<DtNode> = Vec::new();
    let mut root: Option<DtNode> = None;
    let mut pos = 0usize;
    loop {
        let at = off_struct + pos;
        let token = be32(structure, pos).map_err(|_| err(at, "structure block ends without an END token"))?;
        pos += 4;
        match token {
            BEGIN_NODE => {
                if root.is_some() {
                    return Err(err(at, "a second root node"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(at, format!("nodes nest deeper than {MAX_DEPTH}")));
                }
                let name = cstr(structure, pos, "node name").map_err(|e| err(off_struct + e.offset, e.reason))?;
                pos = align4(pos + name.len() + 1);
                stack.push(DtNode {
                    name,
                    ..DtNode::default()
                });
            }
            END_NODE => {
                let node = stack.pop().ok_or_else(|| err(at, "END_NODE without a node"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            PROP => {
                let len = be32(structure, pos).map_err(|_| err(at, "truncated property"))? as usize;
                let nameoff = be32(structure, pos + 4).map_err(|_| err(at, "truncated property"))? as usize;
                pos += 8;
                let value = structure
                    .get(pos..pos.saturating_add(len))
                    .ok_or_else(|| {
                        err(
                            at,
                            format!("property value of {len} bytes runs past the structure block"),
                        )
                    })?
                    .to_vec();
                pos = align4(pos + len);
                let name = cstr(strings, nameoff, "property name")
                    .map_err(|e| err(at, format!("{} (string offset {nameoff:#x})", e.reason)))?;
                let node = stack
                    .last_mut()
                    .ok_or_else(|| err(at, format!("property `{name}` outside any node")))?;
                node.props.push((name, value));
            }
            NOP => {}
            END => {
                if !stack.is_empty() {
                    return Err(err(at, format!("END with {} node(s) still open", stack.len())));
                }
                return root.ok_or_else(|| err(at, "no root node"));
            }
            other => return Err(err(at, format!("unknown structure token {other:#x}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use soc::dt::Node;

    fn sample() -> Vec<u8> {
        let root = Node::new("").cells("#address-cells", &[2]).string("model", "m").child(
            Node::with_unit("pl011", 0x900_0000)
                .strings("compatible", &["arm,pl011", "arm,primecell"])
                .reg64(&[(0x900_0000, 0x1000)]),
        );
        crate::fdt_out::to_dtb(&root).unwrap()
    }

    #[test]
    fn reads_what_we_write() {
        let t = parse(&sample()).unwrap();
        assert_eq!(t.u32("#address-cells"), Some(2));
        assert_eq!(t.string("model").as_deref(), Some("m"));
        let u = t.find("pl011").unwrap();
        assert_eq!(u.name, "pl011@9000000");
        assert_eq!(
            u.strings("compatible").unwrap(),
            ["arm,pl011".to_string(), "arm,primecell".to_string()]
        );
        assert_eq!(u.cells("reg").unwrap(), [0, 0x900_0000, 0, 0x1000]);
    }

    /// Every truncation and every single-byte corruption is an error or a
    /// tree, never a panic or a hang.
    #[test]
    fn damaged_blobs_are_errors() {
        let good = sample();
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err(), "truncated to {len} bytes");
        }
        let mut x = 0x1234_5678u32;
        for i in 0..good.len() {
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let mut bad = good.clone();
                bad[i] = x as u8;
                let _ = parse(&bad);
            }
        }
        assert_eq!(
            parse(b"not a dtb at all").unwrap_err().reason,
            "not a device tree blob (bad magic)"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        // Written by hand: our writer refuses trees this deep itself.
        let mut st: Vec<u8> = Vec::new();
        let word = |st: &mut Vec<u8>, w: u32| st.extend_from_slice(&w.to_be_bytes());
        for _ in 0..100 {
            word(&mut st, BEGIN_NODE);
            word(&mut st, 0x6100_0000); // "a\0" padded
        }
        for _ in 0..100 {
            word(&mut st, END_NODE);
        }
        word(&mut st, END);
        let mut blob = Vec::new();
        let hdr = [
            MAGIC,
            40 + st.len() as u32,
            40,
            40 + st.len() as u32,
            40,
            17,
            16,
            0,
            0,
            st.len() as u32,
        ];
        for h in hdr {
            blob.extend_from_slice(&h.to_be_bytes());
        }
        blob.extend_from_slice(&st);
        assert!(parse(&blob).unwrap_err().reason.contains("nest deeper"));
    }
}
