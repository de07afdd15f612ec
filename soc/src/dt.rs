//! A small device-tree model. Devices describe themselves with it
//! ([`crate::device::Device::dt_node`]); `boards` renders the same tree both
//! as a DTB (for the guest) and as DTS text (for people), so the two cannot
//! disagree.

/// A property value, in the forms DTS distinguishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropValue {
    /// A property with no value (a flag such as `interrupt-controller`).
    Empty,
    /// `<a b c>`: big-endian 32-bit cells.
    Cells(Vec<u32>),
    /// `"a"` or `"a", "b"`: one or more NUL-terminated strings.
    Strings(Vec<String>),
    /// `[00 01]`: raw bytes.
    Bytes(Vec<u8>),
    /// `<&a &b>`: the phandles of the nodes with these labels, resolved when
    /// the tree is rendered.
    PhandleRefs(Vec<String>),
    /// `<&a 3 0>`: one phandle (by label) followed by argument cells, as
    /// GPIO and similar specifiers are written.
    PhandleArgs(String, Vec<u32>),
}

/// One node of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Node {
    /// Node name including the unit address, e.g. `pl011@9000000`.
    pub name: String,
    /// Optional label other nodes refer to with [`PropValue::PhandleRefs`];
    /// a labelled node gets a `phandle` property when rendered.
    pub label: Option<String>,
    /// Properties in output order.
    pub props: Vec<(String, PropValue)>,
    /// Child nodes in output order.
    pub children: Vec<Node>,
}

impl Node {
    /// A node called `name` with no properties.
    pub fn new(name: impl Into<String>) -> Self {
        Node {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A node `base@unit` whose unit address is `addr` in lower-case hex.
    pub fn with_unit(base: &str, addr: u64) -> Self {
        Node::new(format!("{base}@{addr:x}"))
    }

    /// Adds a property (builder style).
    pub fn prop(mut self, name: &str, value: PropValue) -> Self {
        self.props.push((name.to_string(), value));
        self
    }

    /// Adds a string property.
    pub fn string(self, name: &str, value: &str) -> Self {
        self.prop(name, PropValue::Strings(vec![value.to_string()]))
    }

    /// Adds a string-list property.
    pub fn strings(self, name: &str, values: &[&str]) -> Self {
        self.prop(name, PropValue::Strings(values.iter().map(|s| s.to_string()).collect()))
    }

    /// Adds a cell-list property.
    pub fn cells(self, name: &str, values: &[u32]) -> Self {
        self.prop(name, PropValue::Cells(values.to_vec()))
    }

    /// Adds a `reg`-style property of (address, size) pairs with two address
    /// cells and two size cells, the layout of the root node.
    pub fn reg64(self, ranges: &[(u64, u64)]) -> Self {
        let mut cells = Vec::new();
        for &(a, s) in ranges {
            cells.extend([(a >> 32) as u32, a as u32, (s >> 32) as u32, s as u32]);
        }
        self.prop("reg", PropValue::Cells(cells))
    }

    /// Adds an empty (flag) property.
    pub fn flag(self, name: &str) -> Self {
        self.prop(name, PropValue::Empty)
    }

    /// Sets the label.
    pub fn labelled(mut self, label: &str) -> Self {
        self.label = Some(label.to_string());
        self
    }

    /// Adds a child node.
    pub fn child(mut self, node: Node) -> Self {
        self.children.push(node);
        self
    }

    /// The value of property `name`, if present.
    pub fn get(&self, name: &str) -> Option<&PropValue> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}
