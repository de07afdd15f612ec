//! Generates the decoder from the encoding table `isa/*.isa`, read in file
//! name order (see the header of `isa/10-int.isa` for
//! its format): the `Op` enum, the `ROWS` table, the `Visitor` trait with one
//! method per row (fields as arguments, in pattern order), `decode` and
//! `dispatch`. A malformed row fails the build with the file's line number.

use std::fmt::Write as _;
use std::path::Path;

struct Field {
    name: String,
    lsb: u32,
    width: u32,
}

struct Row {
    file: String,
    name: String,
    group: String,
    line: usize,
    mask: u32,
    value: u32,
    fields: Vec<Field>,
    examples: Vec<u32>,
    overrides: Vec<String>,
}

fn fail(file: &str, line: usize, msg: &str) -> ! {
    panic!("{file}:{line}: {msg}");
}

fn parse(file: &str, text: &str, rows: &mut Vec<Row>, groups: &mut Vec<String>) {
    let mut group: Option<String> = None;
    for (i, raw_line) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw_line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(g) = l.strip_prefix("[group ").and_then(|g| g.strip_suffix(']')) {
            if !g.chars().all(|c| c.is_ascii_lowercase() || c == '_') || g.is_empty() {
                fail(file, line, "group names are lower_snake_case");
            }
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
            group = Some(g.to_string());
            continue;
        }
        let Some(group) = group.clone() else {
            fail(file, line, "a row before the first `[group NAME]` line");
        };
        let (spec, rest) = match l.split_once('@') {
            Some((s, r)) => (s, r),
            None => fail(file, line, "missing `@ EXAMPLE` column"),
        };
        let mut words = spec.split_whitespace();
        let name = words
            .next()
            .unwrap_or_else(|| fail(file, line, "missing name"))
            .to_string();
        if !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            fail(file, line, "row names are UPPER_SNAKE_CASE");
        }
        let mut bit: i32 = 32;
        let (mut mask, mut value) = (0u32, 0u32);
        let mut fields = Vec::new();
        for w in words {
            if let Some((fname, width)) = w.split_once(':') {
                let width: u32 = width
                    .parse()
                    .unwrap_or_else(|_| fail(file, line, &format!("bad field width in `{w}`")));
                bit -= width as i32;
                if bit < 0 || width == 0 {
                    fail(file, line, "pattern longer than 32 bits");
                }
                if fields.iter().any(|f: &Field| f.name == fname) {
                    fail(file, line, &format!("field `{fname}` named twice"));
                }
                fields.push(Field {
                    name: fname.to_string(),
                    lsb: bit as u32,
                    width,
                });
            } else {
                for c in w.chars() {
                    bit -= 1;
                    if bit < 0 {
                        fail(file, line, "pattern longer than 32 bits");
                    }
                    match c {
                        '0' => mask |= 1 << bit,
                        '1' => {
                            mask |= 1 << bit;
                            value |= 1 << bit;
                        }
                        '-' => {}
                        _ => fail(file, line, &format!("bad pattern character `{c}`")),
                    }
                }
            }
        }
        if bit != 0 {
            fail(file, line, &format!("pattern has {} bits, not 32", 32 - bit));
        }
        let mut examples = Vec::new();
        let mut overrides = Vec::new();
        for w in rest.split_whitespace() {
            if let Some(list) = w.strip_prefix("overrides=") {
                overrides.extend(list.split(',').filter(|s| !s.is_empty()).map(str::to_string));
            } else {
                let e = u32::from_str_radix(w, 16).unwrap_or_else(|_| fail(file, line, &format!("bad example `{w}`")));
                examples.push(e);
            }
        }
        if examples.is_empty() {
            fail(file, line, "each row needs at least one example encoding");
        }
        if rows.iter().any(|r| r.name == name) {
            fail(file, line, &format!("row `{name}` defined twice"));
        }
        rows.push(Row {
            file: file.to_string(),
            name,
            group,
            line,
            mask,
            value,
            fields,
            examples,
            overrides,
        });
    }
}

