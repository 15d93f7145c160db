//! Keeps the cluster metadata (indices, aliases, data streams, templates, ingest pipelines)
//! fresh for the ACL.
//!
//! A background thread asks one upstream node every `gateway.metadata_refresh_ms`, in this
//! order (a name read earlier is then surely in a later answer):
//!
//! | request | answer's size |
//! |---|---|
//! | `GET /_resolve/index/*?expand_wildcards=all` | every index, alias, data stream |
//! | `GET /_all/_settings/index.default_pipeline,index.final_pipeline?expand_wildcards=all&flat_settings=true` | the indices that set a pipeline |
//! | `GET /_index_template`, `GET /_template`, `GET /_component_template` | every template |
//! | `GET /_ingest/pipeline` (404 `{}` when there is none) | every pipeline definition |
//!
//! and swaps the parsed result in; workers read it lock-free. A refresh with any request
//! failing keeps the previous snapshot whole; before the first success the snapshot knows no
//! index and no pipeline (`ClusterMetadata::unread`). The requests are rare, so a blocking
//! client on its own thread keeps the workers' event loops out of it.

use super::upstream::NodeAddress;
use crate::es::metadata::{ClusterMetadata, TemplateKind};
use crate::http::chunked::ChunkedDecoder;
use crate::http::response::{parse_response_head, ResponseFraming};
use crate::tls::blocking::BlockingStream;
use arc_swap::ArcSwap;
use rustls::ClientConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

const RESOLVE_PATH: &str = "/_resolve/index/*?expand_wildcards=all";
/// Only the two settings, flat; indices that set neither are left out of the answer.
const PIPELINE_SETTINGS_PATH: &str = "/_all/_settings/index.default_pipeline,index.final_pipeline?expand_wildcards=all&flat_settings=true";
const PIPELINES_PATH: &str = "/_ingest/pipeline";
/// The largest metadata response accepted (a cluster with ~100k indices).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How the refresher reaches the cluster.
pub struct Cluster {
    pub nodes: Vec<NodeAddress>,
    /// The `gateway.upstream_auth` value, sent with every request when set.
    pub authorization: Option<String>,
    /// How `https://` nodes are verified.
    pub tls: Option<Arc<ClientConfig>>,
}

impl Cluster {
    /// One node's way in: its address, and TLS with its host name when it is https.
    fn node(&self, node: &NodeAddress) -> Node<'_> {
        Node {
            addr: node.addr,
            tls: self
                .tls
                .as_ref()
                .filter(|_| node.url.tls)
                .map(|config| (config, node.url.host.clone())),
            authorization: self.authorization.as_deref(),
        }
    }
}

/// One node, as a request goes to it.
struct Node<'a> {
    addr: SocketAddr,
    tls: Option<(&'a Arc<ClientConfig>, String)>,
    authorization: Option<&'a str>,
}

/// Starts the refresher; it stops when `stop` is set.
pub fn start(
    cluster: Cluster,
    metadata: Arc<ArcSwap<ClusterMetadata>>,
    interval: Duration,
    timeout: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("ringfence-metadata".into())
        .spawn(move || {
            let mut healthy = false;
            while !stop.load(Ordering::Relaxed) {
                match cluster
                    .nodes
                    .iter()
                    .find_map(|node| fetch(&cluster.node(node), timeout).ok())
                {
                    Some(fresh) => {
                        if !healthy {
                            info!(
                                indices = fresh.indices.len(),
                                aliases = fresh.aliases.len(),
                                pipelines = fresh.ingest.pipelines.len(),
                                "cluster metadata loaded"
                            );
                        }
                        healthy = true;
                        metadata.store(Arc::new(fresh));
                    }
                    None if healthy => {
                        healthy = false;
                        warn!("cluster metadata refresh failed; keeping the last snapshot");
                    }
                    None => debug!("cluster metadata not available yet"),
                }
                std::thread::sleep(interval);
            }
        })?;
    Ok(())
}

/// The whole metadata, in six requests (module docs).
fn fetch(node: &Node, timeout: Duration) -> Result<ClusterMetadata, String> {
    let ok = |path| get_ok(node, path, timeout);
    let mut metadata =
        ClusterMetadata::from_resolve_response(&ok(RESOLVE_PATH)?).map_err(|e| e.to_string())?;
    metadata
        .add_index_settings(&ok(PIPELINE_SETTINGS_PATH)?)
        .map_err(|e| e.to_string())?;
    for (kind, path) in [
        (TemplateKind::Composable, "/_index_template"),
        (TemplateKind::Legacy, "/_template"),
    ] {
        metadata
            .add_templates(kind, &ok(path)?)
            .map_err(|e| e.to_string())?;
    }
    metadata
        .add_component_templates(&ok("/_component_template")?)
        .map_err(|e| e.to_string())?;
    let pipelines = match get(node, PIPELINES_PATH, timeout)? {
        (200, body) => body,
        // Elasticsearch and OpenSearch answer `404 {}` when no pipeline exists.
        (404, body) if body.trim_ascii() == b"{}" => body,
        (status, _) => return Err(format!("{PIPELINES_PATH}: status {status}")),
    };
    metadata
        .add_pipelines(&pipelines)
        .map_err(|e| e.to_string())?;
    Ok(metadata)
}

/// [`get`], requiring a 200 answer.
fn get_ok(node: &Node, path: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    match get(node, path, timeout)? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("{path}: status {status}")),
    }
}

/// One GET round trip on a fresh connection: the status and body.
fn get(node: &Node, path: &str, timeout: Duration) -> Result<(u16, Vec<u8>), String> {
    let addr = node.addr;
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let tls = node
        .tls
        .as_ref()
        .map(|(config, host)| (*config, host.as_str()));
    let mut stream = BlockingStream::new(tcp, tls).map_err(|e| e.to_string())?;
    let authorization = node
        .authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n{authorization}\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES as u64)
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let head = parse_response_head(&response, 64 * 1024, false)
        .map_err(|e| format!("{e:?}"))?
        .ok_or("incomplete response head")?;
    let rest = &response[head.len..];
    let body = match head.framing {
        ResponseFraming::Chunked => {
            let mut body = Vec::new();
            ChunkedDecoder::new()
                .decode(rest, |d| body.extend_from_slice(d))
                .map_err(|e| format!("{e:?}"))?;
            body
        }
        ResponseFraming::Length(n) => rest.get(..n as usize).ok_or("truncated body")?.to_vec(),
        _ => rest.to_vec(),
    };
    Ok((head.status, body))
}
