//! How server functions' answers travel: JSON, as server_fn's own `Json`, but read in the
//! browser from text rather than from bytes.
//!
//! Why: the browser already reads the same types from text (island props, the live stream's
//! events), and serde generates its decoder once per type *and* input kind. Reading answers from
//! text as well lets every type share one decoder instead of two, which keeps the browser
//! bundle within its budget.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};

/// JSON answers, decoded from text.
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: serde::Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: serde::de::DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(<serde_json::Error as serde::de::Error>::custom)?;
        serde_json::from_str(text)
    }
}

/// The output encoding every server function of the app names: `output = crate::codec::JsonText`.
pub type JsonText = Post<JsonTextEncoding>;
