//! Enums declared as tables: one row per variant, one column per `const fn` accessor.
//!
//! The check catalogue ([`crate::check::CheckId`]) and the cooking rules
//! ([`crate::profile::Rule`]) are both such tables; [`table_enum!`] writes the enum, its
//! `ALL` in row order and one `match` per column from the rows, so a row is the one
//! place a variant's facts live.

/// Declares an enum from a table: the enum's attributes and `pub enum Name;`, the doc of
/// `ALL;`, `columns { … }`, then one row per variant, `Variant = value, …;`, each with
/// its doc.
///
/// The header names the columns in row order, each with its type: `&'static str`
/// columns take a string literal in the rows; a column typed by a field-less enum takes
/// the bare variant name (`Error` for `Severity::Error`). A row may label a value with
/// its column's name (`summary: "…"`): a table labels every value of every row or
/// none, and each label is checked at compile time to be its column's name.
macro_rules! table_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident;
        $(#[$all_doc:meta])*
        ALL;
        columns { $( $(#[$col_doc:meta])* $col:ident: $(&$lt:lifetime)? $col_ty:ident ),+ $(,)? }
        $( $(#[$doc:meta])* $variant:ident = $($value:tt),+ ; )+
    ) => {
        $crate::table::table_enum! {
            @enum $(#[$meta])* $name; $(#[$all_doc])*;
            $( [$(#[$col_doc])* $col: ($(&$lt)? $col_ty)] )+;
            $( $(#[$doc])* $variant [$($value),+] )+
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident;
        $(#[$all_doc:meta])*
        ALL;
        columns { $( $(#[$col_doc:meta])* $col:ident: $(&$lt:lifetime)? $col_ty:ident ),+ $(,)? }
        $( $(#[$doc:meta])* $variant:ident = $($label:ident: $value:tt),+ ; )+
    ) => {
        $crate::table::table_enum! {
            @enum $(#[$meta])* $name; $(#[$all_doc])*;
            $( [$(#[$col_doc])* $col: ($(&$lt)? $col_ty)] )+;
            $( $(#[$doc])* $variant [$($label: $value),+] )+
        }
    };
    (
        @enum $(#[$meta:meta])* $name:ident; $(#[$all_doc:meta])*;
        $( [$($cols:tt)+] )+;
        $( $(#[$doc:meta])* $variant:ident [$($row:tt)+] )+
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$doc])* $variant, )+
        }

        impl $name {
            $(#[$all_doc])*
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
        }

        $crate::table::table_columns! {
            $name;
            $( [$($cols)+] )+;
            $( $variant [$($row)+] )+
        }
    };
}

/// One accessor per column, taking each row's first value; the rest go round again.
macro_rules! table_columns {
    ($name:ident; ; $( $variant:ident [] )+) => {};
    (
        $name:ident;
        [$(#[$col_doc:meta])* $col:ident: $col_ty:tt] $([$($cols:tt)+])*;
        $( $variant:ident [$label:ident : $first:tt $(, $($more:tt)+)?] )+
    ) => {
        const _: () = {
            #[allow(dead_code)]
            struct Labels {
                $col: (),
            }
            $( let _ = Labels { $label: () }; )+
        };
        $crate::table::table_columns! {
            $name;
            [$(#[$col_doc])* $col: $col_ty] $([$($cols)+])*;
            $( $variant [$first $(, $($more)+)?] )+
        }
    };
    (
        $name:ident;
        [$(#[$col_doc:meta])* $col:ident: $col_ty:tt] $([$($cols:tt)+])*;
        $( $variant:ident [$first:tt $(, $($more:tt)+)?] )+
    ) => {
        impl $name {
            $(#[$col_doc])*
            #[must_use]
            pub const fn $col(self) -> $crate::table::table_cell!($col_ty) {
                match self {
                    $( $name::$variant => $crate::table::table_cell!($col_ty, $first), )+
                }
            }
        }
        $crate::table::table_columns! {
            $name;
            $([$($cols)+])*;
            $( $variant [$($($more)+)?] )+
        }
    };
}

/// A column's type, and a cell of it: a string literal as it is, an enum variant by
/// its bare name.
macro_rules! table_cell {
    ((&'static str)) => {
        &'static str
    };
    (($enum:ident)) => {
        $enum
    };
    ((&'static str), $value:literal) => {
        $value
    };
    (($enum:ident), $value:ident) => {
        $enum::$value
    };
}

pub(crate) use {table_cell, table_columns, table_enum};

/// The row whose first column (`id`) is `name`: what each table's `FromStr` looks up.
pub(crate) fn find<T: Copy>(all: &[T], id: fn(T) -> &'static str, name: &str) -> Option<T> {
    all.iter().copied().find(|row| id(*row) == name)
}

/// Asserts that every row's first column is its own (no two rows share it) and that
/// parsing it gives the row back.
#[cfg(test)]
pub(crate) fn assert_ids_unique_and_parse_back<T>(all: &[T], id: fn(T) -> &'static str)
where
    T: Copy + core::fmt::Debug + PartialEq + core::str::FromStr,
    T::Err: core::fmt::Debug + PartialEq,
{
    for (i, row) in all.iter().enumerate() {
        assert_eq!(id(*row).parse::<T>(), Ok(*row));
        assert!(
            all[..i].iter().all(|other| id(*other) != id(*row)),
            "{} twice",
            id(*row)
        );
    }
}
