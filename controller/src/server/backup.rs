//! The admin API's `Backup` stream.
//!
//! The snapshot is first written to an anonymous temporary file in the data
//! directory (the one place a hardened unit may write, on the disk whose free
//! space is watched anyway), so writers wait only as long as the local export
//! takes, never for a slow client; the file is then streamed and vanishes
//! when closed.

use std::io::{BufWriter, Read, Seek, SeekFrom};
use std::time::Duration;

use rblfleet_proto::v1::BackupChunk;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::store::Store;

/// Bytes per streamed message, well under gRPC's 4 MiB default limit.
const CHUNK: usize = 256 * 1024;

pub(super) type BackupStream = ReceiverStream<Result<BackupChunk, Status>>;

/// Starts a backup of `store`; its bytes (or the reason it failed) arrive on
/// the returned stream. The export runs after the response starts, so a
/// large store is not cut off by the server's per-request timeout.
pub(super) fn start(store: Store, who: String) -> BackupStream {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        if let Err(status) = export_and_send(&store, &who, &tx) {
            tracing::error!(%who, error = %status.message(), "backup failed");
            let _ = tx.blocking_send(Err(status));
        }
    });
    ReceiverStream::new(rx)
}

fn export_and_send(store: &Store, who: &str, tx: &mpsc::Sender<Result<BackupChunk, Status>>) -> Result<(), Status> {
    let storage = |e: &dyn std::fmt::Display| Status::internal(format!("the backup failed: {e}"));
    // A PostgreSQL store is backed up with pg_dump: say so first, before
    // the sled-only free-space check would answer something else.
    store.check_backup().map_err(|e| Status::failed_precondition(e.to_string()))?;
    // The temporary copy must not push the disk below the ingest reserve.
    let space = store.space_status().map_err(|e| storage(&e))?;
    let needed = store.size_on_disk().map_err(|e| storage(&e))?;
    if space.free_bytes < space.reserve_bytes.saturating_add(needed) {
        return Err(super::exhausted(
            format!(
                "not enough free space in {} for the backup's temporary copy: {} MiB free, the store takes up to {} MiB and {} MiB are reserved for ingest (store.min_free_mib)",
                space.path.display(),
                space.free_bytes >> 20,
                needed >> 20,
                space.reserve_bytes >> 20
            ),
            Duration::from_secs(60),
        ));
    }
    let mut file = tempfile::tempfile_in(store.data_dir())
        .map_err(|e| storage(&format!("cannot create a temporary file in {}: {e}", store.data_dir().display())))?;
    let (info, locked) = {
        let mut out = BufWriter::new(&mut file);
        store.export_backup(&mut out).map_err(|e| storage(&e))?
    };
    tracing::info!(
        %who, records = info.records, bytes = info.bytes, writers_waited_ms = locked.as_millis() as u64,
        sha256 = %info.sha256, "backup snapshot taken"
    );
    file.seek(SeekFrom::Start(0)).map_err(|e| storage(&e))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(|e| storage(&e))?;
        if n == 0 {
            return Ok(());
        }
        if tx.blocking_send(Ok(BackupChunk { data: buf[..n].to_vec() })).is_err() {
            tracing::warn!(%who, "backup abandoned by the client");
            return Ok(());
        }
    }
}
