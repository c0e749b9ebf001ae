//! A gRPC client for the agent API that sends bytes the typed client never
//! would: a pre-encoded (possibly broken) protobuf inside an honest gRPC frame,
//! or a whole request body of hand-made frames that may lie about themselves.

use std::task::{Context, Poll};

use prost::Message;
use prost::bytes::{Buf, BufMut};
use rblfleet_proto::v1::ReportAck;
use tonic::Status;
use tonic::body::Body;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http;
use tonic::codegen::{Service, http::uri::PathAndQuery};
use tonic::transport::Channel;

const REPORT: &str = "/rblfleet.v1.AgentService/Report";

/// Sends `payload` as the report message, framed by tonic: the protobuf may
/// be anything, the gRPC frame around it is correct.
pub async fn report_bytes(channel: &Channel, payload: Vec<u8>) -> Result<ReportAck, Status> {
    let mut grpc = Grpc::new(channel.clone());
    call(&mut grpc, payload).await
}

/// Sends `body` as the whole request body of a report call, frame headers
/// included. An `http_body::Body` of arbitrary bytes is out of reach without
/// another crate, so the body is a `String`: frames must be valid UTF-8, which
/// any length whose four bytes are below 0x80 is. `encoding` sets `grpc-encoding`.
pub async fn report_frames(channel: &Channel, body: &str, encoding: Option<&str>) -> Result<ReportAck, Status> {
    let raw = RawBody { channel: channel.clone(), body: body.to_string(), encoding: encoding.map(str::to_string) };
    call(&mut Grpc::new(raw), Vec::new()).await
}

/// Sends `payload` as a report framed by tonic, then leaves the request body
/// open, as a client that never finishes would: the call ends when the server
/// gives up on it (or refuses it first).
pub async fn report_held_open(channel: &Channel, payload: Vec<u8>) -> Result<ReportAck, Status> {
    use tonic::codegen::tokio_stream::{self, StreamExt};
    let mut grpc = Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
    let messages = tokio_stream::iter([payload]).chain(tokio_stream::pending());
    let path = PathAndQuery::from_static(REPORT);
    grpc.client_streaming(tonic::Request::new(messages), path, BytesCodec).await.map(tonic::Response::into_inner)
}

/// A gRPC frame header: compression flag and a declared length.
pub fn frame_header(flag: u8, declared: u32) -> String {
    let mut header = vec![flag];
    header.extend(declared.to_be_bytes());
    String::from_utf8(header).expect("flag and length bytes below 0x80")
}

async fn call<T>(grpc: &mut Grpc<T>, payload: Vec<u8>) -> Result<ReportAck, Status>
where
    T: tonic::client::GrpcService<Body>,
    T::ResponseBody: tonic::codegen::Body<Data = prost::bytes::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError>,
{
    grpc.ready().await.map_err(|e| Status::unavailable(format!("not ready: {}", e.into())))?;
    let path = PathAndQuery::from_static(REPORT);
    grpc.unary(tonic::Request::new(payload), path, BytesCodec).await.map(tonic::Response::into_inner)
}

/// Writes the request's bytes as they are; reads the answer as a `ReportAck`.
#[derive(Debug, Clone, Copy, Default)]
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Vec<u8>;
    type Decode = ReportAck;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = ReportAck;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ReportAck>, Status> {
        let ack = ReportAck::decode(src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("test client: bad ReportAck: {e}")))?;
        Ok(Some(ack))
    }
}

/// A channel that replaces the body tonic built with `body`.
#[derive(Debug, Clone)]
struct RawBody {
    channel: Channel,
    body: String,
    encoding: Option<String>,
}

impl Service<http::Request<Body>> for RawBody {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.channel, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let (mut parts, _) = request.into_parts();
        if let Some(encoding) = &self.encoding {
            parts.headers.insert("grpc-encoding", encoding.parse().expect("a header value"));
        }
        self.channel.call(http::Request::from_parts(parts, Body::new(self.body.clone())))
    }
}
