//! The JSON shape (feature `serde`) of the architectural types whose shape a derive
//! cannot say: a register by its name, one value per register as a map keyed by it,
//! and a type field checked to fit its four bits. The plain structs ([`super::Segment`],
//! [`super::Attributes`], [`super::SegmentState`]) and the range-checked
//! [`super::PrivilegeLevel`] derive theirs where they are defined.

use alloc::format;
use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{PerSegReg, SegReg, SegmentType};

/// A register is its upper-case name (`SS`, `LDTR`), as [`SegReg::name`] prints it.
impl Serialize for SegReg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Any spelling [`SegReg`]'s `FromStr` takes (`ss`, `SS`, `ldt`, `LDTR`); anything
/// else is an error naming it.
impl<'de> Deserialize<'de> for SegReg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = alloc::string::String::deserialize(deserializer)?;
        name.parse().map_err(de::Error::custom)
    }
}

/// The type field is its number, 0..=15.
impl Serialize for SegmentType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.bits())
    }
}

/// A number that does not fit in four bits is an error naming it.
impl<'de> Deserialize<'de> for SegmentType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = u8::deserialize(deserializer)?;
        SegmentType::new(raw).ok_or_else(|| {
            de::Error::custom(format!(
                "segment type {raw} is out of range 0..=15 (the type field has 4 bits)"
            ))
        })
    }
}

/// One entry per register, keyed by its name, in [`SegReg::ALL`] order.
impl<T: Serialize> Serialize for PerSegReg<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(8))?;
        for (reg, value) in self.iter() {
            map.serialize_entry(&reg, value)?;
        }
        map.end()
    }
}

/// Every register exactly once: a missing or repeated one is an error naming it.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for PerSegReg<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Registers<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Registers<T> {
            type Value = PerSegReg<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with each of ES, CS, SS, DS, FS, GS, LDTR and TR once")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut slots: [Option<T>; 8] = Default::default();
                while let Some(reg) = map.next_key::<SegReg>()? {
                    let slot = &mut slots[reg.index()];
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("register {reg} given twice")));
                    }
                    *slot = Some(map.next_value()?);
                }
                let missing = slots.iter().position(Option::is_none);
                match slots {
                    [
                        Some(es),
                        Some(cs),
                        Some(ss),
                        Some(ds),
                        Some(fs),
                        Some(gs),
                        Some(ldtr),
                        Some(tr),
                    ] => Ok(PerSegReg([es, cs, ss, ds, fs, gs, ldtr, tr])),
                    _ => Err(de::Error::custom(format!(
                        "register {} is missing",
                        SegReg::ALL[missing.unwrap_or(0)]
                    ))),
                }
            }
        }

        deserializer.deserialize_map(Registers(PhantomData))
    }
}
