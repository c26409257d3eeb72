//! What a page's content stream draws, as far as the choice between taking the embedded
//! image and rendering needs it: the images placed (with their matrices), vector
//! painting, forms, inline images, shadings, and text (visible or invisible).

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object, ObjectId};

/// A 2-D affine matrix `[a b c d e f]` as PDF writes it: `x' = a x + c y + e`,
/// `y' = b x + d y + f`.
pub type Matrix = [f64; 6];

pub const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `m` applied first, then `n` (PDF's `m × n`).
pub fn concat(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

pub fn apply(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
}

/// An image XObject drawn by the page.
#[derive(Debug, Clone)]
pub struct Placed {
    pub id: ObjectId,
    pub ctm: Matrix,
}

#[derive(Debug, Default)]
pub struct PageContent {
    pub images: Vec<Placed>,
    /// Images referenced directly in the resources (not by reference): cannot be told apart.
    pub direct_images: usize,
    pub forms: usize,
    pub inline_images: usize,
    /// Path painting (stroke, fill) and shadings.
    pub painting: usize,
    /// Text-showing operators in a visible render mode.
    pub visible_text: usize,
    /// Text-showing operators in render mode 3 (invisible) or 7 (clip): an OCR layer.
    pub invisible_text: usize,
}

/// Walks the content stream of a page with the page's resources.
pub fn analyse(
    content: &[u8],
    resources: &[&Dictionary],
    doc: &Document,
) -> Result<PageContent, String> {
    let ops = Content::decode(content).map_err(|e| format!("content stream not parsed: {e}"))?;
    let mut out = PageContent::default();
    let mut ctm = IDENTITY;
    let mut render_mode = 0i64;
    let mut stack: Vec<(Matrix, i64)> = Vec::new();
    let num = |o: &Object| o.as_float().map(f64::from).unwrap_or(0.0);
    for op in &ops.operations {
        match op.operator.as_str() {
            "q" => {
                if stack.len() > 256 {
                    return Err("graphics state nested too deeply".into());
                }
                stack.push((ctm, render_mode));
            }
            "Q" => {
                if let Some((m, r)) = stack.pop() {
                    ctm = m;
                    render_mode = r;
                }
            }
            "cm" if op.operands.len() == 6 => {
                let m: Vec<f64> = op.operands.iter().map(num).collect();
                ctm = concat(&[m[0], m[1], m[2], m[3], m[4], m[5]], &ctm);
            }
            "Tr" => {
                render_mode = op
                    .operands
                    .first()
                    .and_then(|o| o.as_i64().ok())
                    .unwrap_or(0)
            }
            "Tj" | "TJ" | "'" | "\"" => {
                if render_mode == 3 || render_mode == 7 {
                    out.invisible_text += 1;
                } else {
                    out.visible_text += 1;
                }
            }
            "S" | "s" | "f" | "F" | "f*" | "B" | "B*" | "b" | "b*" | "sh" => out.painting += 1,
            "BI" | "ID" | "EI" => out.inline_images += 1,
            "Do" => {
                let Some(name) = op.operands.first().and_then(|o| o.as_name().ok()) else {
                    continue;
                };
                match xobject(resources, doc, name) {
                    Some((Some(id), true)) => out.images.push(Placed { id, ctm }),
                    Some((None, true)) => out.direct_images += 1,
                    Some((_, false)) => out.forms += 1,
                    None => {}
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Finds XObject `name` in the resources: its id (when referenced) and whether it is an
/// image.
fn xobject(
    resources: &[&Dictionary],
    doc: &Document,
    name: &[u8],
) -> Option<(Option<ObjectId>, bool)> {
    for res in resources {
        let Ok(xobjects) = res.get(b"XObject") else {
            continue;
        };
        let xobjects = match xobjects {
            Object::Reference(id) => doc.get_dictionary(*id).ok()?,
            Object::Dictionary(d) => d,
            _ => continue,
        };
        let Ok(entry) = xobjects.get(name) else {
            continue;
        };
        let (id, obj) = match entry {
            Object::Reference(id) => (Some(*id), doc.get_object(*id).ok()?),
            other => (None, other),
        };
        let subtype = obj
            .as_stream()
            .ok()
            .and_then(|s| s.dict.get(b"Subtype").ok())
            .and_then(|s| s.as_name().ok());
        return Some((id, subtype == Some(b"Image")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_concatenate_in_pdf_order() {
        // scale, then translate
        let m = concat(
            &[2.0, 0.0, 0.0, 3.0, 0.0, 0.0],
            &[1.0, 0.0, 0.0, 1.0, 10.0, 20.0],
        );
        assert_eq!(apply(&m, 1.0, 1.0), (12.0, 23.0));
    }

    #[test]
    fn text_modes_and_painting_are_told_apart() {
        let doc = Document::with_version("1.7");
        let c = analyse(
            b"q 1 0 0 1 5 5 cm BT /F1 12 Tf 3 Tr (ocr) Tj ET Q BT 0 Tr (real) Tj [(a)] TJ ET 0 0 1 1 re f 0 0 5 5 re W n",
            &[],
            &doc,
        )
        .unwrap();
        assert_eq!((c.invisible_text, c.visible_text, c.painting), (1, 2, 1));
    }
}
