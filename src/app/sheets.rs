//! Uploaded files: spooled to disk as they arrive, and workbooks (XLSX) read within limits. A
//! workbook is a zip whose few kilobytes may unpack to gigabytes (whatever sizes its headers
//! claim) or claim a million-column sheet, so it is unpacked once, counting, before it is
//! opened, and its first sheet is read cell by cell, never as a rows × columns grid of the size
//! it claims.

use crate::domain::frame::{self, Record, RosterErrors};
use crate::error::AppError;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};

/// An uploaded file, spooled to an unnamed temporary file as it arrives (gone when dropped, and
/// with the process if it dies), so a large roster is never held in memory whole, nor is one
/// that waits its turn.
pub struct Upload {
    file: std::fs::File,
    len: u64,
}

fn spool_failed(e: std::io::Error) -> AppError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        tracing::warn!(error = %e, "upload spool: disk full");
        return AppError::InsufficientStorage;
    }
    AppError::Internal(format!("upload spool: {e}"))
}

impl Upload {
    pub fn new() -> Result<Upload, AppError> {
        let file = tempfile::tempfile().map_err(spool_failed)?;
        Ok(Upload { file, len: 0 })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Upload, AppError> {
        let mut upload = Upload::new()?;
        upload.append(bytes)?;
        Ok(upload)
    }

    pub fn append(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        self.file.write_all(bytes).map_err(spool_failed)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole file in memory (for the small uploads that are read whole).
    pub fn into_bytes(mut self) -> Result<Vec<u8>, AppError> {
        let mut bytes = Vec::with_capacity(self.len as usize);
        self.file.rewind().map_err(spool_failed)?;
        self.file.read_to_end(&mut bytes).map_err(spool_failed)?;
        Ok(bytes)
    }
}

/// A roster's file, opened to be read as often as needed (checked, then read again to be
/// stored), never whole in memory if it is a CSV.
pub enum RosterFile {
    /// A CSV in its spooled file, from `start` (after a BOM): UTF-8 as it is, else GBK decoded
    /// as it streams.
    Csv {
        file: std::fs::File,
        start: u64,
        gbk: bool,
    },
    /// A workbook's first sheet (workbooks are bounded in rows, so this is small).
    Sheet(Vec<(u64, Vec<String>)>),
}

impl RosterFile {
    /// Opens an uploaded roster: a workbook is read within `limits`; a CSV's encoding is told by
    /// reading it through once (a GBK file that does not decode is refused).
    /// `label` names the group in a refusal.
    pub fn open(upload: Upload, limits: &Limits, label: &str) -> Result<RosterFile, AppError> {
        let mut file = upload.file;
        file.rewind().map_err(spool_failed)?;
        let mut head = Vec::with_capacity(4);
        (&mut file)
            .take(4)
            .read_to_end(&mut head)
            .map_err(spool_failed)?;
        if is_xlsx(&head) {
            file.rewind().map_err(spool_failed)?;
            return Ok(RosterFile::Sheet(xlsx_rows(BufReader::new(file), limits)?));
        }
        let start = if head.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        file.seek(SeekFrom::Start(start)).map_err(spool_failed)?;
        let utf8 = is_utf8(&file).map_err(spool_failed)?;
        if !utf8 {
            file.seek(SeekFrom::Start(start)).map_err(spool_failed)?;
            let mut gbk = Gbk::new(BufReader::new(&file));
            if std::io::copy(&mut gbk, &mut std::io::sink()).is_err() {
                return Err(refused_roster(label, RosterErrors::unrecognised_encoding()));
            }
        }
        Ok(RosterFile::Csv {
            file,
            start,
            gbk: !utf8,
        })
    }

    /// The roster's records from the top, the header first.
    pub fn records(&mut self) -> Result<Box<dyn Iterator<Item = Record> + '_>, AppError> {
        Ok(match self {
            RosterFile::Sheet(rows) => Box::new(
                rows.iter()
                    .map(|(line, cells)| Ok((*line, csv::StringRecord::from(cells.clone())))),
            ),
            RosterFile::Csv { file, start, gbk } => {
                file.seek(SeekFrom::Start(*start)).map_err(spool_failed)?;
                let text = BufReader::with_capacity(64 * 1024, &*file);
                if *gbk {
                    Box::new(frame::csv_records(Gbk::new(text)))
                } else {
                    Box::new(frame::csv_records(text))
                }
            }
        })
    }
}

/// Roster errors as the refusal of the upload (every line and reason listed, nothing stored).
pub fn refused_roster(label: &str, e: RosterErrors) -> AppError {
    AppError::Unprocessable {
        field: Some("file".into()),
        message: format!("{label}名册有 {} 处错误，未导入任何数据", e.total),
        details: serde_json::json!({"errors": e.errors, "error_count": e.total}),
    }
}

/// Whether a stream is UTF-8 throughout, read a buffer at a time (the bytes of a character cut
/// at a buffer's end are carried to the next).
fn is_utf8(mut r: impl Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut kept = 0;
    loop {
        let n = r.read(&mut buf[kept..])?;
        if n == 0 {
            return Ok(kept == 0);
        }
        let filled = kept + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => kept = 0,
            Err(e) if e.error_len().is_none() => {
                let from = e.valid_up_to();
                buf.copy_within(from..filled, 0);
                kept = filled - from;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// GBK (GB18030, as Excel saves CSV in China) decoded to UTF-8 as it is read; a byte sequence
/// that is not GBK is an error.
struct Gbk<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    out: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: BufRead> Gbk<R> {
    fn new(inner: R) -> Self {
        Gbk {
            inner,
            decoder: encoding_rs::GB18030.new_decoder_without_bom_handling(),
            out: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Gbk<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            if self.done {
                return Ok(0);
            }
            let src = self.inner.fill_buf()?;
            let last = src.is_empty();
            let room = self
                .decoder
                .max_utf8_buffer_length_without_replacement(src.len())
                .unwrap_or(src.len() * 4 + 16);
            self.out.resize(room, 0);
            let (result, read, written) =
                self.decoder
                    .decode_to_utf8_without_replacement(src, &mut self.out, last);
            self.inner.consume(read);
            self.out.truncate(written);
            self.at = 0;
            match result {
                encoding_rs::DecoderResult::Malformed(..) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not GBK",
                    ));
                }
                encoding_rs::DecoderResult::InputEmpty if last => self.done = true,
                _ => {}
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// What a workbook may hold: unpacked bytes, and the rows, columns and cells of its first sheet
/// that are read; `what` names the data in messages (名册, 学校数据).
pub struct Limits {
    pub unpacked: u64,
    pub rows: u32,
    pub columns: u32,
    pub cells: usize,
    /// The text of all cells read, in bytes: many cells may show one long shared string, each
    /// its own copy once read.
    pub text: usize,
    pub what: &'static str,
}

/// Whether the bytes are a zip (an XLSX), not text.
pub fn is_xlsx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// A cell as text: whole numbers without a decimal point (学号 20220101, 手机 13800000000),
/// dates as Excel shows them.
fn cell_text(value: calamine::Data) -> String {
    match value {
        calamine::Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        other => other.to_string(),
    }
}

/// The first sheet of a workbook, from its first used row and column (as a spreadsheet shows
/// it): each row with its number as the sheet shows it (1: the first), read within `limits`.
pub fn xlsx_rows<R: Read + Seek>(
    workbook: R,
    limits: &Limits,
) -> Result<Vec<(u64, Vec<String>)>, AppError> {
    use calamine::{Reader, Xlsx};
    let bad = |m: String| AppError::invalid("file", m);
    let unreadable = |e: &dyn std::fmt::Display| bad(format!("XLSX 无法读取：{e}"));
    let too_big = |unpacked: u64| {
        bad(format!(
            "XLSX 解压后超过 {} MB（至少 {} MB）：请只保留{}这一张工作表后再上传，或另存为 CSV",
            limits.unpacked >> 20,
            unpacked >> 20,
            limits.what
        ))
    };
    let mut zip = zip::ZipArchive::new(workbook).map_err(|e| unreadable(&e))?;
    // What the headers claim first (a cheap refusal of an honest big file), then what the
    // entries really unpack to, counted as they are unpacked (a forged header claims little).
    let mut unpacked = 0u64;
    for i in 0..zip.len() {
        unpacked += zip.by_index_raw(i).map_err(|e| unreadable(&e))?.size();
    }
    if unpacked > limits.unpacked {
        return Err(too_big(unpacked));
    }
    let mut unpacked = 0u64;
    // The shared strings are held whole once opened (referenced or not): bounded apart too, at
    // half the text a sheet may make.
    let shared_bound = (limits.text / 2) as u64;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| unreadable(&e))?;
        let shared = entry
            .name()
            .is_ok_and(|n| n.eq_ignore_ascii_case("xl/sharedStrings.xml"));
        let left = limits.unpacked - unpacked;
        let bound = if shared { left.min(shared_bound) } else { left };
        let n = std::io::copy(&mut entry.take(bound + 1), &mut std::io::sink()).map_err(|e| {
            bad(format!(
                "XLSX 解压时出错（{e}）：文件可能已损坏，请用 Excel 另存后再上传"
            ))
        })?;
        unpacked += n;
        if n > bound {
            return Err(if shared && bound == shared_bound {
                bad(format!(
                    "XLSX 的共享文字超过上限 {} MB：请删去多余的内容，更大的{}请另存为 CSV",
                    shared_bound >> 20,
                    limits.what
                ))
            } else {
                too_big(unpacked)
            });
        }
    }
    let mut workbook = zip.into_inner();
    workbook.rewind().map_err(|e| unreadable(&e))?;
    let mut book: Xlsx<_> = Xlsx::new(workbook).map_err(|e| unreadable(&e))?;
    let first = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| bad("XLSX 中没有工作表".into()))?;
    let mut reader = book
        .worksheet_cells_reader(&first)
        .map_err(|e| unreadable(&e))?;
    let mut cells = Vec::new();
    let mut text_bytes = 0usize;
    while let Some(cell) = reader.next_cell().map_err(|e| unreadable(&e))? {
        let (row, col) = cell.get_position();
        let text = cell_text(calamine::Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        if row >= limits.rows || col >= limits.columns {
            return Err(bad(format!(
                "XLSX 第 {} 行第 {} 列有内容，超出上限（{} 行、{} 列）：请删去表格之外的内容后再上传，更大的{}请另存为 CSV",
                row + 1,
                col + 1,
                limits.rows,
                limits.columns,
                limits.what
            )));
        }
        if cells.len() == limits.cells {
            return Err(bad(format!(
                "XLSX 的单元格超过上限 {} 个：更大的{}请另存为 CSV",
                limits.cells, limits.what
            )));
        }
        text_bytes += text.len();
        if text_bytes > limits.text {
            return Err(bad(format!(
                "XLSX 的文字超过上限 {} MB（到第 {} 行）：请删去多余的内容，更大的{}请另存为 CSV",
                limits.text >> 20,
                row + 1,
                limits.what
            )));
        }
        cells.push((row, col, text));
    }
    let (Some(top), Some(left)) = (
        cells.iter().map(|c| c.0).min(),
        cells.iter().map(|c| c.1).min(),
    ) else {
        return Ok(Vec::new());
    };
    let bottom = cells.iter().map(|c| c.0).max().unwrap_or(top);
    let right = cells.iter().map(|c| c.1).max().unwrap_or(left);
    let width = (right - left + 1) as usize;
    let mut rows: Vec<(u64, Vec<String>)> = (top..=bottom)
        .map(|r| (u64::from(r) + 1, Vec::new()))
        .collect();
    for (row, col, text) in cells {
        let cells = &mut rows[(row - top) as usize].1;
        if cells.is_empty() {
            cells.resize(width, String::new());
        }
        cells[(col - left) as usize] = text;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out one byte at a time: every buffer boundary falls everywhere.
    struct Trickle<R>(R);
    impl<R: Read> Read for Trickle<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn utf8_is_told_across_buffer_ends() {
        // A three-byte character straddling the 64 KiB buffer's end, and one cut off at the end.
        let mut text = "a".repeat(64 * 1024 - 1).into_bytes();
        text.extend_from_slice("城关镇,张三\n".as_bytes());
        assert!(is_utf8(&text[..]).unwrap());
        assert!(is_utf8(Trickle(&text[..])).unwrap());
        assert!(
            !is_utf8(&text[..text.len() - 2]).unwrap(),
            "a character cut off"
        );
        let (gbk, _, _) = encoding_rs::GBK.encode("城关镇,张三\n");
        assert!(!is_utf8(&gbk[..]).unwrap());
    }

    #[test]
    fn gbk_is_decoded_as_it_streams() {
        let text = "编号,乡镇,姓名\n".to_owned() + &"d1,城关镇,欧阳张三\r\n".repeat(9_000);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        for reader in [
            Box::new(Gbk::new(BufReader::new(&gbk[..]))) as Box<dyn Read>,
            Box::new(Gbk::new(BufReader::with_capacity(1, Trickle(&gbk[..])))),
        ] {
            let mut out = String::new();
            { reader }.read_to_string(&mut out).unwrap();
            assert_eq!(out, text);
        }
        let mut bad = gbk.into_owned();
        bad.extend_from_slice(b"\xFF\xFF");
        let mut out = Vec::new();
        assert!(
            Gbk::new(BufReader::new(&bad[..]))
                .read_to_end(&mut out)
                .is_err()
        );
    }

    #[test]
    fn one_long_shared_string_in_many_cells_is_bounded_by_the_text_it_makes() {
        // A workbook of a few kilobytes: 10,000 cells all showing one 2,000-character string.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let long = "长".repeat(2_000);
        for r in 0..10_000u32 {
            sheet.write_string(r, 0, &long).unwrap();
        }
        let bytes = book.save_to_buffer().unwrap();
        assert!(bytes.len() < 200_000, "{}", bytes.len());
        let limits = Limits {
            unpacked: 16 * 1024 * 1024,
            rows: 100_000,
            columns: 10,
            cells: 200_000,
            text: 16 * 1024 * 1024,
            what: "名册",
        };
        match xlsx_rows(std::io::Cursor::new(&bytes), &limits) {
            Err(AppError::Invalid { message, .. }) => {
                assert!(message.contains("文字超过上限 16 MB"), "{message}")
            }
            other => panic!("accepted: {:?}", other.map(|rows| rows.len())),
        }
    }

    #[test]
    fn the_shared_strings_are_bounded_apart() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for r in 0..20_000u32 {
            sheet.write_string(r, 0, format!("{r:040}")).unwrap();
        }
        let bytes = book.save_to_buffer().unwrap();
        let limits = Limits {
            unpacked: 16 * 1024 * 1024,
            rows: 100_000,
            columns: 10,
            cells: 200_000,
            text: 1024 * 1024,
            what: "名册",
        };
        match xlsx_rows(std::io::Cursor::new(&bytes), &limits) {
            Err(AppError::Invalid { message, .. }) => {
                assert!(message.contains("共享文字超过上限"), "{message}")
            }
            other => panic!("accepted: {:?}", other.map(|rows| rows.len())),
        }
    }

    #[test]
    fn a_full_disk_is_said_so_not_an_internal_error() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(matches!(spool_failed(full), AppError::InsufficientStorage));
    }

    /// Sets every size the zip's headers give for unpacked entries to ten bytes.
    fn forge_sizes(zip: &mut [u8]) {
        let mut i = 0;
        while i + 30 < zip.len() {
            let at = match &zip[i..i + 4] {
                b"PK\x03\x04" => Some(i + 22),
                b"PK\x01\x02" => Some(i + 24),
                _ => None,
            };
            if let Some(at) = at
                && zip[at..at + 4] != [0; 4]
            {
                zip[at..at + 4].copy_from_slice(&10u32.to_le_bytes());
            }
            i += 1;
        }
    }

    #[test]
    fn a_workbook_is_measured_by_what_it_unpacks_to_not_what_it_claims() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for r in 0..40_000u32 {
            sheet.write_number(r, 0, f64::from(r) * 7.0).unwrap();
            sheet
                .write_number(r, 1, 13_800_000_000.0 + f64::from(r))
                .unwrap();
        }
        let honest = book.save_to_buffer().unwrap();
        let limits = Limits {
            unpacked: 1024 * 1024,
            rows: 100_000,
            columns: 10,
            cells: 200_000,
            text: 16 * 1024 * 1024,
            what: "名册",
        };
        let refused = |bytes: &[u8]| match xlsx_rows(std::io::Cursor::new(bytes), &limits) {
            Err(AppError::Invalid { message, .. }) => message,
            other => panic!("accepted: {:?}", other.map(|rows| rows.len())),
        };
        assert!(
            refused(&honest).contains("超过 1 MB"),
            "{}",
            refused(&honest)
        );
        // Headers that claim ten bytes an entry: found out as the entries are unpacked.
        let mut forged = honest.clone();
        forge_sizes(&mut forged);
        assert_ne!(forged, honest);
        let message = refused(&forged);
        assert!(message.contains("解压时出错"), "{message}");
        let roomy = Limits {
            unpacked: 16 * 1024 * 1024,
            ..limits
        };
        let message = match xlsx_rows(std::io::Cursor::new(&forged), &roomy) {
            Err(AppError::Invalid { message, .. }) => message,
            other => panic!("accepted: {:?}", other.map(|rows| rows.len())),
        };
        assert!(message.contains("解压时出错"), "{message}");
        // Within the limit, the honest workbook is read whole.
        let rows = xlsx_rows(std::io::Cursor::new(&honest), &roomy).unwrap();
        assert_eq!(rows.len(), 40_000);
        assert_eq!(rows[1].1, vec!["7".to_owned(), "13800000001".to_owned()]);
    }
}
