//! ManagedResources as Gardener writes them, for the bed's own smoke tests: a Secret whose one
//! key `data.yaml.br` holds the brotli-compressed objects, and the MR referencing it.

use std::io::{Read, Write};

use anyhow::Result;
use serde_json::{Value, json};

pub const DATA_KEY: &str = "data.yaml.br";

pub fn brotli_compress(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        writer.write_all(data)?;
    }
    Ok(out)
}

pub fn brotli_decompress(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096).read_to_end(&mut out)?;
    Ok(out)
}

/// The MR Secret holding `yaml`, immutable, labelled garbage-collectable as Gardener does.
pub fn secret(name: &str, namespace: &str, yaml: &str) -> Result<Value> {
    use base64::Engine as _;
    let compressed = brotli_compress(yaml.as_bytes())?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"resources.gardener.cloud/garbage-collectable-reference": "true"}
        },
        "type": "Opaque",
        "immutable": true,
        "data": {DATA_KEY: base64::engine::general_purpose::STANDARD.encode(compressed)}
    }))
}

/// A ManagedResource (no class: target is the shoot) referencing `secret_names`, with the
/// reference annotations GRM's garbage collector reads.
pub fn managed_resource(name: &str, namespace: &str, secret_names: &[&str]) -> Value {
    let annotations: serde_json::Map<String, Value> = secret_names
        .iter()
        .map(|s| {
            (
                format!(
                    "reference.resources.gardener.cloud/secret-{}",
                    short_hash(s)
                ),
                json!(s),
            )
        })
        .collect();
    json!({
        "apiVersion": "resources.gardener.cloud/v1alpha1",
        "kind": "ManagedResource",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {
            "secretRefs": secret_names.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
            "keepObjects": false
        }
    })
}

/// An 8-hex-digit FNV hash, the shape of Gardener's reference annotation suffix.
pub fn short_hash(text: &str) -> String {
    let h = text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{h:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_round_trips() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n".repeat(50);
        let packed = brotli_compress(text.as_bytes()).unwrap();
        assert!(packed.len() < text.len() / 5);
        assert_eq!(brotli_decompress(&packed).unwrap(), text.as_bytes());
    }
}
