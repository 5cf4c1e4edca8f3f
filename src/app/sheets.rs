//! Uploaded workbooks (XLSX) read within limits: a workbook is a zip whose few kilobytes may
//! unpack to gigabytes or claim a million-column sheet, so its unpacked size is checked before
//! it is opened and its first sheet is read cell by cell, never as a rows × columns grid of the
//! size it claims.

use crate::error::AppError;

/// What a workbook may hold: unpacked bytes, and the rows, columns and cells of its first sheet
/// that are read; `what` names the data in messages (名册, 学校数据).
pub struct Limits {
    pub unpacked: u64,
    pub rows: u32,
    pub columns: u32,
    pub cells: usize,
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
pub fn xlsx_rows(bytes: &[u8], limits: &Limits) -> Result<Vec<(u64, Vec<String>)>, AppError> {
    use calamine::{Reader, Xlsx};
    let bad = |m: String| AppError::invalid("file", m);
    let unreadable = |e: &dyn std::fmt::Display| bad(format!("XLSX 无法读取：{e}"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let mut unpacked = 0u64;
    for i in 0..zip.len() {
        unpacked += zip.by_index_raw(i).map_err(|e| unreadable(&e))?.size();
    }
    if unpacked > limits.unpacked {
        return Err(bad(format!(
            "XLSX 解压后有 {} MB，超过上限 {} MB：请只保留{}这一张工作表后再上传，或另存为 CSV",
            unpacked >> 20,
            limits.unpacked >> 20,
            limits.what
        )));
    }
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let first = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| bad("XLSX 中没有工作表".into()))?;
    let mut reader = book
        .worksheet_cells_reader(&first)
        .map_err(|e| unreadable(&e))?;
    let mut cells = Vec::new();
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
