//! Reading and writing topic values.

use speedlead_topics::{Envelope, SCHEMA_VERSION};

use crate::ports::Record;
use crate::stage::StageError;

/// Parses a record's value as an envelope of `T`, naming what is wrong when it is not one.
pub fn parse_envelope<T: serde::de::DeserializeOwned>(record: &Record) -> Result<Envelope<T>, StageError> {
    let bytes = record
        .payload
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| StageError::Invalid("value: empty message".into()))?;
    let envelope: Envelope<T> = serde_json::from_slice(bytes)
        .map_err(|e| StageError::Invalid(format!("value: not a valid envelope: {e}")))?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(StageError::Invalid(format!(
            "schema_version: {} is newer than the supported {SCHEMA_VERSION}",
            envelope.schema_version
        )));
    }
    Ok(envelope)
}

pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("topic values serialize")
}
