//! The files tflite-support packs into a model with metadata (label lists, README text...):
//! a zip archive appended after the flatbuffer, whose members are named by the metadata's
//! `AssociatedFile.name`. Zip readers find an archive from its end (the end-of-central-directory
//! record), so the whole mapped file is handed to the reader and nothing is copied but the
//! member asked for.

use serde::Serialize;
use std::io::{Cursor, Read};

/// Largest member [`read`] returns: label files are kilobytes; this keeps a corrupt or hostile
/// size field from allocating gigabytes.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A member of the appended archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackedFile {
    pub name: String,
    /// Uncompressed size as recorded in the archive.
    pub size: u64,
    pub compressed_size: u64,
    /// "stored", "deflated", ... (the zip method).
    pub compression: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AssociatedFileError {
    #[error("the model has no zip archive of associated files appended")]
    NoArchive,
    #[error("the zip archive appended to the model is unreadable: {0}")]
    BadArchive(String),
    #[error("'{0}' is not in the zip archive appended to the model")]
    Missing(String),
    #[error("'{name}' in the model's zip archive is {size} bytes, over the {limit}-byte limit")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("cannot read '{name}' from the model's zip archive: {msg}")]
    Read { name: String, msg: String },
}

/// End-of-central-directory signature; it sits in the last 22 + 65535 (comment) bytes.
const EOCD: &[u8; 4] = b"PK\x05\x06";

/// Whether the file's tail holds an end-of-central-directory record, i.e. something appended
/// that looks like a zip. A plain model says "no archive" without running the zip reader.
fn has_eocd(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(22 + 0xFFFF)..];
    tail.windows(4).any(|w| w == EOCD)
}

fn open(bytes: &[u8]) -> Result<zip::ZipArchive<Cursor<&[u8]>>, AssociatedFileError> {
    if !has_eocd(bytes) {
        return Err(AssociatedFileError::NoArchive);
    }
    zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| AssociatedFileError::BadArchive(e.to_string()))
}

/// The members of the archive appended to `bytes` (a whole model file), in archive order.
pub fn list(bytes: &[u8]) -> Result<Vec<PackedFile>, AssociatedFileError> {
    let mut z = open(bytes)?;
    let mut out = Vec::with_capacity(z.len());
    for i in 0..z.len() {
        let f = z
            .by_index_raw(i)
            .map_err(|e| AssociatedFileError::BadArchive(e.to_string()))?;
        out.push(PackedFile {
            name: f
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(f.name_raw()).into_owned()),
            size: f.size(),
            compressed_size: f.compressed_size(),
            compression: f.compression().to_string().to_lowercase(),
        });
    }
    Ok(out)
}

/// The contents of member `name` of the archive appended to `bytes`, at most `limit` bytes
/// (checked against the recorded size and again while inflating, in case the record lies).
pub fn read(bytes: &[u8], name: &str, limit: u64) -> Result<Vec<u8>, AssociatedFileError> {
    let mut z = open(bytes)?;
    let f = match z.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(AssociatedFileError::Missing(name.to_string()))
        }
        Err(e) => {
            return Err(AssociatedFileError::Read {
                name: name.to_string(),
                msg: e.to_string(),
            })
        }
    };
    let too_large = |size| AssociatedFileError::TooLarge {
        name: name.to_string(),
        size,
        limit,
    };
    if f.size() > limit {
        return Err(too_large(f.size()));
    }
    let mut v = Vec::with_capacity(f.size() as usize);
    f.take(limit + 1)
        .read_to_end(&mut v)
        .map_err(|e| AssociatedFileError::Read {
            name: name.to_string(),
            msg: e.to_string(),
        })?;
    if v.len() as u64 > limit {
        return Err(too_large(v.len() as u64));
    }
    Ok(v)
}
