//! A streaming, bounded reader of the JSON vmstate description QEMU appends.

use super::*;

#[derive(Debug)]
pub(super) enum Value {
    /// `null`, `true` or `false`.
    Other,
    /// An integer, or `None` for a number that is not one.
    Num(Option<i64>),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl Value {
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Num(Some(n)) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    pub(super) fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Arr(a) => Some(a),
            _ => None,
        }
    }
}

pub(super) struct Json<'a, R> {
    pub(super) input: &'a mut Input<R>,
    /// Bytes of the description not yet read.
    pub(super) left: u64,
    /// Values parsed in the current device entry.
    pub(super) nodes: usize,
}

impl<R: Read> Json<'_, R> {
    pub(super) fn fail<T>(&self, message: impl Into<String>) -> Result<T, MigrationError> {
        Err(error(
            self.input.offset,
            format!("description: {}", message.into()),
        ))
    }

    pub(super) fn next_byte(&mut self) -> Result<u8, MigrationError> {
        if self.left == 0 {
            return self
                .fail("the JSON ends before its declared length is used up or is cut short");
        }
        self.left -= 1;
        self.input.u8("the vmstate description")
    }

    pub(super) fn peek(&mut self) -> Result<Option<u8>, MigrationError> {
        if self.left == 0 {
            return Ok(None);
        }
        match self.input.peek_byte()? {
            Some(b) => Ok(Some(b)),
            None => {
                let at = self.input.offset;
                Err(self
                    .input
                    .truncated(at, "the vmstate description", self.left))
            }
        }
    }

    pub(super) fn skip_ws(&mut self) -> Result<(), MigrationError> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek()? {
            self.next_byte()?;
        }
        Ok(())
    }

    pub(super) fn eat(&mut self, c: u8) -> Result<bool, MigrationError> {
        self.skip_ws()?;
        if self.peek()? == Some(c) {
            self.next_byte()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub(super) fn expect(&mut self, c: u8) -> Result<(), MigrationError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(b) if b == c => {
                self.next_byte()?;
                Ok(())
            }
            Some(b) => self.fail(format!(
                "expected '{}', found '{}'",
                char::from(c),
                b.escape_ascii()
            )),
            None => self.fail(format!("expected '{}', found the end", char::from(c))),
        }
    }

    pub(super) fn string(&mut self) -> Result<String, MigrationError> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            if out.len() > MAX_JSON_STRING {
                return self.fail(format!("string longer than {MAX_JSON_STRING} bytes"));
            }
            match self.next_byte()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.next_byte()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut v = 0u32;
                            for _ in 0..4 {
                                let d = self.next_byte()?;
                                let Some(d) = char::from(d).to_digit(16) else {
                                    return self.fail("bad \\u escape");
                                };
                                v = v << 4 | d;
                            }
                            char::from_u32(v).unwrap_or('\u{fffd}')
                        }
                        other => {
                            return self.fail(format!("bad escape '\\{}'", other.escape_ascii()));
                        }
                    };
                    let mut b = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
                b if b < 0x20 => return self.fail("control character in a string"),
                b => out.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    pub(super) fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, MigrationError> {
        for &c in word {
            if self.next_byte()? != c {
                return self.fail("bad literal");
            }
        }
        Ok(value)
    }

    /// An object's members or an array's items: the opening byte (at the cursor), then
    /// `item` for each, separated by commas, up to `close`.
    fn sequence(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), MigrationError>,
    ) -> Result<(), MigrationError> {
        self.next_byte()?;
        if self.eat(close)? {
            return Ok(());
        }
        loop {
            item(self)?;
            if !self.eat(b',')? {
                return self.expect(close);
            }
        }
    }

    pub(super) fn value(&mut self, depth: usize) -> Result<Value, MigrationError> {
        self.nodes += 1;
        if self.nodes > MAX_JSON_NODES {
            return self.fail(format!("more than {MAX_JSON_NODES} values in one entry"));
        }
        if depth > MAX_JSON_DEPTH {
            return self.fail(format!("nested deeper than {MAX_JSON_DEPTH}"));
        }
        self.skip_ws()?;
        match self.peek()? {
            Some(b'{') => {
                let mut members = Vec::new();
                self.sequence(b'}', |p| {
                    let key = p.string()?;
                    p.expect(b':')?;
                    members.push((key, p.value(depth + 1)?));
                    Ok(())
                })?;
                Ok(Value::Obj(members))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                self.sequence(b']', |p| {
                    items.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Value::Arr(items))
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Other),
            Some(b'f') => self.literal(b"false", Value::Other),
            Some(b'n') => self.literal(b"null", Value::Other),
            Some(b'-' | b'0'..=b'9') => {
                let mut text = [0u8; 32];
                let mut n = 0;
                while let Some(c @ (b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) =
                    self.peek()?
                {
                    if n == text.len() {
                        return self.fail("number longer than 32 characters");
                    }
                    text[n] = c;
                    n += 1;
                    self.next_byte()?;
                }
                let int = core::str::from_utf8(&text[..n])
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok());
                Ok(Value::Num(int))
            }
            Some(b) => self.fail(format!("unexpected '{}'", b.escape_ascii())),
            None => self.fail("unexpected end"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Laying a description over a section's data.
