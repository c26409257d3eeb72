//! The enaio target (placeholder until the REST client lands).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DeliveryError, Parcel, Receipt, Target};
use crate::routing::rules::DmsTarget;

/// `[delivery.enaio]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnaioSettings {
    /// Base URL of the enaio server, e.g. `https://dms.example/`.
    pub url: String,
    /// Internal name of the index field that holds the mailroom id.
    pub id_field: String,
    /// Where documents go that no unit's `dms` names (clarification, routing off).
    #[serde(default)]
    pub default: Option<DmsTarget>,
    /// DMS field (internal name) -> mailroom field name (see `deliver::field_names`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

pub struct EnaioTarget;

impl EnaioTarget {
    pub fn new(_settings: &EnaioSettings, _timeout: Duration) -> anyhow::Result<EnaioTarget> {
        anyhow::bail!("the enaio target is not built yet")
    }
}

impl Target for EnaioTarget {
    fn describe(&self) -> String {
        "enaio".into()
    }
    fn check(&self) -> Result<(), DeliveryError> {
        Err(DeliveryError::fatal("not built"))
    }
    fn find(&self, _parcel: &Parcel) -> Result<Option<Receipt>, DeliveryError> {
        Err(DeliveryError::fatal("not built"))
    }
    fn deliver(&self, _parcel: &Parcel) -> Result<Receipt, DeliveryError> {
        Err(DeliveryError::fatal("not built"))
    }
}