fn check_overrides(rows: &[Row]) {
    for r in rows {
        for o in &r.overrides {
            if !rows.iter().any(|x| &x.name == o) {
                fail(&r.file, r.line, &format!("overrides unknown row `{o}`"));
            }
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=isa");
    let mut files: Vec<_> = std::fs::read_dir("isa")
        .expect("read isa/")
        .map(|e| e.expect("read isa/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "isa"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(path).expect("read an isa/*.isa file");
        parse(&path.display().to_string(), &text, &mut rows, &mut groups);
    }
    check_overrides(&rows);
    let mut o = String::new();
    o.push_str("// @generated by build.rs from isa/*.isa -- do not edit.\n\n");

    o.push_str("/// One encoding class: one row of the table.\n");
    o.push_str("#[allow(non_camel_case_types, clippy::upper_case_acronyms)]\n");
    o.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(u16)]\npub enum Op {\n");
    for r in &rows {
        writeln!(o, "    /// `{}` line {}.\n    {},", r.file, r.line, r.name).unwrap();
    }
    o.push_str("}\n\n");

    o.push_str("/// Every row of the table, in match order.\npub static ROWS: &[Row] = &[\n");
    for r in &rows {
        write!(
            o,
            "    Row {{ op: Op::{}, name: {:?}, file: {:?}, line: {}, mask: {:#010x}, value: {:#010x}, fields: &[",
            r.name, r.name, r.file, r.line, r.mask, r.value
        )
        .unwrap();
        for f in &r.fields {
            write!(
                o,
                "Field {{ name: {:?}, lsb: {}, width: {} }}, ",
                f.name, f.lsb, f.width
            )
            .unwrap();
        }
        o.push_str("], examples: &[");
        for e in &r.examples {
            write!(o, "{e:#010x}, ").unwrap();
        }
        o.push_str("], overrides: &[");
        for x in &r.overrides {
            write!(o, "{x:?}, ").unwrap();
        }
        o.push_str("] },\n");
    }
    o.push_str("];\n\n");

    // One visitor trait per group, so each group's semantics (and
    // disassembly) can live in a module of its own; `Visitor` is all of them.
    // (A declared group with no rows yet still gets its, empty, trait.)
    let camel = |g: &str| -> String {
        g.split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    };
    o.push_str("/// The result type shared by every visitor group.\npub trait VisitorOut {\n    /// What each method returns.\n    type Out;\n}\n\n");
    for g in &groups {
        writeln!(
            o,
            "/// Rows of group `{g}`: one method per row; arguments are the row's fields in pattern order."
        )
        .unwrap();
        writeln!(
            o,
            "#[allow(clippy::too_many_arguments)]\npub trait {}Visitor: VisitorOut {{",
            camel(g)
        )
        .unwrap();
        for r in rows.iter().filter(|r| &r.group == g) {
            let args: Vec<String> = r.fields.iter().map(|f| format!("{}: u32", f.name)).collect();
            writeln!(
                o,
                "    /// Row `{}`.\n    fn {}(&mut self, {}) -> Self::Out;",
                r.name,
                r.name.to_lowercase(),
                args.join(", ")
            )
            .unwrap();
        }
        o.push_str("}\n\n");
    }
    let bounds: Vec<String> = groups.iter().map(|g| format!("{}Visitor", camel(g))).collect();
    writeln!(
        o,
        "/// A visitor of every row: implement each group's trait.\npub trait Visitor: {} {{}}\n",
        bounds.join(" + ")
    )
    .unwrap();
    writeln!(o, "impl<T: ?Sized + {}> Visitor for T {{}}\n", bounds.join(" + ")).unwrap();

    // Buckets on bits 28:25 (the A64 top-level op0 field) keep the scan short.
    o.push_str("static BUCKETS: [&[Op]; 16] = [\n");
    for b in 0u32..16 {
        let bv = b << 25;
        let bm = 0xfu32 << 25;
        let ops: Vec<String> = rows
            .iter()
            .filter(|r| (r.value ^ bv) & r.mask & bm == 0)
            .map(|r| format!("Op::{}", r.name))
            .collect();
        writeln!(o, "    &[{}],", ops.join(", ")).unwrap();
    }
    o.push_str("];\n\n");
    o.push_str("/// The first row (in table order) that matches `raw`, if any.\n#[inline]\npub fn decode(raw: u32) -> Option<Op> {\n");
    o.push_str("    BUCKETS[((raw >> 25) & 0xf) as usize].iter().copied().find(|&op| {\n        let r = &ROWS[op as usize];\n        raw & r.mask == r.value\n    })\n}\n\n");

    o.push_str("/// Extracts `op`'s fields from `raw` and calls the matching visitor method.\n#[inline]\npub fn dispatch<V: Visitor + ?Sized>(v: &mut V, op: Op, raw: u32) -> V::Out {\n    match op {\n");
    for r in &rows {
        let args: Vec<String> = r
            .fields
            .iter()
            .map(|f| {
                let mask = (1u64 << f.width) - 1;
                if f.lsb == 0 {
                    format!("raw & {mask:#x}")
                } else {
                    format!("(raw >> {}) & {mask:#x}", f.lsb)
                }
            })
            .collect();
        writeln!(
            o,
            "        Op::{} => v.{}({}),",
            r.name,
            r.name.to_lowercase(),
            args.join(", ")
        )
        .unwrap();
    }
    o.push_str("    }\n}\n");

    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("a64_decode.rs");
    std::fs::write(out, o).unwrap();
}
