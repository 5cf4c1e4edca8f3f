//! Pages rendered once with placeholders, then filled per request by plain concatenation —
//! for pages that differ between requests only in a few values (a respondent's blank form
//! differs only in its nonce, start time and link) — and gzipped without compressing anything
//! per request.

/// A page rendered once with placeholders, then filled per request by plain concatenation:
/// for pages that differ between requests only in a few values (a respondent's blank form
/// differs only in its nonce, start time and link). Values are escaped as Tera would.
#[derive(Debug)]
pub struct Spliced {
    parts: Vec<Part>,
    len: usize,
}

#[derive(Debug)]
enum Part {
    /// A stretch of the page, and the same compressed once: raw deflate blocks that end on a
    /// byte boundary and refer to nothing before them, so they can be strung together with the
    /// slots' values.
    Text {
        text: String,
        deflated: Vec<u8>,
    },
    Slot(usize),
}

impl Part {
    fn text(text: String) -> Part {
        let deflated = deflate_part(text.as_bytes());
        Part::Text { text, deflated }
    }
}

impl Spliced {
    /// Renders `name` with `ctx` plus one placeholder variable per name in `slots`.
    pub fn render(
        tera: &tera::Tera,
        name: &str,
        mut ctx: tera::Context,
        slots: &[&str],
    ) -> Result<Spliced, tera::Error> {
        let marks: Vec<String> = (0..slots.len())
            .map(|i| format!("RenkeSlot{i}x{:016x}", rand::random::<u64>()))
            .collect();
        for (slot, mark) in slots.iter().zip(&marks) {
            ctx.insert(*slot, mark);
        }
        let mut rest = tera.render(name, &ctx)?;
        let len = rest.len();
        let mut parts = Vec::new();
        loop {
            let next = marks
                .iter()
                .enumerate()
                .filter_map(|(i, m)| rest.find(m.as_str()).map(|at| (at, i, m.len())))
                .min();
            let Some((at, slot, mark_len)) = next else {
                parts.push(Part::text(rest));
                break;
            };
            let tail = rest.split_off(at);
            parts.push(Part::text(rest));
            parts.push(Part::Slot(slot));
            rest = tail[mark_len..].to_owned();
        }
        Ok(Spliced { parts, len })
    }

    /// `fill`, gzipped, without compressing anything per request: the text parts were
    /// compressed once, each slot's value goes in as a stored block, and only the checksum is
    /// computed as the page goes by.
    pub fn fill_gzip(&self, values: &[&str]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        let mut out = Vec::with_capacity(self.len / 3 + 64);
        // gzip header: deflate, no name, no time, unknown OS.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        for part in &self.parts {
            match part {
                Part::Text { text, deflated } => {
                    crc.update(text.as_bytes());
                    out.extend_from_slice(deflated);
                }
                Part::Slot(i) => {
                    let value = slot_value(values, *i);
                    crc.update(value.as_bytes());
                    for chunk in value.as_bytes().chunks(u16::MAX as usize) {
                        stored_block(&mut out, chunk, false);
                    }
                }
            }
        }
        stored_block(&mut out, &[], true);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        out
    }

    /// The page with `values[i]` (escaped) in slot `i`.
    pub fn fill(&self, values: &[&str]) -> String {
        let mut out = String::with_capacity(self.len + 64);
        for part in &self.parts {
            match part {
                Part::Text { text, .. } => out.push_str(text),
                Part::Slot(i) => out.push_str(&slot_value(values, *i)),
            }
        }
        out
    }
}

/// Slot `i`'s value, escaped as Tera would.
fn slot_value(values: &[&str], i: usize) -> String {
    tera::escape_html(values.get(i).unwrap_or(&""))
}

/// Raw deflate of `text` at the best level, ended by a sync flush: byte-aligned, not final.
fn deflate_part(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(text);
    let _ = encoder.flush();
    encoder.get_ref().clone()
}

/// A deflate stored block (the stream is byte-aligned before it): header, length, its
/// complement, the bytes.
fn stored_block(out: &mut Vec<u8>, bytes: &[u8], last: bool) {
    let len = bytes.len() as u16;
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::templates::load;

    /// The thanks page with its one slot.
    fn thanks(tera: &tera::Tera) -> Spliced {
        Spliced::render(
            tera,
            "respond/thanks.html",
            tera::Context::new(),
            &["draft_key"],
        )
        .unwrap()
    }

    #[test]
    fn the_gzipped_fill_unzips_to_the_plain_fill() {
        let spliced = thanks(&load().unwrap());
        let long = "长".repeat(30_000);
        for value in ["/s/a<b>&\"c'", "", long.as_str()] {
            let gz = spliced.fill_gzip(&[value]);
            let mut unzipped = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&gz[..]),
                &mut unzipped,
            )
            .unwrap();
            assert_eq!(unzipped, spliced.fill(&[value]));
        }
        assert!(spliced.fill_gzip(&["x"]).len() < spliced.fill(&["x"]).len());
    }

    #[test]
    fn a_spliced_page_equals_the_page_rendered_with_the_values() {
        let tera = load().unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("draft_key", "/s/a<b>&\"c'");
        let direct = tera.render("respond/thanks.html", &ctx).unwrap();
        assert_eq!(thanks(&tera).fill(&["/s/a<b>&\"c'"]), direct);
    }
}
