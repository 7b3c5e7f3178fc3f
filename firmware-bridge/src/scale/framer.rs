//! Byte framing shared by the serial scale protocols: an optional start byte, an end byte and a
//! longest frame. Owns resynchronisation; knows nothing of what a frame means.

/// How one protocol frames its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameSpec {
    /// A byte that opens a frame; bytes between frames are ignored. `None`: every byte belongs
    /// to a frame that ends at `end`.
    pub start: Option<u8>,
    pub end: u8,
    /// Longest frame content accepted; longer is dropped up to the next `end`.
    pub max: usize,
    /// Mask bit 7: a 7-data-bit protocol read by a port set to 8 bits carries the parity there.
    pub seven_bit: bool,
    /// A start byte inside a frame starts a new frame (only when it can not be content).
    pub restart_on_start: bool,
    /// The terminator as the error message names it (`CR`, `ETX`, `CR LF`).
    pub terminator: &'static str,
}

/// What one byte completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Framed {
    /// A frame's content, without start and end bytes.
    Frame(Vec<u8>),
    /// The frame grew past `max`; reported once, then bytes are dropped up to the next `end`.
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    Inside,
    Discarding,
}

#[derive(Debug)]
pub(crate) struct Framer {
    spec: FrameSpec,
    content: Vec<u8>,
    state: State,
}

impl Framer {
    pub fn new(spec: FrameSpec) -> Self {
        Framer {
            spec,
            content: Vec::with_capacity(spec.max),
            state: idle(spec),
        }
    }

    pub fn spec(&self) -> FrameSpec {
        self.spec
    }

    pub fn reset(&mut self) {
        self.content.clear();
        self.state = idle(self.spec);
    }

    pub fn push(&mut self, byte: u8) -> Option<Framed> {
        let byte = if self.spec.seven_bit { byte & 0x7F } else { byte };
        match self.state {
            State::Outside => {
                if Some(byte) == self.spec.start {
                    self.content.clear();
                    self.state = State::Inside;
                }
                None
            }
            State::Inside => {
                if byte == self.spec.end {
                    self.state = idle(self.spec);
                    return Some(Framed::Frame(std::mem::take(&mut self.content)));
                }
                if self.spec.restart_on_start && Some(byte) == self.spec.start {
                    self.content.clear();
                    return None;
                }
                if self.content.len() >= self.spec.max {
                    self.content.clear();
                    self.state = State::Discarding;
                    return Some(Framed::TooLong);
                }
                self.content.push(byte);
                None
            }
            State::Discarding => {
                if byte == self.spec.end {
                    self.state = idle(self.spec);
                }
                None
            }
        }
    }
}

fn idle(spec: FrameSpec) -> State {
    if spec.start.is_some() {
        State::Outside
    } else {
        State::Inside
    }
}
