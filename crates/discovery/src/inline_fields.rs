//! Go's `yaml:",inline"` for serde.
//!
//! Upstream embeds `HTTPClientConfig` and the service-discovery lists inline in scrape,
//! alertmanager, remote-write and SD configs: their keys sit in the parent's mapping.
//! serde's `flatten` cannot be combined with `deny_unknown_fields` and loses source
//! positions, so the parent's map is walked once here: each key goes to the parent's own
//! field or to the inline part that claims it, and anything else is an unknown field,
//! reported at its line and column.

use serde::de::MapAccess;

/// A struct whose keys may appear inline in a parent mapping.
pub trait InlineFields {
    /// The keys this part accepts.
    const FIELDS: &'static [&'static str];

    /// Reads the value for `key` if it is one of this part's keys; `Ok(false)` otherwise
    /// (the value is then left unread).
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error>;
}

/// Reads the next map value; YAML null (`key:` with nothing after it) gives the type's
/// default, as Go's zero value.
pub fn next_value_or_default<'de, A, T>(map: &mut A) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(map.next_value::<Option<T>>()?.unwrap_or_default())
}

/// Implements `Deserialize` for a struct made of its own keys plus inline parts.
///
/// The struct must implement `Default` (upstream's defaults) and have a method
/// `fn after_deserialize(&mut self) -> Result<(), String>` that validates it as upstream's
/// `UnmarshalYAML` does; its error is reported at the mapping's position.
#[macro_export]
macro_rules! deserialize_with_inline {
    (
        $ty:ty,
        fields { $($key:literal => $field:ident),* $(,)? },
        inline { $($inline:ident : $inline_ty:ty),* $(,)? }
    ) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str("a mapping")
                    }
                    #[allow(unused_mut)]
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        const OWN: &[&str] = &[$($key),*];
                        let mut value = <$ty as ::std::default::Default>::default();
                        while let Some(key) = map.next_key::<String>()? {
                            match key.as_str() {
                                $($key => {
                                    value.$field =
                                        $crate::inline_fields::next_value_or_default(&mut map)?
                                })*
                                other => {
                                    $(
                                        if $crate::inline_fields::InlineFields::read_field(
                                            &mut value.$inline, other, &mut map,
                                        )? {
                                            continue;
                                        }
                                    )*
                                    static ALL: ::std::sync::LazyLock<Vec<&'static str>> =
                                        ::std::sync::LazyLock::new(|| {
                                            let mut all: Vec<&'static str> = OWN.to_vec();
                                            $(all.extend(inline_fields_of::<$inline_ty>());)*
                                            all
                                        });
                                    let all: &'static [&'static str] = &ALL;
                                    return Err(::serde::de::Error::unknown_field(other, all));
                                }
                            }
                        }
                        value.after_deserialize().map_err(::serde::de::Error::custom)?;
                        Ok(value)
                    }
                }
                #[allow(dead_code)]
                fn inline_fields_of<T: $crate::inline_fields::InlineFields>() -> &'static [&'static str] {
                    T::FIELDS
                }
                d.deserialize_map(V)
            }
        }
    };
}
