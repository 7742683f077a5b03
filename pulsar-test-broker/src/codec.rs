//! Framing: the `pulsar` crate's own [`Codec`] (size-prefixed frames, the payload part with its
//! magic number and CRC32C checksum), behind a few checks so that a malformed frame is an error
//! that closes the connection rather than a frame the codec would misread or wait for forever.

use bytes::{Buf, BytesMut};
use pulsar::error::ConnectionError;
use pulsar::message::{Codec, Message};
use tokio_util::codec::{Decoder, Encoder};

use crate::broker::MAX_MESSAGE_SIZE;

/// The largest frame accepted: a message of the maximum size plus room for its command and
/// metadata, as Pulsar allows.
const MAX_FRAME_SIZE: usize = MAX_MESSAGE_SIZE + 10 * 1024;
/// The magic number that starts the payload part of a frame, followed by its CRC32C.
const MAGIC_CRC32C: u16 = 0x0e01;

pub(crate) struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = Message;
    type Error = ConnectionError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, ConnectionError> {
        let Some(mut header) = src.get(..4) else {
            return Ok(None);
        };
        let frame_size = header.get_u32() as usize;
        if frame_size > MAX_FRAME_SIZE {
            return Err(malformed(format!(
                "frame of {frame_size} bytes, more than {MAX_FRAME_SIZE}"
            )));
        }
        let Some(mut frame) = src.get(4..4 + frame_size) else {
            src.reserve(4 + frame_size - src.len());
            return Ok(None);
        };
        if frame.len() < 4 {
            return Err(malformed("frame too short for a command".into()));
        }
        let command_size = frame.get_u32() as usize;
        let Some(rest) = frame.get(command_size..) else {
            return Err(malformed(format!(
                "command of {command_size} bytes in a frame of {frame_size}"
            )));
        };
        // a payload part: magic number, checksum, metadata size, at least
        if let Some(mut rest) = Some(rest).filter(|rest| !rest.is_empty()) {
            if rest.len() < 10 || rest.get_u16() != MAGIC_CRC32C {
                return Err(malformed("payload without a CRC32C checksum".into()));
            }
        }
        Codec.decode(src)
    }
}

impl Encoder<Message> for FrameCodec {
    type Error = ConnectionError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), ConnectionError> {
        Codec.encode(message, dst)
    }
}

fn malformed(reason: String) -> ConnectionError {
    ConnectionError::Decoding(reason)
}

#[cfg(test)]
mod tests {
    use pulsar::message::proto::{base_command::Type, BaseCommand, CommandPing};

    use super::*;

    fn ping() -> Message {
        let command = BaseCommand {
            r#type: Type::Ping as i32,
            ping: Some(CommandPing {}),
            ..Default::default()
        };
        Message {
            command,
            payload: None,
        }
    }

    #[test]
    fn round_trips_a_frame_given_in_pieces() {
        let mut encoded = BytesMut::new();
        FrameCodec.encode(ping(), &mut encoded).expect("encodes");
        let mut src = BytesMut::new();
        for byte in encoded.iter() {
            assert!(FrameCodec
                .decode(&mut src)
                .expect("no error on a partial frame")
                .is_none());
            src.extend_from_slice(&[*byte]);
        }
        let decoded = FrameCodec
            .decode(&mut src)
            .expect("decodes")
            .expect("a whole frame");
        assert!(decoded.command.ping.is_some());
        assert!(src.is_empty());
    }

    #[test]
    fn rejects_oversized_and_inconsistent_frames() {
        let oversized = (MAX_FRAME_SIZE as u32 + 1).to_be_bytes();
        assert!(FrameCodec.decode(&mut BytesMut::from(&oversized[..])).is_err());
        // a command size larger than the frame
        let mut bad = BytesMut::from(&[0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4][..]);
        assert!(FrameCodec.decode(&mut bad).is_err());
        // a payload part without the magic number
        let mut no_magic = BytesMut::from(&[0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert!(FrameCodec.decode(&mut no_magic).is_err());
        // garbage that is not a protobuf command
        let mut garbage = BytesMut::from(&[0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xff][..]);
        assert!(FrameCodec.decode(&mut garbage).is_err());
    }
}
